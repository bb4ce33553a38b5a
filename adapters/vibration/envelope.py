"""Bearing diagnosis by envelope analysis.

A bearing defect makes a train of short impacts that ring a structural resonance
far above the defect frequency. Demodulating a band around that resonance (the
squared Hilbert envelope) and taking its spectrum (the squared envelope spectrum,
SES) brings the impact rate down to where it can be matched against BPFO, BPFI,
BSF and FTF.

Band choice, two views, the better one kept per defect family:
1. Kurtogram-lite: the spectrum is cut into 1/2^k and 1/(3*2^k) octave bands
   (k chosen so every band is at least `min_bandwidth_hz` wide, several times
   BPFI, to hold the envelope lines). Each band's complex envelope comes from
   one batched inverse FFT of its bins; its spectral kurtosis
   E|c|^4 / (E|c|^2)^2 - 2 is 0 for Gaussian noise, -1 for a tone and large
   for impacts. The most impulsive band above the defect-line region wins.
2. Cepstral pre-whitening (Randall & Sawalhi): X / |X| over the whole band
   above the defect-line region, which flattens resonances and removes shaft
   and line-frequency tones, so impacts dominate the envelope wherever they are.

Matching: the SES is divided by its running median (a local noise floor), bins
at integer shaft orders are neutralised when the shaft speed was measured
(shaft-related modulation is not a bearing defect; with only a nominal speed the
mask would fall beside the lines and blot out true defect harmonics), and each family's harmonic comb h * f (h = 1..H) is slid over
+-tolerance of its kinematic frequency (speed error, bearing slip); the best
alignment gives per-harmonic peak-to-floor ratios.

Impact persistence (`impact_stats`): the share of shaft turns whose envelope above
the defect-line region holds a peak Gaussian noise would rarely reach, and how far
the median turn's peak stands above the median Gaussian noise gives. Impacts in
most turns with no comb to explain them make the window unclear, not healthy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import maximum_filter1d, median_filter

from adapters.vibration.spectrum import _interior_peak

ANCHOR_SNR = 4.0  # SES magnitude over local median for the leading line of a family
HARMONIC_SNR = 3.0  # for each further harmonic
# A comb must also beat its own typical alignment by this much (summed log ratios): chance
# alignments with noise peaks pass the line thresholds now and then but not this.
MIN_CONTRAST = 2.0
SHAFT_IMPACT_MARGIN = 0.5  # extra contrast asked when the envelope itself shows a shaft-order comb
SHAFT_MASK_BINS = 2  # bins either side of a shaft order neutralised when the speed is measured
REFERENCE_SPAN = 0.05  # scales (fraction of the defect frequency) over which the typical alignment is taken
FAMILIES = ("bpfo", "bpfi", "bsf", "ftf")
DECISION_MARGIN = 1.5  # contrast the chosen family must have over its best rival for full confidence (half of it: 0.5)
CONFIDENT = 0.6  # below this confidence an impact pattern is reported as unclear, not as a fault
# Impacts without a comb: the window is cut into blocks of one shaft turn, and a block holds an impact when its
# envelope peaks where Gaussian noise would in only IMPACT_FALSE_RATE of blocks. A defect striking several
# times per turn fills most blocks; a healthy machine's odd knock (a loose guard, a step in load) a few.
# Impacts in IMPACT_SHARE of the turns, or in IMPACT_SHARE_WITH_COMB of them with a comb that beats its
# typical alignment (MIN_CONTRAST) though its lines fall short of detection, are bearing evidence.
IMPACT_BLOCK_TURNS = 1.0
IMPACT_FALSE_RATE = 0.05
IMPACT_SHARE = 0.4
IMPACT_SHARE_WITH_COMB = 0.25
# Weaker impacts in nearly every turn (a spall rolling in and out of the load zone, a skidding ball) seldom
# reach that peak but lift the typical turn's: the median block peak, over the envelope mean, exceeds what
# Gaussian noise gives (Gumbel: ln k + 0.3665, standard error 1 / (ln 2 sqrt(blocks))) by IMPACT_MEDIAN_EXCESS
# and by IMPACT_MEDIAN_SIGMAS standard errors. A median moves only as far as the blocks above it allow: stray
# knocks striking a few turns barely lift it (a simulated healthy machine knocking 7 times in a second, a
# quarter of its turns, reached 1.2: such a window reads unclear).
IMPACT_MEDIAN_EXCESS = 1.0
IMPACT_MEDIAN_SIGMAS = 4.0
GUMBEL_MEDIAN = -math.log(math.log(2.0))  # median of the standard Gumbel law, 0.3665


@dataclass(slots=True, frozen=True)
class Band:
    """A demodulation band (Hz) and the spectral kurtosis of its complex envelope."""

    lo_hz: float
    hi_hz: float
    kurtosis: float


@dataclass(slots=True)
class FamilyMatch:
    """How well one defect family's harmonic comb matches an envelope spectrum."""

    name: str
    defect_hz: float  # fitted fundamental
    snr: tuple[float, ...]  # peak-to-floor ratio at h = 1..H (1.0 out of range, NaN on a shaft order)
    score: float
    detected: bool
    source: str  # "kurtogram" or "whitened"
    # Modulation sidebands, peak-to-floor: at h x BPFI +- 1x (h = 1, 2) for the inner race, at
    # 2 x BSF +- FTF for a ball; 1.0 for the other families.
    sidebands: float = 1.0

    @property
    def harmonics(self) -> int:
        """Number of harmonics at or above HARMONIC_SNR."""
        return sum(1 for s in self.snr if s >= HARMONIC_SNR)

    @property
    def anchor(self) -> float:
        """Ratio of the leading usable line: the fundamental, or the 2nd harmonic when the fundamental sits on a shaft order."""
        return next((s for s in self.snr[:2] if np.isfinite(s)), 1.0)


@dataclass(slots=True)
class EnvelopeResult:
    """Outcome of envelope analysis: the band used, each family's match, and the defect found."""

    band: Band | None
    families: dict[str, FamilyMatch] = field(default_factory=dict)
    defect: str | None = None  # "bpfo", "bpfi", "bsf", "ftf" or None
    modulation: dict[str, float] = field(default_factory=dict)  # SES line height near 1x and near FTF
    bands_hz: dict[str, tuple[float, float]] = field(default_factory=dict)  # demodulated band of each source
    spectra: dict[str, np.ndarray] = field(default_factory=dict)  # squared-envelope spectrum of each source, bins sample_rate/n

    per_source: dict[str, dict[str, FamilyMatch]] = field(default_factory=dict)  # each source's own matches
    confidence: float = 0.0  # of `defect` (0..1); see _decide
    unclear: bool = False  # impact evidence that no single family explains confidently
    impacts: float = 0.0  # share of one-turn blocks holding an impact above the noise (see impact_stats)
    impact_excess: float = 0.0  # median block peak over the envelope mean, less Gaussian noise's (see impact_stats)
    impact_blocks: int = 0  # number of one-turn blocks those were taken over

    def best(self) -> FamilyMatch | None:
        """The detected family, if any."""
        return self.families.get(self.defect) if self.defect else None


def kurtogram(spectrum: np.ndarray, n: int, sample_rate: float, min_bandwidth_hz: float, min_lo_hz: float) -> list[Band]:
    """Spectral kurtosis of every 1/2^k and 1/(3*2^k) band at least `min_bandwidth_hz` wide starting above `min_lo_hz`."""
    half = n // 2
    nyquist = sample_rate / 2
    df = sample_rate / n
    bands: list[Band] = []
    counts = sorted({c for k in range(0, 12) for c in (2**k, 3 * 2 ** max(k - 1, 0)) if nyquist / c >= min_bandwidth_hz})
    for m in counts:
        nb = half // m
        if nb < 16:
            continue
        # Bands starting below min_lo_hz are never candidates: leave them out of the transform.
        first = int(np.ceil(min_lo_hz / (nb * df)))
        if first >= m:
            continue
        c = sfft.ifft(spectrum[first * nb: nb * m].reshape(m - first, nb), axis=1)
        p = c.real**2 + c.imag**2
        mean_p = p.sum(axis=1) / nb
        kurt = (p * p).sum(axis=1) / nb / np.maximum(mean_p**2, 1e-300) - 2.0
        for j, i in enumerate(range(first, m)):
            if mean_p[j] > 0:
                bands.append(Band(i * nb * df, (i + 1) * nb * df, float(kurt[j])))
    return bands


def squared_envelope_spectrum(spectrum: np.ndarray, n: int, sample_rate: float, lo_hz: float, hi_hz: float, max_freq_hz: float) -> np.ndarray:
    """|FFT| of the squared envelope of band `lo_hz`..`hi_hz`, bins spaced sample_rate/n, up to min(max_freq_hz, bandwidth)."""
    df = sample_rate / n
    i0 = max(1, int(np.ceil(lo_hz / df)))
    i1 = min(spectrum.size - 1, int(np.floor(hi_hz / df)))
    m = i1 - i0
    if m < 8:
        return np.zeros(0)
    # Zero-padding to twice the band keeps |c|^2 (whose spectrum spans +-bandwidth) from aliasing;
    # whatever the padded size, the record still spans the window, so SES bins stay sample_rate/n apart.
    size = sfft.next_fast_len(2 * m)
    c = sfft.ifft(spectrum[i0:i1], n=size)
    env = c.real**2 + c.imag**2
    env -= env.mean()
    # A Hann taper keeps strong lines (shaft orders, 1x sidebands) from leaking into the bins where
    # defect harmonics are sought; a line then spans +-2 bins and nothing beyond.
    ses = np.abs(sfft.rfft(env * _hann(size)))
    keep = min(ses.size, m, int(max_freq_hz / df) + 2)
    return ses[:keep]


def impact_share(spectrum: np.ndarray, n: int, sample_rate: float, lo_hz: float, hi_hz: float, shaft_hz: float) -> float:
    """Share of IMPACT_BLOCK_TURNS-turn blocks whose squared envelope (band lo_hz..hi_hz) peaks above the noise (see impact_stats)."""
    return impact_stats(spectrum, n, sample_rate, lo_hz, hi_hz, shaft_hz)[0]


def impact_stats(spectrum: np.ndarray, n: int, sample_rate: float, lo_hz: float, hi_hz: float, shaft_hz: float) -> tuple[float, float, int]:
    """Impacts per shaft turn in the squared envelope of band lo_hz..hi_hz: (share, median excess, blocks).

    The window is cut into IMPACT_BLOCK_TURNS-turn blocks of k envelope samples. The envelope of Gaussian
    noise is exponentially distributed (mean = median / ln 2), so a block exceeds ln(k / IMPACT_FALSE_RATE) x
    mean with probability IMPACT_FALSE_RATE, and its peak over the mean follows a Gumbel law with median
    ln k + 0.3665; tones (shaft orders, gear mesh, mains) flatten the envelope and lower both.
    share: blocks above that level. Bearing impacts that no comb explains (a ball spinning erratically,
    a defect under varying load) still repeat in most blocks; a stray knock does not.
    median excess: the median block's peak over the mean, less the Gaussian median (0 for noise, negative
    when tones dominate, a few units when weak impacts fill most turns).
    """
    df = sample_rate / n
    i0, i1 = max(1, int(np.ceil(lo_hz / df))), min(spectrum.size - 1, int(np.floor(hi_hz / df)))
    blocks = int(n / sample_rate * shaft_hz / IMPACT_BLOCK_TURNS)
    if i1 - i0 < 64 or blocks < 3:
        return 0.0, 0.0, 0
    # Padded only to a fast FFT length: block peaks, not the envelope's spectrum, are wanted, so its
    # aliasing does not matter (and an awkward band width would fall back to a slow transform).
    c = sfft.ifft(spectrum[i0:i1], n=sfft.next_fast_len(i1 - i0))
    env = c.real**2 + c.imag**2
    k = env.size // blocks
    mean = _median(env) / np.log(2.0)
    if mean <= 0 or k < 2:
        return 0.0, 0.0, 0
    peaks = env[: k * blocks].reshape(blocks, k).max(axis=1) / mean
    share = np.count_nonzero(peaks > np.log(k / IMPACT_FALSE_RATE)) / blocks
    excess = _median(peaks) - (math.log(k) + GUMBEL_MEDIAN)
    return share, excess, blocks


def impacts_lift_median(excess: float, blocks: int) -> bool:
    """The median turn's envelope peak stands clear of Gaussian noise's (see IMPACT_MEDIAN_EXCESS)."""
    if blocks < 3:
        return False
    return excess >= max(IMPACT_MEDIAN_EXCESS, IMPACT_MEDIAN_SIGMAS / (math.log(2.0) * math.sqrt(blocks)))


def unexplained_impacts(result: EnvelopeResult) -> bool:
    """Impacts that repeat through the window (see IMPACT_SHARE) with no defect named for them."""
    if result.defect is not None:
        return False
    if result.impacts >= IMPACT_SHARE or impacts_lift_median(result.impact_excess, result.impact_blocks):
        return True
    comb = max((m.score for m in result.families.values() if m.name != "ftf"), default=0.0)
    return result.impacts >= IMPACT_SHARE_WITH_COMB and comb >= MIN_CONTRAST


def match_families(
    ses: np.ndarray,
    df: float,
    shaft_hz: float,
    orders: dict[str, float],
    tolerance: float,
    max_harmonics: int,
    source: str,
    extra_lines_hz: tuple[float, ...] = (),
    mask_shaft: bool = True,
    mask_hz: float | None = None,
    min_contrast: float = MIN_CONTRAST,
    ratio: np.ndarray | None = None,
) -> dict[str, FamilyMatch]:
    """Slide each family's comb over +-tolerance of its frequency and keep the best alignment.

    mask_shaft: neutralise the orders of `mask_hz` (default `shaft_hz`), a shaft speed known to the bin.
    ratio: `normalised(ses, df, shaft_hz)` when the caller has it already (it is the costly part).
    """
    if ses.size < 16:
        return {}
    snr = normalised(ses, df, shaft_hz) if ratio is None else ratio.copy()
    mask_hz = mask_hz or shaft_hz
    if mask_shaft:
        _neutralise(snr, df, mask_hz, width=SHAFT_MASK_BINS)
    for line in extra_lines_hz:
        _neutralise(snr, df, line)
    peak = maximum_filter1d(snr, size=3, mode="nearest")
    top = (snr.size - 2) * df
    out: dict[str, FamilyMatch] = {}
    for name, order in orders.items():
        base = order * shaft_hz
        harmonics = np.arange(1, max_harmonics + 1)
        # Scores are taken over a fixed +-REFERENCE_SPAN of scales whatever the search width, so that the
        # contrast below means the same for a measured speed (narrow search) and a declared one.
        span = max(tolerance, REFERENCE_SPAN)
        usable = harmonics * base * (1 + span) < top
        if usable.sum() < 2:
            continue
        step = 0.4 * df / (harmonics[usable][-1] * base)
        scales = np.arange(1 - span, 1 + span + step / 2, step)
        pos = np.rint(np.outer(scales * base, harmonics) / df).astype(np.int64)
        # A harmonic lying on a (masked) shaft order cannot be told from it: it neither counts for
        # nor against the family (e.g. BPFI of a 6203 is 4.95x, within a bin of 5x at 20 Hz).
        on_shaft = np.zeros(harmonics.size, dtype=bool)
        if mask_shaft:
            h_hz = harmonics * base
            on_shaft = np.abs(h_hz - np.rint(h_hz / mask_hz) * mask_hz) <= (SHAFT_MASK_BINS + 0.5) * df
        vals = np.where(usable & ~on_shaft, peak[np.clip(pos, 0, peak.size - 1)], 1.0)
        weights = np.where(harmonics <= 3, 1.0, 0.5)
        scores = (np.log(np.clip(vals, 1.0, 100.0)) * weights).sum(axis=1)
        inside = np.abs(scales - 1.0) <= tolerance + step / 2
        best = int(np.argmax(np.where(inside, scores, -np.inf)))
        v = tuple(float("nan") if amb else float(x) for x, amb in zip(vals[best], on_shaft))
        # Rank by contrast with the typical alignment: in a spectrum dense with lines (cage-modulated
        # ball impacts, sidebands) any comb scores well somewhere; the true one stands out.
        contrast = float(scores[best]) - _median(scores)
        detected = contrast >= min_contrast and _detected(name, v)
        fitted = float(scales[best] * base)
        out[name] = FamilyMatch(name, fitted, v, contrast, detected, source, _sidebands(peak, df, name, fitted, shaft_hz, orders))
    return out


def _sidebands(peak: np.ndarray, df: float, name: str, fitted_hz: float, shaft_hz: float, orders: dict[str, float]) -> float:
    """The modulation a defect of family `name` leaves: the second-strongest of its expected sidebands.

    Inner race: the defect passes through the load zone once per turn, so h x BPFI carries lines at
    +- 1x (h = 1, 2). Ball: a ball carried by the cage through the load zone modulates 2 x BSF at FTF.
    The second-strongest line is taken so that one stray peak is not enough.
    """
    if name == "bpfi":
        lines = [h * fitted_hz + k * shaft_hz for h in (1, 2) for k in (-1, 1)]
    elif name == "bsf" and "ftf" in orders:
        ftf = orders["ftf"] * shaft_hz
        lines = [2 * fitted_hz + k * ftf for k in (-1, 1)] + [fitted_hz + k * ftf for k in (-1, 1)]
    else:
        return 1.0
    idx = [int(round(f / df)) for f in lines]
    vals = sorted((float(peak[i]) for i in idx if 0 <= i < peak.size), reverse=True)
    return vals[1] if len(vals) >= 2 else 1.0


def normalised(ses: np.ndarray, df: float, shaft_hz: float) -> np.ndarray:
    """The SES over its running median (a local floor wide enough to ignore sparse lines); 1 below 0.2x."""
    floor_size = 2 * max(8, int(round(0.6 * shaft_hz / df))) + 1
    floor = median_filter(ses, size=floor_size, mode="nearest")
    snr = ses / np.maximum(floor, 1e-30)
    snr[: max(2, int(0.2 * shaft_hz / df))] = 1.0
    return snr


def modulation_lines(snr: np.ndarray, df: float, shaft_hz: float, ftf_hz: float, tolerance: float) -> dict[str, float]:
    """Peak-to-floor ratio of the normalised SES near 1x (inner race through the load zone) and near FTF (a ball carried by the cage)."""
    if snr.size < 16:
        return {"1x": 1.0, "ftf": 1.0}
    out = {}
    for key, f in (("1x", shaft_hz), ("ftf", ftf_hz)):
        lo = max(0, int(np.floor(f * (1 - tolerance) / df)) - 1)
        hi = min(snr.size, int(np.ceil(f * (1 + tolerance) / df)) + 2)
        out[key] = float(snr[lo:hi].max()) if hi > lo else 1.0
    return out


def shaft_from_envelope(snr: np.ndarray, df: float, nominal_hz: float, tolerance: float) -> float | None:
    """Shaft speed from a clear 1x line of the envelope spectrum confirmed at 2x or 3x, else None.

    `snr` is the normalised SES. When the acceleration spectrum gave no speed, an inner-race or looseness envelope often does: its
    shaft lines must then be masked, or a race comb within the tolerance of an order (BPFO of a 6203
    is 3.05x) would slide onto them.
    """
    if snr.size < 16:
        return None
    first = _interior_peak(snr, nominal_hz * (1 - tolerance) / df, nominal_hz * (1 + tolerance) / df)
    if first is None or first[1] < 2 * ANCHOR_SNR:
        return None
    f1 = first[0] * df
    for k in (2, 3):
        expected = k * f1 / df
        peak = _interior_peak(snr, expected - 1.0, expected + 1.0)
        if peak is not None and peak[1] >= 2 * ANCHOR_SNR and abs(peak[0] - expected) <= 0.3 + 0.1 * k:
            return peak[0] * df / k
    return None


def envelope_analysis(
    spectrum: np.ndarray,
    n: int,
    sample_rate: float,
    shaft_hz: float,
    orders: dict[str, float],
    tolerance: float = 0.02,
    max_harmonics: int = 5,
    line_hz: float | None = None,
    mask_shaft: bool = True,
) -> EnvelopeResult:
    """Kurtogram band and pre-whitened envelope spectra matched against each defect family."""
    df = sample_rate / n
    nyquist = sample_rate / 2
    top_defect = max(orders.values()) * shaft_hz
    # Bands must sit above the defect lines themselves and be wide enough to carry a few harmonics.
    min_lo = 3.0 * top_defect
    min_bw = 3.5 * top_defect
    max_freq = (max_harmonics + 0.5) * top_defect * (1 + max(tolerance, REFERENCE_SPAN))
    extra = tuple(k * line_hz for k in range(1, 5)) if line_hz else ()
    if nyquist - min_lo < min_bw:
        return EnvelopeResult(None)
    bands = kurtogram(spectrum, n, sample_rate, min_bw, min_lo)
    best_band = max(bands, key=lambda b: b.kurtosis) if bands else None
    spectra: list[tuple[str, np.ndarray]] = []
    if best_band is not None:
        spectra.append(("kurtogram", squared_envelope_spectrum(spectrum, n, sample_rate, best_band.lo_hz, best_band.hi_hz, max_freq)))
    whitened = spectrum / np.maximum(np.abs(spectrum), 1e-30)
    spectra.append(("whitened", squared_envelope_spectrum(whitened, n, sample_rate, min_lo, 0.9 * nyquist, max_freq)))
    families: dict[str, FamilyMatch] = {}
    per_source: dict[str, dict[str, FamilyMatch]] = {}
    modulation = {"1x": 1.0, "ftf": 1.0}
    ftf_hz = orders.get("ftf", 0.0) * shaft_hz
    for source, ses in spectra:
        # One running-median floor per envelope serves the speed check, the combs and the modulation lines.
        ratio = normalised(ses, df, shaft_hz) if ses.size >= 16 else ses
        in_envelope = shaft_from_envelope(ratio, df, shaft_hz, max(tolerance, REFERENCE_SPAN))
        mask_hz = shaft_hz if mask_shaft else in_envelope
        # Shaft-synchronous impacts (rub, looseness, an inner race) fill the envelope with lines and
        # amplitude noise; a bearing comb must then stand out further.
        min_contrast = MIN_CONTRAST + SHAFT_IMPACT_MARGIN if in_envelope is not None else MIN_CONTRAST
        found = match_families(
            ses, df, shaft_hz, orders, tolerance, max_harmonics, source, extra, mask_hz is not None, mask_hz, min_contrast, ratio
        )
        per_source[source] = found
        for name, match in found.items():
            held = families.get(name)
            if held is None or (match.detected, match.score) > (held.detected, held.score):
                families[name] = match
        if ftf_hz > 0:
            for key, value in modulation_lines(ratio, df, shaft_hz, ftf_hz, tolerance).items():
                modulation[key] = max(modulation[key], value)
    bands_hz = {"whitened": (min_lo, 0.9 * nyquist)}
    if best_band is not None:
        bands_hz["kurtogram"] = (best_band.lo_hz, best_band.hi_hz)
    defect, confidence, unclear = _decide(families, modulation, per_source)
    impacts, excess, blocks = impact_stats(spectrum, n, sample_rate, min_lo, 0.9 * nyquist, shaft_hz)
    return EnvelopeResult(
        best_band, families, defect, modulation, bands_hz, dict(spectra), per_source, confidence, unclear, impacts, excess, blocks
    )


def _median(a: np.ndarray) -> float:
    """np.median of a 1-D array without its per-call overhead (this runs ten times a window)."""
    h = a.size // 2
    if a.size % 2:
        return float(np.partition(a, h)[h])
    part = np.partition(a, (h - 1, h))
    return 0.5 * (float(part[h - 1]) + float(part[h]))


@lru_cache(maxsize=16)
def _hann(size: int) -> np.ndarray:
    w = np.hanning(size)
    w.flags.writeable = False
    return w


def _neutralise(snr: np.ndarray, df: float, line_hz: float, width: int = 1) -> None:
    """Set the bins at every harmonic of `line_hz` (+-width bins) to the floor."""
    if line_hz <= 2 * df:
        return
    centres = np.rint(np.arange(line_hz, snr.size * df, line_hz) / df).astype(np.int64)
    for shift in range(-width, width + 1):
        idx = centres + shift
        snr[idx[(idx >= 0) & (idx < snr.size)]] = 1.0


def _detected(name: str, snr: tuple[float, ...]) -> bool:
    present = sum(1 for s in snr if s >= HARMONIC_SNR)
    lead = next((s for s in snr[:2] if np.isfinite(s)), 1.0)
    if name == "bsf":
        # A ball spall shows at BSF and, hitting both races, often more at 2 x BSF.
        return max(np.nan_to_num(snr[:2], nan=1.0)) >= ANCHOR_SNR and sum(1 for s in snr[:4] if s >= HARMONIC_SNR) >= 2
    if name == "ftf":
        return lead >= ANCHOR_SNR and present >= 3
    return lead >= ANCHOR_SNR and present >= 2


def _seen(m: FamilyMatch | None) -> bool:
    """A family visibly present in one envelope: detected there, or its leading lines over the harmonic threshold."""
    return m is not None and (m.detected or (m.anchor >= HARMONIC_SNR and m.harmonics >= 2 and m.score >= 0.5 * MIN_CONTRAST))


def _decide(
    families: dict[str, FamilyMatch], modulation: dict[str, float], per_source: dict[str, dict[str, FamilyMatch]] | None = None
) -> tuple[str | None, float, bool]:
    """The defect family, its confidence (0..1), and whether the evidence is unclear.

    The candidate is the detected race/ball family with the best contrast (cage only when nothing
    else fits). Cage-modulated ball impacts (lines at 2 x BSF +- k x FTF) fill the envelope spectrum
    so densely that race combs find lines too; when a ball comb is detected in both envelopes and the
    envelope is modulated more at FTF than at 1x, the ball explains the spectrum.

    Confidence rests on three things the field checks before calling a defect:
      margin      the candidate's contrast over the best rival family's (a comb that another family
                  explains nearly as well is not a diagnosis);
      agreement   the family seen in both envelopes (kurtogram band and cepstrally prewhitened full
                  band), not in one only;
      modulation  an inner race must show its 1x sidebands (h x BPFI +- 1x): a stationary comb near
                  BPFI without them is as likely a harmonic of something else; a ball whose 2 x BSF
                  carries FTF sidebands (the envelope modulated at FTF more than at 1x) needs no
                  margin over the race combs that its dense line pattern lets score.
    A candidate short of CONFIDENT is reported as unclear rather than as a fault.
    """
    per_source = per_source or {}
    detected = [m for m in families.values() if m.detected and m.name != "ftf"]
    if not detected:
        cage = families.get("ftf")
        if cage is not None and cage.detected:
            return "ftf", 0.5, False
        return None, 0.0, False
    names = {m.name for m in detected}
    by_ftf, by_1x = modulation.get("ftf", 1.0), modulation.get("1x", 1.0)
    # The ball explains a dense line pattern only where its own comb is plain: detected in both envelopes (an
    # inner race's 1x sidebands, h x BPFI +- k x 1x, let a ball comb thread them in one envelope, and
    # BPFI - 5x of a 6205 lies 4 % from FTF, inside the search span of a declared speed).
    ball_seen = sum(bool(found.get("bsf") and found["bsf"].detected) for found in per_source.values()) >= min(2, len(per_source))
    ball_signature = "bsf" in names and by_ftf >= ANCHOR_SNR and by_ftf > by_1x and ball_seen
    if ball_signature:
        best = families["bsf"]
    else:
        best = max(detected, key=lambda m: m.score)
    rivals = [m.score for m in families.values() if m.name not in (best.name, "ftf")]
    margin = best.score - max(rivals, default=0.0)
    margin_part = float(np.clip(margin / (2 * DECISION_MARGIN), 0.0, 1.0))
    if ball_signature and best.sidebands >= ANCHOR_SNR:
        # 2 x BSF flanked by FTF lines, the envelope modulated at FTF: the ball explains the race combs
        # threading its dense line pattern, however well they score.
        margin_part = 1.0
    seen_in = sum(_seen(found.get(best.name)) for found in per_source.values())
    agreement = 1.0 if seen_in >= min(2, len(per_source)) else 0.5
    modulation_part = 1.0
    if best.name == "bpfi":
        sb = max((found["bpfi"].sidebands for found in per_source.values() if "bpfi" in found), default=best.sidebands)
        modulation_part = 1.0 if sb >= HARMONIC_SNR else 0.5
    confidence = margin_part * agreement * modulation_part
    if confidence < CONFIDENT:
        return None, confidence, True
    return best.name, confidence, False
