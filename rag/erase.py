"""Scrub what chromadb keeps of deleted records on disk, so that `forget` really forgets.

A chromadb delete removes records from the metadata segment and tombstones them in the
HNSW index, but the write-ahead log (`embeddings_queue`) still holds the original add with
its document text and metadata until the index is next persisted, freed SQLite pages keep
old bytes, and the full-text index keeps trigram postings until it is merged. For the right
of removal we blank the log entries of the deleted ids (a valid unit vector and empty
metadata, so a replay still adds then deletes them), merge the full-text index, and VACUUM.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from pathlib import Path

log = logging.getLogger(__name__)

_SQL_BATCH = 500  # SQLite's default limit on host parameters is 999


def scrub_deleted(sqlite_path: Path, deleted: dict[str, list[str]]) -> int:
    """Blank the log entries of deleted ids per collection id, merge full-text search, VACUUM; returns rows blanked."""
    if not any(deleted.values()):
        return 0
    blanked = 0
    con = sqlite3.connect(str(sqlite_path), timeout=60, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        for collection_id, ids in deleted.items():
            for start in range(0, len(ids), _SQL_BATCH):
                chunk = ids[start : start + _SQL_BATCH]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT seq_id, length(vector) FROM embeddings_queue WHERE topic LIKE ? AND id IN ({marks}) AND vector IS NOT NULL",
                    [f"%/{collection_id}", *chunk],
                ).fetchall()
                for seq_id, size in rows:
                    dim = (size or 4) // 4
                    unit = struct.pack(f"<{dim}f", 1.0, *([0.0] * (dim - 1)))
                    con.execute("UPDATE embeddings_queue SET vector = ?, metadata = '{}' WHERE seq_id = ?", (unit, seq_id))
                blanked += len(rows)
        con.execute("COMMIT")
        # Merge the FTS5 index so no posting of the deleted text survives in old segments.
        con.execute("INSERT INTO embedding_fulltext_search(embedding_fulltext_search) VALUES('optimize')")
        con.execute("VACUUM")  # rewrites the file: freed pages with old bytes are gone
    except sqlite3.Error:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    log.info("scrubbed %d log entries in %s", blanked, sqlite_path)
    return blanked
