"""Beat classes N / V / S from QRS width, prematurity and morphology against the dominant beat.

The dominant (normal) morphology is learnt from the record itself: the beat whose QRS
correlates with the most others, preferring narrow clusters, then the median of the beats
that match it. A beat is ventricular (V) when its QRS is wide or unlike the dominant beat
while wide-ish or premature; supraventricular premature (S) when it comes early with a
narrow, normal-looking QRS. In atrial fibrillation prematurity means nothing, so the
rhythm stage turns S back into N there (as MIT-BIH annotators do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from adapters.ecg.config import INTERNAL_FS, ECGConfig

log = logging.getLogger(__name__)

_QRS_BEFORE_S = 0.10  # morphology window around R
_QRS_AFTER_S = 0.12
_MATCH_CORR = 0.90  # correlation that makes a beat "like" another
_MAX_TEMPLATE_BEATS = 300
_HISTORY = 8  # RR intervals behind a beat that define 'on time'  # medoid search cost grows with the square of this


@dataclass(slots=True)
class BeatFeatures:
    """Per-beat measurements and the resulting labels."""

    labels: np.ndarray  # "<U1": N, V or S
    width_s: np.ndarray  # QRS duration estimate
    correlation: np.ndarray  # with the dominant beat
    prematurity: np.ndarray  # RR before / local reference RR (1 = on time)
    template: np.ndarray  # dominant beat, wide band, QRS window
    dominant_width_s: float


def classify_beats(wide: np.ndarray, slope: np.ndarray, r_peaks: np.ndarray, config: ECGConfig) -> BeatFeatures:
    """Label each R peak N, V or S from the wide-band signal and the QRS-band slope."""
    n = r_peaks.size
    before, after = config.samples(_QRS_BEFORE_S), config.samples(_QRS_AFTER_S)
    if n == 0:
        empty = np.zeros(0)
        return BeatFeatures(np.zeros(0, "<U1"), empty, empty, empty, np.zeros(before + after + 1), 0.0)
    segs = _segments(wide, r_peaks, before, after)
    width = _qrs_width(slope, r_peaks, config)
    template, dominant = _dominant_template(segs, width)
    corr = _correlate(segs, template)
    dom_width = float(np.median(width[dominant])) if dominant.any() else float(np.median(width))
    prem = _prematurity(r_peaks)
    labels = np.full(n, "N", dtype="<U1")
    wide_qrs = (width > max(1.35 * dom_width, 0.09)) | ((width > config.wide_qrs_s + 0.02) & (dom_width < config.wide_qrs_s))
    unlike = corr < 0.80
    premature = prem < config.premature_ratio
    # Amplitude matters too: a ventricular beat often towers over (or dwarfs) the normal QRS.
    amp = np.ptp(segs, axis=1)
    amp_ratio = amp / max(float(np.median(amp[dominant])) if dominant.any() else float(np.median(amp)), 1e-9)
    odd_amp = (amp_ratio > 1.8) | (amp_ratio < 0.45)
    is_v = (wide_qrs & (unlike | premature | odd_amp)) | (unlike & premature & (width > 1.15 * dom_width)) | (corr < 0.5)
    labels[is_v] = "V"
    labels[~is_v & premature & (corr >= 0.80)] = "S"
    return BeatFeatures(labels, width, corr, prem, template, dom_width)


def _segments(wide: np.ndarray, r_peaks: np.ndarray, before: int, after: int) -> np.ndarray:
    offsets = np.arange(-before, after + 1)
    idx = np.clip(r_peaks[:, None] + offsets[None, :], 0, wide.size - 1)
    segs = wide[idx]
    return segs - segs.mean(axis=1, keepdims=True)


def _qrs_width(slope: np.ndarray, r_peaks: np.ndarray, config: ECGConfig) -> np.ndarray:
    """QRS duration from the spread of slope energy around R (floor-subtracted), about 4 sigma."""
    half = config.samples(0.12)
    offsets = np.arange(-half, half + 1)
    idx = np.clip(r_peaks[:, None] + offsets[None, :], 0, slope.size - 1)
    w = slope[idx] ** 2
    # The quietest quarter of the window stands for noise: subtract it so noise does not widen beats.
    floor = np.quantile(w, 0.25, axis=1, keepdims=True)
    w = np.maximum(w - 2.0 * floor, 0.0)
    total = w.sum(axis=1) + 1e-12
    t = offsets / INTERNAL_FS
    centre = (w * t).sum(axis=1) / total
    spread = np.sqrt((w * (t[None, :] - centre[:, None]) ** 2).sum(axis=1) / total)
    return 4.0 * spread


def _dominant_template(segs: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the beats matching the best-supported narrow medoid, and which beats those are."""
    n = segs.shape[0]
    pick = np.linspace(0, n - 1, min(n, _MAX_TEMPLATE_BEATS)).astype(int)
    sub = segs[pick]
    norm = sub / (np.linalg.norm(sub, axis=1, keepdims=True) + 1e-12)
    support = (norm @ norm.T > _MATCH_CORR).sum(axis=1)
    # Among well-supported beats prefer the narrowest: in bigeminy V beats are as many as N.
    strong = support >= 0.6 * support.max()
    candidates = np.flatnonzero(strong)
    medoid = pick[candidates[np.argmin(width[pick][candidates])]]
    corr = _correlate(segs, segs[medoid])
    dominant = corr > _MATCH_CORR
    template = np.median(segs[dominant], axis=0) if dominant.sum() >= 1 else segs[medoid]
    return template, dominant


def _correlate(segs: np.ndarray, template: np.ndarray) -> np.ndarray:
    t = template - template.mean()
    t = t / (np.linalg.norm(t) + 1e-12)
    s = segs / (np.linalg.norm(segs, axis=1, keepdims=True) + 1e-12)
    return s @ t


def _prematurity(r_peaks: np.ndarray) -> np.ndarray:
    """RR before each beat over the median of the previous eight RR (1.0 when unknown)."""
    n = r_peaks.size
    prem = np.ones(n)
    if n < 3:
        return prem
    rr = np.diff(r_peaks).astype(float)
    # The first beats have no history: pretend it was the median of the first few RR.
    ext = np.concatenate([np.full(_HISTORY, np.median(rr[: _HISTORY + 1])), rr])
    ref = np.median(sliding_window_view(ext, _HISTORY)[: rr.size], axis=1)
    prem[1:] = rr / ref
    return prem
