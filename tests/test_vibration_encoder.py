"""VibrationEncoder on simulated machines: each fault's token and event, bad input, protocol shape."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adapters import Encoder, Severity, make_encoder
from adapters.vibration.encoder import EMBEDDING_DIM, SUMMARY_CHAR_BUDGET, VibrationConfig, clipped_fraction, factory
from adapters.vibration.vocab import VOCAB, decode_codes
from firmware_sim.signals.vibration import MachineState, random_state, simulate

FS = 12000.0

EXPECTED = {
    "outer_race": ("<vib:bearing:bpfo:", "bearing_outer_race"),
    "inner_race": ("<vib:bearing:bpfi:", "bearing_inner_race"),
    "ball": ("<vib:bearing:bsf:", "bearing_ball"),
    "imbalance": ("<vib:fault:imbalance>", "imbalance"),
    "misalignment": ("<vib:fault:misalignment>", "misalignment"),
    "looseness": ("<vib:fault:looseness>", "looseness"),
}


def _window(fault: str, seed: int, fs: float = FS, **changes: object):
    rng = np.random.default_rng(seed)
    state = replace(random_state(fault, rng, fs), **changes)
    return state, simulate(1.0, fs, state, rng)


@pytest.mark.parametrize("fault", sorted(EXPECTED))
@pytest.mark.parametrize("seed", [1, 2])
def test_each_fault_gives_its_token_and_event(fault: str, seed: int) -> None:
    state, sim = _window(fault, seed)
    out = make_encoder("vibration", FS, rpm=state.rpm).encode(sim.signal_g, 100.0)
    prefix, kind = EXPECTED[fault]
    assert any(t.startswith(prefix) for t in out.tokens), out.tokens
    assert kind in {e.kind for e in out.events}
    # Faults of other families must not be claimed.
    others = {k for f, (_, k) in EXPECTED.items() if f != fault and f in ("outer_race", "inner_race", "ball")}
    assert not others & {e.kind for e in out.events}


def test_bearing_event_evidence_matches_the_simulated_defect() -> None:
    state, sim = _window("inner_race", 7)
    out = factory(FS, rpm=state.rpm).encode(sim.signal_g, 5.0)
    event = next(e for e in out.events if e.kind == "bearing_inner_race")
    assert event.evidence["defect_hz"] == pytest.approx(sim.truth.defect_hz, rel=0.01)
    assert event.evidence["harmonics"] >= 2
    assert event.t == 5.0
    assert "inner race" in out.summary


def test_healthy_machine_is_quiet() -> None:
    state, sim = _window("healthy", 3)
    out = factory(FS, rpm=state.rpm).encode(sim.signal_g, 0.0)
    assert "<vib:bearing:ok>" in out.tokens
    assert not [t for t in out.tokens if t.startswith("<vib:fault:")]
    assert out.features["zone_index"] <= 1
    assert not out.events


def test_growing_imbalance_climbs_the_iso_zones() -> None:
    state = MachineState(fault="imbalance", severity=0.0, growth_per_s=1.0, fault_mm_s=1.0, rpm=1500.0)
    sim = simulate(10.0, FS, state, np.random.default_rng(0))
    enc = factory(FS, rpm=1500.0, machine_class="I")
    zones = []
    for k in (0, 3, 9):
        out = enc.encode(sim.signal_g[int(k * FS): int((k + 1) * FS)], float(k))
        zones.append(out.features["zone_index"])
    assert zones == sorted(zones) and zones[0] <= 1 and zones[-1] == 3
    last = enc.encode(sim.signal_g[-int(FS):], 9.0)
    zone_event = next(e for e in last.events if e.kind == "severity_zone")
    assert zone_event.severity is Severity.CRITICAL and "<vib:zone:D>" in last.tokens


@pytest.mark.parametrize("fs", [8000.0, 25600.0, 51200.0, 100000.0])
def test_other_sample_rates_find_the_outer_race(fs: float) -> None:
    state, sim = _window("outer_race", 4, fs=fs, resonance_hz=3000.0, impulse_g=1.0)
    out = make_encoder("vibration", fs, rpm=state.rpm).encode(sim.signal_g, 0.0)
    assert any(t.startswith("<vib:bearing:bpfo:") for t in out.tokens), out.tokens


def test_low_rate_reports_bearing_not_analysable() -> None:
    state, sim = _window("outer_race", 4, fs=1000.0, resonance_hz=300.0)
    out = factory(1000.0, rpm=state.rpm).encode(sim.signal_g, 0.0)
    assert "<vib:bearing:na>" in out.tokens
    assert out.tokens[1].startswith("<vib:zone:")


def test_units_m_s2_give_the_same_reading() -> None:
    state, sim = _window("misalignment", 5)
    in_g = factory(FS, rpm=state.rpm).encode(sim.signal_g, 0.0)
    in_si = factory(FS, rpm=state.rpm, units="m/s2").encode(sim.signal_g * 9.80665, 0.0)
    assert in_si.tokens == in_g.tokens
    assert in_si.features["rms_velocity_mm_s"] == pytest.approx(in_g.features["rms_velocity_mm_s"])


def _bad_inputs() -> dict[str, np.ndarray]:
    _, sim = _window("outer_race", 9)
    x = sim.signal_g
    nan_some = x.copy()
    nan_some[::40] = np.nan
    nan_most = x.copy()
    nan_most[: x.size // 2] = np.nan
    return {
        "empty": np.array([]),
        "short": x[:200],
        "flat": np.full(x.size, 0.25),
        "all_nan": np.full(x.size, np.nan),
        "nan_most": nan_most,
        "nan_some": nan_some,
        "saturated": np.clip(x, -0.3, 0.3),
        "inf": np.where(np.arange(x.size) == 10, np.inf, x),
        "huge": np.where(np.arange(x.size) == 10, 1e300, x),
    }


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("empty", "<vib:quality:short>"),
        ("short", "<vib:quality:short>"),
        ("flat", "<vib:quality:flat>"),
        ("all_nan", "<vib:quality:short>"),
        ("nan_most", "<vib:quality:gaps>"),
        ("nan_some", "<vib:quality:gaps>"),
        ("saturated", "<vib:quality:saturated>"),
        ("inf", "<vib:quality:gaps>"),
        ("huge", "<vib:quality:saturated>"),
    ],
)
def test_bad_input_becomes_a_quality_token(case: str, token: str) -> None:
    out = factory(FS).encode(_bad_inputs()[case], 0.0)
    assert token in out.tokens
    assert out.embedding.shape == (EMBEDDING_DIM,) and np.isfinite(out.embedding).all()
    assert decode_codes(out.codes) == out.tokens
    assert 0.0 <= out.quality < 1.0


def test_clean_signal_is_not_called_saturated() -> None:
    _, sim = _window("healthy", 12)
    assert clipped_fraction(sim.signal_g) == 0.0
    # A coarse quantiser repeats its extreme codes, which is not clipping either.
    assert clipped_fraction(np.round(sim.signal_g / 0.05) * 0.05) == 0.0


def test_full_scale_option_uses_the_adc_rail() -> None:
    _, sim = _window("outer_race", 9)
    out = factory(FS, full_scale_g=0.3).encode(np.clip(sim.signal_g, -0.3, 0.3), 0.0)
    assert "<vib:quality:saturated>" in out.tokens


def test_protocol_shape_codes_embedding_summary() -> None:
    state, sim = _window("inner_race", 8)
    enc = make_encoder("vib", FS, rpm=state.rpm)
    assert isinstance(enc, Encoder) and enc.name == "vibration" and enc.vocab_version == "vib-3"
    out = enc.encode(sim.signal_g, 1.0)
    assert out.codes.dtype == np.int32 and (out.codes > 0).all() and (out.codes < len(VOCAB)).all()
    assert decode_codes(out.codes) == out.tokens
    assert out.embedding.dtype == np.float32 and out.embedding.shape == (enc.embedding_dim,)
    assert 0 < len(out.summary) <= SUMMARY_CHAR_BUDGET and "\n" not in out.summary
    for key in ("rms_velocity_mm_s", "peak_g", "crest_factor", "kurtosis", "order_1x_mm_s", "order_2x_mm_s", "env_bpfi_ratio"):
        assert key in out.features
    assert out.features["env_bpfi_ratio"] > out.features["env_bpfo_ratio"]
    assert out.duration_s == pytest.approx(1.0)


def test_embeddings_of_like_windows_are_closer() -> None:
    enc = factory(FS)
    a = enc.encode(_window("outer_race", 20, rpm=1797.0)[1].signal_g, 0).embedding
    b = enc.encode(_window("outer_race", 21, rpm=1797.0)[1].signal_g, 0).embedding
    c = enc.encode(_window("imbalance", 22, rpm=1797.0)[1].signal_g, 0).embedding
    assert np.linalg.norm(a - b) < np.linalg.norm(a - c)


@pytest.mark.parametrize(
    "options",
    [
        {"rpm": -5},
        {"rpm": float("nan")},
        {"machine_class": "V"},
        {"units": "furlongs"},
        {"window_s": 0.1},
        {"speed_tolerance": 0.5},
        {"n_balls": 9, "ball_diameter_mm": 50.0, "pitch_diameter_mm": 39.0},
    ],
)
def test_bad_config_raises_value_error(options: dict) -> None:
    with pytest.raises(ValueError):
        factory(FS, **options)


def test_unknown_option_and_bad_rate_raise() -> None:
    with pytest.raises(TypeError, match="valid"):
        factory(FS, shaft_speed=1800)
    with pytest.raises(ValueError):
        VibrationConfig(sample_rate=0.0)


def test_declared_bearing_geometry_is_used() -> None:
    # A 6203 at 1797 rpm has BPFO 91.4 Hz; the 6205 default would look at 107 Hz and miss it.
    from base.bearing import SKF_6203

    rng = np.random.default_rng(30)
    state = replace(random_state("outer_race", rng, FS), bearing=SKF_6203, rpm=1797.0)
    x = simulate(1.0, FS, state, rng).signal_g
    right = factory(FS, bearing="6203").encode(x, 0.0)
    assert any(t.startswith("<vib:bearing:bpfo:") for t in right.tokens)
    by_fields = factory(FS, n_balls=8, ball_diameter_mm=6.746, pitch_diameter_mm=28.499).encode(x, 0.0)
    assert by_fields.tokens == right.tokens


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    x=arrays(np.float64, st.integers(0, 3000), elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
    fs=st.sampled_from([1000.0, 2560.0, 6000.0]),
)
def test_any_window_encodes_without_exception(x: np.ndarray, fs: float) -> None:
    out = factory(fs, min_window_s=0.25).encode(x, 0.0)
    assert out.tokens and out.tokens[0].startswith("<vib:quality:")
    assert np.isfinite(out.embedding).all() and out.embedding.shape == (EMBEDDING_DIM,)
    assert decode_codes(out.codes) == out.tokens
    assert all(np.isfinite(v) for v in out.features.values())


@pytest.mark.parametrize("fs", [12000.0, 48000.0])
def test_velocity_and_1x_of_a_pure_shaft_tone(fs: float) -> None:
    # 4.5 mm/s RMS at 1x of 1797 rpm, as acceleration in g, plus a little noise.
    f = 1797 / 60
    t = np.arange(int(fs)) / fs
    x = 4.5e-3 * np.sqrt(2) * 2 * np.pi * f / 9.80665 * np.sin(2 * np.pi * f * t + 0.3)
    x += 0.001 * np.random.default_rng(0).standard_normal(t.size)
    out = factory(fs, rpm=1797).encode(x, 0.0)
    assert out.features["rms_velocity_mm_s"] == pytest.approx(4.5, rel=0.03)
    assert out.features["order_1x_mm_s"] == pytest.approx(4.5, rel=0.05)
    assert "<vib:zone:C>" in out.tokens and "<vib:rms:4.5>" in out.tokens and "<vib:1x:high>" in out.tokens
    assert "<vib:fault:imbalance>" in out.tokens


def test_option_aliases_and_string_values() -> None:
    plain = factory(FS, rpm=1750.0, bearing="6203", machine_class="I").config
    aliased = factory(FS, shaft_rpm="1750", bearing_geometry={"balls": 8, "ball_diameter": 6.746, "pitch_diameter": 28.499}, iso_class="I").config
    assert aliased.rpm == plain.rpm and aliased.machine_class == plain.machine_class
    assert aliased.bearing.orders().bpfo == pytest.approx(plain.bearing.orders().bpfo, rel=1e-4)
    assert factory(FS, shaft_hz=25.0).config.rpm == pytest.approx(1500.0)
    assert factory(FS, bearing={"model": "6203"}).config.bearing.n_balls == 8
    with pytest.raises(TypeError):
        factory(FS, rpm=1500, shaft_rpm=1500)
    with pytest.raises(ValueError):
        factory(FS, rpm="fast")


def _knocks(times_s: np.ndarray, seed: int) -> np.ndarray:
    """One second of noise and a small 1x tone, a 3.5 kHz resonance struck at `times_s`."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(FS)) / FS
    x = 0.05 * rng.standard_normal(t.size) + 0.02 * np.sin(2 * np.pi * 1797 / 60 * t)
    ring = np.exp(-t[:120] * 800.0) * np.sin(2 * np.pi * 3500.0 * t[:120])
    for s in times_s:
        i = int(s * FS)
        x[i: i + ring.size] += rng.uniform(0.3, 1.0) * ring[: t.size - i]
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_impacts_no_comb_explains_are_unclear_not_healthy(seed: int) -> None:
    # A bearing striking erratically (no fixed rate, so no comb) is something to look at again;
    # two stray knocks in a second are not.
    enc = factory(FS, rpm=1797)
    erratic = enc.encode(_knocks(np.sort(np.random.default_rng(seed).uniform(0, 0.99, 90)), seed), 0.0)
    assert "<vib:bearing:unclear>" in erratic.tokens and not [e for e in erratic.events if e.kind.startswith("bearing_")]
    assert erratic.features["env_impact_share"] >= 0.8
    stray = enc.encode(_knocks(np.array([0.2, 0.7]), seed), 0.0)
    assert "<vib:bearing:ok>" in stray.tokens
