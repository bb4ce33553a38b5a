"""The Numenta Anomaly Benchmark score, and a rolling 3-sigma baseline to compare detectors with.

NAB score (Lavin & Ahmad, "Evaluating Real-time Anomaly Detection Algorithms -
the Numenta Anomaly Benchmark", IEEE ICMLA 2015; the reference scorer is
numenta/NAB `nab/sweeper.py`), reimplemented here for binary detections:

- Rows are the samples of the series. The first `probationary` rows
  (min(15 % of the rows, 750)) are not scored: detections there are dropped.
- A detection inside a labelled window [left, right] (row indices) is a true
  positive. Only the first one in a window counts; later ones are ignored. Its
  score is `tp_weight * sigma(p) / sigma(-1)` with the scaled sigmoid
  `sigma(p) = 2 / (1 + exp(5 p)) - 1` at `p = -(right - i + 1) / (right - left + 1)`:
  1 at the window's start, falling to about 0 at its end.
- A detection outside every window is a false positive scoring
  `fp_weight * sigma(p)`: -1 before the first window, and after a window
  `p = (i - right) / (width - 1)` of the preceding window, so a detection just
  after a window costs little and one more than three widths after costs the full -1.
- A window with no detection costs `-fn_weight`.

The raw score of a detector is the sum over files. It is normalised per profile
as `100 * (raw - null) / (perfect - null)`, where the null detector detects
nothing (`-fn_weight` per window) and the perfect one detects every window at its
first row (`tp_weight` per window). NAB sweeps a threshold over a continuous
anomaly score; events here are already binary, so there is no threshold to sweep.

Profiles, as in NAB's `config/profiles.json`: `standard` (TP 1, FP 0.11, FN 1),
`reward_low_FP_rate` (TP 1, FP 0.22, FN 1), `reward_low_FN_rate` (TP 1, FP 0.11, FN 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True, frozen=True)
class Profile:
    """Weights of one NAB application profile."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


def scaled_sigmoid(p: float) -> float:
    """NAB's scaled sigmoid: 2 / (1 + e^(5p)) - 1, and -1 beyond p = 3."""
    if p > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * p)) - 1.0


def probationary_rows(n_rows: int, share: float = 0.15) -> int:
    """Rows at the start of a series where NAB scores nothing: min(share of the rows, 750)."""
    return min(int(math.floor(share * n_rows)), 750)


@dataclass(slots=True)
class RawScore:
    """One file's NAB result under one profile."""

    score: float
    tp: int
    fp: int
    fn: int
    null: float
    perfect: float


def score_file(n_rows: int, windows: list[tuple[int, int]], detections: list[int], profile: Profile,
               probationary: int | None = None) -> RawScore:
    """NAB raw score of detections (row indices) against windows (inclusive row ranges), one profile."""
    prob = probationary_rows(n_rows) if probationary is None else probationary
    windows = sorted(windows)
    max_tp = scaled_sigmoid(-1.0)
    counted = [False] * len(windows)
    total, tp, fp = 0.0, 0, 0
    for i in sorted(set(int(d) for d in detections if prob <= d < n_rows)):
        inside = next((k for k, (a, b) in enumerate(windows) if a <= i <= b), None)
        if inside is not None:
            if not counted[inside]:
                a, b = windows[inside]
                counted[inside] = True
                tp += 1
                total += profile.tp_weight * scaled_sigmoid(-(b - i + 1) / (b - a + 1)) / max_tp
            continue
        before = [(a, b) for a, b in windows if b < i]
        if not before:
            unweighted = -1.0
        else:
            a, b = before[-1]
            unweighted = scaled_sigmoid((i - b) / max(1, b - a))
        fp += 1
        total += profile.fp_weight * unweighted
    fn = counted.count(False)
    total -= profile.fn_weight * fn
    return RawScore(score=total, tp=tp, fp=fp, fn=fn, null=-profile.fn_weight * len(windows),
                    perfect=profile.tp_weight * len(windows))


def normalise(raw: float, null: float, perfect: float) -> float:
    """100 for the perfect detector, 0 for the one that detects nothing."""
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else math.nan


def rows_of(t0: float, period_s: float, n_rows: int, times: list[float]) -> list[int]:
    """Row index of each time on a regular grid (clipped to the series)."""
    return [min(n_rows - 1, max(0, int(round((t - t0) / period_s)))) for t in times]


def rolling_three_sigma(values: np.ndarray, period_s: float, window_s: float = 86400.0, k: float = 3.0,
                        refractory_s: float = 3600.0, min_samples: int = 30) -> list[int]:
    """Rows where a sample lies beyond k standard deviations of the trailing `window_s` of samples.

    The textbook rule: mean and standard deviation of the previous samples (the
    current one excluded, NaN skipped), at most one alarm per `refractory_s`.
    Causal, no seasonality, no learning beyond the trailing window.
    """
    x = np.asarray(values, dtype=np.float64)
    n = max(min_samples, int(round(window_s / period_s)))
    ok = np.isfinite(x)
    xv = np.where(ok, x, 0.0)
    c1 = np.concatenate([[0.0], np.cumsum(xv)])
    c2 = np.concatenate([[0.0], np.cumsum(xv * xv)])
    cn = np.concatenate([[0], np.cumsum(ok)])
    idx = np.arange(x.size)
    lo = np.maximum(0, idx - n)
    cnt = cn[idx] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[idx] - c1[lo]) / cnt
        var = np.maximum(0.0, (c2[idx] - c2[lo]) / cnt - mean * mean)
        std = np.sqrt(var)
        hit = ok & (cnt >= min_samples) & (np.abs(x - mean) > k * np.maximum(std, 1e-12))
    rows: list[int] = []
    gap = max(1, int(round(refractory_s / period_s)))
    for i in np.flatnonzero(hit).tolist():
        if not rows or i - rows[-1] >= gap:
            rows.append(i)
    return rows
