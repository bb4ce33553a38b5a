"""Generic scalar sensors with known truth: temperature, current, pressure (pure numpy).

A sensor is a daily cycle plus slow drift plus noise, sampled every
`period_s`. Anomalies are injected at known times and returned as truth:
spike (one sample), level_shift (a step that stays), stuck (the value freezes)
and noise_burst (noise several times larger for a while).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_DAY = 86400.0


@dataclass(slots=True, frozen=True)
class SensorProfile:
    """Shape of a sensor's normal behaviour, in its own unit."""

    name: str
    unit: str
    mean: float
    daily_amplitude: float  # peak-to-mean of the daily cycle
    peak_hour: float  # hour of day of the daily maximum
    drift_per_day: float  # slow linear drift
    noise: float  # standard deviation of white noise


PROFILES: dict[str, SensorProfile] = {
    "temperature": SensorProfile("temperature", "degC", 21.0, 2.5, 15.0, 0.05, 0.08),
    "current": SensorProfile("current", "A", 12.0, 4.0, 11.0, 0.0, 0.25),
    "pressure": SensorProfile("pressure", "kPa", 101.3, 0.4, 4.0, -0.02, 0.03),
}


@dataclass(slots=True, frozen=True)
class Anomaly:
    """One injected anomaly: kind, start (epoch s), duration (s) and size in units of the sensor."""

    kind: str  # spike | level_shift | stuck | noise_burst
    start: float
    duration_s: float = 0.0
    size: float = 0.0  # spike height, step size or noise multiplier

    def __post_init__(self) -> None:
        if self.kind not in ("spike", "level_shift", "stuck", "noise_burst"):
            raise ValueError(f"unknown anomaly kind {self.kind!r}")


@dataclass(slots=True)
class ScalarRecording:
    """A simulated series and its truth."""

    t: np.ndarray  # sample times, epoch seconds
    values: np.ndarray
    period_s: float
    profile: SensorProfile
    anomalies: list[Anomaly] = field(default_factory=list)


def simulate(sensor: str | SensorProfile, duration_s: float, period_s: float = 60.0, t0: float = 0.0, *,
             anomalies: list[Anomaly] | None = None, seed: int = 0) -> ScalarRecording:
    """Simulate `duration_s` of a sensor sampled every `period_s` from `t0`, with anomalies injected."""
    p = PROFILES[sensor] if isinstance(sensor, str) else sensor
    if period_s <= 0 or duration_s <= 0:
        raise ValueError("period_s and duration_s must be positive")
    rng = np.random.default_rng(seed)
    n = int(duration_s // period_s)
    t = t0 + np.arange(n) * period_s
    hours = (t % _DAY) / 3600.0
    x = p.mean + p.daily_amplitude * np.cos(2 * np.pi * (hours - p.peak_hour) / 24.0) \
        + p.drift_per_day * (t - t0) / _DAY
    noise = rng.normal(0.0, p.noise, n)
    anomalies = sorted(anomalies or [], key=lambda a: a.start)
    for a in anomalies:
        i0 = int(np.searchsorted(t, a.start))
        i1 = max(i0 + 1, int(np.searchsorted(t, a.start + a.duration_s)))
        if i0 >= n:
            continue
        if a.kind == "spike":
            x[i0] += a.size
        elif a.kind == "level_shift":
            x[i0:] += a.size
        elif a.kind == "noise_burst":
            noise[i0:i1] *= a.size
    x = x + noise
    for a in anomalies:
        if a.kind == "stuck":
            i0 = int(np.searchsorted(t, a.start))
            i1 = max(i0 + 1, int(np.searchsorted(t, a.start + a.duration_s)))
            x[i0:i1] = x[i0 - 1] if i0 > 0 else x[0]
    return ScalarRecording(t=t, values=x, period_s=period_s, profile=p, anomalies=anomalies)
