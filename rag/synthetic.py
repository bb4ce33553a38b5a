"""Synthetic vibration episodes of known fault type, for testing and benchmarking episode retrieval.

This is not Tessera's vibration encoder (adapters/vibration): it is a deliberately simple,
deterministic construction so that the episode store can be evaluated on its own. Each
episode is a 1 s velocity signal built from the spectral pattern of its fault (1x for
imbalance, 2x for misalignment, a harmonic comb for looseness, BPFO / BPFI with 1x
sidebands / 2 x BSF with FTF sidebands / FTF for the bearing faults of an SKF 6205) at a
random speed, with random amplitudes and noise. Its embedding is the log amplitude
spectrum resampled on a shaft-order axis (0.25x to 16x), L2-normalised: the usual
order-tracking normalisation that makes episodes comparable across speeds.
"""

from __future__ import annotations

import numpy as np

from adapters.base import Event, Severity, TokenizedWindow

FAULTS = ("healthy", "imbalance", "misalignment", "looseness", "outer_race", "inner_race", "ball", "cage")
# SKF 6205 defect frequencies in shaft orders (9 balls, d/D = 0.2034, contact angle 0).
BPFO, BPFI, BSF, FTF = 3.585, 5.415, 2.357, 0.398
SAMPLE_RATE = 4096.0
ORDERS = np.arange(0.25, 16.0 + 1e-9, 0.125)  # 121 points
EMBEDDING_DIM = ORDERS.size


def _components(fault: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(order, velocity amplitude mm/s) pairs of the fault's pattern, on top of a healthy residual."""
    a = lambda base: base * rng.lognormal(0.0, 0.35)  # noqa: E731 - amplitude spread between machines
    comps = [(1.0, a(0.4)), (2.0, a(0.12))]
    if fault == "imbalance":
        comps += [(1.0, a(4.0))]
    elif fault == "misalignment":
        comps += [(1.0, a(1.5)), (2.0, a(2.5)), (3.0, a(0.8))]
    elif fault == "looseness":
        comps += [(float(k), a(1.2 / k**0.3)) for k in range(1, 11)] + [(k + 0.5, a(0.5)) for k in range(0, 4)]
    elif fault == "outer_race":
        comps += [(BPFO * k, a(1.0 / k)) for k in (1, 2, 3)]
    elif fault == "inner_race":
        comps += [(BPFI, a(1.0)), (BPFI - 1, a(0.5)), (BPFI + 1, a(0.5)), (2 * BPFI, a(0.4))]
    elif fault == "ball":
        comps += [(2 * BSF, a(0.9)), (2 * BSF - FTF, a(0.4)), (2 * BSF + FTF, a(0.4)), (BSF, a(0.3))]
    elif fault == "cage":
        comps += [(FTF, a(1.2)), (2 * FTF, a(0.5)), (1 - FTF, a(0.4)), (1 + FTF, a(0.4))]
    elif fault != "healthy":
        raise ValueError(f"unknown fault {fault!r}; valid: {', '.join(FAULTS)}")
    return comps


def order_embedding(signal: np.ndarray, sample_rate: float, shaft_hz: float) -> np.ndarray:
    """Log amplitude spectrum sampled at ORDERS x shaft speed, L2-normalised (float32)."""
    window = np.hanning(signal.size)
    spectrum = np.abs(np.fft.rfft(signal * window)) * 2.0 / window.sum()
    freqs = np.fft.rfftfreq(signal.size, 1.0 / sample_rate)
    # Max over +- 1/16 order around each point so small speed errors do not miss a line.
    half = max(1, int(round(shaft_hz / 16.0 / (freqs[1] - freqs[0]))))
    idx = np.clip(np.searchsorted(freqs, ORDERS * shaft_hz), 0, freqs.size - 1)
    amps = np.array([spectrum[max(0, i - half) : i + half + 1].max() for i in idx])
    floor = np.median(spectrum) + 1e-9
    vec = np.log1p(amps / floor)
    return (vec / (np.linalg.norm(vec) + 1e-12)).astype(np.float32)


def make_episode(fault: str, rng: np.random.Generator, t0: float = 0.0, duration_s: float = 1.0) -> TokenizedWindow:
    """One synthetic vibration window of `fault` at a random speed (600 to 3600 rpm)."""
    rpm = rng.uniform(600.0, 3600.0)
    shaft_hz = rpm / 60.0
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    x = np.zeros_like(t)
    for order, amp in _components(fault, rng):
        x += amp * np.sqrt(2) * np.sin(2 * np.pi * order * shaft_hz * t + rng.uniform(0, 2 * np.pi))
    x += rng.normal(0.0, 0.05 * rng.lognormal(0.0, 0.5), t.size)
    rms = float(np.sqrt(np.mean(x**2)))
    events = [] if fault == "healthy" else [Event(fault, Severity.WARNING, t0, {"rms_mm_s": round(rms, 2), "rpm": round(rpm)})]
    return TokenizedWindow(
        modality="vibration-synthetic",
        vocab_version="synthetic-1",
        t0=t0,
        duration_s=duration_s,
        tokens=[f"<vib:rpm:{int(rpm)}>", f"<vib:rms:{rms:.1f}>"] + [f"<vib:event:{e.kind}>" for e in events],
        codes=np.array([int(rpm), int(rms * 10)], dtype=np.int32),
        embedding=order_embedding(x, SAMPLE_RATE, shaft_hz),
        events=events,
        summary=f"synthetic vibration {rpm:.0f} rpm, {rms:.1f} mm/s rms" + (f", {fault}" if events else ""),
        quality=1.0,
        features={"rpm": rpm, "rms_mm_s": rms},
    )


def make_episodes(per_fault: int, seed: int, t0: float = 1.7e9) -> list[tuple[str, TokenizedWindow]]:
    """`per_fault` episodes of every fault type, as (fault, window), times one minute apart."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(per_fault):
        for j, fault in enumerate(FAULTS):
            out.append((fault, make_episode(fault, rng, t0=t0 + 60.0 * (i * len(FAULTS) + j))))
    return out
