"""The ECG encoder on real recordings: ICU false alarms it must not repeat, and a 1000 Hz 15-lead record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.ecg import ECGEncoder, analyze_ecg
from adapters.ecg.records import read_record


def _record(shared_data: Path, name: str) -> Path:
    path = shared_data / "ecg" / name
    if not path.with_suffix(".hea").exists():
        pytest.skip(f"{name} not in the shared data")
    return path


def _window_kinds(signal: np.ndarray, fs: float) -> list[set[str]]:
    enc = ECGEncoder(fs)
    n = int(enc.window_s * fs)
    return [{e.kind for e in enc.encode(signal[i:i + n], i / fs).events} for i in range(0, signal.size - n + 1, n)]


@pytest.mark.parametrize("lead", ["II", "V"])
def test_a103l_false_asystole_alarm_is_not_repeated(shared_data: Path, lead: str) -> None:
    record = read_record(_record(shared_data, "a103l"), channel=lead)
    analysis = analyze_ecg(record.signal, record.fs)
    assert analysis.rhythm is not None and not analysis.rhythm.asystole
    assert 100 < analysis.rhythm.hr_bpm < 150  # the patient is tachycardic throughout
    windows = _window_kinds(record.signal, record.fs)
    assert len(windows) >= 30
    assert not any("asystole" in kinds for kinds in windows)
    # The artefact at the end is reported as such instead.
    assert any("signal_quality" in kinds for kinds in windows)


@pytest.mark.parametrize("lead", ["II", "V"])
def test_v102s_false_vt_alarm_is_not_repeated(shared_data: Path, lead: str) -> None:
    record = read_record(_record(shared_data, "v102s"), channel=lead)
    analysis = analyze_ecg(record.signal, record.fs)
    assert analysis.rhythm is not None and not analysis.rhythm.vt
    assert not any(run.beats >= 5 for run in analysis.rhythm.v_runs)
    assert 95 < analysis.rhythm.hr_bpm < 115  # sinus tachycardia near 104/min, not a doubled count
    assert not any("ventricular_tachycardia" in kinds for kinds in _window_kinds(record.signal, record.fs))


@pytest.mark.parametrize("lead", ["i", "ii", "v2", "v5", "vx"])
def test_ptb_record_at_1000_hz_gives_a_sane_rate(shared_data: Path, lead: str) -> None:
    record = read_record(_record(shared_data, "s0010_re"), channel=lead)
    assert record.fs == 1000
    w = ECGEncoder(record.fs, window_s=record.signal.size / record.fs).encode(record.signal, 0.0)
    assert 70 < w.features["hr_bpm"] < 95
    assert 45 <= w.features["n_beats"] <= 60  # 38.4 s at about 82/min
    assert "<ecg:quality:ok>" in w.tokens
    assert not {e.kind for e in w.events} & {"asystole", "ventricular_tachycardia", "af_suspect", "pause"}


def test_ptb_record_as_a_fifteen_lead_array(shared_data: Path) -> None:
    import wfdb

    rec = wfdb.rdrecord(str(_record(shared_data, "s0010_re")))
    w = ECGEncoder(rec.fs).encode(rec.p_signal[:10_000].T, 0.0)  # 15 channels x 10 s
    assert 70 < w.features["hr_bpm"] < 95


@pytest.mark.parametrize("name", ["a103l", "v102s"])
def test_false_alarms_stay_away_with_both_leads_at_once(shared_data: Path, name: str) -> None:
    # Two leads (II and V) as one 2-D input: the second lead now also judges beat shape, and
    # must not turn the spiky or artefact-ridden beats into ventricular runs.
    import wfdb

    rec = wfdb.rdrecord(str(_record(shared_data, name)))
    x = rec.p_signal[:, [rec.sig_name.index("II"), rec.sig_name.index("V")]].T
    analysis = analyze_ecg(x, rec.fs)
    assert analysis.rhythm is not None and not analysis.rhythm.vt and not analysis.rhythm.asystole
    assert not any(run.beats >= 3 for run in analysis.rhythm.v_runs)
    enc, n = ECGEncoder(rec.fs), int(10 * rec.fs)
    kinds = set().union(*({e.kind for e in enc.encode(x[:, i:i + n], i / rec.fs).events} for i in range(0, x.shape[1] - n + 1, n)))
    assert not kinds & {"asystole", "ventricular_tachycardia", "ventricular_run"}
