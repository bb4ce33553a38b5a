"""The review queue: requests the agent answered locally because the edge model could not, kept for a person.

SQLite under `settings.data_dir / "review.sqlite"`, with numbered migrations. A record holds the
escalation request as sent (tokens, summaries, the question), the local answer, the confidence,
and why the edge failed. Raw sensor samples are refused before anything is written.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.migrations import Migration, apply_migrations

MIGRATIONS: list[Migration] = [
    (1, "review", "CREATE TABLE review (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, kind TEXT NOT NULL,"
    " reason TEXT NOT NULL, confidence REAL, threshold REAL, request TEXT NOT NULL, local_answer TEXT,"
    " resolved_at REAL, resolution TEXT)"),
]

# A list of more numbers than this is treated as a raw sample array, not a summary.
MAX_NUMBERS_IN_A_LIST = 16


@dataclass(slots=True)
class ReviewItem:
    """One queued request."""

    id: int
    created_at: float
    kind: str
    reason: str
    confidence: float | None
    threshold: float | None
    request: dict[str, Any]
    local_answer: Any
    resolved_at: float | None = None
    resolution: str | None = None


class ReviewQueue:
    """An append-mostly SQLite queue of requests for a person to review."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        self._migrate()

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> ReviewQueue:
        """The queue at its standard place under Tessera's data directory."""
        return cls(Path(data_dir) / "review.sqlite")

    def _migrate(self) -> None:
        with self._lock:
            apply_migrations(self._db, MIGRATIONS, f"review queue {self.path}")

    def enqueue(self, kind: str, reason: str, request: dict[str, Any], local_answer: Any = None,
                confidence: float | None = None, threshold: float | None = None) -> int:
        """Queue one request durably; raises ValueError if it carries a raw sample array."""
        check_no_raw_samples(request, "request")
        check_no_raw_samples(local_answer, "local_answer")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO review (created_at, kind, reason, confidence, threshold, request, local_answer) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), kind, reason, confidence, threshold, json.dumps(request, sort_keys=True), json.dumps(local_answer, default=str)),
            )
        return int(cur.lastrowid)

    def pending(self, limit: int = 100) -> list[ReviewItem]:
        """Unresolved items, oldest first."""
        return self._select("WHERE resolved_at IS NULL ORDER BY id LIMIT ?", (limit,))

    def resolved(self, limit: int = 100) -> list[ReviewItem]:
        """Reviewed items, oldest first."""
        return self._select("WHERE resolved_at IS NOT NULL ORDER BY id LIMIT ?", (limit,))

    def get(self, item_id: int) -> ReviewItem | None:
        """One item by id."""
        items = self._select("WHERE id = ?", (item_id,))
        return items[0] if items else None

    def resolve(self, item_id: int, resolution: str) -> bool:
        """Mark an item reviewed with a note; False if there is no such pending item."""
        with self._lock:
            cur = self._db.execute("UPDATE review SET resolved_at = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL",
                                   (time.time(), resolution, item_id))
        return cur.rowcount == 1

    def count(self) -> int:
        """Pending items."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM review WHERE resolved_at IS NULL").fetchone()
        return int(n)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _select(self, where: str, params: tuple[Any, ...]) -> list[ReviewItem]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_at, kind, reason, confidence, threshold, request, local_answer, resolved_at, resolution FROM review " + where,
                params).fetchall()
        return [ReviewItem(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]) if r[7] else None, r[8], r[9]) for r in rows]


def check_no_raw_samples(value: Any, where: str = "value") -> None:
    """Raise ValueError if `value` holds an array (numpy or a long list of numbers) or bytes."""
    if isinstance(value, str):
        if _numbers_in_text(value) > MAX_NUMBERS_IN_A_LIST * 4:
            raise ValueError(f"{where} is text holding a run of numbers (a sample dump?); send tokens and summaries, never raw samples")
        return
    if value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{where} carries bytes; send tokens and summaries, never raw samples")
    if hasattr(value, "__array__") or hasattr(value, "dtype"):
        raise ValueError(f"{where} carries an array; send tokens and summaries, never raw samples")
    if isinstance(value, dict):
        for key, item in value.items():
            check_no_raw_samples(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        numbers = sum(1 for item in value if isinstance(item, (int, float)) and not isinstance(item, bool))
        if numbers > MAX_NUMBERS_IN_A_LIST:
            raise ValueError(f"{where} is a list of {numbers} numbers; send tokens and summaries, never raw samples")
        for i, item in enumerate(value):
            check_no_raw_samples(item, f"{where}[{i}]")
        return
    raise ValueError(f"{where} has type {type(value).__name__}, which is not plain JSON data")


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _numbers_in_text(text: str) -> int:
    """The longest run of numbers separated only by commas, semicolons or whitespace."""
    if len(text) < 64:
        return 0
    best = run = 0
    for field in re.split(r"[\s,;\[\]()]+", text):
        if not field:
            continue
        run = run + 1 if _NUMBER.fullmatch(field) else 0
        best = max(best, run)
    return best
