"""Electrode-motion artefacts: the synthesized noise, and no rhythm alarm from a usable window because of them."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.ecg.encoder import ECGEncoder
from base.errors import TesseraError
from evaluation.ecg import MOTION, load_noise, signal_power
from evaluation.ecg_alarms import CRITICAL_KINDS, window_alarms
from firmware_sim.signals.ecg import electrode_motion, synthesize_ecg

FS = 360


def test_motion_noise_is_seeded_unit_power_and_shared_in_time_between_leads() -> None:
    a, b = electrode_motion(FS * 120, FS, 7, 0), electrode_motion(FS * 120, FS, 7, 1)
    assert np.sqrt(np.mean(a * a)) == pytest.approx(1.0, rel=1e-6)
    assert np.array_equal(a, electrode_motion(FS * 120, FS, 7, 0))
    assert not np.array_equal(a, electrode_motion(FS * 120, FS, 8, 0))
    # The same movements on both leads (quiet spells line up), with each lead's own sizes.
    quiet_a, quiet_b = np.abs(a) < 1e-3, np.abs(b) < 1e-3
    assert quiet_a.mean() > 0.05 and (quiet_a == quiet_b).mean() > 0.9
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.5


def test_motion_is_a_noise_kind_of_the_evaluation() -> None:
    x = load_noise((MOTION,), FS * 60, FS, 0)
    assert x.size == FS * 60 and np.sqrt(np.mean(x * x)) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(TesseraError, match="motion"):
        load_noise(("nonesuch",), FS * 60, FS, 0)


@pytest.mark.parametrize("snr_db", [6.0, 0.0, -6.0])
def test_motion_raises_no_rhythm_alarm_from_a_usable_window(snr_db: float) -> None:
    ecg = synthesize_ecg(120, FS, 72, rng=np.random.default_rng(3), vary_morphology=True)
    ecg2 = synthesize_ecg(120, FS, 72, rng=np.random.default_rng(3), vary_morphology=True)
    leads = []
    for lead, x in enumerate((ecg.signal, 0.6 * ecg2.signal)):
        noise = electrode_motion(x.size, FS, 11, lead)
        gain = np.sqrt(signal_power(x, FS, ecg.r_peaks) / 10 ** (snr_db / 10))
        leads.append(x + gain * noise)
    count = window_alarms(np.vstack(leads), FS, ecg.r_peaks, list(ecg.labels))
    assert count.windows == 12 and (count.usable_windows > 0 or snr_db < 0)
    assert count.unsupported_critical == 0, count.as_dict()


def test_a_doubtful_window_says_it_is_too_noisy() -> None:
    # Beat-like transients at random times, each of its own width, polarity and shape: what the
    # detector took for a ventricular run here is no heart's, and the window says so.
    ecg = synthesize_ecg(10, FS, 70, rng=np.random.default_rng(5))
    x = ecg.signal.copy()
    rng = np.random.default_rng(11)
    for at in (np.sort(rng.uniform(0.5, 9.5, 8)) * FS).astype(int):
        u = np.arange(-60, 61) / rng.uniform(4, 14)
        mix = rng.uniform(0, 1)
        x[at - 60: at + 61] += rng.choice([-2.0, 2.0]) * (mix * -u * 1.6 + (1 - mix) * (1 - u * u)) * np.exp(-u * u / 2)
    w = ECGEncoder(FS).encode(x, 0.0)
    assert not {e.kind for e in w.events} & set(CRITICAL_KINDS), w.events
    noisy = [e for e in w.events if e.kind == "signal_too_noisy"]
    assert noisy and noisy[0].evidence["doubt"] == "ventricular run of beats unlike each other"


def test_a_run_whose_beats_differ_in_the_second_lead_is_motion(shared_data) -> None:
    # DS1 220 (development half) with synthesized motion at 6 dB, 300-310 s: three motion
    # transients alike in the first lead passed for a ventricular run at 60/min; in the second
    # lead, where each electrode moves its own way, they are unlike (0.78, 0.04).
    from pathlib import Path

    from adapters.ecg.records import read_record
    from evaluation.ecg import _other_lead, mix_noise

    path = Path(shared_data) / "mitdb" / "220"
    if not path.with_suffix(".hea").exists():
        pytest.skip("MIT-BIH 220 not in the shared data")
    record = read_record(path)
    fs, n = record.fs, int(660 * record.fs)
    ref = record.ref_samples[record.ref_samples < n]
    leads = [mix_noise(x[:n], fs, ref, load_noise((MOTION,), n, fs, k), 6.0)[0] for k, x in enumerate((record.signal, _other_lead(path, record.lead)))]
    a, b = int(300 * fs), int(310 * fs)
    w = ECGEncoder(fs).encode(np.vstack([lead[a:b] for lead in leads]), 0.0)
    assert not {e.kind for e in w.events} & set(CRITICAL_KINDS), w.events
    noisy = [e for e in w.events if e.kind == "signal_too_noisy"]
    assert noisy and noisy[0].evidence["doubt"] == "ventricular run of beats unlike each other in the second lead"


def test_a_fast_rate_from_beats_squeezed_into_the_normal_cycle_is_motion() -> None:
    # A regular 75/min rhythm with a QRS-like transient halfway through every other cycle: the
    # median RR says 100+/min, but the normal beats kept their cycle across each transient (no
    # compensatory pause), so the heart did not beat there.
    ecg = synthesize_ecg(10, FS, 75, rng=np.random.default_rng(2))
    x = ecg.signal.copy()
    beats = ecg.r_peaks
    u = np.arange(-25, 26) / 8.0
    blip = 1.2 * -u * np.exp(-u * u / 2)  # a biphasic deflection about 70 ms long
    for k in range(0, beats.size - 1, 2):
        at = (beats[k] + beats[k + 1]) // 2
        x[at - 25: at + 26] += blip
    w = ECGEncoder(FS).encode(x, 0.0)
    assert not {e.kind for e in w.events} & set(CRITICAL_KINDS), w.events
    assert any(e.evidence.get("doubt") == "fast rate from beats squeezed into the normal cycle" for e in w.events if e.kind == "signal_too_noisy"), w.events
