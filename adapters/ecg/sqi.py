"""Per-window ECG signal quality from published indices, combined into usable / noisy / lead-off.

Indices (Li, Mark & Clifford 2008, Physiol. Meas. 29:15; Clifford et al., PhysioNet/CinC 2011;
Behar et al. 2013, used for the 2015 false-alarm challenge), each over one window of the
signal at the internal rate:

- bSQI: agreement of two independent QRS detectors, matched beats / (beats of either) with a
  150 ms match window. One detector is the Pan-Tompkins-family detector of `detect.py`; the
  other a curve-length-transform detector (after Zong et al. 2003, the idea behind `wqrs`)
  with its own filter and a plain adaptive threshold. Clean ECG gives both the same beats;
  noise makes them disagree.
- kSQI: kurtosis (not excess) of the 0.5-40 Hz signal. Clean ECG is peaky (kurtosis > 5);
  muscle noise and baseline wander are near Gaussian (about 3).
- pSQI: power in 5-15 Hz over power in 5-40 Hz, the QRS share of the spectrum (0.5-0.8 clean).
- basSQI: 1 - power below 1 Hz over power below 40 Hz; baseline wander lowers it.

Verdict per window: `lead_off` when the raw window swings less than the lead-off level;
`noisy` when the detectors disagree (bSQI below `BSQI_NOISY`) or when they only half agree and
the spectrum or kurtosis say noise as well; else `usable`. A window with no beats from either
detector (true asystole on a quiet line) is usable: there is nothing to disagree about.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import butter, find_peaks, welch

from adapters.ecg.config import INTERNAL_FS
from adapters.ecg.detect import filtfilt

VERDICTS = ("usable", "noisy", "lead_off")
MATCH_S = 0.150
LT_MIN = 0.004  # curve-length level of a slope of about 4 mV/s held over the 130 ms window
BSQI_NOISY = 0.85  # below: the two detectors disagree on about one beat in seven or more
BSQI_DOUBT = 0.95
BSQI_FLOOR = 0.6  # below this the detectors disagree too much whatever the other indices say
KSQI_CLEAN = 5.0  # kurtosis that, with spectrum and baseline in range, makes a disagreeing window clean ECG  # below this, noise in the spectrum or kurtosis as well makes the window noisy
KSQI_NOISY = 5.0
PSQI_RANGE = (0.4, 0.95)
BASSQI_NOISY = 0.5


@dataclass(slots=True)
class WindowQuality:
    """Quality indices and verdict of one window (internal-rate samples start..stop)."""

    start: int
    stop: int
    bsqi: float
    ksqi: float
    psqi: float
    bassqi: float
    verdict: str
    doubt: str = ""  # why a window the indices passed was judged noisy after all (beats no heart makes)

    @property
    def usable(self) -> bool:
        return self.verdict == "usable"


@lru_cache(maxsize=4)
def _band(lo: float, hi: float) -> np.ndarray:
    return butter(2, (lo, hi), btype="bandpass", fs=INTERNAL_FS, output="sos")


def length_transform_qrs(x: np.ndarray, beats: np.ndarray | None = None) -> np.ndarray:
    """QRS positions from the curve length of the 1-30 Hz signal over 130 ms, with a local adaptive threshold.

    `beats` (the main detector's, optional) only set the scale: peaks under 30% of the curve
    length typical at those beats are never QRS. Where and how many beats there are is this
    detector's own finding.
    """
    fs = INTERNAL_FS
    if x.size < int(fs):
        return np.zeros(0, np.int64)
    y = filtfilt(_band(1.0, 30.0), x, min(x.size - 1, int(fs)))
    dy = np.diff(y, prepend=y[0])
    # Curve length with the time step scaled so that flat segments add little and steep ones a lot.
    step = np.sqrt(1e-4 + dy * dy) - 1e-2
    lt = uniform_filter1d(step, size=int(0.13 * fs), mode="nearest")
    if beats is not None and beats.size >= 3:
        level = float(np.median(maximum_filter1d(lt, size=int(0.04 * fs))[np.clip(beats, 0, lt.size - 1)]))
    else:
        level = float(np.percentile(lt, 99))
    peaks, props = find_peaks(lt, distance=int(0.25 * fs), height=max(0.3 * level, LT_MIN))
    if peaks.size == 0:
        return peaks.astype(np.int64)
    h = props["peak_heights"]
    # Local threshold: 40% of the 85th percentile of peak heights within 4 s either side, so a
    # few spikes do not lift it over the beats, while noise throughout the stretch does.
    ref = local_percentile(peaks, h, int(4 * fs), 85.0)
    peaks = peaks[h > 0.4 * ref]
    return peaks.astype(np.int64)


def local_percentile(t: np.ndarray, h: np.ndarray, half: int, q: float) -> np.ndarray:
    """For each t[k], the q-th percentile (linear, as np.percentile) of h over t[k] - half .. t[k] + half.

    Vectorised: each point's neighbours fill one row of a matrix (short rows padded with +inf,
    which sort last), so there is no Python loop over peaks. Rows hold at most a few dozen peaks.
    """
    lo, hi = np.searchsorted(t, t - half), np.searchsorted(t, t + half)
    count = hi - lo
    idx = lo[:, None] + np.arange(int(count.max()))[None, :]
    rows = np.where(idx < hi[:, None], h[np.minimum(idx, h.size - 1)], np.inf)
    rows.sort(axis=1)
    pos = (q / 100.0) * (count - 1)
    f = np.floor(pos).astype(np.int64)
    c = np.minimum(f + 1, count - 1)
    k = np.arange(t.size)
    return rows[k, f] + (pos - f) * (rows[k, c] - rows[k, f])


def _near(a: np.ndarray, b: np.ndarray, tol: int) -> np.ndarray:
    """For each of `a`, whether some element of sorted `b` lies within `tol`."""
    j = np.clip(np.searchsorted(b, a), 0, b.size - 1)
    return (np.abs(b[j] - a) <= tol) | (np.abs(b[np.maximum(j - 1, 0)] - a) <= tol)


def _agreement(a: np.ndarray, b: np.ndarray, tol: int) -> float:
    if a.size == 0 and b.size == 0:
        return 1.0
    if a.size == 0 or b.size == 0:
        return 0.0
    j = np.clip(np.searchsorted(b, a), 1, b.size - 1) if b.size > 1 else np.zeros(a.size, np.int64)
    near = np.minimum(np.abs(b[j] - a), np.abs(b[np.maximum(j - 1, 0)] - a))
    matched = int((near <= tol).sum())
    matched = min(matched, b.size)
    return matched / (a.size + b.size - matched)


def _spectral(segs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pSQI and basSQI of each row of `segs` (windows of equal length), one Welch call for all."""
    f, p = welch(segs - segs.mean(axis=-1, keepdims=True), fs=INTERNAL_FS, nperseg=min(segs.shape[-1], 512), axis=-1)

    def power(lo: float, hi: float) -> np.ndarray:
        return p[..., (f >= lo) & (f < hi)].sum(axis=-1)
    total = power(0.0, 40.0)
    qrs = power(5.0, 15.0) / np.maximum(power(5.0, 40.0), 1e-20)
    bas = 1.0 - power(0.0, 1.0) / np.maximum(total, 1e-20)
    return qrs, bas


def _kurtosis(segs: np.ndarray) -> np.ndarray:
    """Kurtosis (not excess) of each row; 0 for a constant row."""
    d = segs - segs.mean(axis=-1, keepdims=True)
    d2 = d * d  # squares twice: a float power is several times slower
    var = np.mean(d2, axis=-1)
    m4 = np.mean(d2 * d2, axis=-1)
    return np.where(var > 0, m4 / np.maximum(var * var, 1e-300), 0.0)


def _indices(raw: np.ndarray, wide: np.ndarray, edges: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kSQI, pSQI and basSQI per window: the equal-length windows in one batch, the longer last one alone."""
    k, p, b = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    size = edges[1] - edges[0]
    same = [i for i in range(len(edges) - 1) if edges[i + 1] - edges[i] == size]
    groups = [same] + [[i] for i in range(len(edges) - 1) if i not in same]
    for g in groups:
        if not g or edges[g[0] + 1] - edges[g[0]] < 2:
            continue
        rows_raw = np.stack([raw[edges[i]: edges[i + 1]] for i in g])
        rows_wide = np.stack([wide[edges[i]: edges[i + 1]] for i in g])
        k[g] = _kurtosis(rows_wide)
        p[g], b[g] = _spectral(rows_raw)
    return k, p, b


def window_quality(raw: np.ndarray, wide: np.ndarray, r_peaks: np.ndarray, window: int, lead_off_mv: float, faint: np.ndarray | None = None) -> list[WindowQuality]:
    """Quality of consecutive windows of `window` samples (the last one takes the remainder if long enough).

    `raw` is the signal at the internal rate, `wide` its 0.5-40 Hz version and `r_peaks` the
    main detector's beats over the same stretch.
    """
    n = raw.size
    bounds = list(range(0, n, window))
    if len(bounds) > 1 and n - bounds[-1] < window // 2:
        bounds.pop()  # fold a short tail into the window before it
    edges = bounds + [n]
    second = length_transform_qrs(raw, r_peaks)
    tol = int(MATCH_S * INTERNAL_FS)
    if faint is not None and faint.size and second.size:
        # The main detector's faint beats (left out of `r_peaks`) are not judged: nor are the
        # second detector's beats at the same places, or a wide beat found faint in the QRS band
        # by one detector and plain by the other would count as disagreement on a clean trace.
        second = second[~_near(second, faint, tol)]
    ksqi, psqi, bassqi = _indices(raw, wide, edges)
    out: list[WindowQuality] = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if b - a < 2 or float(np.ptp(raw[a:b])) < lead_off_mv:
            out.append(WindowQuality(a, b, 0.0, 0.0, 0.0, 0.0, "lead_off"))
            continue
        # Beats near the window edges count only if well inside, so edge effects do not cost agreement.
        m1 = r_peaks[(r_peaks >= a + tol) & (r_peaks < b - tol)]
        m2 = second[(second >= a + tol) & (second < b - tol)]
        bsqi = _agreement(m1, m2, tol)
        k, p, bas = float(ksqi[i]), float(psqi[i]), float(bassqi[i])
        doubt = k < KSQI_NOISY or not PSQI_RANGE[0] <= p <= PSQI_RANGE[1] or bas < BASSQI_NOISY
        noisy = bsqi < BSQI_NOISY or (bsqi < BSQI_DOUBT and doubt)
        out.append(WindowQuality(a, b, bsqi, k, p, bas, "noisy" if noisy else "usable"))
    return out


def unusable_mask(windows: list[WindowQuality], n: int) -> np.ndarray:
    """Per-sample mask of the windows judged noisy or lead-off."""
    mask = np.zeros(n, bool)
    for w in windows:
        if not w.usable:
            mask[w.start:w.stop] = True
    return mask
