"""Retrieval quality on the labelled question set: recall@k and MRR over the seed knowledge base."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.store import DOCUMENTS, KnowledgeStore

QUESTIONS = Path(__file__).parent / "seed" / "questions.jsonl"


@dataclass(slots=True, frozen=True)
class Question:
    """A question and the passage that answers it (seed file and heading)."""

    question: str
    source: str  # e.g. "docs/vibration-severity.md", relative to rag/seed
    heading: str  # a heading of that file; chunks under it (or its subsections) are relevant


@dataclass(slots=True)
class EvalResult:
    """Recall@k and MRR@depth, with the questions that missed."""

    k: int
    depth: int
    n: int
    recall: float
    mrr: float
    misses: list[dict] = field(default_factory=list)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """The labelled questions of a JSONL file."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            rec = json.loads(line)
            try:
                out.append(Question(rec["q"], rec["source"], rec["heading"]))
            except KeyError as err:
                raise ValueError(f"{path}:{number}: missing {err}") from err
    return out


def is_relevant(metadata: dict, q: Question) -> bool:
    """A chunk answers `q` when it comes from the named file and sits under the named heading."""
    source = str(metadata.get("source", ""))
    headings = [h.strip().lower() for h in str(metadata.get("heading", "")).split(" > ")]
    return source.endswith(q.source) and q.heading.strip().lower() in headings


def evaluate(store: KnowledgeStore, questions: list[Question], k: int = 5, depth: int = 10) -> EvalResult:
    """Query every question (embedded in one batch) and score the ranked chunks."""
    col = store.collection(DOCUMENTS)
    vectors = store.embedding_function([q.question for q in questions])
    found_at_k, rr, misses = 0, 0.0, []
    batch = 64
    for start in range(0, len(questions), batch):
        qs = questions[start : start + batch]
        res = col.query(query_embeddings=[list(map(float, v)) for v in vectors[start : start + batch]], n_results=depth, include=["metadatas"])
        for q, metas in zip(qs, res["metadatas"]):
            rank = next((i + 1 for i, md in enumerate(metas) if is_relevant(md, q)), None)
            if rank is not None:
                rr += 1.0 / rank
            if rank is not None and rank <= k:
                found_at_k += 1
            else:
                misses.append({"q": q.question, "want": f"{q.source}#{q.heading}", "got": [f"{m.get('source', '')}#{m.get('heading', '')}" for m in metas[:3]]})
    n = len(questions)
    return EvalResult(k=k, depth=depth, n=n, recall=found_at_k / n if n else 0.0, mrr=rr / n if n else 0.0, misses=misses)
