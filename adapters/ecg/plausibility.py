"""Rhythm alarms only from beats that could be a heart's: motion artefacts that pass for beats stop here.

Electrode motion makes deflections of QRS size and duration at random times, which the
detector takes for beats, the classifier for ventricular ones (they are unlike the normal
beat) and the rhythm stage for runs, tachycardia or, where they mask real beats, gaps. The
window-level indices (`sqi`) miss them: both detectors agree on a QRS-like transient. So each
window that would raise a ventricular run, VT, tachycardia, pause or asystole is asked whether
the beats behind the alarm are believable (Li & Clifford; Behar et al. 2013; the CinC 2015
entries check the same things):

- a ventricular run's beats come from one focus: each looks like the one before it (aligned
  correlation 0.8 or more, 0.75 for the first pair, as the first beat often sits on the T wave
  before it; motion transients differ beat to beat), is clean (high-frequency
  ratio under `CLEAN_BEAT`), shows in the second lead where there is one (a real beat is an
  electrical event of the heart, seen in every lead) and is like the one before it there too
  (correlation 0.7, 0.6 for the first pair, where both are clean there), and no interval in or round the run is
  shorter than the ventricles' refractory period allows (240 ms, 250/min);
- tachycardia rests on beats like the normal one (sinus or supraventricular), or on ectopic
  beats a focus explains: each like another odd beat of the window (bigeminy, runs), clean and
  not closer to a neighbour than the refractory period; a fast rate made of odd beats unlike
  each other is noise, and so is one that is fast only with odd beats that the regular normal
  beats round them did not notice (no compensatory pause: the normal beats keep their cycle);
- a pause or asystole has no QRS-sized deflection inside it (a heart that stopped leaves a
  quiet line; something QRS-sized there is a masked beat or motion).

A window that fails says `signal too noisy` instead of alarming (its verdict turns noisy and the
analysis is redone with it gated), the same path as a window the indices judge noisy.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from adapters.ecg.classify import CLEAN_BEAT, BeatFeatures, _hf_ratio, beat_likeness
from adapters.ecg.config import INTERNAL_FS, ECGConfig
from adapters.ecg.detect import Filtered
from adapters.ecg.rhythm import Rhythm
from adapters.ecg.sqi import WindowQuality

MONOMORPHIC_CORR = 0.8  # consecutive beats of a ventricular run correlate at least this well
FIRST_PAIR_CORR = 0.75  # ... the first two a little less (the first beat sits on the T wave before it)
REFRACTORY_S = 0.24  # no ventricular rhythm runs faster than 250/min
SECOND_LEAD_CORR = 0.7  # consecutive beats of a run correlate at least this well in the second lead (often the smaller, noisier one) ...
SECOND_LEAD_FIRST_PAIR = 0.6  # ... the first two at least this well
SECOND_LEAD_SHARE = 0.3  # a beat's swing in the second lead (0.5-25 Hz, +/-60 ms), against the normal beats' there
ODD_SHARE = 0.25  # tachycardia with more than this share of beats unlike the normal one (and no believable run) is noise
GAP_DEFLECTION = 0.25  # a QRS-band swing this share (a quarter of a QRS, as the detector's qrs_like) of the window's smallest beat's inside a gap: not a stopped heart


def doubtful_windows(windows: list[WindowQuality], r_peaks: np.ndarray, beats: BeatFeatures, rhythm: Rhythm, filtered: Filtered, second: tuple[np.ndarray, np.ndarray] | None, credible: np.ndarray, config: ECGConfig) -> dict[int, str]:
    """Indices of usable windows whose alarm rests on beats a heart would not make, with the reason.

    `credible`: the beats the gap test counted (faint odd detections in a silence are not).
    """
    out: dict[int, str] = {}
    if r_peaks.size == 0:
        return out
    for k, w in enumerate(windows):
        if not w.usable:
            continue
        reason = _doubt(w, r_peaks, beats, rhythm, filtered, second, credible, config)
        if reason:
            out[k] = reason
    return out


def _doubt(w: WindowQuality, r_peaks: np.ndarray, beats: BeatFeatures, rhythm: Rhythm, filtered: Filtered, second: tuple[np.ndarray, np.ndarray] | None, credible: np.ndarray, config: ECGConfig) -> str:
    inside = (r_peaks >= w.start) & (r_peaks < w.stop)
    for run in rhythm.v_runs:
        first = int(np.searchsorted(r_peaks, int(round(run.start_s * INTERNAL_FS))))
        if not w.start <= r_peaks[first] < w.stop:
            continue
        reason = _doubtful_run(np.arange(first, first + run.beats), r_peaks, beats, filtered, second, config)
        if reason:
            return reason
    idx = np.flatnonzero(inside)
    if idx.size >= 3:
        rate = 60.0 * INTERNAL_FS / float(np.median(np.diff(r_peaks[idx])))
        odd = (beats.labels[idx] == "V") | (beats.correlation[idx] < beats.unlike_corr[idx])
        if rate > config.tachy_bpm and odd.mean() > ODD_SHARE and _unbelievable_share(idx[odd], r_peaks, beats, filtered, config) > ODD_SHARE:
            return "fast rate from beats unlike the normal one and each other"
        if rate > config.tachy_bpm and odd.any():
            kept = idx[~_squeezed(idx, odd, r_peaks, config)]
            if kept.size >= 3 and 60.0 * INTERNAL_FS / float(np.median(np.diff(r_peaks[kept]))) <= config.tachy_bpm:
                return "fast rate from beats squeezed into the normal cycle"
    # Against the smallest beat of the window: motion may be what the detector took for the big ones.
    real = r_peaks[inside & credible]
    smallest = max(float(_band_swings(filtered.band, real).min()), config.min_qrs_mv) if real.size else config.min_qrs_mv
    for gap in (*rhythm.pauses, *rhythm.asystole):
        a, b = int(gap.start_s * INTERNAL_FS), int((gap.start_s + gap.length_s) * INTERNAL_FS)
        if w.start <= a < w.stop and _gap_has_deflection(filtered.band, a, b, smallest):
            return "QRS-sized deflections inside a gap"
    return ""


def _doubtful_run(run: np.ndarray, r_peaks: np.ndarray, beats: BeatFeatures, filtered: Filtered, second: tuple[np.ndarray, np.ndarray] | None, config: ECGConfig) -> str:
    """Why the beats `run` (indices) are not one ventricular focus firing, or '' when they are believable."""
    lo, hi = max(0, int(run[0]) - 1), min(r_peaks.size, int(run[-1]) + 2)
    if np.any(np.diff(r_peaks[lo:hi]) < REFRACTORY_S * INTERNAL_FS):
        return "intervals shorter than the ventricles' refractory period"
    if np.any(beats.noise[run] >= CLEAN_BEAT):
        return "ventricular run of noisy beats"
    alike = beat_likeness(filtered.morph, r_peaks[run[1:]], r_peaks[run[:-1]], config)
    # The first pair may fall a little short: a run's first beat often lands on the T wave before it.
    if np.any(alike[1:] < MONOMORPHIC_CORR) or alike[0] < FIRST_PAIR_CORR:
        return "ventricular run of beats unlike each other"
    if second is not None:
        morph2, hf2 = second
        normal = r_peaks[beats.labels == "N"]
        if normal.size >= 3:
            ref = _band_swing(morph2, normal)
            if np.any(_band_swings(morph2, r_peaks[run]) < SECOND_LEAD_SHARE * ref):
                return "ventricular run not seen in the second lead"
        # One focus looks alike in every lead; motion moves each electrode its own way. Judged on
        # pairs clean in that lead (muscle noise there says nothing of the shapes).
        alike2 = beat_likeness(morph2, r_peaks[run[1:]], r_peaks[run[:-1]], config)
        clean2 = _hf_ratio(Filtered(morph2, morph2, hf2, morph2, morph2, morph2), r_peaks[run], config) < CLEAN_BEAT
        floor = np.full(alike2.size, SECOND_LEAD_CORR)
        floor[0] = SECOND_LEAD_FIRST_PAIR
        if np.any(clean2[1:] & clean2[:-1] & (alike2 < floor)):
            return "ventricular run of beats unlike each other in the second lead"
    return ""


def _unbelievable_share(odd: np.ndarray, r_peaks: np.ndarray, beats: BeatFeatures, filtered: Filtered, config: ECGConfig) -> float:
    """Share of the odd beats (indices) that no ectopic focus explains: unlike every other odd beat, noisy, or too close to a neighbour.

    Ectopic beats of one focus repeat their shape (bigeminy, runs); motion transients differ each time.
    (Asking the same of the second lead cost true tachycardia of multiform ectopy: DS1 106, 203.)
    """
    if odd.size < 2:
        return 1.0
    at = r_peaks[odd]
    like_other = np.zeros(odd.size, bool)
    for shift in range(1, odd.size):
        alike = beat_likeness(filtered.morph, at, np.roll(at, shift), config) >= MONOMORPHIC_CORR
        like_other |= alike
    rr = np.diff(r_peaks)
    before = np.where(odd > 0, rr[np.maximum(odd - 1, 0)], np.inf)
    after = np.where(odd < r_peaks.size - 1, rr[np.minimum(odd, rr.size - 1)], np.inf)
    plausible = (np.minimum(before, after) >= REFRACTORY_S * INTERNAL_FS) & (beats.noise[odd] < CLEAN_BEAT)
    return float(1.0 - np.mean(like_other & plausible))


def _squeezed(idx: np.ndarray, odd: np.ndarray, r_peaks: np.ndarray, config: ECGConfig) -> np.ndarray:
    """Odd beats (of the window's beats `idx`) between two normal-shaped beats no further apart than one normal cycle.

    A ventricular premature beat resets nothing above it, but the ventricles it fired are
    refractory to the next sinus impulse: a compensatory pause follows, and the normal beats round
    it lie two cycles apart. Normal beats that keep their own cycle across the odd one did not
    notice it: it is motion (or, rarely, an interpolated beat, which makes no tachycardia either).
    Only a regular normal rhythm has a cycle to keep (successive normal intervals differing less
    than `af_irregularity`): in atrial fibrillation the test means nothing.
    """
    out = np.zeros(idx.size, bool)
    rr = np.diff(r_peaks[idx])
    nn = rr[~odd[:-1] & ~odd[1:]]
    if nn.size < 2:
        return out
    cycle = float(np.median(nn))
    if nn.size < 3 or float(np.median(np.abs(np.diff(nn)))) > config.af_irregularity * cycle:
        return out
    for j in range(1, idx.size - 1):
        if odd[j] and not odd[j - 1] and not odd[j + 1] and r_peaks[idx[j + 1]] - r_peaks[idx[j - 1]] < SQUEEZED_CYCLES * cycle:
            out[j] = True
    return out


SQUEEZED_CYCLES = 1.25  # normal beats round an odd one closer than this many normal cycles kept their rhythm (as detect's extra beats)
_HALF_QRS = int(0.06 * INTERNAL_FS)


def _band_swings(band: np.ndarray, at: np.ndarray) -> np.ndarray:
    idx = np.clip(at[:, None] + np.arange(-_HALF_QRS, _HALF_QRS + 1)[None, :], 0, band.size - 1)
    return np.ptp(band[idx], axis=1)


def _band_swing(band: np.ndarray, at: np.ndarray) -> float:
    """Median QRS-band swing of the beats at `at`."""
    return float(np.median(_band_swings(band, at)))


def _gap_has_deflection(band: np.ndarray, a: int, b: int, beat_swing: float) -> bool:
    """A QRS-band swing of `GAP_DEFLECTION` of `beat_swing` within a gap, its ends (the beats bounding it) left out."""
    lo, hi = a + 2 * _HALF_QRS, b - 2 * _HALF_QRS
    if hi - lo < 2 * _HALF_QRS:
        return False
    swings = np.ptp(sliding_window_view(band[lo:hi], 2 * _HALF_QRS + 1), axis=1)
    return bool(np.any(swings >= GAP_DEFLECTION * beat_swing))
