"""The audit log: migrations applied once and append-only, every decision recorded in full, no secret on disk."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from agent.decide.audit import MIGRATIONS, AuditDatabase, AuditLog, Decision, Route, Source, open_database
from base.settings import load_settings
from base.errors import ConfigError
from tools import ToolContext
from tools.executor import execute
from tools.guardrails import GuardrailPolicy
from tools.home import Home

HOME = Home.load(Path(__file__).resolve().parents[1] / "examples" / "home.yaml")
GRAMMAR = 'root ::= "{" ws "\\"tool\\"" ws ":" ws tool ws "}"'


def decision(text: str = "turn on the kitchen light") -> Decision:
    return Decision(Source.UTTERANCE, text, ["doc:manual#lights", "example:42"], 311, GRAMMAR, 0.93, 0.88, Route.LOCAL)


def test_migrations_apply_once_and_reopening_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    db = AuditDatabase(path)
    assert db.applied == [1, 2, 3] and db.migrations() == [(1, "decisions"), (2, "tickets"), (3, "acknowledgements")]
    AuditLog(db).record(decision(), tool="HassTurnOn", arguments={"name": "Kitchen Ceiling Light"}, ok=True, message="done")
    db.close()
    again = AuditDatabase(path)
    assert again.applied == [] and len(AuditLog(again).last(10)) == 1
    again.close()


def test_a_new_migration_number_adds_and_an_edited_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    AuditLog(AuditDatabase(path)).record(decision(), tool="HassTurnOn", ok=True, message="done")

    def add_operator(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE decisions ADD COLUMN operator TEXT")

    grown = AuditDatabase(path, migrations=[*MIGRATIONS, (4, "operator", add_operator)])
    assert grown.applied == [4] and grown.migrations()[-1] == (4, "operator")
    assert [r["operator"] for r in grown.read("SELECT operator FROM decisions")] == [None]  # old rows kept
    grown.close()
    renamed = [*MIGRATIONS[:-1], (3, "acks", MIGRATIONS[-1][2]), (4, "operator", add_operator)]
    with pytest.raises(ConfigError, match="append-only"):
        AuditDatabase(path, migrations=renamed)
    with pytest.raises(ConfigError, match="does not know"):
        AuditDatabase(path)  # an older Tessera on a newer file


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise sqlite3.OperationalError("boom")

    with pytest.raises(sqlite3.OperationalError):
        AuditDatabase(tmp_path / "a.sqlite", migrations=[*MIGRATIONS, (4, "broken", broken)])
    db = AuditDatabase(tmp_path / "a.sqlite")
    assert db.applied == [1, 2, 3] and not db.read("SELECT name FROM sqlite_master WHERE name = 'half'")


def test_every_executed_or_refused_decision_is_recorded_with_all_fields(tmp_path: Path) -> None:
    published: list = []
    ctx = ToolContext(publish=lambda *a: published.append(a), site="home", home=HOME)
    policy = GuardrailPolicy(load_settings().guardrails, "hub")
    audit = AuditLog(AuditDatabase(tmp_path / "audit.sqlite"), clock=lambda: 1700000000.0)
    calls = [
        ("HassTurnOn", {"name": "Kitchen Ceiling Light"}, "allow", "ok", True),
        ("HassTurnOff", {"name": "Front Door"}, "confirm", "needs_confirmation", False),
        ("HassClimateSetTemperature", {"area": "Living Room", "temperature": 31}, "deny", "out_of_range", False),
        ("HassLightSet", {"name": "Floor Lamp", "brightness": 400}, "deny", "invalid_arguments", False),
        ("stop_machine", {"machine": "pump-1", "reason": "noise"}, "deny", "not_allowed", False),
        ("format_disk", {}, "deny", "unknown_tool", False),
    ]
    for tool, args, *_ in calls:
        result = execute(tool, args, ctx, policy, audit, decision(f"ask for {tool}"))
        assert "decision_id" in result.data
    records = audit.last(10)[::-1]
    assert [(r.tool, r.verdict, r.verdict_reason, r.ok) for r in records] == [(t, v, why, ok) for t, _, v, why, ok in calls]
    first = audit.get(records[0].id)
    assert first is not None
    assert (first.ts, first.source, first.input, first.context_ids, first.prompt_tokens) == (1700000000.0, "utterance", "ask for HassTurnOn", ["doc:manual#lights", "example:42"], 311)
    assert (first.confidence_raw, first.confidence, first.route) == (0.93, 0.88, "local")
    assert first.arguments == {"name": "Kitchen Ceiling Light"} and first.entities == ["light.kitchen_ceiling"]
    assert first.message == "HassTurnOn: light.kitchen_ceiling" and first.latency_s is not None and first.latency_s >= 0
    assert audit.grammar(first.grammar_sha256) == GRAMMAR
    assert len(audit.db.read("SELECT * FROM grammars")) == 1  # stored once for six decisions
    assert records[1].entities == ["lock.front_door"] and not records[1].confirmed
    assert audit.get(10_000) is None and len(published) == 1


def test_no_secret_reaches_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MQTT__PASSWORD", "hunter2-broker")
    monkeypatch.setenv("TESSERA_EDGE__API_KEY", "sk-edge-7f3a9c")
    settings = load_settings()
    db = open_database(settings)
    assert db.path == settings.data_dir / "audit.sqlite"
    audit = AuditLog(db)
    ctx = ToolContext(publish=lambda *a: None, site="home", home=HOME)
    policy = GuardrailPolicy.from_settings(settings)
    leaky = Decision(Source.REPL, "my broker password is hunter2-broker, key sk-edge-7f3a9c", grammar="x sk-edge-7f3a9c")
    execute("raise_alert", {"device": "ecg-1", "severity": "info", "kind": "k", "summary": "token sk-edge-7f3a9c", "password": "pw-plain-1"}, ctx, policy, audit, leaky)
    audit.record(leaky, tool="log_observation", arguments={"device": "ecg-1", "api_key": "raw-key-99", "nested": {"token": "tok-55555"}}, ok=True, message="hunter2-broker")
    db.close()
    raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("audit.sqlite*"))
    for secret in (b"hunter2-broker", b"sk-edge-7f3a9c", b"pw-plain-1", b"raw-key-99", b"tok-55555"):
        assert secret not in raw
    assert b"my broker password is ***" in raw


def test_threads_share_one_log(tmp_path: Path) -> None:
    audit = AuditLog(AuditDatabase(tmp_path / "audit.sqlite"))

    def work(n: int) -> None:
        for i in range(50):
            audit.record(Decision(Source.EVENT, f"t{n}-{i}", grammar=GRAMMAR), tool="log_observation", ok=True, message="ok")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = audit.last(1000)
    assert len(rows) == 200 and len({r.id for r in rows}) == 200 and len({r.input for r in rows}) == 200
