"""Filtered nearest-neighbour search that stays fast on large collections.

chromadb's own filtered query costs grow with the collection (about 60 ms at 100k records on
2 cores, measured in benchmarks/bench_rag.py), and most of that is reading metadata rows. The
HNSW index alone ranks a thousand neighbours in about 10 ms. So for a filtered query we ask
for an unfiltered pool of neighbours (ids and distances only), test the filter against the
filterable fields of those ids kept in memory, and fetch documents and metadata for the k
winners only. The result is the filtered top-k of the index whenever k of the pool match
(and complete when the pool is the whole collection); otherwise chromadb's filter answers.

The cache holds only fields that never change for a given id (site, device, modality, kind,
t): record ids are derived from those fields, so an id whose fields change is a new id. It is
filled once per collection in a background thread (about 2 s per 100k records); until then
chromadb's filter answers, so a one-off query never waits for it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

FIELDS = ("site", "device", "modality", "kind", "t")
MIN_POOL, MAX_POOL = 100, 1500
WARM_PAGE = 10_000
SAFETY = 3.0  # pool = SAFETY * k / expected selectivity
MIN_EXPECTED = 0.5  # try a pool only if it should hold at least this many matches per result wanted


class PoolSearch:
    """Per-process cache of filter fields by record id, and learned selectivity per filter."""

    def __init__(self) -> None:
        self._fields: dict[str, dict[str, tuple]] = {}  # collection id -> record id -> field values
        self._selectivity: dict[tuple[str, str], float] = {}
        self._warm: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def warm(self, col: Any) -> None:
        """Load the filter fields of every record of `col` (blocking)."""
        fields: dict[str, tuple] = {}
        offset = 0
        while True:
            page = col.get(include=["metadatas"], limit=WARM_PAGE, offset=offset)
            for i, md in zip(page["ids"], page["metadatas"]):
                fields[i] = tuple((md or {}).get(f) for f in FIELDS)
            if len(page["ids"]) < WARM_PAGE:
                break
            offset += WARM_PAGE
        with self._lock:
            # Records added while warming were fetched on demand; keep both.
            self._fields.setdefault(str(col.id), {}).update(fields)
            self._warm.setdefault(str(col.id), threading.Event()).set()
        log.debug("filter cache of %s warm: %d records", col.name, len(fields))

    def is_warm(self, col: Any) -> bool:
        """True once the filter fields of `col` are in memory."""
        event = self._warm.get(str(col.id))
        return event is not None and event.is_set()

    def _start_warming(self, col: Any) -> None:
        with self._lock:
            if str(col.id) in self._warm:
                return
            self._warm[str(col.id)] = threading.Event()
        threading.Thread(target=self._warm_quietly, args=(col,), name=f"rag-warm-{col.name}", daemon=True).start()

    def _warm_quietly(self, col: Any) -> None:
        try:
            self.warm(col)
        except Exception:  # a failed warm-up only means the slower chromadb filter keeps answering
            log.warning("filter cache of %s could not be loaded", col.name, exc_info=True)

    def search(self, col: Any, query: list[list[float]], k: int, where: Any, size: int) -> list[tuple[str, float]] | None:
        """(id, distance) of the filtered top-k, or None when the pool cannot answer it."""
        if not self.is_warm(col):
            self._start_warming(col)
            return None
        key = (str(col.id), repr(where))
        expected = self._selectivity.get(key, 0.1)
        if expected * min(MAX_POOL, size) < MIN_EXPECTED * k:
            return None  # too selective for a pool: chromadb's filter is cheaper
        pool = int(min(size, MAX_POOL, max(MIN_POOL, SAFETY * k / expected)))
        res = col.query(query_embeddings=query, n_results=pool, include=["distances"])
        ids, dists = res["ids"][0], res["distances"][0]
        fields = self._known(col, ids)
        matched = [(i, d) for i, d in zip(ids, dists) if i in fields and where.matches(dict(zip(FIELDS, fields[i])))]
        with self._lock:
            # Remember how selective this filter is so the next pool is sized for it; add-one
            # smoothing keeps one empty pool from sending the filter to chromadb for good.
            seen = (len(matched) + 1) / (len(ids) + 1)
            self._selectivity[key] = seen if key not in self._selectivity else 0.5 * (self._selectivity[key] + seen)
        if len(matched) >= k or len(ids) >= size:
            return matched[:k]
        return None

    def _known(self, col: Any, ids: list[str]) -> dict[str, tuple]:
        cache = self._fields.setdefault(str(col.id), {})
        missing = [i for i in ids if i not in cache]
        if missing:
            got = col.get(ids=missing, include=["metadatas"])
            with self._lock:
                for i, md in zip(got["ids"], got["metadatas"]):
                    md = md or {}
                    cache[i] = tuple(md.get(f) for f in FIELDS)
        return {i: cache[i] for i in ids if i in cache}

    def forget_ids(self, collection_id: str, ids: list[str]) -> None:
        """Drop cached fields of deleted records."""
        with self._lock:
            cache = self._fields.get(collection_id, {})
            for i in ids:
                cache.pop(i, None)
