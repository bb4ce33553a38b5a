"""Supraventricular (S) premature beats from RR timing against the patient's own rhythm, shape and P wave.

The inter-patient way (de Chazal et al. 2004, and the work after it): a beat's RR before and
after, each over the local rhythm (median of the previous eight RR) and over the stretch's
longer rhythm, so a patient's own rate sets the scale; its QRS shape against the dominant beat;
and the P wave before it against the dominant beat's P wave (an atrial premature beat's P wave
comes from elsewhere in the atria, or hides in the T wave before it). A logistic model over
these, trained offline on the DS1 development records only by `evaluation.train_ecg_s`
(rerun it to refit), ships as numbers in `s_weights.py` and is evaluated here in numpy.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from adapters.ecg import s_weights
from adapters.ecg.config import ECGConfig

FEATURES = (
    "log_pre_local",  # RR before over the median of the previous eight RR
    "log_post_local",  # RR after over the same reference
    "log_pre_long",  # RR before over the stretch's median RR (the longer running rhythm)
    "log_post_long",
    "log_pre_post",  # RR before over RR after: short-long is the premature beat's signature
    "log_local_long",  # the local rhythm over the longer one (a run of fast beats)
    "pre_scatter",  # how far RR before falls short of the local rhythm, in units of that rhythm's own scatter
    "qrs_corr",  # aligned correlation with the dominant beat
    "qrs_corr2",  # the same in the second lead where it is readable (else this lead's): ventricular beats rarely look normal in two
    "log_width",  # QRS width over the dominant beat's
    "log_amp",  # QRS swing over the dominant beat's
    "p_corr",  # correlation of the stretch before the QRS with the dominant beat's (P wave)
    "log_p_amp",  # swing of that stretch over the dominant beat's
)
_HISTORY = 8
_P_FROM_S, _P_TO_S = 0.30, 0.07  # the P wave lies in this span before R (PR 120-200 ms, R about 40 ms after onset)


def s_features(morph: np.ndarray, r_peaks: np.ndarray, dominant: np.ndarray, corr: np.ndarray, corr2: np.ndarray, width_ratio: np.ndarray, amp_ratio: np.ndarray, config: ECGConfig) -> np.ndarray:
    """(beats, len(FEATURES)) feature matrix; rows of beats without an RR on both sides hold NaN."""
    n = r_peaks.size
    out = np.full((n, len(FEATURES)), np.nan)
    if n < 3:
        return out
    rr = np.maximum(np.diff(r_peaks), 1).astype(float)  # two marks on one sample would give log(0)
    pre = np.concatenate([[np.nan], rr])
    post = np.concatenate([rr, [np.nan]])
    hist = np.concatenate([np.full(_HISTORY, np.median(rr[: _HISTORY + 1])), rr])
    past = sliding_window_view(hist, _HISTORY)[: rr.size]  # the eight RR before each RR
    local = np.concatenate([[np.nan], np.median(past, axis=1)])
    irregular = np.concatenate([[np.nan], np.median(np.abs(np.diff(past, axis=1)), axis=1)]) / local
    long = float(np.median(rr))
    p_corr, p_amp = _p_wave(morph, r_peaks, dominant, config)
    cols = (
        np.log(pre / local), np.log(post / local), np.log(pre / long), np.log(post / long),
        np.log(pre / post), np.log(local / long), _in_scatter_units(pre / local - 1.0, irregular), corr, corr2, np.log(np.maximum(width_ratio, 1e-3)), np.log(np.maximum(amp_ratio, 1e-3)), p_corr, np.log(p_amp),
    )
    out[:] = np.column_stack(cols)
    return out


_MIN_SCATTER = 0.02  # a perfectly regular rhythm still scatters this much (sinus arrhythmia, R placement)
_SCATTER_CLIP = 10.0


def _in_scatter_units(change: np.ndarray, scatter: np.ndarray) -> np.ndarray:
    """A relative RR change over the local rhythm's relative scatter: an early beat stands out of a regular rhythm, not of an irregular one."""
    return np.clip(change / np.maximum(scatter, _MIN_SCATTER), -_SCATTER_CLIP, _SCATTER_CLIP)


def s_probability(features: np.ndarray) -> np.ndarray:
    """The trained model's probability that each beat is supraventricular (NaN rows give 0)."""
    x = (features - np.asarray(s_weights.MEAN)) / np.asarray(s_weights.SCALE)
    z = np.clip(x, -s_weights.CLIP, s_weights.CLIP) @ np.asarray(s_weights.COEF) + s_weights.INTERCEPT
    p = 1.0 / (1.0 + np.exp(-z))
    return np.where(np.isfinite(p), p, 0.0)


def _p_wave(morph: np.ndarray, r_peaks: np.ndarray, dominant: np.ndarray, config: ECGConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per beat: correlation of the span before R with the dominant beats' median span there, and its swing ratio."""
    offsets = np.arange(-config.samples(_P_FROM_S), -config.samples(_P_TO_S) + 1)
    idx = np.clip(r_peaks[:, None] + offsets[None, :], 0, morph.size - 1)
    seg = morph[idx]
    seg = seg - seg.mean(axis=1, keepdims=True)
    ref = np.median(seg[dominant], axis=0) if dominant.sum() >= 4 else np.median(seg, axis=0)
    ref_c = ref - ref.mean()
    norm = np.linalg.norm(seg, axis=1) * np.linalg.norm(ref_c) + 1e-12
    corr = (seg @ ref_c) / norm
    amp = np.ptp(seg, axis=1) / max(float(np.ptp(ref)), 1e-6)
    return corr, np.maximum(amp, 1e-3)
