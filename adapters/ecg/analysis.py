"""The whole ECG pipeline on one stretch of signal: quality, resampling, detection, classes, rhythm."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from adapters.ecg.classify import NOISY_BEAT, BeatFeatures, classify_record
from adapters.ecg.config import INTERNAL_FS, ECGConfig
from adapters.ecg.detect import detect_qrs, shape_filters
from adapters.ecg.plausibility import doubtful_windows
from adapters.ecg.rhythm import Rhythm, analyze_rhythm
from adapters.ecg.sqi import WindowQuality, unusable_mask, window_quality
from adapters.quality import Quality, assess, resample

log = logging.getLogger(__name__)

MIN_SECONDS = 1.5  # shorter than this holds too few beats to say anything


@dataclass(slots=True)
class ECGAnalysis:
    """Beats (at the input rate), their classes, the rhythm and the signal quality of one stretch."""

    fs: float
    n_samples: int
    quality: Quality
    problems: list[str]  # quality token suffixes: gaps, flat, saturated, short, artifact, noisy, shape
    score: float  # 0..1 signal-quality index
    r_peaks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # input-rate samples
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, "<U1"))
    beats: BeatFeatures | None = None
    rhythm: Rhythm | None = None
    artifact_fraction: float = 0.0
    windows: list[WindowQuality] = field(default_factory=list)  # signal quality per window (internal-rate bounds)

    @property
    def verdict(self) -> str:
        """usable / noisy / lead_off for the whole stretch: the verdict of most of its time."""
        if "flat" in self.problems:
            return "lead_off"
        if not self.windows:
            return "usable" if self.usable else "noisy"
        spans = {v: sum(w.stop - w.start for w in self.windows if w.verdict == v) for v in ("usable", "noisy", "lead_off")}
        return max(spans, key=lambda v: (spans[v], v != "usable"))

    def unusable_mask(self, n: int | None = None) -> np.ndarray:
        """Per input sample: inside a window judged noisy or lead-off (all of it when nothing could be analysed)."""
        n = self.n_samples if n is None else n
        if not self.windows:
            return np.full(n, not self.usable)
        scale = self.fs / INTERNAL_FS
        mask = np.zeros(n, bool)
        for w in self.windows:
            if not w.usable:
                mask[int(round(w.start * scale)): int(round(w.stop * scale))] = True
        last = self.windows[-1]
        mask[int(round(last.stop * scale)):] = not last.usable
        return mask

    @property
    def usable(self) -> bool:
        """Whether beats and rhythm could be analysed at all."""
        return self.rhythm is not None

    @property
    def duration_s(self) -> float:
        """Length of the analysed stretch in seconds."""
        return self.n_samples / self.fs if self.fs > 0 else 0.0


def analyze_ecg(samples: np.ndarray, fs: float, config: ECGConfig | None = None) -> ECGAnalysis:
    """Analyse a 1-D ECG (mV) at `fs` Hz; bad data yields quality problems, never an exception."""
    if not fs > 0 or not np.isfinite(fs):
        raise ValueError(f"fs must be a positive number, got {fs}")
    config = config or ECGConfig()
    x, shape_problem = _one_lead(samples)
    n = int(x.size)
    quality = assess(x, min_samples=max(1, int(MIN_SECONDS * fs)), flat_tolerance=config.lead_off_mv, rail=config.rail_mv)
    problems = list(quality.problems) + ([shape_problem] if shape_problem else [])
    if not quality.usable:
        return ECGAnalysis(fs, n, quality, problems, 0.0)
    clipped = _clipped_fraction(quality.samples) if config.rail_mv is None else 0.0
    if clipped > 0.01 and "saturated" not in problems:
        problems.append("saturated")
    y = resample(quality.samples, fs, INTERNAL_FS)
    if y.size < MIN_SECONDS * INTERNAL_FS:
        return ECGAnalysis(fs, n, quality, problems + ["short"], 0.0)
    det = detect_qrs(y, config)
    # Signal quality per window; a window judged noisy or lead-off gives no beat classes and
    # no rhythm alarm: it is treated like an artefact by the stages after detection.
    # Faint detections (under a tenth of the strong beats' energy) are the detector hunting in a
    # silent stretch; they do not count against agreement, as they do not count as beats for asystole.
    strong = det.peak_level >= 0.1 * float(np.percentile(det.peak_level, 90)) if det.r_peaks.size >= 3 else np.ones(det.r_peaks.size, bool)
    windows = window_quality(y, det.filtered.wide, det.r_peaks[strong], config.samples(config.window_s), config.lead_off_mv, det.r_peaks[~strong])
    gate = det.artifact | unusable_mask(windows, y.size)
    other = _second_lead(samples, x)
    if other is not None and any(not w.usable for w in windows):
        # Windows too noisy on this lead take their beat times from the second lead where that
        # one is usable there. They stay flagged: no beat classes (the shapes are read on this
        # lead) and no rhythm alarm come from them.
        _rescue_from_second_lead(det, windows, other, fs, y.size, config)
    shapes2 = _second_lead_shapes(other, fs, y.size, config)
    beats = classify_record(det.filtered, det.r_peaks, config, gate, shapes2)
    extra = _extra_beats(det.r_peaks, det.peak_level, beats)
    if extra.any():
        # Drop noise taken for beats, then judge the remaining beats afresh (their RR changed).
        det.r_peaks, det.peak_level, det.searchback = det.r_peaks[~extra], det.peak_level[~extra], det.searchback[~extra]
        beats = classify_record(det.filtered, det.r_peaks, config, gate, shapes2)
    credible = _credible(det.peak_level, beats)
    rhythm = analyze_rhythm(det.r_peaks, beats.labels, y.size, gate, det.filtered.wide, config, det.qrs_like, credible)
    doubtful = doubtful_windows(windows, det.r_peaks, beats, rhythm, det.filtered, shapes2, credible, config)
    if doubtful:
        # Alarms resting on beats no heart makes (motion artefacts): those windows say they are too
        # noisy instead, and their rhythm alarms go. Beat classes stay: the doubt is about the alarm
        # (regating the classes cost real V beats of ectopy-laden stretches, DS1 106 and 203).
        for k, reason in doubtful.items():
            windows[k].verdict, windows[k].doubt = "noisy", reason
        gate = det.artifact | unusable_mask(windows, y.size)
        rhythm = analyze_rhythm(det.r_peaks, beats.labels, y.size, gate, det.filtered.wide, config, det.qrs_like, credible)
        rhythm.v_runs = [run for run in rhythm.v_runs if not gate[min(y.size - 1, int(run.start_s * INTERNAL_FS))]]
        rhythm.vt = rhythm.vt and any(run.beats >= config.vt_min_beats and run.rate_bpm > config.tachy_bpm and run.regular and run.clean for run in rhythm.v_runs)
    usable_share = float(1.0 - gate[det.r_peaks].mean()) if det.r_peaks.size else 1.0
    if usable_share < 0.5:
        # Rate and irregularity from noise taken for beats, or missed beats: no rhythm alarm from them.
        rhythm.af_suspect = rhythm.tachy = rhythm.brady = False
    artifact_fraction = float(det.artifact.mean())
    score = quality.score * (1.0 - artifact_fraction) * _beat_sqi(beats) * (1.0 - min(0.5, 5 * clipped))
    if artifact_fraction > 0.1:
        problems.append("artifact")
    if _beat_sqi(beats) < 0.5 or (beats.noise.size and float(np.median(beats.noise)) >= NOISY_BEAT):
        problems.append("noisy")
    r_in = np.clip(np.round(det.r_peaks * (fs / INTERNAL_FS)), 0, max(0, n - 1)).astype(np.int64)
    return ECGAnalysis(fs, n, quality, problems, float(np.clip(score, 0.0, 1.0)), r_in, rhythm.labels, beats, rhythm, artifact_fraction, windows)


def _second_lead_shapes(other: np.ndarray | None, fs: float, n: int, config: ECGConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """Morphology and high-frequency signals of the second lead at the internal rate, or None without a usable one."""
    if other is None:
        return None
    q2 = assess(other, min_samples=max(1, int(MIN_SECONDS * fs)), flat_tolerance=config.lead_off_mv, rail=config.rail_mv)
    if not q2.usable:
        return None
    y2 = resample(q2.samples, fs, INTERNAL_FS)
    if y2.size < n:
        return None
    return shape_filters(y2[:n], config)


def _extra_beats(r_peaks: np.ndarray, level: np.ndarray, beats: BeatFeatures) -> np.ndarray:
    """Detections that are noise: weak, unlike the normal beat, no bigger than it, and squeezed into one normal cycle.

    A ventricular beat is followed by a pause or is strong or large; a noise peak between two
    normal beats leaves their distance at one cycle. (Interpolated ventricular beats also sit
    inside one cycle, but they are large, so the size test keeps them.)
    """
    n = r_peaks.size
    extra = np.zeros(n, bool)
    if n < 5:
        return extra
    rr = np.diff(r_peaks).astype(float)
    ref = np.median(rr)
    one_cycle = np.zeros(n, bool)
    one_cycle[1:-1] = (rr[:-1] + rr[1:]) < 1.25 * ref
    weak = level < 0.5 * np.median(level)
    like = beats.correlation >= beats.unlike_corr
    # Both neighbours must be normal beats: inside a ventricular salvo every beat is odd and close.
    between_normals = np.zeros(n, bool)
    between_normals[1:-1] = like[:-2] & like[2:]
    extra = one_cycle & weak & ~like & between_normals & (beats.amp_ratio < 0.8)
    return extra


def _credible(level: np.ndarray, beats: BeatFeatures) -> np.ndarray:
    """Beats that are either a fair share of the strong beats' energy or shaped like the normal beat."""
    if level.size < 3:
        return np.ones(level.size, bool)
    faint = level < 0.1 * float(np.percentile(level, 90))
    return ~(faint & (beats.correlation < beats.unlike_corr))


def _clipped_fraction(x: np.ndarray) -> float:
    """Share of samples pinned at the window's own extremes: an ADC at its rails when no rail is declared."""
    lo, hi = float(x.min()), float(x.max())
    tol = 1e-6 + 1e-4 * (hi - lo)
    return float(np.mean((x <= lo + tol) | (x >= hi - tol)))


def _beat_sqi(beats: BeatFeatures) -> float:
    """How alike the normal beats are to their template: noise and artefact make them differ."""
    normal = beats.labels == "N"
    if normal.sum() < 2:
        return 0.5 if beats.labels.size else 1.0
    med = float(np.median(beats.correlation[normal]))
    return float(np.clip((med - 0.5) / 0.4, 0.0, 1.0))


def _second_lead(samples: np.ndarray, first: np.ndarray) -> np.ndarray | None:
    """Another lead of a 2-D input (channels x samples) with mostly finite data, or None."""
    try:
        arr = np.squeeze(np.asarray(samples, dtype=np.float64))
    except (TypeError, ValueError):
        return None
    if arr.ndim != 2:
        return None
    leads = arr if arr.shape[0] <= arr.shape[1] else arr.T
    valid = [k for k, lead in enumerate(leads) if lead.size == first.size and np.isfinite(lead).sum() > lead.size // 2]
    # _one_lead took the first valid lead (or lead 0 when none was): the next valid one is the second.
    taken = valid[0] if valid else 0
    rest = [k for k in valid if k != taken]
    return leads[rest[0]] if rest else None


def _rescue_from_second_lead(det, windows: list[WindowQuality], other: np.ndarray, fs: float, n: int, config: ECGConfig) -> np.ndarray:
    """Replace the beats of windows unusable on the first lead by the second lead's where it is usable; returns the rescued-sample mask."""
    rescued = np.zeros(n, bool)
    q2 = assess(other, min_samples=max(1, int(MIN_SECONDS * fs)), flat_tolerance=config.lead_off_mv, rail=config.rail_mv)
    if not q2.usable:
        return rescued
    y2 = resample(q2.samples, fs, INTERNAL_FS)
    if y2.size < n:
        return rescued
    y2 = y2[:n]
    det2 = detect_qrs(y2, config)
    if det2.r_peaks.size < 3 or det.r_peaks.size < 3:
        return rescued
    strong2 = det2.peak_level >= 0.1 * float(np.percentile(det2.peak_level, 90))
    w2 = window_quality(y2, det2.filtered.wide, det2.r_peaks[strong2], config.samples(config.window_s), config.lead_off_mv)
    scale = float(np.median(det.peak_level)) / max(float(np.median(det2.peak_level)), 1e-12)
    keep = np.ones(det.r_peaks.size, bool)
    add: list[np.ndarray] = []
    for w1, w in zip(windows, w2):
        if w1.usable or not w.usable or (w1.start, w1.stop) != (w.start, w.stop):
            continue
        keep &= ~((det.r_peaks >= w.start) & (det.r_peaks < w.stop))
        add.append(np.flatnonzero((det2.r_peaks >= w.start) & (det2.r_peaks < w.stop)))
        rescued[w.start:w.stop] = True
    if not add:
        return rescued
    idx2 = np.concatenate(add)
    r = np.concatenate([det.r_peaks[keep], det2.r_peaks[idx2]])
    level = np.concatenate([det.peak_level[keep], det2.peak_level[idx2] * scale])
    sb = np.concatenate([det.searchback[keep], det2.searchback[idx2]])
    order = np.argsort(r, kind="stable")
    r, level, sb = r[order], level[order], sb[order]
    ok = np.ones(r.size, bool)
    ok[1:] = np.diff(r) >= config.samples(config.refractory_s)  # a beat seen on both sides of a window edge
    det.r_peaks, det.peak_level, det.searchback = r[ok], level[ok], sb[ok]
    return rescued


def _one_lead(samples: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A 1-D float lead from what the caller sent; a shape we cannot read gives an empty lead."""
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        return np.zeros(0), "shape"
    if x.ndim == 1:
        return x, None
    squeezed = np.squeeze(x)
    if squeezed.ndim == 1:
        return squeezed, None
    if squeezed.ndim == 2:
        # channels x samples (the fewer rows are the leads); take the first lead with finite data.
        leads = squeezed if squeezed.shape[0] <= squeezed.shape[1] else squeezed.T
        for lead in leads:
            if np.isfinite(lead).sum() > lead.size // 2:
                return lead, None
        return leads[0], None
    return np.zeros(0), "shape"
