"""Rate, heart-rate variability and rhythm flags from beat times and classes.

HRV follows the Task Force (1996) time-domain measures on NN intervals (normal to
normal, implausible jumps over 20% dropped). Atrial fibrillation is suspected when the
non-ventricular RR series is irregularly irregular (median successive difference large
against the median RR) and the averaged beat shows no P wave, which separates it from
frequent atrial ectopy where P waves are present. Pauses and asystole are judged only
where the signal was usable: an artefact is never mistaken for a missing heartbeat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from adapters.ecg.config import INTERNAL_FS, ECGConfig

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Gap:
    """A stretch without QRS: start time (s from window start) and length (s)."""

    start_s: float
    length_s: float


@dataclass(slots=True)
class VentricularRun:
    """Consecutive ventricular beats: first beat time (s), beat count and rate."""

    start_s: float
    beats: int
    rate_bpm: float
    regular: bool = True  # RR within the run scatter little, as in ventricular tachycardia
    clean: bool = True  # no artefact within a second of the run


@dataclass(slots=True)
class Rhythm:
    """Everything the rhythm stage concludes about one stretch of ECG."""

    labels: np.ndarray  # final beat labels (S turned to N in AF)
    hr_bpm: float | None
    sdnn_ms: float | None
    rmssd_ms: float | None
    irregularity: float | None  # median |dRR| / median RR over non-ventricular beats
    p_wave_ratio: float | None  # P-wave swing / QRS swing of the averaged normal beat
    af_suspect: bool = False
    brady: bool = False
    tachy: bool = False
    pauses: list[Gap] = field(default_factory=list)
    asystole: list[Gap] = field(default_factory=list)
    unreadable: list[Gap] = field(default_factory=list)  # long gaps over artefact: unknown
    v_runs: list[VentricularRun] = field(default_factory=list)
    vt: bool = False  # a ventricular run long and fast enough to call ventricular tachycardia


def analyze_rhythm(
    r_peaks: np.ndarray,
    labels: np.ndarray,
    n_samples: int,
    artifact: np.ndarray,
    wide: np.ndarray,
    config: ECGConfig,
    qrs_like: np.ndarray | None = None,
    credible: np.ndarray | None = None,
) -> Rhythm:
    """Rate, HRV and rhythm flags of beats at internal-rate samples `r_peaks` in an `n_samples` window."""
    fs = INTERNAL_FS
    labels = labels.copy()
    rr = np.diff(r_peaks) / fs
    hr = 60.0 / float(np.median(rr)) if rr.size else None
    sdnn, rmssd = _hrv(rr, labels)
    irregularity = _irregularity(rr, labels)
    p_ratio = _p_wave_ratio(wide, r_peaks[labels != "V"], config)
    non_v = int((labels != "V").sum())
    # Irregular with no P wave, or so irregular that a P wave seen in the average is more likely noise.
    af = bool(
        irregularity is not None
        and non_v >= config.af_min_beats
        and irregularity > config.af_irregularity
        and (p_ratio is None or p_ratio < P_WAVE_PRESENT or irregularity > 2 * config.af_irregularity)
    )
    if af:
        labels[labels == "S"] = "N"
    rhythm = Rhythm(labels, hr, sdnn, rmssd, irregularity, p_ratio, af_suspect=af)
    if hr is not None:
        rhythm.brady = hr < config.brady_bpm
        rhythm.tachy = hr > config.tachy_bpm
    # Pauses and asystole are judged on credible beats only: faint odd detections in a silent
    # stretch are the detector hunting in noise, not a heart beating.
    gap_beats = r_peaks if credible is None else r_peaks[credible]
    _gaps(rhythm, gap_beats, n_samples, artifact, config, np.zeros(0, np.int64) if qrs_like is None else qrs_like)
    rhythm.v_runs = _v_runs(r_peaks, labels, artifact)
    rhythm.vt = any(run.beats >= config.vt_min_beats and run.rate_bpm > config.tachy_bpm and run.regular and run.clean for run in rhythm.v_runs)
    return rhythm


P_WAVE_PRESENT = 0.08  # averaged P swing above 8% of the QRS swing counts as a P wave


def _hrv(rr: np.ndarray, labels: np.ndarray) -> tuple[float | None, float | None]:
    """SDNN and RMSSD (ms) over NN intervals, dropping jumps of more than 20%."""
    if rr.size < 3:
        return None, None
    nn_mask = (labels[:-1] == "N") & (labels[1:] == "N")
    nn = rr[nn_mask]
    if nn.size < 3:
        return None, None
    med = float(np.median(nn))
    nn = nn[np.abs(nn - med) < 0.2 * med + 0.02]  # drops missed or extra beats, keeps sinus arrhythmia
    if nn.size < 3:
        return None, None
    sdnn = float(np.std(nn, ddof=1)) * 1000.0
    # Successive differences only between intervals that were adjacent in the record.
    idx = np.flatnonzero(nn_mask)
    ok = (np.abs(rr[idx] - med) < 0.2 * med + 0.02)
    idx = idx[ok]
    adjacent = np.diff(idx) == 1
    d = np.diff(rr[idx])[adjacent]
    rmssd = float(np.sqrt(np.mean(d * d))) * 1000.0 if d.size else None
    return sdnn, rmssd


def _irregularity(rr: np.ndarray, labels: np.ndarray) -> float | None:
    """Median |dRR| over median RR for intervals between non-ventricular beats."""
    keep = (labels[:-1] != "V") & (labels[1:] != "V")
    if keep.sum() < 4:
        return None
    idx = np.flatnonzero(keep)
    adjacent = np.diff(idx) == 1
    d = np.abs(np.diff(rr[idx]))[adjacent]
    if d.size < 3:
        return None
    return float(np.median(d) / np.median(rr[idx]))


def _p_wave_ratio(wide: np.ndarray, normal_r: np.ndarray, config: ECGConfig) -> float | None:
    """Swing of the averaged beat 300-80 ms before R relative to its QRS swing."""
    before, qrs_half = config.samples(0.30), config.samples(0.06)
    normal_r = normal_r[(normal_r >= before) & (normal_r + qrs_half < wide.size)]
    if normal_r.size < 4:
        return None
    offsets = np.arange(-before, qrs_half + 1)
    segs = wide[normal_r[:, None] + offsets[None, :]]
    avg = np.median(segs, axis=0)  # median: robust to the odd noisy beat
    p_zone = avg[: before - config.samples(0.08)]
    qrs_zone = avg[before - qrs_half:]
    # Remove the linear trend of the P zone (the tail of the previous T wave at high rates).
    x = np.arange(p_zone.size)
    p_detrended = p_zone - np.polyval(np.polyfit(x, p_zone, 1), x)
    qrs_swing = float(np.ptp(qrs_zone))
    if qrs_swing <= 0:
        return None
    return float(np.ptp(p_detrended)) / qrs_swing


def _gaps(rhythm: Rhythm, r_peaks: np.ndarray, n_samples: int, artifact: np.ndarray, config: ECGConfig, qrs_like: np.ndarray) -> None:
    """Fill pauses, asystole and unreadable stretches from the spaces between beats."""
    fs = INTERNAL_FS
    median_rr = 60.0 / rhythm.hr_bpm if rhythm.hr_bpm else None
    edges = np.concatenate([[0], r_peaks, [n_samples]]).astype(np.int64)
    for k in range(edges.size - 1):
        a, b = int(edges[k]), int(edges[k + 1])
        length = (b - a) / fs
        internal = 0 < k < edges.size - 2
        if length < config.pause_s:
            continue
        # QRS-sized deflections at a rate of 30/min or more inside the gap: under-sensing, not asystole.
        crowded = int(np.count_nonzero((qrs_like > a) & (qrs_like < b))) >= length / 2.0
        if artifact[a:b].any() or crowded:
            if length >= config.asystole_s:
                rhythm.unreadable.append(Gap(a / fs, length))
            continue
        if length >= config.asystole_s:
            rhythm.asystole.append(Gap(a / fs, length))
        elif internal and (median_rr is None or length > 1.5 * median_rr):
            rhythm.pauses.append(Gap(a / fs, length))


def _v_runs(r_peaks: np.ndarray, labels: np.ndarray, artifact: np.ndarray) -> list[VentricularRun]:
    """Runs of three or more consecutive V beats."""
    runs: list[VentricularRun] = []
    is_v = np.concatenate([[False], labels == "V", [False]])
    starts = np.flatnonzero(~is_v[:-1] & is_v[1:])
    ends = np.flatnonzero(is_v[:-1] & ~is_v[1:])
    for s, e in zip(starts, ends):
        beats = int(e - s)
        if beats >= 3:
            rr = np.diff(r_peaks[s:e]) / INTERNAL_FS
            rate = 60.0 / float(np.median(rr))
            # Ventricular tachycardia is regular; a "run" whose intervals scatter is mostly artefact.
            regular = float(np.std(rr) / np.mean(rr)) < VT_MAX_RR_CV
            # A run next to motion or clipping is the classic false VT alarm: never call VT on it.
            lo, hi = max(0, int(r_peaks[s] - INTERNAL_FS)), int(r_peaks[e - 1] + INTERNAL_FS)
            clean = not bool(artifact[lo:hi].any())
            runs.append(VentricularRun(r_peaks[s] / INTERNAL_FS, beats, rate, regular, clean))
    return runs


VT_MAX_RR_CV = 0.25
