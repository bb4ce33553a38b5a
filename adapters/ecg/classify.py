"""Beat classes N / V / S from QRS width, prematurity and morphology against the dominant beat.

The dominant (normal) morphology is learnt from the record itself: the beat whose QRS
correlates with the most others, preferring narrow clusters, then the median of the beats
that match it. A beat is ventricular (V) when it is unlike the dominant beat and wider, or
early with a full compensatory pause; supraventricular premature (S) when it comes early
with a normal-looking QRS and resets the sinus node. In atrial fibrillation prematurity means nothing, so the
rhythm stage turns S back into N there (as MIT-BIH annotators do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from adapters.ecg.config import INTERNAL_FS, ECGConfig
from adapters.ecg.detect import Filtered
from adapters.ecg import s_weights
from adapters.ecg.supraventricular import FEATURES, s_features, s_probability

log = logging.getLogger(__name__)

_QRS_BEFORE_S = 0.10  # morphology window around R
_QRS_AFTER_S = 0.12
_MATCH_CORR = 0.90  # correlation that makes a beat "like" another
_UNLIKE_CORR_MIN = 0.6  # the "unlike the dominant beat" correlation adapts between these
_UNLIKE_CORR_MAX = 0.85
_MAX_LAG_S = 0.040  # beats are compared at their best alignment within this shift
_MEDOID_BEATS = 60  # medoid search cost grows with the square of this
NOISY_BEAT = 0.2  # high-frequency ratio above which a beat is too noisy to call ventricular
CLEAN_BEAT = 0.1  # ... and below which it is clean enough to be judged on its shape and timing alone
_HISTORY = 8  # RR intervals behind a beat that define 'on time'


@dataclass(slots=True)
class BeatFeatures:
    """Per-beat measurements and the resulting labels."""

    labels: np.ndarray  # "<U1": N, V or S
    width_s: np.ndarray  # QRS duration estimate
    correlation: np.ndarray  # with the dominant beat
    prematurity: np.ndarray  # RR before / local reference RR (1 = on time)
    template: np.ndarray  # dominant beat, 0.5-25 Hz, -100..+120 ms around R
    dominant_width_s: float
    noise: np.ndarray  # high-frequency noise around each beat relative to its swing
    amp_ratio: np.ndarray  # beat swing over the dominant beat's swing
    unlike_corr: np.ndarray  # per beat: the correlation below which its stretch counts as unlike
    s_features: np.ndarray  # (beats, len(supraventricular.FEATURES)); NaN rows: no S verdict possible (V, unreadable)


def classify_beats(filtered: Filtered, r_peaks: np.ndarray, config: ECGConfig, artifact: np.ndarray | None = None, prior: np.ndarray | None = None, second: tuple[np.ndarray, np.ndarray] | None = None) -> BeatFeatures:
    """Label each R peak N, V or S from beat shape and width (0.5-25 Hz signal) and RR timing.

    `prior` (a dominant beat learnt over a longer stretch) steers the choice of this stretch's
    dominant beat, so a stretch crowded with ventricular beats does not take them for normal.
    `second` (morphology and high-frequency signals of another lead) lets a beat unlike the
    normal one there, and not quite like it here, be ventricular: ectopic beats that look
    normal in one lead rarely do in two.
    """
    n = r_peaks.size
    before, after = config.samples(_QRS_BEFORE_S), config.samples(_QRS_AFTER_S)
    if n == 0:
        empty = np.zeros(0)
        return BeatFeatures(np.zeros(0, "<U1"), empty, empty, empty, np.zeros(before + after + 1), 0.0, empty, empty, empty, np.zeros((0, len(FEATURES))))
    morph = filtered.morph
    lag = config.samples(_MAX_LAG_S)
    width, _ = _qrs_width(morph, r_peaks, config)
    ext = _segments(morph, r_peaks, before + lag, after + lag)
    noise = _hf_ratio(filtered, r_peaks, config)
    win = _windows(ext, lag)  # normalised shifted beats, shared by every correlation below
    sharp = _sharpness(filtered.band, ext[:, lag: ext.shape[1] - lag], r_peaks)
    template, dominant = _dominant_template(ext, width, lag, prior, win=win, sharp=sharp)
    corr, _ = _aligned_correlation(ext, template, lag, win)
    dom_width = float(np.median(width[dominant])) if dominant.any() else float(np.median(width))
    prem = _prematurity(r_peaks)
    segs = ext[:, lag: ext.shape[1] - lag]
    amp = np.ptp(segs, axis=1)
    amp_ref = float(np.median(amp[dominant])) if dominant.any() else float(np.median(amp))
    amp_ratio = amp / max(amp_ref, 1e-9)
    unlike_corr = _unlike_threshold(corr, dominant)
    unlike = corr < unlike_corr
    wider = (width > 1.25 * dom_width) & (width > dom_width + 0.025)
    premature = prem < config.premature_ratio
    odd_amp = (amp_ratio > 1.8) | (amp_ratio < 0.45)
    # Ventricular: a different shape that is also wider or of another size (or early and a little
    # wider); wider and early; much wider; early with a full compensatory pause (RR before plus
    # after of two cycles: the sinus node was not reset, the hallmark of a ventricular premature
    # beat, so a modest change of shape suffices). A beat merely as wide as all its neighbours
    # (bundle branch block, pacing) stays N, since the template learnt it.
    nxt = np.append(prem[1:], 1.0)
    compensatory = (prem + nxt) >= 1.85
    is_v = (
        (unlike & (wider | odd_amp | (premature & (width > 1.1 * dom_width))))
        | (wider & premature)
        | (wider & (width > 1.5 * dom_width) & (corr < 0.9))
        | (premature & compensatory & (corr < unlike_corr + 0.08))
        | ((corr < 0.5) & (width > 1.15 * dom_width))
    )
    # Unlike the normal beat and early, whatever its width (narrow-looking ectopy in this lead),
    # when the beat is clean and the other lead does not show a normal beat; a coupling under
    # 45% of the cycle follows a false detection rather than a real beat.
    normal2 = np.zeros(n, bool)
    corr_both = corr  # shape evidence for the S model: the second lead's where it is readable
    if second is not None:
        corr2, readable2 = _second_lead_correlation(second, r_peaks, dominant, config)
        corr_both = np.where(readable2, corr2, corr)
        is_v |= (corr < _SECOND_LEAD_CORR1) & (corr2 < _SECOND_LEAD_CORR) & readable2
        normal2 = (corr2 >= _SECOND_LEAD_NORMAL) & readable2
    is_v |= unlike & premature & (prem > _MIN_COUPLING) & ~normal2 & (noise < CLEAN_BEAT)
    # No verdict on a beat buried in spikes or muscle noise, nor inside an artefact (noise is
    # what makes monitors cry ventricular tachycardia falsely); none at all when the beats are
    # noisy as a rule: the template is then the noise, and a clean beat would look "unlike" it.
    readable = noise < NOISY_BEAT
    if float(np.median(noise)) >= NOISY_BEAT or (dominant.any() and float(np.median(noise[dominant])) >= NOISY_BEAT):
        readable[:] = False
    if artifact is not None:
        readable &= ~artifact[np.clip(r_peaks, 0, artifact.size - 1)]
    # A beat whose shape window the edge of the signal cuts (the last beat of a 10 s window) has
    # its width and likeness measured on a clipped copy: no verdict on it.
    readable &= (r_peaks >= before) & (r_peaks + after < morph.size)
    is_v &= readable
    labels = np.full(n, "N", dtype="<U1")
    labels[is_v] = "V"
    # Supraventricular: the trained model over RR timing against the patient's own rhythm, shape
    # and P wave, for beats not ventricular and readable.
    feats = s_features(morph, r_peaks, dominant, corr, corr_both, width / max(dom_width, 1e-3), amp_ratio, config)
    feats[is_v | ~readable] = np.nan
    # Two beats the model's verdict does not stand for (the model is fitted on every beat above, so
    # `train_ecg_s` refits the shipped weights). One right after a ventricular beat: its RR before
    # runs from that beat, not from an atrial one, so its earliness says nothing of the atria (DS1
    # 208: sinus beats after late-coupled V beats). And one wider than the normal beat and unlike it
    # in the second lead (this lead without one): a supraventricular beat is conducted the normal
    # way (223: V beats that look normal in the first lead only, early, and missed by the V rules).
    after_v = np.concatenate([[False], is_v[:-1]])
    misshapen = (width > _S_MAX_WIDTH * dom_width) & (corr_both < _S_MIN_CORR2)
    labels[(s_probability(feats) >= s_weights.THRESHOLD) & ~after_v & ~misshapen] = "S"
    return BeatFeatures(labels, width, corr, prem, template, dom_width, noise, amp_ratio, np.full(n, unlike_corr), feats)


_S_MAX_WIDTH = 1.1  # an S beat is no more than this much wider than the normal beat ...
_S_MIN_CORR2 = 0.9  # ... unless it is as like the normal beat as this in the second lead
_SECOND_LEAD_CORR = 0.5  # in the second lead, a beat correlating under this with the normal beat is unlike it
_SECOND_LEAD_CORR1 = 0.9  # ... and counts as ventricular when it is also under this here
_SECOND_LEAD_NORMAL = 0.95  # a beat this like the normal one in the second lead is not called V for being early and odd here
_MIN_COUPLING = 0.45  # RR before over the reference RR: shorter follows a false detection


def _second_lead_correlation(second: tuple[np.ndarray, np.ndarray], r_peaks: np.ndarray, dominant: np.ndarray, config: ECGConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each beat's aligned correlation with the normal beat in the second lead, and whether it is readable there.

    The normal beat there is the median of the beats this lead found dominant, so the two
    leads agree on what normal is.
    """
    morph, hf = second
    lag = config.samples(_MAX_LAG_S)
    ext = _segments(morph, r_peaks, config.samples(_QRS_BEFORE_S) + lag, config.samples(_QRS_AFTER_S) + lag)
    if dominant.sum() < 4:
        return np.ones(r_peaks.size), np.zeros(r_peaks.size, bool)
    template = np.median(ext[dominant, lag: ext.shape[1] - lag], axis=0)
    corr, _ = _aligned_correlation(ext, template, lag)
    readable = _hf_ratio(Filtered(morph, morph, hf, morph, morph, morph), r_peaks, config) < NOISY_BEAT
    return corr, readable


CHUNK_BEATS = 300  # long records are classified in stretches of this many beats (about 4 minutes)
_LEAD_IN = 9  # beats before a stretch that give its first beats their RR history


def classify_record(filtered: Filtered, r_peaks: np.ndarray, config: ECGConfig, artifact: np.ndarray | None = None, second: tuple[np.ndarray, np.ndarray] | None = None) -> BeatFeatures:
    """`classify_beats` over stretches of a long record, so the normal template follows slow changes of shape."""
    n = r_peaks.size
    if n <= 2 * CHUNK_BEATS:
        return classify_beats(filtered, r_peaks, config, artifact, second=second)
    parts: list[BeatFeatures] = []
    starts = list(range(0, n, CHUNK_BEATS))
    if n - starts[-1] < CHUNK_BEATS // 2:
        starts.pop()  # fold a short tail into the stretch before it
    bounds = list(zip(starts, starts[1:] + [n]))
    anchor = record_template(filtered.morph, r_peaks, config)
    for a, b in bounds:
        lead = min(a, _LEAD_IN)
        part = classify_beats(filtered, r_peaks[a - lead: b], config, artifact, anchor, second)
        parts.append(_slice(part, lead))
    biggest = max(range(len(parts)), key=lambda k: parts[k].labels.size)
    join = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return BeatFeatures(
        join("labels"), join("width_s"), join("correlation"), join("prematurity"),
        parts[biggest].template, float(np.median([p.dominant_width_s for p in parts])),
        join("noise"), join("amp_ratio"), join("unlike_corr"), join("s_features"),
    )


_ANCHOR_BEATS = 120  # beats spread over the whole record that elect its dominant beat


def record_template(morph: np.ndarray, r_peaks: np.ndarray, config: ECGConfig) -> np.ndarray:
    """The dominant beat of a whole record, from beats picked evenly over all of it.

    Ventricular beats may outnumber normal ones for minutes (bigeminy, runs) but rarely over a
    whole record, so the record's choice anchors each stretch's.
    """
    lag = config.samples(_MAX_LAG_S)
    pick = r_peaks[np.linspace(0, r_peaks.size - 1, min(r_peaks.size, _ANCHOR_BEATS)).astype(int)]
    ext = _segments(morph, pick, config.samples(_QRS_BEFORE_S) + lag, config.samples(_QRS_AFTER_S) + lag)
    width, _ = _qrs_width(morph, pick, config)
    return _dominant_template(ext, width, lag, None, beats=_ANCHOR_BEATS)[0]


def _sharpness(band: np.ndarray, segs: np.ndarray, r_peaks: np.ndarray) -> np.ndarray:
    """QRS-band swing (+/-60 ms) over the 0.5-25 Hz swing of each beat: a conducted beat is steep, a ventricular one slow.

    Ventricular depolarisation spreads from cell to cell, not through the conduction system, so
    its complex holds little of its swing in the QRS band (DS1 208: normal beats 0.75, its
    ventricular beats 0.27 in both leads), whatever the width estimate makes of it.
    """
    half = int(round(0.06 * INTERNAL_FS))
    idx = np.clip(r_peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, band.size - 1)
    return np.ptp(band[idx], axis=1) / np.maximum(np.ptp(segs, axis=1), 1e-9)


def _slice(b: BeatFeatures, start: int) -> BeatFeatures:
    return BeatFeatures(b.labels[start:], b.width_s[start:], b.correlation[start:], b.prematurity[start:], b.template, b.dominant_width_s, b.noise[start:], b.amp_ratio[start:], b.unlike_corr[start:], b.s_features[start:])


def beat_likeness(morph: np.ndarray, beats: np.ndarray, others: np.ndarray, config: ECGConfig) -> np.ndarray:
    """Aligned correlation (within +/-40 ms) of each beat at `beats` with the one at the same place in `others`."""
    if beats.size == 0:
        return np.zeros(0)
    lag = config.samples(_MAX_LAG_S)
    before, after = config.samples(_QRS_BEFORE_S), config.samples(_QRS_AFTER_S)
    win = _windows(_segments(morph, beats, before + lag, after + lag), lag)
    ref = _segments(morph, others, before, after)
    ref = ref - ref.mean(axis=1, keepdims=True)
    ref = ref / (np.linalg.norm(ref, axis=1, keepdims=True) + 1e-12)
    return np.einsum("nsw,nw->ns", win, ref).max(axis=1)


def _unlike_threshold(corr: np.ndarray, dominant: np.ndarray) -> float:
    """Correlation below which a beat is unlike the dominant one, from how alike the normal beats are.

    A clean record whose normal beats all correlate at 0.99 makes 0.85 suspicious; a noisy one
    whose normal beats scatter down to 0.8 must not turn them all ventricular.
    """
    ref = corr[dominant] if dominant.sum() >= 4 else corr
    med = float(np.median(ref))
    spread = 1.4826 * float(np.median(np.abs(ref - med)))
    return float(np.clip(med - 6.0 * spread - 0.05, _UNLIKE_CORR_MIN, _UNLIKE_CORR_MAX))


def _hf_ratio(filtered: Filtered, r_peaks: np.ndarray, config: ECGConfig) -> np.ndarray:
    """RMS of the >30 Hz signal within +/-100 ms of R over the beat's swing: about 0.03 clean, >0.3 spiky."""
    half = config.samples(0.10)
    idx = np.clip(r_peaks[:, None] + np.arange(-half, half + 1)[None, :], 0, filtered.hf.size - 1)
    hf = np.sqrt(np.mean(filtered.hf[idx] ** 2, axis=1))
    return hf / np.maximum(np.ptp(filtered.morph[idx], axis=1), 1e-9)


def _segments(wide: np.ndarray, r_peaks: np.ndarray, before: int, after: int) -> np.ndarray:
    offsets = np.arange(-before, after + 1)
    idx = np.clip(r_peaks[:, None] + offsets[None, :], 0, wide.size - 1)
    return wide[idx]


def _qrs_width(wide: np.ndarray, r_peaks: np.ndarray, config: ECGConfig) -> tuple[np.ndarray, np.ndarray]:
    """QRS duration (about 4 sigma of the floor-subtracted slope energy around R) and that energy's centre (s from R)."""
    half = config.samples(0.12)
    offsets = np.arange(-half, half + 1)
    idx = np.clip(r_peaks[:, None] + offsets[None, :], 1, wide.size - 2)
    w = ((wide[idx + 1] - wide[idx - 1]) * (INTERNAL_FS / 2.0)) ** 2
    # The quietest half of the window stands for noise and T/P slopes: subtract it so neither widens beats.
    floor = np.quantile(w, 0.5, axis=1, keepdims=True)
    w = np.maximum(w - 2.0 * floor, 0.0)
    total = w.sum(axis=1) + 1e-12
    t = offsets / INTERNAL_FS
    centre = (w * t).sum(axis=1) / total
    spread = np.sqrt((w * (t[None, :] - centre[:, None]) ** 2).sum(axis=1) / total)
    return 4.0 * spread, centre


def _windows(ext: np.ndarray, lag: int) -> np.ndarray:
    """(beats, 2*lag+1, width) views of each beat shifted by -lag..lag, mean-removed and unit-norm."""
    width = ext.shape[1] - 2 * lag
    win = sliding_window_view(ext, width, axis=1)
    win = win - win.mean(axis=2, keepdims=True)
    return win / (np.linalg.norm(win, axis=2, keepdims=True) + 1e-12)


def _aligned_correlation(ext: np.ndarray, template: np.ndarray, lag: int, win: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best correlation of each beat with `template` over shifts of +/-lag samples, and that shift (`win`: `_windows(ext, lag)` if at hand)."""
    t = template - template.mean()
    t = t / (np.linalg.norm(t) + 1e-12)
    c = (_windows(ext, lag) if win is None else win) @ t
    best = np.argmax(c, axis=1)
    return c[np.arange(c.shape[0]), best], best


def _dominant_template(ext: np.ndarray, width: np.ndarray, lag: int, prior: np.ndarray | None = None, beats: int = _MEDOID_BEATS, win: np.ndarray | None = None, sharp: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Median of the beats matching the best-supported narrow medoid, and which beats those are.

    With a `prior`, a fairly supported medoid like the prior wins over a better supported one
    unlike it: in bigeminy or a ventricular run the ectopic cluster may be the larger one here.
    Without one (a 10 s window), `sharp` (per beat, `_sharpness`) does that job: a cluster of
    alike beats far steeper than the best-supported one is the conducted beat, and the larger
    cluster the ventricular beats of couplets or bigeminy.
    """
    n = ext.shape[0]
    core = slice(lag, ext.shape[1] - lag)
    pick = np.linspace(0, n - 1, min(n, beats)).astype(int)
    win = _windows(ext, lag) if win is None else win
    picked = win[pick]
    centre = picked[:, lag, :]
    # Similarity of every picked beat to every other, at the best shift of the other (one matrix product).
    k, shifts, w = picked.shape
    sim = (picked.reshape(k * shifts, w) @ centre.T).reshape(k, shifts, k).max(axis=1).T
    support = (sim > _MATCH_CORR).sum(axis=1)
    # Among well-supported beats prefer the narrowest: in bigeminy V beats are as many as N.
    candidates = np.flatnonzero(support >= 0.6 * support.max())
    if prior is not None:
        like = _aligned_correlation(ext[pick], prior, lag, picked)[0] >= _PRIOR_CORR
        steered = np.flatnonzero(like & (support >= _PRIOR_SUPPORT * support.max()))
        if steered.size:
            candidates = steered[support[steered] >= 0.6 * support[steered].max()]
    chosen = candidates[np.argmin(width[pick][candidates])]
    if prior is None and sharp is not None:
        chosen = _steeper_cluster(chosen, sim, support, sharp[pick])
    medoid = pick[chosen]
    corr, shift = _aligned_correlation(ext, ext[medoid, core], lag, win)
    dominant = corr > _MATCH_CORR
    if not dominant.any():
        return ext[medoid, core], dominant
    width_core = ext.shape[1] - 2 * lag
    rows = np.flatnonzero(dominant)
    aligned = ext[rows[:, None], shift[rows][:, None] + np.arange(width_core)[None, :]]
    aligned = aligned - aligned.mean(axis=1, keepdims=True)
    return np.median(aligned, axis=0), dominant


def _steeper_cluster(chosen: int, sim: np.ndarray, support: np.ndarray, sharp: np.ndarray) -> int:
    """The medoid (index into the picked beats) of a cluster far steeper than `chosen`'s, or `chosen`.

    `sim[j, i]`: how well picked beat i matches medoid candidate j. A rival needs a few beats of its
    own (a third of the best support, three at least), unlike the chosen cluster, and a median
    steepness `STEEPER` times the chosen cluster's.
    """
    mine = float(np.median(sharp[sim[chosen] > _MATCH_CORR]))
    rivals = np.flatnonzero((support >= max(_RIVAL_MIN_BEATS, _RIVAL_SUPPORT * support.max())) & (sim[chosen] < _RIVAL_UNLIKE))
    best, best_sharp = chosen, STEEPER * mine
    for j in rivals:
        theirs = float(np.median(sharp[sim[j] > _MATCH_CORR]))
        if theirs >= best_sharp:
            best, best_sharp = int(j), theirs
    return best


STEEPER = 1.6  # a conducted beat's steepness over the ventricular beats' (DS1 208: 2.5-3.9; true runs' beats over their normal beats: 0.4-1.15)
_RIVAL_SUPPORT = 0.3
_RIVAL_MIN_BEATS = 3
_RIVAL_UNLIKE = 0.5
_PRIOR_CORR = 0.8  # a stretch's medoid this like the record's dominant beat is its normal beat
_PRIOR_SUPPORT = 0.25  # ... if at least this share of the best support backs it


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
