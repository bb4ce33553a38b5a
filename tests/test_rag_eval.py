"""Retrieval quality with explicit thresholds: recall@5 on the labelled seed questions, episode nearest-type accuracy."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from base.settings import RagSettings
from rag.episodes import add_episodes, similar_episodes
from rag.evaluate import QUESTIONS, evaluate, is_relevant, load_questions
from rag.ingest import SEED_DIR, Status, ingest_seed
from rag.store import Filter, KnowledgeStore
from rag.synthetic import FAULTS, make_episodes


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> KnowledgeStore:
    root = tmp_path_factory.mktemp("seeded")
    store = KnowledgeStore(RagSettings(path=root / "store"), root)
    report = ingest_seed(store)
    assert report.failed == [] and report.count(Status.ADDED) == len(report.results)
    return store


def test_question_set_is_large_and_points_at_real_headings():
    questions = load_questions(QUESTIONS)
    assert len(questions) >= 150
    assert len({q.question for q in questions}) == len(questions)
    for q in questions:
        text = (SEED_DIR / q.source).read_text(encoding="utf-8")
        assert any(line.lstrip("#").strip() == q.heading for line in text.splitlines() if line.startswith("#")), q


def test_recall_at_5_on_seed_questions(seeded):
    result = evaluate(seeded, load_questions(QUESTIONS), k=5)
    print(f"\nrecall@5 {result.recall:.3f}  MRR@10 {result.mrr:.3f}  over {result.n} questions")
    assert result.recall >= 0.9, result.misses[:10]
    assert result.mrr >= 0.7


def test_relevance_needs_the_right_file_and_heading():
    q = load_questions(QUESTIONS)[0]
    assert is_relevant({"source": "seed/" + q.source, "heading": f"Title > {q.heading}"}, q)
    assert not is_relevant({"source": "seed/docs/other.md", "heading": f"Title > {q.heading}"}, q)
    assert not is_relevant({"source": "seed/" + q.source, "heading": "Title > Something else"}, q)


def test_episode_nearest_neighbour_has_the_same_fault(tmp_path: Path):
    store = KnowledgeStore(RagSettings(path=tmp_path / "store"), tmp_path)
    stored = make_episodes(30, seed=11)
    for k, device in enumerate(("motor-1", "motor-2", "pump-1")):
        part = stored[k::3]
        add_episodes(store, [w for _, w in part], device=device, site="plant-a" if k < 2 else "plant-b", labels=[f for f, _ in part])
    queries = make_episodes(15, seed=12, t0=1.8e9)
    hits, confusions = 0, Counter()
    for fault, window in queries:
        (nearest,) = similar_episodes(store, window, k=1)
        hits += nearest.label == fault
        if nearest.label != fault:
            confusions[(fault, nearest.label)] += 1
    accuracy = hits / len(queries)
    print(f"\nepisode nearest-type accuracy {accuracy:.3f} over {len(queries)} queries, {len(FAULTS)} faults; confusions {dict(confusions)}")
    assert accuracy >= 0.9

    # with a site filter the neighbours come from that site only, and are still mostly right
    right = 0
    for fault, window in queries[: 4 * len(FAULTS)]:
        (nearest,) = similar_episodes(store, window, k=1, where=Filter(site="plant-b"))
        assert nearest.site == "plant-b" and nearest.device == "pump-1"
        right += nearest.label == fault
    assert right / (4 * len(FAULTS)) >= 0.8
