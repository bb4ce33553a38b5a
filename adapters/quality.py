"""Signal-quality checks and clean-up shared by every encoder.

A window may carry NaN (lost samples), a flat line (lead off, stuck sensor),
saturation (clipped ADC) or too few samples. `assess` reports these as tokens
and a 0..1 score and returns a cleaned copy (short NaN runs interpolated) so
that the encoder can go on; it never raises on bad data, only on bad arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import resample_poly


@dataclass(slots=True)
class Quality:
    """Outcome of `assess`: a score, the problems as token suffixes, and usable samples."""

    score: float  # 1.0 clean .. 0.0 unusable
    problems: list[str] = field(default_factory=list)  # e.g. ["nan", "flat"]
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0))
    usable: bool = True

    def tokens(self, prefix: str) -> list[str]:
        """Problems as vocabulary tokens, e.g. `<ecg:quality:flat>`; `<prefix:quality:ok>` if none."""
        return [f"<{prefix}:quality:{p}>" for p in self.problems] or [f"<{prefix}:quality:ok>"]


def assess(
    samples: np.ndarray,
    *,
    min_samples: int,
    flat_tolerance: float = 1e-6,
    rail: tuple[float, float] | None = None,
    max_nan_fraction: float = 0.2,
) -> Quality:
    """Check a 1-D window and return a cleaned copy with the problems found.

    min_samples:      fewer finite samples than this makes the window unusable ("short").
    flat_tolerance:   peak-to-peak below this is a flat line ("flat", unusable).
    rail:             ADC limits; more than 1% of samples at a rail is "saturated".
    max_nan_fraction: more missing samples than this makes the window unusable ("gaps").
    """
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {min_samples}")
    x = np.asarray(samples, dtype=np.float64).ravel()
    problems: list[str] = []
    finite = np.isfinite(x)
    n_finite = int(finite.sum())
    if n_finite < min_samples:
        return Quality(0.0, ["short"], np.zeros(0), usable=False)
    nan_fraction = 1.0 - n_finite / x.size
    score = 1.0
    if nan_fraction > 0:
        problems.append("gaps")
        x = fill_gaps(x)
        score -= nan_fraction
        if nan_fraction > max_nan_fraction:
            return Quality(0.0, problems, x, usable=False)
    if float(np.ptp(x)) <= flat_tolerance:
        return Quality(0.0, problems + ["flat"], x, usable=False)
    if rail is not None:
        lo, hi = rail
        at_rail = float(np.mean((x <= lo) | (x >= hi)))
        if at_rail > 0.01:
            problems.append("saturated")
            score -= min(0.5, at_rail * 5)
    return Quality(max(0.0, min(1.0, score)), problems, x)


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Linearly interpolate NaN/inf runs; edges take the nearest finite value."""
    x = np.asarray(x, dtype=np.float64).copy()
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    idx = np.arange(x.size)
    x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return x


def resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Polyphase resampling from `rate_in` to `rate_out` Hz (anti-aliased)."""
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
    if abs(rate_in - rate_out) < 1e-9:
        return np.asarray(x, dtype=np.float64)
    from fractions import Fraction

    ratio = Fraction(rate_out / rate_in).limit_denominator(1000)
    return resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator)
