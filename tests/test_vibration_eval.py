"""`tessera eval vibration`: accuracy on simulated labelled sets and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from evaluation.vibration import SYNTHETIC_CLASSES, canonical_label, evaluate_dir, make_synthetic, summarise
from agent.cli import main
from firmware_sim.signals.vibration import random_state, simulate


@pytest.mark.parametrize("rate", [12000.0, 48000.0])
def test_fault_type_accuracy_on_a_simulated_set(tmp_path: Path, rate: float) -> None:
    # Seeds differ from the CLI default so the thresholds are not tuned to one draw.
    make_synthetic(tmp_path, [rate], per_class=8, seconds=2.0, seed=int(rate) + 17)
    results = evaluate_dir(tmp_path)
    report = summarise(results)
    assert report["files"] == 8 * len(SYNTHETIC_CLASSES)
    assert report["accuracy"] >= 0.95, report["confusion"]
    assert report["healthy_files"] == 8 and report["healthy_zone_d"] == 0
    for label in SYNTHETIC_CLASSES:
        assert report["per_class"][label]["recall"] >= 0.75, (label, report["confusion"][label])


def test_cli_makes_and_scores_a_synthetic_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "vibration", "--make-synthetic", str(tmp_path / "set"), "--rates", "12000", "--per-class", "2", "--seconds", "1", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == 2 * len(SYNTHETIC_CLASSES)
    assert set(report["confusion"]) >= set(SYNTHETIC_CLASSES)
    assert report["accuracy"] >= 0.85
    assert (tmp_path / "set" / "labels.csv").is_file()


def test_cli_reads_mat_csv_and_json_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    entries = []
    # CWRU layout: X<nnn>_DE_time in g and X<nnn>RPM inside the .mat; no rpm in the manifest.
    for i, (fault, label) in enumerate([("inner_race", "IR"), ("outer_race", "OR"), ("healthy", "Normal")]):
        state = random_state(fault, rng, 12000.0, rpm=1772.0)
        x = simulate(2.0, 12000.0, state, rng).signal_g
        record = {f"X{i:03d}_DE_time": x[:, None], f"X{i:03d}_FE_time": np.zeros((x.size, 1)), f"X{i:03d}RPM": np.array([[1772]])}
        # A stray second record inside the file (as in some CWRU files) must not be the one read.
        record.update({"X999_DE_time": np.zeros((x.size, 1)), "X999RPM": np.array([[900]])})
        savemat(tmp_path / f"r{i}.mat", record)
        entries.append({"file": f"r{i}.mat", "label": label, "sample_rate": 12000})
    state = random_state("ball", rng, 12000.0, rpm=1750.0)
    x = simulate(2.0, 12000.0, state, rng).signal_g
    np.savetxt(tmp_path / "ball.csv", x, delimiter=",", header="accel_g", comments="")
    entries.append({"file": "ball.csv", "label": "B", "sample_rate": 12000, "rpm": 1750, "bearing": "6205", "machine_class": "I"})
    (tmp_path / "labels.json").write_text(json.dumps(entries))
    assert main(["eval", "vibration", str(tmp_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: 100.0%" in out
    for name in ("r0.mat: inner_race -> inner_race", "r1.mat: outer_race -> outer_race", "r2.mat: healthy -> healthy", "ball.csv: ball -> ball"):
        assert name in out


def test_cli_reports_a_missing_manifest_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "vibration", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "labels.csv" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("Normal", "healthy"), ("IR", "inner_race"), ("outer-race", "outer_race"), ("B", "ball"), ("unbalance", "imbalance"),
        ("IR007", "inner_race"), ("OR014@6", "outer_race"), ("B021", "ball"), ("Normal_0", "healthy"), ("inner race fault", "inner_race"),
        ("DE_OR_021", "outer_race"), ("looseness", "looseness"), ("gearbox", "gearbox"),
    ],
)
def test_label_aliases(raw: str, label: str) -> None:
    assert canonical_label(raw) == label


@pytest.mark.parametrize(
    ("labels", "verdict"),
    [
        (["healthy"] * 7 + ["outer_race"] * 3, "outer_race"),
        (["healthy"] * 9 + ["outer_race"], "healthy"),
        (["ball"] * 3 + ["inner_race"] * 4 + ["healthy"] * 3, "inner_race"),
        (["imbalance"], "imbalance"),
        (["unclear"] * 6 + ["outer_race"] * 4, "outer_race"),  # a persistent fault outweighs unclear windows
        (["unclear"] * 3 + ["healthy"] * 7, "unclear"),
        ([], "healthy"),
    ],
)
def test_file_verdict_needs_a_persistent_fault(labels: list[str], verdict: str) -> None:
    from evaluation.vibration import file_verdict

    assert file_verdict(labels) == verdict


def test_cwru_style_manifest_columns_and_window_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The CWRU labels.csv: fault, outer_race_position, load_hp, nominal_rpm, rpm_in_file (empty for some),
    # sample_rate_hz (48000 for the normal baseline) and de_var naming the array (numbered unlike the file).
    rng = np.random.default_rng(5)
    rows = ["file,fault,outer_race_position,load_hp,nominal_rpm,rpm_in_file,sample_rate_hz,de_var"]
    for name, fault, pos, rate, rpm_in_file in [
        ("OR_6.mat", "outer_race", "6:00", 12000, "1796"),
        ("IR_x.mat", "inner_race", "", 12000, ""),
        ("Normal_0.mat", "normal", "", 48000, "1797"),
    ]:
        state = random_state("healthy" if fault == "normal" else fault, rng, float(rate), rpm=1797.0)
        x = simulate(2.0, float(rate), state, rng).signal_g
        savemat(tmp_path / name, {"X048_DE_time": x[:, None], "X111_DE_time": np.zeros((x.size, 1))})
        rows.append(f"{name},{fault},{pos},0,1797,{rpm_in_file},{rate},X048_DE_time")
    rows.append("Other.mat,ball,,1,1772,1772,12000,X048_DE_time")
    savemat(tmp_path / "Other.mat", {"X048_DE_time": np.zeros((24000, 1))})
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    assert main(["eval", "vibration", str(tmp_path), "--where", "load_hp=0"]) == 0
    out = capsys.readouterr().out
    assert "files: 3   accuracy: 100.0%" in out and "at 48000 Hz: 100.0% of 1" in out
    assert "windows: 6   accuracy: 100.0%" in out
    assert "OR_6.mat: outer_race@6:00 -> outer_race  windows: outer_race 2" in out
    assert "Normal_0.mat: healthy -> healthy  windows: healthy 2" in out
    row = next(line for line in out.splitlines() if line.startswith("outer_race@6:00 "))
    assert row.split()[-3:] == ["100%", "0%", "0%"]
