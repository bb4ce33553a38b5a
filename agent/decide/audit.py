"""The audit log: every decision the agent takes, in SQLite at `<data_dir>/audit.sqlite`.

The schema grows only by numbered, append-only migrations recorded in `_migrations` (as
simonw/llm does): a migration, once released, is never edited or reordered; a change is a
new migration with the next number. The same database keeps maintenance tickets and event
acknowledgements, so a gateway has one file to back up.

One connection per process, shared by the hub's threads under a lock. Secrets never reach
the file: argument keys that name a secret are masked, and every configured secret value
(MQTT password, edge API key, ...) is replaced by asterisks wherever it appears.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from base.errors import ConfigError
from base.migrations import apply_migrations

log = logging.getLogger(__name__)

FILENAME = "audit.sqlite"
MASK = "***"
# Argument keys whose values are masked before storage (password, api_key, access_token, ...).
SECRET_KEY = re.compile(r"(^|_)pass(word|phrase)?$|passw|secret|api_?key|(^|_)token$|authorization|credential", re.IGNORECASE)


class Source(str, enum.Enum):
    """What started a decision."""

    UTTERANCE = "utterance"
    EVENT = "event"
    REPL = "repl"


class Route(str, enum.Enum):
    """Who decided: the local model, the edge model, a fallback rule, or the fast path (no model)."""

    LOCAL = "local"
    EDGE = "edge"
    FALLBACK = "fallback"
    FAST = "fast"


@dataclass(slots=True)
class Decision:
    """What led to a tool call; the planner fills it, the executor writes it with the outcome."""

    source: Source | str = Source.UTTERANCE
    input: str = ""  # the utterance, or the event's one-line description
    context_ids: list[str] = field(default_factory=list)  # rag/ hits and stream windows put in the prompt
    prompt_tokens: int | None = None
    grammar: str | None = None  # GBNF or JSON schema text; stored once by sha256
    confidence_raw: float | None = None
    confidence: float | None = None  # calibrated
    route: Route | str | None = None
    model_latency_s: float | None = None  # the model's time; the audit's latency_s adds the tool's to it


# --- migrations -------------------------------------------------------------------------

Migration = tuple[int, str, Callable[[sqlite3.Connection], None]]
MIGRATIONS: list[Migration] = []


def migration(number: int, name: str) -> Callable[[Callable[[sqlite3.Connection], None]], Callable[[sqlite3.Connection], None]]:
    """Register a schema step; numbers must follow each other, as the list is append-only."""

    def wrap(func: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
        expected = (MIGRATIONS[-1][0] + 1) if MIGRATIONS else 1
        if number != expected:
            raise ValueError(f"migration {name}: number {number}, expected {expected}")
        MIGRATIONS.append((number, name, func))
        return func

    return wrap


@migration(1, "decisions")
def _m001_decisions(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE grammars (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL)")
    conn.execute(
        """CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            source TEXT NOT NULL,
            input TEXT NOT NULL,
            context_ids TEXT NOT NULL,
            prompt_tokens INTEGER,
            grammar_sha256 TEXT REFERENCES grammars(sha256),
            confidence_raw REAL,
            confidence REAL,
            route TEXT,
            tool TEXT,
            arguments TEXT NOT NULL,
            entities TEXT NOT NULL,
            verdict TEXT,
            verdict_reason TEXT,
            confirmed INTEGER NOT NULL DEFAULT 0,
            ok INTEGER,
            message TEXT NOT NULL,
            latency_s REAL
        )"""
    )
    conn.execute("CREATE INDEX decisions_ts ON decisions(ts)")


@migration(2, "tickets")
def _m002_tickets(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            title TEXT NOT NULL,
            priority TEXT NOT NULL,
            description TEXT NOT NULL,
            evidence TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open'
        )"""
    )


@migration(3, "acknowledgements")
def _m003_acknowledgements(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE acknowledgements (id INTEGER PRIMARY KEY, ts REAL NOT NULL, site TEXT NOT NULL, device TEXT NOT NULL, "
        "kind TEXT NOT NULL, event_t REAL, note TEXT NOT NULL)"
    )


class AuditDatabase:
    """One SQLite connection, migrated on open, shared by threads under a lock."""

    def __init__(self, path: str | Path, migrations: list[Migration] | None = None, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so DDL is transactional too.
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"audit log {self.path} cannot be opened ({err}); check data_dir") from err
        self.lock = threading.RLock()
        self.applied = self._migrate(MIGRATIONS if migrations is None else migrations)

    def _migrate(self, migrations: list[Migration]) -> list[int]:
        with self.lock:
            return apply_migrations(self._conn, migrations, f"audit log {self.path}")

    def migrations(self) -> list[tuple[int, str]]:
        """Applied migrations, in order."""
        with self.lock:
            return [(r["number"], r["name"]) for r in self._conn.execute("SELECT number, name FROM _migrations ORDER BY number")]

    def write(self, sql: str, params: tuple[Any, ...]) -> int:
        """Run one insert/update in its own transaction; returns the last row id."""
        with self.lock:
            cur = self._conn.execute(sql, params)
            return int(cur.lastrowid or 0)

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a query."""
        with self.lock:
            return list(self._conn.execute(sql, params))

    def scrub(self, text: str) -> str:
        """`text` with every configured secret value masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self._conn.close()


def secret_values(settings: BaseModel) -> list[str]:
    """Every SecretStr value in a settings tree, so the audit log can mask it wherever it appears."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(settings)
    return found


def grammar_text(schema: dict[str, Any] | None) -> str | None:
    """A JSON schema as the audit log stores it (hashed by sha256): one spelling, so every writer and `explain` agree."""
    return json.dumps(schema, sort_keys=True) if schema else None


def open_database(settings: Any) -> AuditDatabase:
    """The audit database of a Tessera process: `<data_dir>/audit.sqlite`, secrets of its config masked."""
    return AuditDatabase(Path(settings.data_dir) / FILENAME, secrets=secret_values(settings))


def mask_arguments(value: Any) -> Any:
    """Arguments with the values of secret-named keys replaced by asterisks (recursively)."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and SECRET_KEY.search(k) else mask_arguments(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_arguments(v) for v in value]
    return value


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


# --- decisions --------------------------------------------------------------------------


@dataclass(slots=True)
class AuditRecord:
    """One row of the decisions table, as read back."""

    id: int
    ts: float
    source: str
    input: str
    context_ids: list[str]
    prompt_tokens: int | None
    grammar_sha256: str | None
    confidence_raw: float | None
    confidence: float | None
    route: str | None
    tool: str | None
    arguments: dict[str, Any]
    entities: list[str]
    verdict: str | None
    verdict_reason: str | None
    confirmed: bool
    ok: bool | None
    message: str
    latency_s: float | None


class AuditLog:
    """Append-only record of decisions: `record`, `last`, `get`."""

    def __init__(self, db: AuditDatabase, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def record(
        self,
        decision: Any | None = None,
        *,
        tool: str | None = None,
        arguments: dict[str, Any] | None = None,
        entities: Iterable[str] = (),
        verdict: Any = None,
        verdict_reason: Any = None,
        confirmed: bool = False,
        ok: bool | None = None,
        message: str = "",
        latency_s: float | None = None,
    ) -> int:
        """Append one decision (any object with Decision's attributes) and its outcome; returns its id."""
        def get(name: str, default: Any = None) -> Any:
            return getattr(decision, name, default) if decision is not None else default

        scrub = self.db.scrub
        grammar = get("grammar")
        sha = self._grammar(scrub(grammar)) if grammar else None
        row = (
            self.clock(),
            str(_enum_value(get("source", Source.UTTERANCE))),
            scrub(str(get("input", "") or "")),
            scrub(json.dumps([str(c) for c in get("context_ids", []) or []])),
            get("prompt_tokens"),
            sha,
            get("confidence_raw"),
            get("confidence"),
            _enum_value(get("route")),
            tool,
            scrub(json.dumps(mask_arguments(arguments or {}), default=str, sort_keys=True)),
            json.dumps(list(entities)),
            _enum_value(verdict),
            _enum_value(verdict_reason),
            int(confirmed),
            None if ok is None else int(ok),
            scrub(message),
            latency_s,
        )
        rowid = self.db.write(
            "INSERT INTO decisions (ts, source, input, context_ids, prompt_tokens, grammar_sha256, confidence_raw, confidence, route, tool, "
            "arguments, entities, verdict, verdict_reason, confirmed, ok, message, latency_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        log.debug("audit %d: tool=%s verdict=%s ok=%s", rowid, tool, _enum_value(verdict), ok)
        return rowid

    def _grammar(self, text: str) -> str:
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        # Grammars are long and repeat on every call: store each once, point at it by hash.
        self.db.write("INSERT OR IGNORE INTO grammars (sha256, text) VALUES (?, ?)", (sha, text))
        return sha

    def grammar(self, sha256: str) -> str | None:
        """The grammar text stored under a hash."""
        rows = self.db.read("SELECT text FROM grammars WHERE sha256 = ?", (sha256,))
        return rows[0]["text"] if rows else None

    def get(self, record_id: int) -> AuditRecord | None:
        """One decision by id."""
        rows = self.db.read("SELECT * FROM decisions WHERE id = ?", (record_id,))
        return _record(rows[0]) if rows else None

    def last(self, n: int = 20) -> list[AuditRecord]:
        """The `n` most recent decisions, newest first."""
        return [_record(r) for r in self.db.read("SELECT * FROM decisions ORDER BY id DESC LIMIT ?", (max(0, int(n)),))]


def _record(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"], ts=row["ts"], source=row["source"], input=row["input"], context_ids=json.loads(row["context_ids"]),
        prompt_tokens=row["prompt_tokens"], grammar_sha256=row["grammar_sha256"], confidence_raw=row["confidence_raw"],
        confidence=row["confidence"], route=row["route"], tool=row["tool"], arguments=json.loads(row["arguments"]),
        entities=json.loads(row["entities"]), verdict=row["verdict"], verdict_reason=row["verdict_reason"],
        confirmed=bool(row["confirmed"]), ok=None if row["ok"] is None else bool(row["ok"]), message=row["message"], latency_s=row["latency_s"],
    )


# --- tickets and acknowledgements -----------------------------------------------------------


@dataclass(slots=True)
class Ticket:
    """A maintenance ticket with the evidence that motivated it."""

    id: int
    ts: float
    site: str
    device: str
    title: str
    priority: str
    description: str
    evidence: list[str]
    status: str


class TicketStore:
    """Maintenance tickets and event acknowledgements, in the audit database."""

    def __init__(self, db: AuditDatabase) -> None:
        self.db = db

    def open(self, ts: float, site: str, device: str, title: str, priority: str, description: str, evidence: list[str]) -> Ticket:
        """Store a new open ticket."""
        scrub = self.db.scrub
        ticket_id = self.db.write(
            "INSERT INTO tickets (ts, site, device, title, priority, description, evidence) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ts, site, device, scrub(title), priority, scrub(description), scrub(json.dumps(evidence))),
        )
        ticket = self.get(ticket_id)
        if ticket is None:  # the insert succeeded, so only a concurrent delete could do this
            raise RuntimeError(f"ticket {ticket_id} vanished after insert")
        return ticket

    def get(self, ticket_id: int) -> Ticket | None:
        """One ticket by id."""
        rows = self.db.read("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        return _ticket(rows[0]) if rows else None

    def list(self, device: str | None = None, status: str | None = "open") -> list[Ticket]:
        """Tickets, newest first, optionally of one device and status."""
        rows = self.db.read(
            "SELECT * FROM tickets WHERE (? IS NULL OR device = ?) AND (? IS NULL OR status = ?) ORDER BY id DESC", (device, device, status, status)
        )
        return [_ticket(r) for r in rows]

    def acknowledge(self, ts: float, site: str, device: str, kind: str, event_t: float | None, note: str) -> int:
        """Record that a person acknowledged an event; returns the acknowledgement id."""
        return self.db.write(
            "INSERT INTO acknowledgements (ts, site, device, kind, event_t, note) VALUES (?, ?, ?, ?, ?, ?)",
            (ts, site, device, kind, event_t, self.db.scrub(note)),
        )

    def acknowledged(self, device: str, kind: str) -> list[dict[str, Any]]:
        """Acknowledgements of one device's events of a kind, newest first."""
        rows = self.db.read("SELECT * FROM acknowledgements WHERE device = ? AND kind = ? ORDER BY id DESC", (device, kind))
        return [dict(r) for r in rows]


def _ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(row["id"], row["ts"], row["site"], row["device"], row["title"], row["priority"], row["description"], json.loads(row["evidence"]), row["status"])
