"""The ECG encoder: protocol, registry, vocabulary, rhythm flags, HRV and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import Encoder, Severity, make_encoder
from adapters.ecg import ECGConfig, ECGEncoder
from adapters.ecg.vocab import SUMMARY_MAX_CHARS, TOKEN_IDS, VOCAB_VERSION, decode_codes
from firmware_sim.signals.ecg import synthesize_ecg


def _encode(duration_s: float, fs: float, hr: float, seed: int = 0, **options: object):
    ecg = synthesize_ecg(duration_s, fs, hr, rng=np.random.default_rng(seed), **options)
    return ecg, ECGEncoder(fs).encode(ecg.signal, 1_700_000_000.0)


def _kinds(window) -> set[str]:
    return {e.kind for e in window.events}


def test_registry_builds_an_encoder_that_meets_the_protocol() -> None:
    for name in ("ecg", "ekg"):
        enc = make_encoder(name, 360.0)
        assert isinstance(enc, Encoder) and isinstance(enc, ECGEncoder)
        assert enc.sample_rate == 360.0 and enc.vocab_version == VOCAB_VERSION and enc.window_s > 0
    enc = make_encoder("ecg", 250, window_s=30.0, tachy_bpm=110.0)
    assert enc.window_s == 30.0 and enc.config.tachy_bpm == 110.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"tachy_bpm": 40.0}, "brady_bpm"), ({"band_hz": (20.0, 5.0)}, "band_hz"), ({"window_s": 0}, "window_s"), ({"premature_ratio": 1.2}, "premature_ratio"), ({"nonsense": 1}, "unknown ECG option")],
)
def test_bad_config_raises_a_real_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ECGEncoder(360.0, **kwargs)


@pytest.mark.parametrize("rate", [0, -250, float("nan")])
def test_bad_sample_rate_raises(rate: float) -> None:
    with pytest.raises(ValueError):
        ECGEncoder(rate)


def test_window_shape_tokens_codes_embedding_and_summary() -> None:
    ecg, w = _encode(10, 360, 72, v_fraction=0.15)
    assert w.modality == "ecg" and w.vocab_version == VOCAB_VERSION
    assert w.duration_s == pytest.approx(10.0)
    assert all(t in TOKEN_IDS for t in w.tokens)
    assert w.codes.dtype == np.int32 and decode_codes(w.codes.tolist()) == w.tokens
    assert w.embedding.dtype == np.float32 and w.embedding.shape == (ECGEncoder.embedding_dim,)
    assert np.all(np.isfinite(w.embedding))
    assert 0 < len(w.summary) <= SUMMARY_MAX_CHARS and "\n" not in w.summary
    assert w.tokens[0] == "<ecg:quality:ok>" and w.quality > 0.8
    truth_hr = 60.0 / np.median(ecg.rr_s())
    assert abs(w.features["hr_bpm"] - truth_hr) < 3
    assert w.features["n_V"] == ecg.labels.count("V")


@pytest.mark.parametrize("fs", [128.0, 250.0, 360.0, 500.0, 1000.0])
def test_any_declared_rate_gives_the_same_heart_rate(fs: float) -> None:
    ecg, w = _encode(20, fs, 75, seed=4)
    assert abs(w.features["hr_bpm"] - 60.0 / np.median(ecg.rr_s())) < 2
    assert w.features["n_beats"] == len(ecg.r_peaks)


@pytest.mark.parametrize(
    ("hr", "token", "kind", "severity"),
    [(42.0, "<ecg:rhythm:brady>", "bradycardia", Severity.WARNING), (35.0, "<ecg:rhythm:brady>", "bradycardia", Severity.CRITICAL), (125.0, "<ecg:rhythm:tachy>", "tachycardia", Severity.WARNING), (165.0, "<ecg:rhythm:tachy>", "tachycardia", Severity.CRITICAL)],
)
def test_rate_flags(hr: float, token: str, kind: str, severity: Severity) -> None:
    _, w = _encode(20, 360, hr, seed=int(hr))
    assert token in w.tokens
    event = next(e for e in w.events if e.kind == kind)
    assert event.severity == severity and abs(event.evidence["hr_bpm"] - hr) < 0.1 * hr


def test_normal_sinus_rhythm_raises_nothing() -> None:
    _, w = _encode(30, 360, 70, seed=11)
    assert "<ecg:rhythm:sinus>" in w.tokens
    assert not [e for e in w.events if e.severity >= Severity.WARNING]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_atrial_fibrillation_is_suspected(seed: int) -> None:
    _, w = _encode(30, 250, 90, seed=seed, af=True, snr_db=20.0)
    assert "<ecg:rhythm:af>" in w.tokens and "af_suspect" in _kinds(w)
    assert w.features["n_S"] == 0  # early beats mean nothing in AF


@pytest.mark.parametrize("options", [{"s_fraction": 0.2}, {"rsa": 0.08}, {"v_fraction": 0.2}])
def test_ectopy_and_sinus_arrhythmia_are_not_af(options: dict) -> None:
    _, w = _encode(30, 360, 75, seed=5, **options)
    assert "af_suspect" not in _kinds(w)


def test_ventricular_and_supraventricular_beats_are_counted() -> None:
    ecg, w = _encode(60, 360, 70, seed=8, v_fraction=0.12, s_fraction=0.1)
    for label in ("V", "S"):
        truth = ecg.labels.count(label)
        assert truth > 0 and abs(w.features[f"n_{label}"] - truth) <= max(1, 0.15 * truth)
    assert f"<ecg:beat:V:{min(20, ecg.labels.count('V'))}>" in w.tokens
    assert "ventricular_ectopy" in _kinds(w)


def test_pause_is_flagged() -> None:
    _, w = _encode(20, 360, 65, seed=9, pauses=1, pause_s=2.8)
    pause = next(e for e in w.events if e.kind == "pause")
    assert 2.5 < pause.evidence["length_s"] < 3.1 and "<ecg:rhythm:pause>" in w.tokens


@pytest.mark.parametrize(("seed", "noise_mv"), [(2, 0.01), (3, 0.03), (4, 0.05)])
def test_asystole_is_called_on_a_live_but_beatless_lead(seed: int, noise_mv: float) -> None:
    ecg = synthesize_ecg(20, 360, 70, rng=np.random.default_rng(seed), baseline_mv=0.1, vary_morphology=True)
    x = ecg.signal.copy()
    cut = int(ecg.r_peaks[8] + 0.5 * 360)
    x[cut:] = np.random.default_rng(seed).normal(0, noise_mv, x.size - cut)  # a live lead: noise, no QRS
    w = ECGEncoder(360).encode(x, 0.0)
    event = next(e for e in w.events if e.kind == "asystole")
    assert event.severity == Severity.CRITICAL and event.evidence["length_s"] >= 4.0
    assert "<ecg:rhythm:asystole>" in w.tokens


def test_hrv_matches_the_known_truth() -> None:
    ecg = synthesize_ecg(180, 500, 62, rng=np.random.default_rng(12), rsa=0.06, jitter_ms=12.0)
    nn = ecg.nn_s()
    sdnn, rmssd = np.std(nn, ddof=1) * 1000, np.sqrt(np.mean(np.diff(nn) ** 2)) * 1000
    w = ECGEncoder(500, window_s=180).encode(ecg.signal, 0.0)
    assert w.features["sdnn_ms"] == pytest.approx(sdnn, rel=0.08)
    assert w.features["rmssd_ms"] == pytest.approx(rmssd, rel=0.12)


def _clean(fs: float = 360.0, seconds: float = 10.0) -> np.ndarray:
    return synthesize_ecg(seconds, fs, 70, rng=np.random.default_rng(1)).signal


BAD_INPUTS = {
    "empty": (np.zeros(0), "short"),
    "too_few": (_clean()[:100], "short"),
    "all_nan": (np.full(3600, np.nan), "short"),
    "mostly_nan": (np.where(np.arange(3600) % 3 == 0, _clean(), np.nan), "gaps"),
    "some_nan": (np.where((np.arange(3600) > 1000) & (np.arange(3600) < 1200), np.nan, _clean()), "gaps"),
    "inf": (np.where(np.arange(3600) == 50, np.inf, _clean()), "gaps"),
    "flat": (np.full(3600, 0.3), "flat"),
    "zeros": (np.zeros(3600), "flat"),
    "saturated": (np.clip(_clean(), -0.15, 0.4), "saturated"),
    "three_d": (np.ones((2, 2, 900)), "shape"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_gives_quality_tokens_not_exceptions(name: str) -> None:
    samples, problem = BAD_INPUTS[name]
    w = ECGEncoder(360).encode(samples, 5.0)
    assert f"<ecg:quality:{problem}>" in w.tokens
    assert all(t in TOKEN_IDS for t in w.tokens)
    assert w.embedding.shape == (ECGEncoder.embedding_dim,) and np.all(np.isfinite(w.embedding))
    assert 0.0 <= w.quality < 1.0 and w.summary
    if problem in {"short", "flat", "shape"}:
        assert w.quality == 0.0 and "<ecg:hr:none>" in w.tokens
        assert {e.kind for e in w.events} & {"lead_off", "signal_quality"}


def test_two_dimensional_input_reads_a_lead() -> None:
    x = _clean()
    two = np.vstack([np.full_like(x, np.nan), x, 0.5 * x])  # channels x samples; first lead dead
    w = ECGEncoder(360).encode(two, 0.0)
    assert w.features["n_beats"] >= 10 and "<ecg:quality:ok>" in w.tokens
    w_t = ECGEncoder(360).encode(two.T, 0.0)  # samples x channels works too
    assert w_t.features["n_beats"] == w.features["n_beats"]


def test_encoder_is_stateless_between_windows() -> None:
    enc = ECGEncoder(360)
    x = _clean()
    first = enc.encode(x, 0.0)
    enc.encode(np.zeros(3600), 10.0)
    enc.reset()
    again = enc.encode(x, 0.0)
    assert first.tokens == again.tokens and np.array_equal(first.embedding, again.embedding)


def test_config_defaults_are_physiological() -> None:
    c = ECGConfig()
    assert c.brady_bpm < 60 < c.tachy_bpm and c.asystole_s >= 3.0 and 0.1 < c.wide_qrs_s < 0.14


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ventricular_salvos_are_vt_when_long_and_a_run_when_short(seed: int) -> None:
    ecg = synthesize_ecg(20, 360, 70, rng=np.random.default_rng(seed), v_runs=1, v_run_beats=6, vary_morphology=True)
    w = ECGEncoder(360).encode(ecg.signal, 0.0)
    vt = next(e for e in w.events if e.kind == "ventricular_tachycardia")
    assert vt.severity == Severity.CRITICAL and vt.evidence["beats"] >= 5 and abs(vt.evidence["rate_bpm"] - 160) < 10
    assert "<ecg:rhythm:vt>" in w.tokens
    short = synthesize_ecg(20, 360, 70, rng=np.random.default_rng(seed), v_runs=1, v_run_beats=3, vary_morphology=True)
    w3 = ECGEncoder(360).encode(short.signal, 0.0)
    assert "ventricular_tachycardia" not in _kinds(w3) and "ventricular_run" in _kinds(w3)
