"""`tessera eval ecg` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.ecg import SYNTHETIC_CONDITIONS, SYNTHETIC_RATES
from adapters.ecg.records import write_record
from agent.cli import main
from firmware_sim.signals.ecg import synthesize_ecg


def test_eval_on_a_synthetic_set_prints_json_scores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    assert main(["eval", "ecg", "--synthetic-set", str(out), "--duration", "60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    n_records = len(SYNTHETIC_RATES) * len(SYNTHETIC_CONDITIONS)
    assert len(report["records"]) == n_records and len(list(out.glob("*.hea"))) == n_records
    total = report["total"]
    assert total["se"] >= 0.99 and total["ppv"] >= 0.99
    assert total["confusion"]["V"]["V"] > 0 and total["tp"] + total["fn"] > 300


def test_eval_on_a_record_prints_the_confusion_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ecg = synthesize_ecg(60, 360, 70, rng=np.random.default_rng(1), v_fraction=0.1)
    path = write_record(tmp_path, "r1", ecg.signal, 360, ecg.r_peaks, ecg.labels)
    assert main(["eval", "ecg", "--record", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Se %" in text and "+P %" in text and "reference \\ detected" in text
    assert text.splitlines()[1].startswith("r1")


def test_eval_reports_a_missing_record_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "ecg", "--record", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tessera: error:") and len(err.strip().splitlines()) == 1


def test_eval_without_records_is_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "ecg"]) == 1
    assert "--record" in capsys.readouterr().err
