"""Numbered, append-only SQLite schema migrations, tracked in a `_migrations` table (as simonw/llm does).

Every Tessera SQLite file (audit log, review queue, outbox) migrates through `apply_migrations`,
so a file written by a newer Tessera, or edited migrations, are refused the same way everywhere.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence

from base.errors import ConfigError

log = logging.getLogger(__name__)

# (number, name, SQL text or a function of the connection); numbers run 1, 2, 3, ... and never change.
Migration = tuple[int, str, "str | Callable[[sqlite3.Connection], None]"]


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration], where: str) -> list[int]:
    """Apply the migrations `conn` lacks, in one transaction; returns the numbers applied.

    `conn` must be in autocommit mode (isolation_level=None) so that DDL is part of the transaction.
    """
    for expected, (number, name, _step) in enumerate(migrations, start=1):
        if number != expected:
            raise ValueError(f"{where}: migration {name} has number {number}, expected {expected}")
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)")
    # IMMEDIATE: a second process opening the same file waits instead of migrating twice.
    conn.execute("BEGIN IMMEDIATE")
    newly: list[int] = []
    try:
        done = {number: name for number, name in conn.execute("SELECT number, name FROM _migrations")}
        known = {number: name for number, name, _ in migrations}
        for number, name in done.items():
            if number not in known:
                raise ConfigError(f"{where} has migration {number} ({name}) that this Tessera does not know; upgrade Tessera")
            if known[number] != name:
                raise ConfigError(f"{where}: migration {number} is {name!r} in the file but {known[number]!r} in code; migrations are append-only")
        for number, name, step in migrations:
            if number in done:
                continue
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
            conn.execute("INSERT INTO _migrations (number, name, applied_at) VALUES (?, ?, ?)", (number, name, time.time()))
            newly.append(number)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if newly:
        log.info("migrated", extra={"where": where, "applied": newly})
    return newly
