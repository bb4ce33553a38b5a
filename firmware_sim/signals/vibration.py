"""Synthetic machine vibration (acceleration in g) with known truth.

A rotating machine is built from parts whose physics the encoder is meant to read:
shaft harmonics (residual imbalance and alignment of a healthy machine), an
imbalance (1x), a misalignment (2x, some 3x), mechanical looseness (a comb of
harmonics and half orders), and rolling-bearing defects. A bearing defect is a
train of impacts at its kinematic frequency (BPFO, BPFI, 2 x BSF, FTF) with slip
jitter, each impact ringing a lightly damped structural resonance; inner-race and
ball defects pass through the load zone with shaft and cage rotation, which
modulates their impact strength (Harris load distribution, (cos)^1.5 law).
Mains hum, broadband noise and a noise-excited second resonance sit on top. Severity can
grow linearly over time. Pure numpy/scipy; deterministic for a given generator.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.signal import lfilter

from base.bearing import SKF_6205, BearingGeometry

log = logging.getLogger(__name__)

G = 9.80665
FAULTS = ("healthy", "imbalance", "misalignment", "looseness", "outer_race", "inner_race", "ball", "cage")
BEARING_FAULTS = ("outer_race", "inner_race", "ball", "cage")


@dataclass(slots=True)
class MachineState:
    """What the simulated machine is doing; amplitudes are RMS velocity (mm/s) or g peak."""

    fault: str = "healthy"
    severity: float = 1.0  # scales the fault's amplitude; 0 means absent
    growth_per_s: float = 0.0  # severity(t) = severity + growth_per_s * t
    rpm: float = 1797.0
    speed_wander: float = 0.001  # slow speed fluctuation, fraction of rpm
    bearing: BearingGeometry = SKF_6205
    resonance_hz: float = 3000.0
    damping: float = 0.04  # damping ratio of the structural resonance
    impulse_g: float = 1.0  # peak ring-down of one impact at severity 1
    slip: float = 0.01  # standard deviation of impact spacing, fraction of the period
    load_zone_floor: float = 0.05  # impact strength outside the load zone, fraction
    residual_1x_mm_s: float = 0.4  # healthy residual imbalance
    residual_2x_mm_s: float = 0.1
    fault_mm_s: float = 4.0  # shaft-fault level at severity 1
    misalignment_ratio: float = 1.2  # 2x / 1x for misalignment
    noise_g: float = 0.02  # white noise RMS
    resonance_noise_g: float = 0.02  # RMS of noise ringing a second, non-impulsive resonance
    second_resonance_hz: float = 1800.0
    random_impacts_per_s: float = 0.0  # sporadic, non-periodic knocks (healthy machines have some)
    line_hz: float = 60.0  # mains frequency: motors hum at it and its harmonics
    line_g: float = 0.0  # peak of the mains hum (halved at each harmonic)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; valid: {', '.join(FAULTS)}")
        if self.rpm <= 0:
            raise ValueError(f"rpm must be positive, got {self.rpm}")
        if not 0 < self.damping < 1:
            raise ValueError(f"damping ratio must be in (0, 1), got {self.damping}")
        if self.severity < 0 or self.noise_g < 0 or self.slip < 0:
            raise ValueError("severity, noise and slip must be non-negative")


@dataclass(slots=True)
class VibrationTruth:
    """What was simulated: the label and the frequencies the encoder should find."""

    fault: str
    rpm: float
    shaft_hz: float
    sample_rate: float
    severity_start: float
    severity_end: float
    defect_hz: float | None = None  # kinematic frequency of the bearing defect
    impact_hz: float | None = None  # rate of impacts (2 x BSF for a ball defect)
    resonance_hz: float | None = None
    rms_velocity_mm_s: dict[str, float] = field(default_factory=dict)  # shaft components as simulated


@dataclass(slots=True)
class SimulatedVibration:
    """A generated acceleration record in g with its truth."""

    signal_g: np.ndarray
    sample_rate: float
    truth: VibrationTruth


def simulate(duration_s: float, sample_rate: float, state: MachineState, rng: np.random.Generator | int | None = None) -> SimulatedVibration:
    """Generate `duration_s` seconds of acceleration (g) at `sample_rate` Hz for a machine in `state`."""
    if duration_s <= 0 or sample_rate <= 0:
        raise ValueError(f"duration and sample rate must be positive, got {duration_s} s at {sample_rate} Hz")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    shaft_hz = state.rpm / 60.0
    # Slow speed wander, integrated into the shaft angle so every harmonic follows it.
    wander = 1.0 + state.speed_wander * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))
    angle = 2 * np.pi * shaft_hz * np.cumsum(wander) / sample_rate
    severity = state.severity + state.growth_per_s * t
    x = np.zeros(n)
    base, fault = _shaft_orders(state, rng)
    for order in sorted(set(base) | set(fault)):
        if order * shaft_hz >= sample_rate / 2:
            continue
        # Healthy residual at constant level; the shaft fault follows severity(t).
        wave = np.sin(order * angle + rng.uniform(0, 2 * np.pi))
        x += _velocity_to_accel_peak_g(base.get(order, 0.0), order * shaft_hz) * wave
        if order in fault:
            x += severity * _velocity_to_accel_peak_g(fault[order], order * shaft_hz) * np.sin(order * angle + rng.uniform(0, 2 * np.pi))
    orders = {o: math.hypot(base.get(o, 0.0), state.severity * fault.get(o, 0.0)) for o in sorted(set(base) | set(fault))}
    truth = VibrationTruth(
        fault=state.fault,
        rpm=state.rpm,
        shaft_hz=shaft_hz,
        sample_rate=sample_rate,
        severity_start=float(severity[0]),
        severity_end=float(severity[-1]),
        rms_velocity_mm_s={f"{k:g}x": v for k, v in orders.items()},
    )
    if state.fault in BEARING_FAULTS:
        defect_hz, impact_hz, amplitudes_fn = _bearing_kinematics(state, shaft_hz, rng)
        times = _impact_times(angle / (2 * np.pi), t, impact_hz / shaft_hz, state.slip, rng)
        amps = state.impulse_g * np.interp(times, t, severity) * amplitudes_fn(times) * (1 + 0.1 * rng.standard_normal(times.size))
        x += _ring(times, amps, n, sample_rate, state.resonance_hz, state.damping)
        truth.defect_hz, truth.impact_hz, truth.resonance_hz = defect_hz, impact_hz, state.resonance_hz
    if state.random_impacts_per_s > 0:
        k = rng.poisson(state.random_impacts_per_s * duration_s)
        times = np.sort(rng.uniform(0, duration_s, k))
        amps = rng.uniform(0.2, 1.0, k) * state.impulse_g
        x += _ring(times, amps, n, sample_rate, min(state.resonance_hz, 0.4 * sample_rate), state.damping)
    if state.line_g > 0:
        for k in range(1, 5):
            if k * state.line_hz < sample_rate / 2:
                x += state.line_g / 2 ** (k - 1) * np.sin(2 * np.pi * k * state.line_hz * t + rng.uniform(0, 2 * np.pi))
    x += state.noise_g * rng.standard_normal(n)
    if state.resonance_noise_g > 0 and state.second_resonance_hz < 0.45 * sample_rate:
        colored = _resonator(rng.standard_normal(n), sample_rate, state.second_resonance_hz, 0.05)
        x += state.resonance_noise_g * colored / max(float(np.std(colored)), 1e-12)
    return SimulatedVibration(x, float(sample_rate), truth)


def random_state(fault: str, rng: np.random.Generator, sample_rate: float, rpm: float | None = None) -> MachineState:
    """A plausible machine with `fault`, its parameters drawn at random (for labelled sets)."""
    nyquist = sample_rate / 2
    base = MachineState(
        fault=fault,
        rpm=rpm if rpm is not None else float(rng.uniform(1720, 1800)),
        resonance_hz=float(rng.uniform(min(2000, 0.4 * nyquist), min(0.8 * nyquist, 9000))),
        damping=float(rng.uniform(0.02, 0.08)),
        impulse_g=float(rng.uniform(0.4, 2.0)),
        slip=float(rng.uniform(0.005, 0.02)),
        residual_1x_mm_s=float(rng.uniform(0.15, 0.7)),
        residual_2x_mm_s=float(rng.uniform(0.03, 0.25)),
        noise_g=float(rng.uniform(0.01, 0.05)),
        resonance_noise_g=float(rng.uniform(0.0, 0.08)),
        second_resonance_hz=float(rng.uniform(min(800, 0.2 * nyquist), min(0.4 * nyquist, 5000))),
        random_impacts_per_s=float(rng.choice([0.0, 0.0, 1.0, 3.0])) if fault == "healthy" else 0.0,
        line_hz=float(rng.choice([50.0, 60.0])),
        line_g=float(rng.uniform(0.0, 0.02)),
    )
    if fault == "imbalance":
        return replace(base, fault_mm_s=float(rng.uniform(2.5, 8.0)))
    if fault == "misalignment":
        return replace(base, fault_mm_s=float(rng.uniform(2.0, 6.0)), misalignment_ratio=float(rng.uniform(0.8, 1.6)))
    if fault == "looseness":
        return replace(base, fault_mm_s=float(rng.uniform(2.0, 6.0)))
    return base


def _shaft_orders(state: MachineState, rng: np.random.Generator) -> tuple[dict[float, float], dict[float, float]]:
    """RMS velocity (mm/s) per shaft order: the healthy base, and the shaft fault at severity 1."""
    base = {1.0: state.residual_1x_mm_s, 2.0: state.residual_2x_mm_s, 3.0: 0.3 * state.residual_2x_mm_s}
    level = state.fault_mm_s
    fault: dict[float, float] = {}
    if state.fault == "imbalance":
        fault[1.0] = level
    elif state.fault == "misalignment":
        one = level / math.sqrt(1 + state.misalignment_ratio**2)
        fault = {1.0: one, 2.0: state.misalignment_ratio * one, 3.0: 0.3 * one}
    elif state.fault == "looseness":
        # A truncated (rattling) response: many harmonics and half orders of comparable acceleration,
        # so their velocity falls roughly as 1/order.
        comb = {k / 2: (1.0 if k % 2 == 0 else 0.5) * rng.uniform(0.6, 1.0) / (k / 2) for k in range(1, 21)}
        norm = math.sqrt(sum(v**2 for v in comb.values()))
        fault = {order: level * rel / norm for order, rel in comb.items()}
    return base, fault


def _velocity_to_accel_peak_g(v_rms_mm_s: float, freq_hz: float) -> float:
    return v_rms_mm_s * 1e-3 * math.sqrt(2) * 2 * math.pi * freq_hz / G


def _bearing_kinematics(state: MachineState, shaft_hz: float, rng: np.random.Generator):
    """Defect frequency, impact rate and the load-zone amplitude law of the bearing fault."""
    f = state.bearing.frequencies(shaft_hz)
    floor = state.load_zone_floor
    phase = rng.uniform(0, 2 * np.pi)

    def load_zone(rate_hz: float):
        # Harris load distribution over a 180 degree zone: q ~ cos(theta)^1.5 inside, nothing outside.
        return lambda tt: floor + (1 - floor) * np.clip(np.cos(2 * np.pi * rate_hz * tt + phase), 0, None) ** 1.5

    if state.fault == "outer_race":
        return f["bpfo"], f["bpfo"], lambda tt: np.ones_like(tt)
    if state.fault == "inner_race":
        return f["bpfi"], f["bpfi"], load_zone(shaft_hz)
    if state.fault == "ball":
        cage = load_zone(f["ftf"])
        # The spall strikes outer and inner race in turn, the inner-race strike weaker.
        return f["bsf"], 2 * f["bsf"], lambda tt: cage(tt) * np.where(np.arange(tt.size) % 2 == 0, 1.0, 0.5)
    return f["ftf"], f["ftf"], lambda tt: np.ones_like(tt)


def _impact_times(revs: np.ndarray, t: np.ndarray, per_rev: float, slip: float, rng: np.random.Generator) -> np.ndarray:
    """Impact times for `per_rev` impacts per shaft revolution, following the shaft angle, with slip jitter."""
    period = 1.0 / per_rev  # in revolutions
    count = int(revs[-1] * per_rev) + 2
    gaps = period * (1 + slip * rng.standard_normal(count))
    at = rng.uniform(0, period) + np.cumsum(np.clip(gaps, 0.2 * period, None))
    at = at[at < revs[-1]]
    return np.interp(at, revs, t)


def _ring(times: np.ndarray, amps: np.ndarray, n: int, fs: float, freq_hz: float, damping: float) -> np.ndarray:
    """Impacts at `times` (s) with peak `amps` (g), each ringing a resonance at `freq_hz`."""
    pulses = np.zeros(n)
    idx = np.minimum(np.round(times * fs).astype(np.int64), n - 1)
    np.add.at(pulses, idx, amps)
    return _resonator(pulses, fs, freq_hz, damping)


def _resonator(x: np.ndarray, fs: float, freq_hz: float, damping: float) -> np.ndarray:
    """Two-pole resonator whose impulse response peaks near 1 (a damped sine at `freq_hz`)."""
    w = 2 * np.pi * min(freq_hz, 0.45 * fs) / fs
    r = math.exp(-damping * w)
    theta = w * math.sqrt(1 - damping**2)
    return lfilter([math.sin(theta)], [1.0, -2 * r * math.cos(theta), r * r], x)
