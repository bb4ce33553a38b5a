"""Envelope analysis on its own: the kurtogram finds the ringing band, combs land on the right lines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from base.bearing import SKF_6205
from adapters.vibration.envelope import (
    CONFIDENT,
    IMPACT_SHARE,
    MIN_CONTRAST,
    EnvelopeResult,
    FamilyMatch,
    _decide,
    envelope_analysis,
    impact_share,
    impact_stats,
    impacts_lift_median,
    kurtogram,
    unexplained_impacts,
)
from firmware_sim.signals.vibration import MachineState, simulate

FS = 12000.0
SHAFT = 1797 / 60


def _spectrum(state: MachineState, seed: int = 0, fs: float = FS) -> tuple[np.ndarray, int]:
    x = simulate(1.0, fs, state, np.random.default_rng(seed)).signal_g
    x = x - x.mean()
    return np.fft.rfft(x), x.size


@pytest.mark.parametrize("resonance_hz", [2200.0, 3600.0, 5000.0])
def test_kurtogram_finds_the_ringing_band_wherever_it_is(resonance_hz: float) -> None:
    # A strong Gaussian (non-impulsive) resonance elsewhere must not attract the band choice.
    gaussian_hz = 1200.0 if resonance_hz > 3000 else 4500.0
    state = MachineState(fault="outer_race", resonance_hz=resonance_hz, impulse_g=0.5, noise_g=0.02,
                         resonance_noise_g=0.3, second_resonance_hz=gaussian_hz)
    spectrum, n = _spectrum(state)
    bands = kurtogram(spectrum, n, FS, min_bandwidth_hz=600.0, min_lo_hz=500.0)
    best = max(bands, key=lambda b: b.kurtosis)
    # The most impulsive band sits on the ringing mode or its skirt, never on the louder Gaussian one.
    assert best.lo_hz - 1000.0 <= resonance_hz <= best.hi_hz + 1000.0
    assert not best.lo_hz <= gaussian_hz <= best.hi_hz
    assert best.kurtosis > 1.0
    assert all(b.hi_hz - b.lo_hz >= 600.0 and b.lo_hz >= 500.0 for b in bands)


@pytest.mark.parametrize(("fault", "family"), [("outer_race", "bpfo"), ("inner_race", "bpfi"), ("ball", "bsf")])
def test_comb_lands_on_the_simulated_defect_frequency(fault: str, family: str) -> None:
    state = MachineState(fault=fault, rpm=1797.0, impulse_g=1.0, noise_g=0.03)
    spectrum, n = _spectrum(state, seed=4)
    result = envelope_analysis(spectrum, n, FS, SHAFT, SKF_6205.orders().as_dict(), tolerance=0.05)
    assert result.defect == family
    expected = SKF_6205.orders().as_dict()[family] * SHAFT
    assert result.best().defect_hz == pytest.approx(expected, rel=0.01)


def test_noise_alone_finds_no_defect() -> None:
    hits = 0
    for seed in range(20):
        state = MachineState(fault="healthy", noise_g=0.1, resonance_noise_g=0.1)
        spectrum, n = _spectrum(state, seed=seed)
        hits += envelope_analysis(spectrum, n, FS, SHAFT, SKF_6205.orders().as_dict(), tolerance=0.05).defect is not None
    assert hits == 0


def _match(name: str, score: float, sidebands: float = 1.0) -> FamilyMatch:
    return FamilyMatch(name, 100.0, (10.0, 5.0, 4.0, 1.0, 1.0), score, True, "kurtogram", sidebands)


def _both(families: dict[str, FamilyMatch]) -> dict[str, dict[str, FamilyMatch]]:
    """The same matches seen in both envelopes (kurtogram band and prewhitened full band)."""
    return {"kurtogram": families, "whitened": {k: replace(m, source="whitened") for k, m in families.items()}}


@pytest.mark.parametrize(
    ("scores", "modulation", "sidebands", "expected"),
    [
        ({"bpfo": 6.0, "bpfi": 1.0, "bsf": 1.0}, {"1x": 1.0, "ftf": 1.0}, 1.0, "bpfo"),  # one comb stands out
        ({"bpfo": 1.0, "bpfi": 6.0, "bsf": 1.0}, {"1x": 20.0, "ftf": 1.0}, 8.0, "bpfi"),  # BPFI with its 1x sidebands
        ({"bpfo": 6.0, "bpfi": 5.0, "bsf": 4.0}, {"1x": 1.0, "ftf": 20.0}, 8.0, "bsf"),  # 2 x BSF +- FTF, FTF modulation
    ],
)
def test_decision_names_a_family_that_stands_out(scores: dict[str, float], modulation: dict[str, float], sidebands: float, expected: str) -> None:
    families = {k: _match(k, v, sidebands if k in ("bpfi", "bsf") else 1.0) for k, v in scores.items()}
    defect, confidence, unclear = _decide(families, modulation, _both(families))
    assert (defect, unclear) == (expected, False) and confidence >= CONFIDENT


@pytest.mark.parametrize(
    ("scores", "sidebands", "one_envelope"),
    [
        ({"bpfo": 6.0, "bpfi": 5.0, "bsf": 4.0}, 8.0, False),  # rival combs share the lines: no margin
        ({"bpfo": 1.0, "bpfi": 6.0, "bsf": 1.0}, 1.0, False),  # a BPFI comb without 1x sidebands
        ({"bpfo": 6.0, "bpfi": 1.0, "bsf": 1.0}, 1.0, True),  # seen in one envelope only
    ],
)
def test_weak_or_ambiguous_evidence_is_unclear_not_a_fault(scores: dict[str, float], sidebands: float, one_envelope: bool) -> None:
    # Before vib-2 the first case was called BPFI whenever the envelope showed a 1x line; on the CWRU rig
    # outer-race envelopes show 1x too and 6:00 outer-race windows were called inner race.
    families = {k: _match(k, v, sidebands if k == "bpfi" else 1.0) for k, v in scores.items()}
    sources = {"kurtogram": families, "whitened": {}} if one_envelope else _both(families)
    defect, confidence, unclear = _decide(families, {"1x": 20.0, "ftf": 1.0}, sources)
    assert defect is None and unclear and confidence < CONFIDENT


def test_cage_only_when_nothing_else_fits() -> None:
    families = {"ftf": _match("ftf", 9.0), "bpfo": _match("bpfo", 3.0)}
    assert _decide(families, {"1x": 1.0, "ftf": 1.0}, _both(families))[0] == "bpfo"
    families["bpfo"] = replace(families["bpfo"], detected=False)
    assert _decide(families, {"1x": 1.0, "ftf": 1.0}, _both(families))[0] == "ftf"


def _impact_train(times_s: np.ndarray, seed: int = 0, resonance_hz: float = 3500.0, noise_g: float = 0.05) -> np.ndarray:
    """One second of noise, a 1x tone and a ringing resonance struck at `times_s`."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(FS)) / FS
    x = noise_g * rng.standard_normal(t.size) + 0.2 * np.sin(2 * np.pi * SHAFT * t)
    ring = np.exp(-t[:120] * 800.0) * np.sin(2 * np.pi * resonance_hz * t[:120])
    for s in times_s:
        i = int(s * FS)
        j = min(t.size, i + ring.size)
        x[i:j] += rng.uniform(0.3, 1.0) * ring[: j - i]
    return x - x.mean()


def _impacts(x: np.ndarray) -> float:
    top = max(SKF_6205.orders().as_dict().values()) * SHAFT
    return impact_share(np.fft.rfft(x), x.size, FS, 3 * top, 0.9 * FS / 2, SHAFT)


def test_impact_share_tells_repeated_impacts_from_stray_knocks() -> None:
    rng = np.random.default_rng(3)
    # Erratic impacts (no fixed rate, so no comb), a few per turn: in most turns.
    assert _impacts(_impact_train(np.sort(rng.uniform(0, 0.99, 90)))) >= 0.8
    # Noise and a shaft tone: none; three stray knocks in the second: at most their turns.
    assert _impacts(_impact_train(np.array([]))) <= 0.1
    assert _impacts(_impact_train(np.array([0.1, 0.45, 0.8]))) < IMPACT_SHARE


def test_weak_impacts_in_most_turns_lift_the_median_turn() -> None:
    # Impacts that only now and then clear the 5 %-of-blocks level (heavy noise) still lift the typical
    # turn's peak; noise alone, or eight stray knocks in the second, leave it where Gaussian noise puts it.
    rng = np.random.default_rng(3)
    top = max(SKF_6205.orders().as_dict().values()) * SHAFT

    def stats(x: np.ndarray) -> tuple[float, float, int]:
        return impact_stats(np.fft.rfft(x), x.size, FS, 3 * top, 0.9 * FS / 2, SHAFT)

    share, excess, blocks = stats(_impact_train(np.sort(rng.uniform(0, 0.99, 90)), noise_g=0.3))
    assert share < IMPACT_SHARE and impacts_lift_median(excess, blocks)
    for quiet in (np.array([]), np.sort(rng.uniform(0, 0.99, 8))):
        _, excess, blocks = stats(_impact_train(quiet))
        assert abs(excess) < 0.5 and not impacts_lift_median(excess, blocks)
    assert not impacts_lift_median(5.0, 2)  # too few turns to say


def _result(impacts: float, score: float, defect: str | None = None) -> EnvelopeResult:
    families = {"bpfo": replace(_match("bpfo", score), detected=False), "ftf": _match("ftf", 9.0)}
    return EnvelopeResult(None, families, defect, impacts=impacts)


@pytest.mark.parametrize(
    ("impacts", "score", "defect", "expected"),
    [
        (0.6, 0.5, None, True),  # impacts in most turns, no comb at all
        (0.3, MIN_CONTRAST, None, True),  # fewer, but a comb beats its typical alignment
        (0.3, 1.0, None, False),  # a few turns, nothing periodic: stray knocks
        (0.0, 3.0, None, False),  # a comb alone short of detection is not impact evidence
        (0.9, 0.5, "bpfo", False),  # a named defect explains its impacts
    ],
)
def test_unexplained_impacts(impacts: float, score: float, defect: str | None, expected: bool) -> None:
    assert unexplained_impacts(_result(impacts, score, defect)) is expected
