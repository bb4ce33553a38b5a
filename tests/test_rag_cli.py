"""`tessera rag ...` end to end through agent.cli.main, on a store under a temp data dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.cli import main


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TESSERA_CONFIG", raising=False)
    monkeypatch.delenv("TESSERA_RAG__PATH", raising=False)
    return tmp_path / "data"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_query_stats_forget(data_dir, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "pump3.md").write_text("# Pump 3\n\n## History\n\nPump 3 had an outer race defect (BPFO) in 2025; the bearing was replaced.\n", encoding="utf-8")
    (notes / "junk.txt").write_bytes(os.urandom(2048) + b"\x00")

    code, out, err = run(capsys, "rag", "ingest", str(notes), "--device", "pump-3", "--site", "plant")
    assert code == 1  # one file failed; the other went in
    assert "1 added" in out and "1 skipped" in out
    failures = [line for line in err.splitlines() if "junk.txt" in line]
    assert len(failures) == 1 and failures[0].startswith("tessera: ") and "binary" in failures[0]
    assert "ingest" in err  # the progress bar

    code, out, _ = run(capsys, "rag", "ingest", str(notes / "pump3.md"), "--device", "pump-3", "--site", "plant", "--json")
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["unchanged"]
    code, out, _ = run(capsys, "rag", "ingest", "--seed", "--json")
    results = json.loads(out)
    assert code == 0 and len(results) == 14 and all(r["status"] == "added" for r in results)

    code, out, _ = run(capsys, "rag", "query", "what", "happened", "to", "pump", "3", "--device", "pump-3", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 1 and hits[0]["metadata"]["device"] == "pump-3" and "outer race" in hits[0]["text"]

    code, out, _ = run(capsys, "rag", "query", "BPFO formula", "-k", "2")
    assert code == 0 and out.startswith("1. [") and "bearing-defect-frequencies.md#" in out

    code, out, _ = run(capsys, "rag", "query", "--collection", "examples", "switch off the living room lights", "-k", "1")
    assert "HassTurnOff" in out

    code, out, _ = run(capsys, "rag", "stats", "--json", "--check")
    stats = json.loads(out)
    assert code == 0 and stats["problems"] == [] and stats["documents"] == 14
    assert stats["collections"]["tessera-documents"] > 100 and stats["collections"]["tessera-examples"] >= 40
    assert Path(stats["location"]) == data_dir / "rag"

    code, out, _ = run(capsys, "rag", "forget", "--device", "pump-3", "--json")
    assert code == 0 and json.loads(out)["total"] == 1
    code, out, _ = run(capsys, "rag", "query", "pump 3 outer race defect 2025", "-k", "50", "--json")
    assert all(h["metadata"].get("device") != "pump-3" for h in json.loads(out))


def test_eval_command(data_dir, capsys):
    code, out, _ = run(capsys, "rag", "eval", "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] >= 150 and result["recall"] >= 0.9 and 0 < result["mrr"] <= 1


def test_user_errors_are_one_line(data_dir, tmp_path, capsys):
    code, _, err = run(capsys, "rag", "ingest")
    assert code == 1 and err.startswith("tessera: error: nothing to ingest") and err.count("\n") == 1

    store = data_dir / "rag"
    store.mkdir(parents=True)
    (store / "chroma.sqlite3").write_bytes(b"garbage" * 100)
    code, _, err = run(capsys, "rag", "stats")
    assert code == 1 and "corrupt" in err and err.count("\n") == 1

    with pytest.raises(SystemExit):
        main(["rag", "forget"])  # --device or --site is required
