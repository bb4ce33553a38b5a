"""`tessera report`: the PNGs are read back as pixels; what they must show is checked by its colour and place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread

from adapters.vibration import VibrationEncoder
from adapters.vibration.encoder import make_config
from agent import report
from agent.cli import main
from agent.report import ReportError, render_ecg_strip, render_scalar_chart, render_traffic_chart, render_vibration_spectra
from agent.cli.report import SIM_T0
from firmware_sim.signals.ecg import synthesize_ecg
from firmware_sim.signals.scalar import Anomaly
from firmware_sim.signals.scalar import simulate as simulate_scalar
from firmware_sim.signals.traffic import Incident
from firmware_sim.signals.traffic import simulate as simulate_traffic
from firmware_sim.signals.vibration import MachineState
from firmware_sim.signals.vibration import simulate as simulate_vibration

VIB_RATE = 12800.0


def pixels(png: Path) -> np.ndarray:
    """The image as (height, width, 3) integers 0-255, after checking it is a real picture, not a blank canvas."""
    assert png.stat().st_size > 20_000
    rgb = np.round(imread(png)[..., :3] * 255).astype(np.int32)
    assert np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).size > 100
    return rgb


def paper_rows(rgb: np.ndarray) -> int:
    """How many rows of ECG paper the strip has: bands of image rows mostly in the paper's colour."""
    lines = np.flatnonzero(colour_mask(rgb, report.PAPER, 2).mean(axis=1) > 0.3)
    return int(lines.size > 0) + int(np.sum(np.diff(lines) > 10))  # grid lines split a band by a pixel or two


def colour_mask(rgb: np.ndarray, colour: str, tolerance: int = 6) -> np.ndarray:
    target = np.round(np.array(to_rgb(colour)) * 255)
    return np.all(np.abs(rgb - target) <= tolerance, axis=-1)


# -- ECG -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("v_fraction", "v_beats"), [(0.1, 2), (0.0, 0)])
def test_ecg_strip_marks_ventricular_beats_in_their_colour_only_when_present(tmp_path: Path, v_fraction: float, v_beats: int) -> None:
    ecg = synthesize_ecg(10, 250, 72, rng=np.random.default_rng(0), v_fraction=v_fraction, snr_db=30.0, baseline_mv=0.05)
    assert ecg.labels.count("V") == v_beats
    out = render_ecg_strip(ecg.signal, 250, tmp_path / "strip.png", title="test strip")
    rgb = pixels(out.png)
    height, width = rgb.shape[:2]
    assert width >= 1500 and height >= 250 and paper_rows(rgb) == 1  # one 10 s row at 25 mm/s, 150 dpi
    v_pixels = int(colour_mask(rgb, report.BEAT_COLOURS["V"]).sum())
    assert (v_pixels > 50) if v_beats else (v_pixels == 0)
    assert colour_mask(rgb, report.BEAT_COLOURS["N"]).sum() > 200
    text = out.text.read_text()
    assert f"{v_beats} V" in text and "![test strip](strip.png)" in text and "25 mm/s" in text
    assert ("ventricular_ectopy" in text) == bool(v_beats)


def test_ecg_strip_of_a_real_icu_record_through_the_cli(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = shared_data / "ecg" / "a103l"
    if not record.with_suffix(".hea").exists():
        pytest.skip("a103l not in the shared data")
    code = main(["report", "ecg", str(record), "--start", "60", "--duration", "20s", "--out", str(tmp_path)])
    assert code == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "a103l-ecg.png"), str(tmp_path / "a103l-ecg.md")]
    rgb = pixels(tmp_path / "a103l-ecg.png")
    assert paper_rows(rgb) == 2  # 10 s a row
    text = (tmp_path / "a103l-ecg.md").read_text()
    assert "a103l lead II, 60-80 s" in text
    beats = int(text.split("**Beats** ")[1].split(" beats")[0])
    assert 33 <= beats <= 50  # the patient is at 100-150 bpm throughout
    assert "asystole" not in text  # the monitor's false alarm is not repeated


# -- vibration -----------------------------------------------------------------------------------


def machine(fault: str) -> np.ndarray:
    state = MachineState(fault=fault, severity=0.3, resonance_hz=3000.0, second_resonance_hz=1800.0)
    return simulate_vibration(1.0, VIB_RATE, state, np.random.default_rng(0)).signal_g


def test_encoder_spectra_carry_the_matched_defect_and_the_bearing_lines() -> None:
    encoder = VibrationEncoder(make_config(VIB_RATE, rpm=1797, bearing="6205"))
    outer = encoder.spectra(machine("outer_race"))
    assert outer is not None and outer.detected == "bpfo"
    assert outer.fitted_hz == pytest.approx(outer.defect_hz["bpfo"], rel=0.02)
    assert outer.defect_hz["bpfo"] == pytest.approx(3.585 * outer.shaft_hz, rel=1e-3)
    assert outer.envelope_hz[-1] > 5 * outer.defect_hz["bpfi"]  # room for five harmonics of every family
    line = int(round(outer.fitted_hz / outer.envelope_hz[1]))
    assert outer.envelope_ratio[line - 2: line + 3].max() > outer.detection_ratio
    healthy = encoder.spectra(machine("healthy"))
    assert healthy is not None and healthy.detected is None and healthy.fitted_hz is None
    assert encoder.spectra(np.zeros(int(VIB_RATE))) is None  # flat: nothing to draw


@pytest.mark.parametrize(("fault", "named"), [("outer_race", "outer race defect at 10"), ("healthy", "the encoder matched no defect comb")])
def test_vibration_report_names_the_defect_the_encoder_found(tmp_path: Path, fault: str, named: str) -> None:
    out = render_vibration_spectra(machine(fault), VIB_RATE, tmp_path / "vib.png", options={"rpm": 1797, "bearing": "6205"})
    rgb = pixels(out.png)
    assert rgb.shape[1] > 1000 and rgb.shape[0] > 700
    assert colour_mask(rgb, report.BAND_COLOUR).sum() > 1000  # the demodulated band is shaded
    text = out.text.read_text()
    assert named in text and "BPFO 107" in text and "SKF 6205" in text
    assert ("bearing_outer_race" in text) == (fault == "outer_race")


def test_flat_vibration_is_refused_with_the_encoders_reason(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="flat"):
        render_vibration_spectra(np.zeros(int(VIB_RATE)), VIB_RATE, tmp_path / "flat.png")
    assert not (tmp_path / "flat.png").exists()


# -- traffic and scalar --------------------------------------------------------------------------


@pytest.mark.parametrize("incident", [True, False])
def test_traffic_chart_shades_the_incident_where_it_was_injected(tmp_path: Path, incident: bool) -> None:
    injected = [Incident(SIM_T0 + 14 * 3600.0, 1800.0, 0.4)] if incident else []
    rec = simulate_traffic(86400.0, SIM_T0, incidents=injected, seed=0)
    out = render_traffic_chart(rec.stacked(), 1 / 30, tmp_path / "traffic.png", t0=SIM_T0)
    rgb = pixels(out.png)
    shaded = colour_mask(rgb, report.INCIDENT_FILL)
    columns = np.flatnonzero(shaded.sum(axis=0) > 100)  # a band down the plots, not the legend's key
    assert colour_mask(rgb, report.CONGESTION_FILL).sum() > 1000  # rush hours queue on both days' charts
    text = out.text.read_text()
    if not incident:
        assert shaded.sum() == 0 and "incident (critical)" not in text
        return
    # 14:00-14:45 of a day that fills the plot: a band a little right of the middle.
    assert columns.size > 20 and 0.5 < columns.min() / rgb.shape[1] and columns.max() / rgb.shape[1] < 0.7
    assert "2023-11-14 14:" in text and "incident (critical)" in text and "1 incident(s)" in out.summary


@pytest.mark.parametrize("anomalies", [["spike"], []])
def test_scalar_chart_shades_windows_with_anomalies(tmp_path: Path, anomalies: list[str]) -> None:
    injected = [Anomaly(kind, SIM_T0 + 1.5 * 86400, 0.0, 2.5) for kind in anomalies]
    rec = simulate_scalar("temperature", 2 * 86400, 60.0, SIM_T0, anomalies=injected, seed=0)
    out = render_scalar_chart(rec.values, 1 / 60, tmp_path / "t.png", t0=SIM_T0, options={"label": "boiler", "unit": "degC"})
    rgb = pixels(out.png)
    assert colour_mask(rgb, report.WARMUP_FILL).sum() > 1000  # the first day
    shaded = int(colour_mask(rgb, report.ANOMALY_FILL).sum())
    text = out.text.read_text()
    if anomalies:
        assert shaded > 500 and "spike" in text and "2023-11-15 12:00 UTC" in text
    else:
        assert shaded == 0 and "**Events** none" in text


def test_nab_series_with_its_own_timestamps(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = shared_data / "nab" / "realKnownCause" / "ambient_temperature_system_failure.csv"
    assert main(["report", "scalar", str(csv), "--out", str(tmp_path), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert Path(written["png"]).name == "ambient_temperature_system_failure-scalar.png"
    pixels(Path(written["png"]))
    assert written["events"] and "anomaly event(s) over 7888" in written["summary"]


# -- the command ---------------------------------------------------------------------------------


def test_simulated_reports_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "vibration", "--simulate", "--fault", "outer_race", "--out", str(tmp_path)]) == 0
    assert main(["report", "ecg", "--simulate", "--bpm", "130", "--out", str(tmp_path), "--name", "tachy"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / n) for n in ("simulated-vibration.png", "simulated-vibration.md", "tachy.png", "tachy.md")]
    assert "outer race defect" in (tmp_path / "simulated-vibration.md").read_text()
    assert "tachycardia" in (tmp_path / "tachy.md").read_text()


@pytest.mark.parametrize(("argv", "fragment"), [
    (["report", "eeg", "--simulate"], "unknown report kind 'eeg'"),
    (["report", "ecg"], "give a recording"),
    (["report", "ecg", "/nowhere/record"], "no such file: /nowhere/record"),
    (["report", "vibration", "--simulate", "--duration", "0.1"], "needs at least 0.25 s"),
    (["report", "ecg", "--simulate", "--duration", "1s"], "needs at least 1.5 s"),
    (["report", "ecg", "--simulate", "--bpm", "400"], "hr_bpm must be within 20..250"),
    (["report", "vibration", "--simulate", "--bpm", "90"], "--bpm is for ecg reports"),
    (["report", "traffic", "--simulate", "--fault", "ball"], "--fault is for vibration reports"),
])
def test_mistakes_are_one_line_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str) -> None:
    assert main([*argv, "--out", str(tmp_path / "out")]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("tessera: error:") and fragment in errors[0], errors
    assert not (tmp_path / "out").exists()


def test_file_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a signal\n")
    garbage = tmp_path / "signal.npy"
    garbage.write_bytes(b"not numpy at all")
    short = tmp_path / "short.csv"
    short.write_text("mv\n" + "\n".join("0.1" for _ in range(100)))
    cases = [(["report", "ecg", str(notes)], "reads a WFDB record (.hea), .csv or .npy, not .txt"),
             (["report", "ecg", str(garbage), "--rate", "250"], "cannot read signal.npy"),
             (["report", "ecg", str(short)], "short.csv carries no sample rate"),
             (["report", "ecg", str(short), "--rate", "250"], "needs at least 1.5 s of signal, got 0.4 s"),
             (["report", "scalar", str(short), "--bpm", "60"], "--bpm is for ecg reports")]
    for argv, fragment in cases:
        assert main(argv + ["--out", str(tmp_path / "out")]) == 1
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and fragment in errors[0], (argv, errors)
    assert main(["report", "ecg", "--simulate", "--out", str(notes / "reports")]) == 1  # the out directory is a file
    assert "cannot write the report to" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_lists_the_kinds_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["report", "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert "ecg, vibration, traffic, scalar" in shown and "tessera report vibration --simulate --fault outer_race" in shown
