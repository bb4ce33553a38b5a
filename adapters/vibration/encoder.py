"""VibrationEncoder: a window of acceleration to ISO severity, shaft-fault and bearing tokens.

Stages, in order: quality check (NaN, flat, clipping, too short) -> units to g,
DC removed -> time statistics (RMS, peak, crest factor, kurtosis) -> one plain
and one Hann FFT -> RMS velocity 10-1000 Hz and ISO zone -> order analysis
(1x imbalance, 2x misalignment, harmonic comb looseness) -> envelope analysis
against the bearing's defect frequencies -> tokens, codes, embedding, events,
summary. Stateless: every window stands alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft as sfft

from adapters.base import Event, Severity, TokenizedWindow
from adapters.quality import assess, resample
from adapters.vibration import severity as iso
from base.bearing import SKF_6205, BearingGeometry, bearing_from
from adapters.vibration.envelope import ANCHOR_SNR, EnvelopeResult, envelope_analysis, normalised, unexplained_impacts
from adapters.vibration.spectrum import HALF_ORDERS, OrderSpectrum, order_analysis
from adapters.vibration.vocab import (
    CREST_GRID,
    KURT_GRID,
    MAX_HARMONIC_TOKEN,
    PEAK_GRID,
    RMS_GRID,
    VOCAB_VERSION,
    encode_tokens,
    nearest,
)

log = logging.getLogger(__name__)

EMBEDDING_DIM = 24
SUMMARY_CHAR_BUDGET = 240  # about 60 tokens of a small LLM's BPE vocabulary
MAX_ANALYSIS_RATE = 65_000.0  # above this, resample to ANALYSIS_RATE: nothing diagnostic lives higher
ANALYSIS_RATE = 48_000.0
SLIP_TOLERANCE = 0.02  # defect-frequency search when the shaft speed was measured
CLAMP_G = 1e5  # samples beyond +-100 000 g are clamped (and the window marked saturated)
DEFECT_NAMES = {"bpfo": "outer race", "bpfi": "inner race", "bsf": "ball", "ftf": "cage"}
DEFECT_EVENTS = {"bpfo": "bearing_outer_race", "bpfi": "bearing_inner_race", "bsf": "bearing_ball", "ftf": "bearing_cage"}
UNITS = {"g": 1.0, "m/s2": 1.0 / iso.G, "m/s^2": 1.0 / iso.G, "mm/s2": 1e-3 / iso.G}


@dataclass(slots=True, frozen=True)
class VibrationConfig:
    """Encoder settings in physical units; validated on construction."""

    sample_rate: float  # Hz, as the device declares it
    rpm: float = 1797.0  # nominal shaft speed
    bearing: BearingGeometry = SKF_6205
    machine_class: str = "II"  # ISO 10816-1 class or 10816-3 group, see severity.py
    units: str = "g"  # of the incoming samples: g, m/s2 or mm/s2
    window_s: float = 1.0  # recommended window; any length of at least min_window_s is encoded
    min_window_s: float = 0.25
    velocity_band_hz: tuple[float, float] = (10.0, 1000.0)
    speed_tolerance: float = 0.05  # how far true speed / defect frequencies may stray from nominal
    max_harmonics: int = 5
    full_scale_g: float | None = None  # ADC range; samples at +-full scale count as saturated
    line_hz: float | None = None  # mains frequency to ignore in envelope spectra (50 or 60)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive number of Hz, got {self.sample_rate}")
        if not (math.isfinite(self.rpm) and 1.0 <= self.rpm <= 200_000.0):
            raise ValueError(f"rpm must be between 1 and 200000, got {self.rpm}")
        iso.machine_class(self.machine_class)
        if self.units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, got {self.units!r}")
        if not 0 < self.min_window_s <= self.window_s:
            raise ValueError(f"need 0 < min_window_s <= window_s, got {self.min_window_s} and {self.window_s}")
        lo, hi = self.velocity_band_hz
        if not 0 < lo < hi:
            raise ValueError(f"velocity band must be 0 < lo < hi Hz, got {self.velocity_band_hz}")
        if not 0 <= self.speed_tolerance <= 0.2:
            raise ValueError(f"speed_tolerance is a fraction in [0, 0.2], got {self.speed_tolerance}")
        if not 2 <= self.max_harmonics <= 10:
            raise ValueError(f"max_harmonics must be 2..10, got {self.max_harmonics}")
        if self.full_scale_g is not None and self.full_scale_g <= 0:
            raise ValueError(f"full_scale_g must be positive, got {self.full_scale_g}")
        if self.line_hz is not None and self.line_hz <= 0:
            raise ValueError(f"line_hz must be positive, got {self.line_hz}")

    @property
    def shaft_hz(self) -> float:
        """Nominal shaft frequency."""
        return self.rpm / 60.0


@dataclass(slots=True)
class _Diagnosis:
    """Everything computed for a usable window, before it becomes tokens."""

    rms_g: float
    peak_g: float
    crest: float
    kurtosis: float
    velocity_mm_s: float
    zone: str
    orders: OrderSpectrum
    envelope: EnvelopeResult | None
    hann_spectrum: np.ndarray  # rfft of the Hann-windowed window, g
    shaft_faults: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Prepared:
    """A window after the quality checks: samples in g with the mean removed (None when unusable)."""

    x: np.ndarray | None
    fs: float
    problems: list[str]
    score: float
    duration_s: float


@dataclass(slots=True)
class VibrationSpectra:
    """The spectra one window's diagnosis rests on, with the lines it is read against: for pictures."""

    freqs_hz: np.ndarray  # bins of the acceleration spectrum
    amplitude_g: np.ndarray  # peak amplitude per bin (Hann window)
    envelope_hz: np.ndarray  # bins of the squared-envelope spectrum (empty when not analysable)
    envelope_ratio: np.ndarray  # squared-envelope spectrum over its running-median floor
    envelope_source: str  # "kurtogram" or "whitened" ("" when not analysable)
    band_hz: tuple[float, float]  # band demodulated for that envelope
    shaft_hz: float  # shaft speed used: measured when speed_refined, else declared
    speed_refined: bool
    defect_hz: dict[str, float]  # kinematic BPFO, BPFI, BSF, FTF at shaft_hz
    detected: str | None  # the defect family the encoder reports, if any
    fitted_hz: float | None  # its fitted fundamental
    detection_ratio: float = ANCHOR_SNR  # a family's leading line must stand this far over the floor


class VibrationEncoder:
    """Encodes acceleration windows of a rotating machine into `vib-3` tokens."""

    name = "vibration"
    vocab_version = VOCAB_VERSION
    embedding_dim = EMBEDDING_DIM

    def __init__(self, config: VibrationConfig) -> None:
        self.config = config
        self.sample_rate = config.sample_rate
        self.window_s = config.window_s
        self._orders = config.bearing.orders().as_dict()
        self._bounds = iso.ZONE_BOUNDARIES_MM_S[iso.machine_class(config.machine_class)]

    def reset(self) -> None:
        """Nothing to forget: the encoder is stateless."""

    def encode(self, samples: np.ndarray, t0: float) -> TokenizedWindow:
        """Encode one window (1-D, or channels x samples: the first channel is used)."""
        p = self._prepare(samples)
        if p.x is None:
            return self._unusable(p.problems, t0, p.duration_s)
        diag = self._diagnose(p.x, p.fs)
        return self._window(diag, p.problems or ["ok"], max(0.0, p.score), t0, p.duration_s)

    def spectra(self, samples: np.ndarray) -> VibrationSpectra | None:
        """The acceleration and envelope spectra behind `encode`, and the lines it reads them against.

        None when the window is unusable (flat, short, mostly gaps). The envelope shown is the one
        the reported defect was found in, else the kurtogram band's (the whitened one without it).
        """
        p = self._prepare(samples)
        if p.x is None:
            return None
        d = self._diagnose(p.x, p.fs)
        n, shaft, env = p.x.size, d.orders.shaft_hz, d.envelope
        best = env.best() if env is not None else None
        source = _shown_source(env)
        ses = env.spectra[source] if env is not None else np.zeros(0)
        return VibrationSpectra(
            freqs_hz=np.arange(d.hann_spectrum.size) * p.fs / n,
            amplitude_g=np.abs(d.hann_spectrum) * 4.0 / n,  # a tone of peak A gives |X| = A sum(w) / 2 = A n / 4
            envelope_hz=np.arange(ses.size) * p.fs / n,
            envelope_ratio=normalised(ses, p.fs / n, shaft) if ses.size else ses,
            envelope_source=source,
            band_hz=env.bands_hz[source] if env is not None else (0.0, 0.0),
            shaft_hz=shaft,
            speed_refined=d.orders.speed_refined,
            defect_hz=self.config.bearing.frequencies(shaft),
            detected=best.name if best else None,
            fitted_hz=best.defect_hz if best else None,
        )

    # -- stages -------------------------------------------------------------

    def _prepare(self, samples: np.ndarray) -> _Prepared:
        """Units to g, corrupt samples clamped, quality checked, resampled when too fast, mean removed."""
        cfg = self.config
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 2:
            x = x[0]
        x = x.ravel() * UNITS[cfg.units]
        duration = x.size / cfg.sample_rate
        # Beyond any accelerometer's range a sample is corrupt: clamp it (NaN and inf stay gaps) so the
        # arithmetic stays finite, and call the window saturated.
        over = np.abs(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)) > CLAMP_G
        clamped = bool(over.any())
        if clamped:
            x = np.where(over, np.sign(x) * CLAMP_G, x)
        rail = (-cfg.full_scale_g, cfg.full_scale_g) if cfg.full_scale_g else None
        quality = assess(x, min_samples=max(64, int(cfg.min_window_s * cfg.sample_rate)), rail=rail)
        if not quality.usable:
            return _Prepared(None, cfg.sample_rate, list(quality.problems), 0.0, duration)
        x = quality.samples
        problems = list(quality.problems)
        score = quality.score
        if clamped and "saturated" not in problems:
            problems.append("saturated")
            score -= 0.5
        if rail is None and "saturated" not in problems:
            clipped = clipped_fraction(x)
            if clipped > 0.01:
                problems.append("saturated")
                score -= min(0.5, 5 * clipped)
        fs = cfg.sample_rate
        if fs > MAX_ANALYSIS_RATE:
            x, fs = resample(x, fs, ANALYSIS_RATE), ANALYSIS_RATE
        if fs / 2 < cfg.velocity_band_hz[0] * 4:
            problems.append("lowrate")
        return _Prepared(x - x.mean(), fs, problems, score, duration)

    def _diagnose(self, x: np.ndarray, fs: float) -> _Diagnosis:
        cfg = self.config
        n = x.size
        sq = x * x
        power = float(np.mean(sq))
        rms = math.sqrt(power)
        peak = math.sqrt(float(np.max(sq)))
        kurt = float(np.mean(sq * sq) / power**2) if power > 0 else 0.0
        spectrum = sfft.rfft(x)
        hann_spectrum = sfft.rfft(x * _hann(n))
        lo, hi = cfg.velocity_band_hz
        velocity = iso.rms_velocity_mm_s(hann_spectrum, n, fs, (lo, hi), power_gain=0.375)
        zone = iso.zone(velocity, cfg.machine_class)
        orders = order_analysis(hann_spectrum, n, fs, cfg.shaft_hz, cfg.speed_tolerance)
        # A measured speed leaves only bearing slip (1-2 %) between theory and the defect lines; a declared
        # one may be off by the whole tolerance. The narrower search also keeps a race comb from sliding
        # onto half orders of a loose machine (3.5x is 2.4 % from BPFO of a 6205).
        tolerance = min(cfg.speed_tolerance, SLIP_TOLERANCE) if orders.speed_refined else cfg.speed_tolerance
        envelope: EnvelopeResult | None = envelope_analysis(
            spectrum, n, fs, orders.shaft_hz, self._orders, tolerance, cfg.max_harmonics, cfg.line_hz,
            mask_shaft=orders.speed_refined,
        )
        if not envelope.families:
            envelope = None  # rate too low (or window too short) for any defect comb: not analysable
        diag = _Diagnosis(rms, peak, peak / rms if rms > 0 else 0.0, kurt, velocity, zone, orders, envelope, hann_spectrum)
        diag.shaft_faults = self._shaft_faults(orders)
        if envelope is not None and envelope.defect is None and not envelope.unclear:
            # Impacts in most shaft turns with no comb to explain them are bearing evidence to look at again
            # (a ball spinning erratically, a spall under varying load), not a healthy bearing; on a loose
            # machine (a part knocking once per turn) they have an explanation already.
            envelope.unclear = unexplained_impacts(envelope) and "looseness" not in diag.shaft_faults
        return diag

    def _shaft_faults(self, o: OrderSpectrum) -> list[str]:
        """Classic rules on order levels, against the middle of the machine class's zone B."""
        # A shaft fault is worth a token once its component alone reaches the middle of zone B
        # (geometric mean of the A/B and B/C boundaries, 1.77 mm/s for class II): below that a new
        # machine's residual 1x or 2x would be called a fault.
        ab, bc, _ = self._bounds
        ref = math.sqrt(ab * bc)
        v1, v2, vh = o.level(1.0), o.level(2.0), o.harmonics_rss(3.0, 10.0)
        faults = []
        comb = o.count_present((3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0))
        halves = o.count_present(HALF_ORDERS)
        # Looseness: a long comb of harmonics (often with half orders) carrying real energy; the comb itself
        # is the evidence, so its energy gate is lower (half the A/B boundary).
        if (comb >= 5 or (comb >= 3 and halves >= 2)) and vh >= 0.5 * ab and vh >= 0.3 * v1:
            faults.append("looseness")
        # Misalignment: 2x at half of 1x or more, and the pair clearly above a new machine's level.
        if v2 >= 0.5 * v1 and math.hypot(v1, v2) >= ref and v2 >= 0.5 * ref:
            faults.append("misalignment")
        # Imbalance: 1x dominant and above a new machine's level.
        if v1 >= ref and v2 < 0.5 * v1 and vh < 0.5 * v1:
            faults.append("imbalance")
        return faults

    # -- output ---------------------------------------------------------------

    def _level(self, v_mm_s: float) -> str:
        ab, bc, _ = self._bounds
        return "low" if v_mm_s < ab else "med" if v_mm_s < bc else "high"

    def _window(self, d: _Diagnosis, problems: list[str], quality: float, t0: float, duration: float) -> TokenizedWindow:
        o = d.orders
        tokens = [f"<vib:quality:{p}>" for p in problems]
        tokens += [
            f"<vib:zone:{d.zone}>",
            f"<vib:rms:{nearest(d.velocity_mm_s, RMS_GRID):g}>",
            f"<vib:peak:{nearest(d.peak_g, PEAK_GRID):g}>",
            f"<vib:crest:{nearest(d.crest, CREST_GRID):g}>",
            f"<vib:kurt:{nearest(d.kurtosis, KURT_GRID):g}>",
            f"<vib:1x:{self._level(o.level(1.0))}>",
            f"<vib:2x:{self._level(o.level(2.0))}>",
            f"<vib:harm:{self._level(o.harmonics_rss())}>",
        ]
        tokens += [f"<vib:fault:{f}>" for f in d.shaft_faults]
        env = d.envelope
        best = env.best() if env is not None else None
        if env is None:
            tokens.append("<vib:bearing:na>")
        elif best is None:
            tokens.append("<vib:bearing:unclear>" if env.unclear else "<vib:bearing:ok>")
        else:
            tokens.append(f"<vib:bearing:{best.name}:h{min(max(best.harmonics, 1), MAX_HARMONIC_TOKEN)}>")
        events = self._events(d, t0)
        features = self._features(d, quality)
        return TokenizedWindow(
            modality=self.name,
            vocab_version=self.vocab_version,
            t0=t0,
            duration_s=duration,
            tokens=tokens,
            codes=encode_tokens(tokens),
            embedding=self._embedding(d, quality),
            events=events,
            summary=self._summary(d),
            quality=quality,
            features=features,
        )

    def _events(self, d: _Diagnosis, t0: float) -> list[Event]:
        events: list[Event] = []
        zone_sev = iso.zone_severity(d.zone)
        if zone_sev is not None:
            events.append(Event("severity_zone", zone_sev, t0, {"zone": d.zone, "rms_velocity_mm_s": round(d.velocity_mm_s, 3), "machine_class": self.config.machine_class}))
        ab, bc, cd = self._bounds
        o = d.orders
        levels = {"imbalance": o.level(1.0), "misalignment": o.level(2.0), "looseness": o.harmonics_rss()}
        for fault in d.shaft_faults:
            v = levels[fault]
            sev = Severity.CRITICAL if v >= cd else Severity.WARNING if v >= bc else Severity.INFO
            events.append(Event(fault, sev, t0, {"level_mm_s": round(v, 3), "1x_mm_s": round(o.level(1.0), 3), "2x_mm_s": round(o.level(2.0), 3), "shaft_hz": round(o.shaft_hz, 3)}))
        best = d.envelope.best() if d.envelope is not None else None
        if best is not None:
            sev = Severity.CRITICAL if d.zone == "D" else Severity.WARNING
            evidence: dict[str, float | int | str] = {
                "defect_hz": round(best.defect_hz, 2),
                "order": round(best.defect_hz / o.shaft_hz, 3),
                "harmonics": best.harmonics,
                "peak_ratio": round(best.anchor, 2),
                "source": best.source,
                "confidence": round(d.envelope.confidence, 2),
            }
            lo, hi = d.envelope.bands_hz.get(best.source, (0.0, 0.0))
            evidence.update(band_lo_hz=round(lo, 1), band_hi_hz=round(hi, 1))
            events.append(Event(DEFECT_EVENTS[best.name], sev, t0, evidence))
        return events

    def _features(self, d: _Diagnosis, quality: float) -> dict[str, float]:
        o = d.orders
        f: dict[str, float] = {
            "rms_velocity_mm_s": d.velocity_mm_s,
            "rms_g": d.rms_g,
            "peak_g": d.peak_g,
            "crest_factor": d.crest,
            "kurtosis": d.kurtosis,
            "shaft_hz": o.shaft_hz,
            "speed_refined": float(o.speed_refined),
            "zone_index": float("ABCD".index(d.zone)),
            "harmonics_rss_mm_s": o.harmonics_rss(),
            "quality": quality,
        }
        for order in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0):
            f[f"order_{order:g}x_mm_s"] = o.level(order)
        if d.envelope is not None:
            if d.envelope.band is not None:
                f["env_band_lo_hz"] = d.envelope.band.lo_hz
                f["env_band_hi_hz"] = d.envelope.band.hi_hz
                f["env_band_kurtosis"] = d.envelope.band.kurtosis
            f["env_confidence"] = d.envelope.confidence
            f["env_unclear"] = float(d.envelope.unclear)
            f["env_impact_share"] = d.envelope.impacts
            f["env_impact_excess"] = d.envelope.impact_excess
            for name, m in d.envelope.families.items():
                f[f"env_{name}_ratio"] = m.anchor
                f[f"env_{name}_harmonics"] = float(m.harmonics)
                f[f"env_{name}_score"] = m.score
        return f

    def _embedding(self, d: _Diagnosis, quality: float) -> np.ndarray:
        o = d.orders
        e = np.zeros(EMBEDDING_DIM, dtype=np.float32)
        lg = lambda v: math.log10(max(v, 1e-4))  # noqa: E731 - local shorthand
        e[0], e[1], e[2] = lg(d.velocity_mm_s) / 2, lg(d.rms_g) / 2, lg(d.peak_g) / 2
        e[3], e[4] = d.crest / 10, lg(d.kurtosis)
        for i, order in enumerate((1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)):
            e[5 + i] = lg(o.level(order) + 1e-3) / 2
        e[13] = lg(o.harmonics_rss() + 1e-3) / 2
        e[14] = o.count_present(tuple(float(k) for k in range(2, 11))) / 9
        if d.envelope is not None:
            for i, name in enumerate(("bpfo", "bpfi", "bsf", "ftf")):
                m = d.envelope.families.get(name)
                e[15 + i] = lg(m.anchor) if m is not None else 0.0
            if d.envelope.band is not None:
                e[19] = (d.envelope.band.lo_hz + d.envelope.band.hi_hz) / self.config.sample_rate
                e[20] = lg(max(d.envelope.band.kurtosis, 0.0) + 1.0)
        e[21] = quality
        e[22] = "ABCD".index(d.zone) / 3
        e[23] = o.shaft_hz / 100
        return e

    def _summary(self, d: _Diagnosis) -> str:
        cfg = self.config
        parts = [f"vibration zone {d.zone} (class {cfg.machine_class}) {d.velocity_mm_s:.2g} mm/s rms, peak {d.peak_g:.2g} g, crest {d.crest:.1f}, kurtosis {d.kurtosis:.1f}"]
        best = d.envelope.best() if d.envelope is not None else None
        if best is not None:
            parts.append(f"bearing {DEFECT_NAMES[best.name]} defect ({best.name.upper()} {best.defect_hz:.0f} Hz, {best.harmonics} harmonics)")
        elif d.envelope is None:
            parts.append("bearing not analysable at this rate")
        elif d.envelope.unclear:
            parts.append("bearing impacts of unclear origin")
        if d.shaft_faults:
            parts.append(f"{', '.join(d.shaft_faults)} (1x {d.orders.level(1.0):.2g}, 2x {d.orders.level(2.0):.2g} mm/s)")
        summary = "; ".join(parts)
        return summary if len(summary) <= SUMMARY_CHAR_BUDGET else summary[: SUMMARY_CHAR_BUDGET - 1] + "…"

    def _unusable(self, problems: list[str], t0: float, duration: float) -> TokenizedWindow:
        tokens = [f"<vib:quality:{p}>" for p in problems]
        return TokenizedWindow(
            modality=self.name,
            vocab_version=self.vocab_version,
            t0=t0,
            duration_s=duration,
            tokens=tokens,
            codes=encode_tokens(tokens),
            embedding=np.zeros(EMBEDDING_DIM, dtype=np.float32),
            events=[],
            summary=f"vibration: no usable signal ({', '.join(problems)})",
            quality=0.0,
            features={"quality": 0.0},
        )


def _shown_source(env: EnvelopeResult | None) -> str:
    """The envelope a picture shows: where the defect was found, else the kurtogram band's, else the whitened one."""
    if env is None:
        return ""
    best = env.best()
    if best is not None:
        return best.source
    return "kurtogram" if "kurtogram" in env.spectra else "whitened"


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    """A cached Hann window (windows of one stream all have the same length)."""
    w = np.hanning(n)
    w.flags.writeable = False
    return w


def clipped_fraction(x: np.ndarray) -> float:
    """Share of samples piled up at the window's extreme values, as a clipped ADC leaves them."""
    hi, lo = float(x.max()), float(x.min())
    span = hi - lo
    if span <= 0:
        return 0.0
    eps = 1e-6 * span
    at_hi = int(np.count_nonzero(x >= hi - eps))
    at_lo = int(np.count_nonzero(x <= lo + eps))
    pile = max(at_hi, at_lo)
    if pile < max(5, 0.005 * x.size):
        return 0.0
    # A coarse quantiser also repeats its extreme codes; clipping piles far above the next level.
    near = int(np.count_nonzero((x >= hi - 0.05 * span) & (x < hi - eps))) if at_hi >= at_lo else int(np.count_nonzero((x <= lo + 0.05 * span) & (x > lo + eps)))
    if pile < 2 * near:
        return 0.0
    return (at_hi + at_lo) / x.size


# Names devices and integrators use for the same options.
OPTION_ALIASES = {
    "shaft_rpm": "rpm", "speed_rpm": "rpm", "shaft_speed_rpm": "rpm", "nominal_rpm": "rpm",
    "bearing_geometry": "bearing", "geometry": "bearing", "bearing_model": "bearing",
    "balls": "n_balls", "num_balls": "n_balls", "ball_count": "n_balls", "number_of_balls": "n_balls",
    "ball_diameter": "ball_diameter_mm", "pitch_diameter": "pitch_diameter_mm", "contact_angle": "contact_angle_deg",
    "iso_class": "machine_class", "unit": "units", "window": "window_s", "mains_hz": "line_hz", "full_scale": "full_scale_g",
}


def make_config(sample_rate: float, **options: Any) -> VibrationConfig:
    """A validated config from a device's declared options (bearing may be a name, mapping or geometry)."""
    opts: dict[str, Any] = {}
    for key, value in options.items():
        name = OPTION_ALIASES.get(key, key)
        if name in opts:
            raise TypeError(f"vibration option {name!r} given twice (as {key!r})")
        opts[name] = value
    if "shaft_hz" in opts:
        if "rpm" in opts:
            raise TypeError("give rpm or shaft_hz, not both")
        opts["rpm"] = 60.0 * float(opts.pop("shaft_hz"))
    if "bearing" in opts or any(k in opts for k in ("n_balls", "ball_diameter_mm", "pitch_diameter_mm")):
        fields = {k: opts.pop(k) for k in ("n_balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg") if k in opts}
        opts["bearing"] = bearing_from(fields if fields else opts.get("bearing"))
    for key in ("rpm", "window_s", "min_window_s", "speed_tolerance", "full_scale_g", "line_hz"):
        # Devices declare over JSON/MQTT: numbers may arrive as strings.
        if isinstance(opts.get(key), (int, float, str)) and not isinstance(opts[key], bool):
            try:
                opts[key] = float(opts[key])
            except ValueError:
                raise ValueError(f"vibration option {key} must be a number, got {opts[key]!r}") from None
    if isinstance(opts.get("max_harmonics"), str):
        opts["max_harmonics"] = int(opts["max_harmonics"])
    if "velocity_band_hz" in opts:
        opts["velocity_band_hz"] = tuple(float(v) for v in opts["velocity_band_hz"])
    known = set(VibrationConfig.__dataclass_fields__)
    unknown = sorted(set(opts) - known)
    if unknown:
        raise TypeError(f"unknown vibration option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known - {'sample_rate'}))}")
    return VibrationConfig(sample_rate=float(sample_rate), **opts)


def factory(sample_rate: float, **options: Any) -> VibrationEncoder:
    """The registry factory: an encoder for a stream at `sample_rate` Hz with the device's declared options."""
    return VibrationEncoder(make_config(sample_rate, **options))


def encode_vibration(samples: np.ndarray, t0: float, sample_rate: float, **options: Any) -> TokenizedWindow:
    """Encode one window in one call (builds a throw-away encoder with `options`)."""
    return factory(sample_rate, **options).encode(samples, t0)
