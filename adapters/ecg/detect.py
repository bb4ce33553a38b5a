"""QRS detection of the Pan-Tompkins family at the internal rate.

Stages, in order: band-pass (6-16 Hz, zero phase), five-point derivative, squaring,
moving-window integration (150 ms, centred so no delay bookkeeping is needed), candidate
peaks half a refractory period apart, then one pass over the candidates with the adaptive
signal/noise levels of Pan & Tompkins (1985): threshold between the running signal and
noise peak levels, T-wave rejection by slope inside a rate-dependent T window, and
search-back at half threshold (or by wide-band slope and size, for wide ventricular beats)
when an RR runs past 1.66 times the recent regular mean. Artefact masks (motion, clipping)
suspend decisions and levels are re-learnt after them. Each accepted peak is then placed
on the largest deflection of the wide-band signal.

Only the candidate loop is Python; it runs once per candidate (about 2-3 per beat).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import butter, find_peaks, sosfilt, sosfilt_zi

from adapters.ecg.config import INTERNAL_FS, ECGConfig

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Filtered:
    """The signals derived from one input at the internal rate."""

    wide: np.ndarray  # 0.5-40 Hz: R location, P waves
    morph: np.ndarray  # 0.5-25 Hz: beat shape and width, spared muscle noise and spikes
    hf: np.ndarray  # above 30 Hz: muscle noise and spikes, to tell noisy beats
    band: np.ndarray  # QRS energy band
    slope: np.ndarray  # |derivative| of band
    mwi: np.ndarray  # integrated squared slope


@dataclass(slots=True)
class Detection:
    """Accepted QRS positions (internal-rate samples) and how each was found."""

    r_peaks: np.ndarray  # int64, increasing
    searchback: np.ndarray  # bool, found by search-back at the lower threshold
    peak_level: np.ndarray  # float, integrated height of each accepted peak
    filtered: Filtered
    artifact: np.ndarray  # bool per internal-rate sample: too large to be ECG (motion, clipping)
    qrs_like: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rejected candidates as large as a quarter of a QRS


@lru_cache(maxsize=8)
def _sos(low: float, high: float, order: int) -> np.ndarray:
    return butter(order, (low, high), btype="bandpass", fs=INTERNAL_FS, output="sos")


_ZI: dict[bytes, np.ndarray] = {}


def filtfilt(sos: np.ndarray, x: np.ndarray, padlen: int) -> np.ndarray:
    """scipy's `sosfiltfilt` (odd extension of `padlen`, steady-state initial conditions), with the
    initial conditions solved once per filter: on a 10 s window that solve cost as much as the filtering."""
    key = sos.tobytes()
    zi = _ZI.get(key)
    if zi is None:
        zi = _ZI[key] = sosfilt_zi(sos)
    if padlen > 0:
        x = np.concatenate([2 * x[0] - x[padlen:0:-1], x, 2 * x[-1] - x[-2:-padlen - 2:-1]])
    y, _ = sosfilt(sos, x, zi=zi * x[0])
    y, _ = sosfilt(sos, y[::-1], zi=zi * y[-1])
    y = y[::-1]
    return y[padlen: y.size - padlen] if padlen > 0 else y


MORPH_LOWPASS_HZ = 25.0
HF_NOISE_HZ = 30.0


@lru_cache(maxsize=4)
def _lowpass(cut: float) -> np.ndarray:
    return butter(2, cut, btype="lowpass", fs=INTERNAL_FS, output="sos")


@lru_cache(maxsize=4)
def _highpass(cut: float) -> np.ndarray:
    return butter(2, cut, btype="highpass", fs=INTERNAL_FS, output="sos")


def prefilter(x: np.ndarray, config: ECGConfig) -> Filtered:
    """Band-pass, derivative, squaring and integration of a signal at the internal rate."""
    pad = min(x.size - 1, int(INTERNAL_FS))  # odd-extension padding of one second limits edge transients
    wide = filtfilt(_sos(*config.wide_band_hz, 2), x, pad)
    band = filtfilt(_sos(*config.band_hz, 2), x, pad)
    deriv = np.zeros_like(band)
    # Five-point derivative (Pan-Tompkins), centred.
    deriv[2:-2] = (2 * band[4:] + band[3:-1] - band[1:-3] - 2 * band[:-4]) * (INTERNAL_FS / 8.0)
    mwi = uniform_filter1d(deriv * deriv, size=config.samples(config.integration_s), mode="nearest")
    morph = filtfilt(_lowpass(MORPH_LOWPASS_HZ), wide, pad)
    hf = filtfilt(_highpass(HF_NOISE_HZ), x, pad)
    return Filtered(wide=wide, morph=morph, hf=hf, band=band, slope=np.abs(deriv), mwi=mwi)


def shape_filters(x: np.ndarray, config: ECGConfig) -> tuple[np.ndarray, np.ndarray]:
    """The morphology (0.5-25 Hz) and high-frequency (> 30 Hz) signals alone: what beat shapes need of a second lead."""
    pad = min(x.size - 1, int(INTERNAL_FS))
    wide = filtfilt(_sos(*config.wide_band_hz, 2), x, pad)
    return filtfilt(_lowpass(MORPH_LOWPASS_HZ), wide, pad), filtfilt(_highpass(HF_NOISE_HZ), x, pad)


def detect_qrs(x: np.ndarray, config: ECGConfig) -> Detection:
    """QRS positions in `x`, a gap-free signal in mV at the internal rate."""
    filt = prefilter(x, config)
    artifact = artifact_mask(filt.band, config) | plateau_mask(x, config)
    refractory = config.samples(config.refractory_s)
    # Candidates half a refractory period apart, so that a T wave and the QRS just after it both
    # stay in the running and the slope contest below can pick the QRS.
    cand, props = find_peaks(filt.mwi, distance=max(1, refractory // 2), height=0.0)
    if cand.size == 0:
        return Detection(np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0), filt, artifact)
    heights = props["peak_heights"]
    box = config.samples(0.150)
    # T-wave test on the slope of the 0.5-40 Hz signal: a QRS, narrow or ventricular, is steep
    # there even when its energy sits outside the QRS band, while a T wave stays gentle.
    slopes = _around(np.abs(np.gradient(filt.wide)), cand, box).max(axis=1)
    sizes = np.ptp(_around(filt.wide, cand, config.samples(0.200)), axis=1)
    swing = np.ptp(_around(filt.band, cand, box), axis=1)
    # Below this swing a peak is noise whatever the adaptive levels say: it stops the thresholds
    # from sinking into the noise floor of a lead that shows no heartbeat (asystole).
    heights = np.where(swing >= config.min_qrs_mv, heights, np.minimum(heights, 1e-12))
    accepted, searchback = _threshold_pass(cand, heights, slopes, sizes, artifact[cand], x.size, config)
    r = _locate(cand[accepted], filt, config)
    keep = np.ones(r.size, bool)
    keep[1:] = np.diff(r) >= refractory  # two candidates may land on one R after relocation
    # Deflections left undetected that are still a sizeable fraction of a typical QRS: where they
    # crowd a long gap, the detector under-sensed (low voltage, lead change) rather than the heart stopped.
    rejected = np.ones(cand.size, bool)
    rejected[accepted] = False
    # Typical of the larger half of accepted beats, so noise taken for faint beats does not lower it.
    typical = float(np.median(np.sort(swing[accepted])[accepted.size // 2:])) if accepted.size else np.inf
    qrs_like = cand[rejected & (swing >= max(config.min_qrs_mv, 0.25 * typical))]
    return Detection(r[keep], searchback[keep], heights[accepted][keep], filt, artifact, qrs_like)


def _around(x: np.ndarray, at: np.ndarray, size: int) -> np.ndarray:
    """Rows of `size` samples of `x` centred on each index in `at` (as scipy's running filters centre them).

    Gathered at the candidates only: a few thousand rows cost less than running max/min
    filters over the whole signal. Indices past the ends are clipped, which gives the same
    max/min as the filters' reflected edges.
    """
    offsets = np.arange(size) - size // 2
    return x[np.clip(at[:, None] + offsets[None, :], 0, x.size - 1)]


def artifact_mask(band: np.ndarray, config: ECGConfig) -> np.ndarray:
    """Samples inside one-second blocks whose QRS-band swing is far beyond the record's typical beat."""
    block = config.samples(1.0)
    n_blocks = band.size // block
    mask = np.zeros(band.size, bool)
    if n_blocks < 4:
        return mask  # too short to know what typical looks like
    blocks = band[: n_blocks * block].reshape(n_blocks, block)
    swing = blocks.max(axis=1) - blocks.min(axis=1)
    # Typical of blocks big enough to hold a QRS, so that a window that is mostly asystole
    # does not make its few beats look like artefact.
    with_beat = swing[swing >= 2.0 * config.min_qrs_mv]
    typical = float(np.median(with_beat if with_beat.size >= 2 else swing))
    # Ectopic beats reach 2-3x a normal beat; motion and clipping artefacts far more. Only the
    # block itself: a margin masked the beats round every transient, which detection can take.
    bad = swing > ARTIFACT_RATIO * typical
    if not bad.any():
        return mask
    mask[: n_blocks * block] = np.repeat(bad, block)
    if bad[-1]:
        mask[n_blocks * block:] = True
    return mask


ARTIFACT_RATIO = 6.0  # (4, with a block of margin each side, masked 3 s round every motion transient of QRS size: DS1 dev, motion 0 dB, 402 of 654 missed beats were masked)
PLATEAU_S = 0.100  # a signal held this still this long is clipped or zero-filled, not ECG (even a 5 uV-step record moves)
PLATEAU_MARGIN_S = 0.300  # entering and leaving saturation throws spikes on either side
PLATEAU_UV = 1.0  # amplifier noise alone moves a real ECG more than this


def plateau_mask(x: np.ndarray, config: ECGConfig) -> np.ndarray:
    """Samples on or near stretches where the signal holds still within 1 uV (ADC clipping, lead off, zero fill)."""
    n_min = config.samples(PLATEAU_S)
    if x.size < n_min:
        return np.zeros(x.size, bool)
    # A window held within 1 uV has every step within 1 uV: without such a run of steps there is
    # no plateau, and the running max/min filters over the whole signal can be skipped. (Half a
    # window's run, as the filters' reflected edges see half a window of real samples there.)
    small = np.abs(np.diff(x)) < PLATEAU_UV * 1e-3
    if not _has_run(small, n_min // 2 - 1):
        return np.zeros(x.size, bool)
    swing = maximum_filter1d(x, size=n_min) - minimum_filter1d(x, size=n_min)
    still = swing < PLATEAU_UV * 1e-3
    if not still.any():
        return still
    margin = config.samples(PLATEAU_MARGIN_S) + n_min
    return maximum_filter1d(still, size=2 * margin + 1)


def _has_run(flags: np.ndarray, length: int) -> bool:
    """Whether `flags` holds `length` consecutive True values."""
    if length <= 0:
        return True
    edges = np.diff(np.concatenate([[0], flags.view(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return bool(starts.size and np.max(stops - starts) >= length)


def _threshold_pass(cand: np.ndarray, h: np.ndarray, slopes: np.ndarray, sizes: np.ndarray, masked: np.ndarray, n_samples: int, config: ECGConfig) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `cand` judged QRS by adaptive thresholds, and which came from search-back."""
    fs = INTERNAL_FS
    refractory = config.samples(config.refractory_s)
    t_wave = config.samples(config.t_wave_s)
    spk, npk = _learn(cand, h, masked, 0, fs)
    first = cand < cand[0] + int(2 * fs)
    qrs_slope = float(np.max(slopes[first]))  # running slope level of accepted QRS
    qrs_size = float(np.max(sizes[first]))  # running wide-band swing of accepted QRS
    rr_recent: list[int] = []
    rr_mean = int(0.8 * fs)
    accepted: list[int] = []
    from_sb: list[bool] = []
    last = -10 * refractory  # sample of the last accepted QRS
    last_slope = 0.0
    i_last = -1  # candidate index of the last accepted QRS
    fresh = False  # levels were just re-learnt after an artefact
    n = cand.size
    i = 0
    while i < n:
        p = int(cand[i])
        if masked[i]:
            # Inside an artefact: no decision, and levels are learnt afresh once it ends, so
            # a burst of motion does not leave thresholds too high for the beats after it.
            i += 1
            if i < n and not masked[i]:
                spk, npk = _learn(cand, h, masked, i, fs)
                last = p  # no search-back across the artefact
                i_last = i - 1
                fresh = True  # and no RR measured from it
            continue
        thr1 = npk + 0.25 * (spk - npk)
        # Search-back: the RR has run long; take the best candidate above half threshold or,
        # failing that, a steep one (a wide ventricular beat has little energy in the QRS band
        # but still a slope no T wave reaches).
        if accepted and p - last > config.searchback_factor * rr_mean:
            best = _search_back(cand, h, slopes, sizes, masked, i_last + 1, i, last, 0.5 * thr1, (qrs_slope, qrs_size), last_slope, rr_mean, config)
            if best >= 0:
                accepted.append(best)
                from_sb.append(True)
                spk = 0.25 * h[best] + 0.75 * spk
                rr_recent.append(int(cand[best]) - last)
                rr_mean = _rr_mean(rr_recent, rr_mean)
                last, last_slope, i_last = int(cand[best]), float(slopes[best]), best
                continue  # re-test the current candidate against the new last QRS
            if p - last > 2 * config.searchback_factor * rr_mean:
                # Lost: nothing near threshold for two search-back spans. If some peaks since the
                # last QRS still stand far above the others, the QRS has shrunk (electrode moved,
                # lead changed): learn the levels afresh from them. Peaks all alike are noise
                # (asystole), and the levels stay.
                since = h[i_last + 1: i + 1][cand[i_last + 1: i + 1] > last + t_wave]  # the last T wave is no QRS
                top = np.sort(since)[since.size // 2:]  # the larger half: ripples of the integrator do not count
                if since.size >= 4 and float(top[-1]) >= LOST_CONTRAST * float(np.median(top)):
                    spk, npk = 0.5 * float(top[-1]), float(np.median(top))
                    thr1 = npk + 0.25 * (spk - npk)
        if h[i] > thr1 and p - last >= refractory:
            # A candidate soon after a QRS with less than half its slope is a T wave.
            if p - last < _t_window(t_wave, rr_mean) and slopes[i] < 0.5 * last_slope:
                npk = 0.125 * h[i] + 0.875 * npk
            else:
                # Within one refractory period a much steeper candidate above threshold is the QRS;
                # the gentle one before it was a T or P wave.
                j = i + 1
                while j < n and cand[j] - p < refractory:
                    if h[j] > thr1 and slopes[j] > 2.0 * slopes[i] and not masked[j]:
                        npk = 0.125 * h[i] + 0.875 * npk
                        i, p = j, int(cand[j])
                    j += 1
                if accepted and not fresh:
                    rr_recent.append(p - last)
                    rr_mean = _rr_mean(rr_recent, rr_mean)
                fresh = False
                accepted.append(i)
                from_sb.append(False)
                spk = 0.125 * h[i] + 0.875 * spk
                qrs_slope = 0.125 * float(slopes[i]) + 0.875 * qrs_slope
                qrs_size = 0.125 * float(sizes[i]) + 0.875 * qrs_size
                last, last_slope, i_last = p, float(slopes[i]), i
        else:
            npk = 0.125 * h[i] + 0.875 * npk
        i += 1
    # The record may end inside a long RR: search back over its tail as well.
    while accepted and n_samples - last > config.searchback_factor * rr_mean:
        best = _search_back(cand, h, slopes, sizes, masked, i_last + 1, n, last, 0.5 * (npk + 0.25 * (spk - npk)), (qrs_slope, qrs_size), last_slope, rr_mean, config)
        if best < 0:
            break
        accepted.append(best)
        from_sb.append(True)
        rr_recent.append(int(cand[best]) - last)
        rr_mean = _rr_mean(rr_recent, rr_mean)
        last, last_slope, i_last = int(cand[best]), float(slopes[best]), best
    return np.asarray(accepted, np.int64), np.asarray(from_sb, bool)


LOST_CONTRAST = 6.0  # a lost detector re-learns only from peaks this many times the median of the larger peaks
SB_SLOPE = 0.15  # search-back by shape: at least this share of the running QRS slope level
SB_SIZE = 0.4  # ... and of the running QRS swing in the wide band


def _t_window(t_wave: int, rr_mean: int) -> int:
    """Samples after a QRS where its T wave may lie: the configured 360 ms, shortened as QT shortens with rate (Bazett), never under 300 ms."""
    return min(t_wave, max(int(0.30 * INTERNAL_FS), int(0.48 * np.sqrt(rr_mean / INTERNAL_FS) * INTERNAL_FS)))


def _search_back(cand: np.ndarray, h: np.ndarray, slopes: np.ndarray, sizes: np.ndarray, masked: np.ndarray, lo: int, hi: int, last: int, min_h: float, qrs_level: tuple[float, float], last_slope: float, rr_mean: int, config: ECGConfig) -> int:
    """Index of the candidate in cand[lo:hi] to accept on search-back, or -1.

    First the strongest above half threshold (Pan-Tompkins); failing that the steepest candidate
    in the wide band whose slope and swing are both a fair share of a QRS: a wide ventricular
    beat is big and reasonably steep, noise and P waves are neither.
    """
    refractory = config.samples(config.refractory_s)
    t_wave = config.samples(config.t_wave_s)
    best, best_h = -1, min_h
    big, big_score = -1, 0.0
    for j in range(lo, hi):
        gap = int(cand[j]) - last
        if masked[j] or gap < refractory or (gap < _t_window(t_wave, rr_mean) and slopes[j] < 0.5 * last_slope):
            continue
        if h[j] > best_h:
            best, best_h = j, h[j]
        # Steepest wins: a ventricular beat's own large T wave is big too, but gentler.
        if slopes[j] >= SB_SLOPE * qrs_level[0] and sizes[j] >= SB_SIZE * qrs_level[1] and slopes[j] > big_score:
            big, big_score = j, slopes[j]
    return best if best >= 0 else big


def _learn(cand: np.ndarray, h: np.ndarray, masked: np.ndarray, start: int, fs: float) -> tuple[float, float]:
    """Signal and noise levels from the two seconds of candidates from `start` (the learning phase)."""
    window = (cand >= cand[start]) & (cand < cand[start] + int(2 * fs)) & ~masked
    spk = 0.5 * float(np.max(h[window])) if window.any() else float(np.max(h[start:], initial=0.0))
    return spk, 0.125 * spk


def _rr_mean(rr_recent: list[int], current: int) -> int:
    """Mean of the last eight RR intervals that lie within 92-116% of the running mean (Pan-Tompkins RR2)."""
    del rr_recent[:-8]
    regular = [rr for rr in rr_recent if 0.92 * current <= rr <= 1.16 * current]
    pool = regular if len(regular) >= 2 else rr_recent
    return int(sum(pool) / len(pool))  # plain Python: called once a beat, where np.mean costs more than the sum


def _locate(peaks: np.ndarray, filt: Filtered, config: ECGConfig) -> np.ndarray:
    """Move each integrated peak to the largest wide-band deflection within +/-80 ms (the R or S wave)."""
    if peaks.size == 0:
        return peaks.astype(np.int64)
    half = config.samples(0.080)
    offsets = np.arange(-half, half + 1)
    idx = np.clip(peaks[:, None] + offsets[None, :], 0, filt.wide.size - 1)
    seg = filt.wide[idx]
    # Deviation from the window's median, so a large negative wave wins by size as a positive one does.
    dev = np.abs(seg - np.median(seg, axis=1, keepdims=True))
    return idx[np.arange(peaks.size), np.argmax(dev, axis=1)].astype(np.int64)
