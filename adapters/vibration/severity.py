"""ISO 10816 / 20816 evaluation zones from broadband RMS velocity (mm/s, 10-1000 Hz).

Zone A: newly commissioned machines.  Zone B: acceptable for unrestricted
long-term operation.  Zone C: unsatisfactory for long-term operation.  Zone D:
severe enough to cause damage.  The boundaries (A/B, B/C, C/D in mm/s RMS) are:

ISO 10816-1 machine classes (the classic severity chart):
    I    small machines, e.g. motors up to 15 kW          0.71  1.8   4.5
    II   medium machines 15-75 kW (or to 300 kW rigid)     1.12  2.8   7.1
    III  large machines on rigid foundations              1.8   4.5  11.2
    IV   large machines on soft foundations               2.8   7.1  18.0
ISO 10816-3 / 20816-3 groups (industrial machines above 15 kW):
    group1-rigid     300 kW - 50 MW, rigid foundation     2.3   4.5   7.1
    group1-flexible  300 kW - 50 MW, flexible foundation  3.5   7.1  11.0
    group2-rigid     15 - 300 kW, rigid foundation        1.4   2.8   4.5
    group2-flexible  15 - 300 kW, flexible foundation     2.3   4.5   7.1
"""

from __future__ import annotations

import numpy as np

from adapters.base import Severity

ZONE_BOUNDARIES_MM_S: dict[str, tuple[float, float, float]] = {
    "I": (0.71, 1.8, 4.5),
    "II": (1.12, 2.8, 7.1),
    "III": (1.8, 4.5, 11.2),
    "IV": (2.8, 7.1, 18.0),
    "group1-rigid": (2.3, 4.5, 7.1),
    "group1-flexible": (3.5, 7.1, 11.0),
    "group2-rigid": (1.4, 2.8, 4.5),
    "group2-flexible": (2.3, 4.5, 7.1),
}
ZONES = ("A", "B", "C", "D")
_ALIASES = {"1": "I", "2": "II", "3": "III", "4": "IV"}

G = 9.80665  # m/s^2 per g


def machine_class(name: str) -> str:
    """The canonical machine-class name for `name` ("II", "class 2", "group2-rigid"...)."""
    key = str(name).strip()
    if key in ZONE_BOUNDARIES_MM_S:
        return key
    upper = key.upper().removeprefix("CLASS").strip()
    if upper in ZONE_BOUNDARIES_MM_S:
        return upper
    if upper in _ALIASES:
        return _ALIASES[upper]
    if key.lower() in ZONE_BOUNDARIES_MM_S:
        return key.lower()
    raise ValueError(f"unknown machine class {name!r}; valid: {', '.join(ZONE_BOUNDARIES_MM_S)}")


def zone(rms_velocity_mm_s: float, machine: str) -> str:
    """ISO zone letter A-D for an RMS velocity in mm/s and a machine class."""
    ab, bc, cd = ZONE_BOUNDARIES_MM_S[machine_class(machine)]
    v = float(rms_velocity_mm_s)
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"RMS velocity must be a finite non-negative number, got {rms_velocity_mm_s}")
    if v < ab:
        return "A"
    if v < bc:
        return "B"
    if v < cd:
        return "C"
    return "D"


def zone_severity(zone_letter: str) -> Severity | None:
    """Event severity for a zone: D critical, C warning, A/B none."""
    return {"C": Severity.WARNING, "D": Severity.CRITICAL}.get(zone_letter)


def rms_velocity_mm_s(
    spectrum: np.ndarray,
    n: int,
    sample_rate: float,
    band_hz: tuple[float, float] = (10.0, 1000.0),
    power_gain: float = 1.0,
    accel_scale: float = G,
) -> float:
    """RMS velocity (mm/s) in `band_hz` from the rfft of an acceleration window, integrated as V = A / (j 2 pi f).

    spectrum:    rfft of the (windowed) acceleration, length n // 2 + 1.
    power_gain:  mean of the squared time window (1 for none), to undo its energy loss.
    accel_scale: m/s^2 per unit of the input (9.80665 for g, 1 for m/s^2).
    """
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    lo, hi = band_hz
    sel = (freqs >= lo) & (freqs <= min(hi, sample_rate / 2))
    if not sel.any():
        return 0.0
    vel = np.abs(spectrum[sel]) * accel_scale / (2 * np.pi * freqs[sel])
    # One-sided Parseval: every bin but DC and Nyquist stands for two.
    weight = np.full(vel.size, 2.0)
    if n % 2 == 0 and freqs[sel][-1] == sample_rate / 2:
        weight[-1] = 1.0
    power = float(np.sum(weight * vel**2)) / (n * n * power_gain)
    return 1000.0 * float(np.sqrt(power))
