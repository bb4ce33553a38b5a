"""Order analysis: the spectrum in multiples of shaft speed, in RMS velocity (mm/s).

The shaft speed a device declares is nominal (induction motors slip with load),
so the speed is refined from the data when a clear 1x within +-tolerance is
confirmed by an odd order (3x, 5x or 7x) within a bin of where 1x puts it; the
highest confirming order sets the speed. Even orders of two- and four-pole
motors coincide with mains harmonics, and a loose window would let a bearing
line near an order (BPFO of a 6203 is 3.05x) pull the speed. Each order's level is the power of the Hann spectrum over
+-2 bins around the strongest bin near it (no scalloping loss), converted from
acceleration to velocity at that frequency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import median_filter

from adapters.vibration.severity import G

HALF_ORDERS = (0.5, 1.5, 2.5, 3.5, 4.5)
ORDERS = tuple(float(k) for k in range(1, 11))
PEAK_SNR = 4.0  # a line counts as present 12 dB (power ratio 16) above the local floor; here an amplitude ratio


@dataclass(slots=True)
class OrderSpectrum:
    """Shaft speed used and the level of each order (mm/s RMS) with its height above the local floor."""

    shaft_hz: float
    speed_refined: bool
    velocity_mm_s: dict[float, float] = field(default_factory=dict)
    snr: dict[float, float] = field(default_factory=dict)

    def level(self, order: float) -> float:
        """RMS velocity (mm/s) at `order`, 0 where it was above Nyquist."""
        return self.velocity_mm_s.get(order, 0.0)

    def harmonics_rss(self, lo: float = 3.0, hi: float = 10.0) -> float:
        """Root-sum-square velocity of integer orders `lo`..`hi`."""
        return float(np.sqrt(sum(v**2 for o, v in self.velocity_mm_s.items() if lo <= o <= hi and o == int(o))))

    def count_present(self, orders: tuple[float, ...]) -> int:
        """How many of `orders` stand PEAK_SNR above the local floor."""
        return sum(1 for o in orders if self.snr.get(o, 0.0) >= PEAK_SNR)


def order_analysis(
    hann_spectrum: np.ndarray,
    n: int,
    sample_rate: float,
    nominal_shaft_hz: float,
    tolerance: float = 0.02,
    accel_scale: float = G,
) -> OrderSpectrum:
    """Levels of shaft orders 0.5x..10x from the rfft of a Hann-windowed acceleration window (input units)."""
    df = sample_rate / n
    mag = np.abs(hann_spectrum)
    top_hz = min(10.6 * nominal_shaft_hz * (1 + tolerance), sample_rate / 2)
    top = min(mag.size, int(top_hz / df) + 16)
    local = mag[:top]
    floor = median_filter(local, size=2 * max(5, int(round(0.25 * nominal_shaft_hz / df))) + 1, mode="nearest")
    snr_spec = local / np.maximum(floor, 1e-30)
    shaft_hz, refined = _refine_speed(snr_spec, df, nominal_shaft_hz, tolerance)
    # Hann: sum(w) = n/2, mean(w^2) = 3/8; a tone's power spreads over the main lobe (+-2 bins).
    power_gain = 0.375
    velocity: dict[float, float] = {}
    snr: dict[float, float] = {}
    for order in (*HALF_ORDERS, *ORDERS):
        f = order * shaft_hz
        if f < 2 * df or f >= sample_rate / 2 - 3 * df:
            continue
        # A measured speed pins each order to +-0.5%; a declared one may be off by the whole tolerance.
        rel = 0.005 if refined else tolerance
        width = max(1, int(round(min(rel * f, 0.2 * shaft_hz) / df)))
        centre = int(round(f / df))
        lo, hi = max(1, centre - width), min(top - 1, centre + width + 1)
        if lo >= hi:
            continue
        peak = lo + int(np.argmax(local[lo:hi]))
        seg = mag[max(1, peak - 2): peak + 3]
        power = 2.0 * float(np.sum(seg**2)) / (n * n * power_gain)
        accel_rms = np.sqrt(power) * accel_scale  # m/s^2
        velocity[order] = 1000.0 * accel_rms / (2 * np.pi * peak * df)
        snr[order] = float(snr_spec[peak])
    return OrderSpectrum(shaft_hz, refined, velocity, snr)


def _refine_speed(snr_spec: np.ndarray, df: float, nominal_hz: float, tolerance: float) -> tuple[float, bool]:
    """The shaft speed from a clear 1x confirmed by an odd harmonic, or the nominal one."""
    max_f = (snr_spec.size - 3) * df
    if tolerance <= 0 or 3 * nominal_hz * (1 + tolerance) >= max_f:
        return nominal_hz, False
    # 1x: the strongest interior peak within +-tolerance of nominal, well clear of the floor.
    first = _interior_peak(snr_spec, nominal_hz * (1 - tolerance) / df, nominal_hz * (1 + tolerance) / df)
    if first is None or first[1] < 2 * PEAK_SNR:
        return nominal_hz, False
    f1 = first[0] * df
    best: float | None = None
    # Confirm with odd orders only, each within a bin of where 1x puts it: even orders of two- and
    # four-pole motors sit on mains harmonics, and a bearing line near 3x (BPFO of a 6203 is 3.05x)
    # must not pull the speed.
    for k in (3, 5, 7):
        if k * f1 >= max_f:
            break
        expected = k * f1 / df
        peak = _interior_peak(snr_spec, expected - 1.0, expected + 1.0)
        # The interpolated peak must sit where 1x predicts it (1x is good to about 0.1 bin).
        if peak is not None and peak[1] >= 2 * PEAK_SNR and abs(peak[0] - expected) <= 0.3 + 0.1 * k:
            best = peak[0] * df / k  # a higher order gives a finer estimate
    if best is None:
        return nominal_hz, False
    return float(best), True


def _interior_peak(spec: np.ndarray, lo_bin: float, hi_bin: float) -> tuple[float, float] | None:
    """Sub-bin position and height of the largest value in [lo_bin, hi_bin], if it is a local maximum there."""
    lo, hi = max(1, int(np.ceil(lo_bin))), min(spec.size - 2, int(np.floor(hi_bin)))
    if hi < lo:
        return None
    k = lo + int(np.argmax(spec[lo: hi + 1]))
    if not (spec[k] >= spec[k - 1] and spec[k] >= spec[k + 1]):
        return None  # the window's maximum is on its edge: the real peak lies outside
    a, b, c = np.log(spec[k - 1: k + 2] + 1e-12)
    denom = a - 2 * b + c
    offset = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return k + float(np.clip(offset, -0.5, 0.5)), float(spec[k])
