"""Worked examples for the planner: utterance -> tool call and event -> action pairs, retrieved as few-shot.

A JSONL line is either
  {"utterance": "dim the living room to 30%", "tool": "HassLightSet", "args": {"area": "living room", "brightness": 30}}
or
  {"event": "vibration bearing_outer_race (warning) ...", "tool": "open_ticket", "args": {...}}
with optional "site", "device", "modality". The text (utterance or event) is what gets embedded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.readers import FailReason, FileResult, ReadDocument, ReadFailed, Status
from rag.store import EXAMPLES, Filter, KnowledgeStore

_MAX_LINE_ERRORS_SHOWN = 3


@dataclass(slots=True)
class Example:
    """One worked example: the input text and the tool call that answers it."""

    kind: str  # "utterance" or "event"
    text: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    site: str = ""
    device: str = ""
    modality: str = ""
    score: float = 0.0
    t: float = 0.0  # when it was stored (seconds since the epoch): the newest of two reviews is the operator's last word

    @property
    def id(self) -> str:
        """A stable id, so adding the same example twice keeps one copy."""
        key = json.dumps([self.kind, self.text, self.tool, self.args, self.site, self.device, self.modality], sort_keys=True)
        return "ex:" + hashlib.sha1(key.encode()).hexdigest()[:20]

    def call_json(self) -> str:
        """The tool call as the planner emits it."""
        return json.dumps({"tool": self.tool, "args": self.args}, sort_keys=True)


def parse_example(record: Any) -> Example:
    """An Example from one decoded JSONL record; ValueError says what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    kinds = [k for k in ("utterance", "event") if k in record]
    if len(kinds) != 1:
        raise ValueError("a record needs exactly one of 'utterance' or 'event'")
    text, tool, args = record[kinds[0]], record.get("tool"), record.get("args", {})
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"'{kinds[0]}' must be a non-empty string")
    if not isinstance(tool, str) or not tool:
        raise ValueError("'tool' must be a non-empty string")
    if not isinstance(args, dict):
        raise ValueError("'args' must be an object")
    extra = {k: str(record.get(k, "")) for k in ("site", "device", "modality")}
    return Example(kind=kinds[0], text=text.strip(), tool=tool, args=args, **extra)


def add_examples(store: KnowledgeStore, examples: list[Example], source: str = "") -> int:
    """Add examples not stored yet (idempotent by content); returns how many were written."""
    if not examples:
        return 0
    unique = {e.id: e for e in examples}
    col = store.collection(EXAMPLES)
    now = store.now()
    # Only new ids are written: an example's fields (its time included) never change under its id.
    known = set(col.get(ids=list(unique), include=[])["ids"])
    items = [e for i, e in unique.items() if i not in known]
    if not items:
        return 0
    vectors = store.embedding_function([e.text for e in items])
    col.upsert(
        ids=[e.id for e in items],
        documents=[e.text for e in items],
        embeddings=[list(map(float, v)) for v in vectors],
        metadatas=[
            {"kind": e.kind, "tool": e.tool, "args": json.dumps(e.args, sort_keys=True), "site": e.site, "device": e.device, "modality": e.modality, "source": source, "heading": e.kind, "t": now}
            for e in items
        ],
    )
    return len(items)


def ingest_examples_file(store: KnowledgeStore, doc: ReadDocument, source: str, site: str = "", device: str = "") -> Any:
    """Ingest a JSONL file of examples; one bad line fails the file (so a file is in whole or not at all)."""

    examples, errors = [], []
    for number, line in enumerate(doc.text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            example = parse_example(json.loads(line))
        except (json.JSONDecodeError, ValueError) as err:
            errors.append(f"line {number}: {err}")
            continue
        example.site, example.device = example.site or site, example.device or device
        examples.append(example)
    if errors:
        shown = "; ".join(errors[:_MAX_LINE_ERRORS_SHOWN])
        raise ReadFailed(FailReason.BAD_RECORD, f"{len(errors)} bad example line(s): {shown}")
    if not examples:
        raise ReadFailed(FailReason.EMPTY, "no examples in the file")
    col = store.collection(EXAMPLES)
    old = set(col.get(where={"source": source}, include=[])["ids"])
    new_ids = {e.id for e in examples}
    if old == new_ids:
        return FileResult(str(doc.path), Status.UNCHANGED, chunks=len(new_ids))
    written = add_examples(store, examples, source=source)
    stale = sorted(old - new_ids)
    if stale:
        col.delete(ids=stale)
    return FileResult(str(doc.path), Status.REPLACED if old else Status.ADDED, chunks=len(new_ids), message=f"{written} new" if written != len(new_ids) else "")


def similar_examples(store: KnowledgeStore, text: str, k: int = 4, where: Filter | Sequence[Filter] | None = None) -> list[Example]:
    """The `k` stored examples closest to `text`, as few-shot material for the planner.

    Several filters run several searches on one embedding of `text` (the query is embedded once),
    each returning its own `k`, closest first within each; an example found twice is listed once.
    """
    vector = store.embedding_function([text])[0]
    col = store.collection(EXAMPLES)
    out: dict[str, Example] = {}
    for scope in (list(where) if isinstance(where, Sequence) else [where]):
        for hit in store.search_vector(col, vector, k, scope):
            example = _example_of(hit)
            out.setdefault(example.id, example)
    return list(out.values())


def _example_of(hit: Any) -> Example:
    md = hit.metadata
    return Example(kind=md.get("kind", ""), text=hit.text, tool=md.get("tool", ""), args=json.loads(md.get("args") or "{}"), site=md.get("site", ""),
                   device=md.get("device", ""), modality=md.get("modality", ""), score=hit.score, t=float(md.get("t") or 0.0))


def few_shot_block(examples: list[Example]) -> str:
    """Examples formatted for the planner prompt: input line, then the tool call."""
    return "\n".join(f"{'User' if e.kind == 'utterance' else 'Event'}: {e.text}\nCall: {e.call_json()}" for e in examples)
