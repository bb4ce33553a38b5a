"""The generic scalar encoder: any sensor (temperature, current, pressure, unknown) to tokens.

`samples` is 1-D: one value per sample at `sample_rate` Hz, the first at `t0`
(epoch seconds). Codes are the Chronos-style bin ids of every sample (see
`tokenizer.py`; the scale is `features["scale"]`). Symbolic tokens, vocabulary
`gen-2`, in this order:

    <gen:quality:ok|gaps|flat|short|saturated>   one or more
    <gen:warmup>                                 while the baseline is still learning
    <gen:level:very_low|low|normal|high|very_high|unknown>   window mean against the baseline
    <gen:trend:up|down|flat>                      change across the window against the noise
    <gen:anomaly:spike|level_shift|stuck|noise_burst|dropout|out_of_range>   one per event kind raised

The embedding (16 floats) is the window's shape in 8 piecewise means of the
mean-scaled signal, then level z, peak |z|, trend, log variation, quality, missing
share, event count and warm-up. The summary stays within `SUMMARY_TOKEN_BUDGET`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from adapters.base import Event, TokenizedWindow
from adapters.generic.detector import AnomalyDetector, DetectorConfig, DetectorOutput, in_words
from adapters.generic.tokenizer import MeanScaleTokenizer, TokenizerConfig
from adapters.quality import assess

VOCAB_VERSION = "gen-2"  # gen-2 added <gen:anomaly:dropout> (gen-1 tokens unchanged)
EMBEDDING_DIM = 16
SUMMARY_TOKEN_BUDGET = 48  # LLM tokens; about 4 characters each, so the line is cut at 4x this
_PAA = 8


@dataclass(slots=True, frozen=True)
class GenericConfig:
    """Encoder settings in physical units: Hz, seconds and the sensor's own unit."""

    sample_rate: float
    window_s: float | None = None  # nominal window length; default 60 samples
    detector_rate_hz: float = 1.0  # faster streams reach the detector as block means at this rate
    label: str = "signal"  # what the stream measures, for the summary (e.g. "temperature")
    unit: str = ""  # unit for the summary (e.g. "degC")
    rail: tuple[float, float] | None = None  # sensor limits; samples at a rail are saturation
    min_samples: int = 3  # fewer finite samples make the window unusable
    level_z: float = 2.0  # |mean z| above this is "low"/"high"
    trend_scales: float = 2.0  # change across the window above this many baseline scales is a trend
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    detector: DetectorConfig | None = None  # sample_period_s is set from sample_rate

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive number of Hz, got {self.sample_rate}")
        if self.window_s is not None and not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(f"window_s must be positive seconds, got {self.window_s}")
        if not (math.isfinite(self.detector_rate_hz) and self.detector_rate_hz > 0):
            raise ValueError(f"detector_rate_hz must be positive, got {self.detector_rate_hz}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be at least 1, got {self.min_samples}")
        if self.rail is not None and not self.rail[0] < self.rail[1]:
            raise ValueError(f"rail must be (low, high) with low < high, got {self.rail}")
        for name in ("level_z", "trend_scales"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class GenericEncoder:
    """Stateful encoder: the anomaly detector's baseline carries from window to window."""

    name = "generic"
    incremental = True  # baselines learnt across windows: each sample once
    vocab_version = VOCAB_VERSION
    embedding_dim = EMBEDDING_DIM

    def __init__(self, config: GenericConfig) -> None:
        self.config = config
        self.sample_rate = config.sample_rate
        self.window_s = config.window_s if config.window_s is not None else 60.0 / config.sample_rate
        det = config.detector or DetectorConfig()
        # Baselines live at seconds-to-weeks scales: a 1-kHz current sensor is scored on 1-s means,
        # which keeps the per-sample Python loop of the detector off the fast path.
        self._block = max(1, int(math.ceil(config.sample_rate / config.detector_rate_hz)))
        self.detector = AnomalyDetector(replace(det, sample_period_s=self._block / config.sample_rate))
        self.tokenizer = MeanScaleTokenizer(config.tokenizer)

    def reset(self) -> None:
        """Forget the learned baseline."""
        self.detector.reset()

    def encode(self, samples: np.ndarray, t0: float) -> TokenizedWindow:
        """Encode one 1-D window whose first sample is at `t0` epoch seconds."""
        c = self.config
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim > 1 and sum(d > 1 for d in x.shape) > 1:
            raise ValueError(f"generic samples must be 1-D (one value per sample), got shape {x.shape}")
        x = x.ravel()
        n = x.size
        duration = n / c.sample_rate
        t = t0 + np.arange(n) / c.sample_rate
        quality = assess(x, min_samples=c.min_samples, rail=c.rail) if n else None
        q_tokens = quality.tokens("gen") if quality else ["<gen:quality:short>"]
        score = quality.score if quality else 0.0
        # A flat or gappy window still teaches the detector (a stuck sensor is flat); NaN is skipped there.
        det = self._detect(t, x)
        tok = self.tokenizer.encode(x)
        finite = x[np.isfinite(x)]
        usable = quality is not None and quality.usable
        feats = self._features(x, finite, t, det.z, det.scale, tok.scale, score)
        level = self._level_word(feats, usable or bool(quality and "flat" in quality.problems))
        trend = self._trend_word(feats) if usable else "flat"
        tokens = list(q_tokens)
        if det.warming_up:
            tokens.append("<gen:warmup>")
        tokens += [f"<gen:level:{level}>", f"<gen:trend:{trend}>"]
        for kind in dict.fromkeys(e.kind for e in det.events):
            tokens.append(f"<gen:anomaly:{kind}>")
        emb = self._embedding(x, tok.scale, feats, len(det.events), det.warming_up)
        for event in det.events:
            words = in_words(event, c.label, c.unit)
            if words:
                event.evidence["said"] = words
        summary = self._summary(feats, level, trend, q_tokens, det.events)
        return TokenizedWindow(
            modality="generic", vocab_version=VOCAB_VERSION, t0=float(t0), duration_s=float(duration),
            tokens=tokens, codes=tok.codes, embedding=emb, events=det.events, summary=summary,
            quality=float(score), features=feats,
        )

    # -- stages ------------------------------------------------------------------------------

    def _detect(self, t: np.ndarray, x: np.ndarray) -> DetectorOutput:
        """Run the detector on the samples, or on block means for streams faster than detector_rate_hz."""
        b = self._block
        if b == 1 or x.size == 0:
            return self.detector.update(t, x)
        n_blocks = -(-x.size // b)
        padded = np.full(n_blocks * b, np.nan)
        padded[: x.size] = x
        blocks = padded.reshape(n_blocks, b)
        counts = np.isfinite(blocks).sum(axis=1)
        means = np.where(counts > 0, np.nansum(blocks, axis=1) / np.maximum(counts, 1), np.nan)
        out = self.detector.update(t[::b], means)
        # Back to one score per sample, so that features and tokens read the same arrays either way.
        out.z = np.repeat(out.z, b)[: x.size]
        out.expected = np.repeat(out.expected, b)[: x.size]
        out.score = np.repeat(out.score, b)[: x.size]
        return out

    def _features(self, x: np.ndarray, finite: np.ndarray, t: np.ndarray, z: np.ndarray,
                  scale: float, tok_scale: float, score: float) -> dict[str, float]:
        feats: dict[str, float] = {"scale": tok_scale, "quality": score, "n": float(x.size),
                                   "missing": float(1 - finite.size / x.size) if x.size else 1.0}
        if finite.size:
            feats.update(mean=float(finite.mean()), std=float(finite.std()), min=float(finite.min()),
                         max=float(finite.max()))
        zf = z[np.isfinite(z)]
        if zf.size:
            feats["z_mean"] = float(np.mean(zf))
            feats["z_peak"] = float(zf[np.argmax(np.abs(zf))])
        feats["baseline_scale"] = float(scale) if math.isfinite(scale) else math.nan
        ok = np.isfinite(x)
        if ok.sum() >= 3 and np.ptp(t[ok]) > 0:
            # Least-squares slope in closed form (a polyfit costs a Vandermonde matrix and an SVD).
            tt = t[ok] - t[ok].mean()
            xx = x[ok] - x[ok].mean()
            slope = float(np.dot(tt, xx) / np.dot(tt, tt))
            feats["slope_per_h"] = slope * 3600.0
            feats["change"] = slope * float(np.ptp(t[ok]))
            feats["resid_std"] = float(np.std(xx - slope * tt))
        return feats

    def _level_word(self, f: dict[str, float], usable: bool) -> str:
        zm = f.get("z_mean")
        if not usable or zm is None:
            return "unknown"
        lz, strong = self.config.level_z, self.detector.config.z_shift
        if zm <= -strong:
            return "very_low"
        if zm <= -lz:
            return "low"
        if zm >= strong:
            return "very_high"
        if zm >= lz:
            return "high"
        return "normal"

    def _trend_word(self, f: dict[str, float]) -> str:
        change = f.get("change")
        if change is None:
            return "flat"
        ref = f.get("baseline_scale", math.nan)
        n = max(f.get("n", 1.0), 1.0)
        # Without a learned scale, the window's own noise decides (a t-like test of the slope).
        if not math.isfinite(ref) or ref <= 0:
            ref = 2.0 * f.get("resid_std", 0.0) / math.sqrt(n) * math.sqrt(12.0)
        if ref <= 0:
            return "flat" if change == 0 else ("up" if change > 0 else "down")
        if change > self.config.trend_scales * ref:
            return "up"
        if change < -self.config.trend_scales * ref:
            return "down"
        return "flat"

    def _embedding(self, x: np.ndarray, scale: float, f: dict[str, float], n_events: int, warm: bool) -> np.ndarray:
        emb = np.zeros(EMBEDDING_DIM, dtype=np.float32)
        finite = np.isfinite(x)
        if finite.any():
            xs = np.clip(np.where(finite, x, 0.0) / scale, -15, 15)
            idx = np.minimum((np.arange(x.size) * _PAA) // max(x.size, 1), _PAA - 1)
            sums = np.bincount(idx, weights=xs, minlength=_PAA)
            counts = np.bincount(idx, weights=finite.astype(np.float64), minlength=_PAA)
            emb[:_PAA] = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        emb[8] = np.tanh(f.get("z_mean", 0.0) / 5.0)
        emb[9] = np.tanh(abs(f.get("z_peak", 0.0)) / 10.0)
        base = f.get("baseline_scale", math.nan)
        emb[10] = np.tanh(f.get("change", 0.0) / base) if math.isfinite(base) and base > 0 else 0.0
        emb[11] = np.log1p(f.get("std", 0.0) / scale)
        emb[12] = f["quality"]
        emb[13] = f["missing"]
        emb[14] = min(n_events, 4) / 4.0
        emb[15] = 1.0 if warm else 0.0
        return emb

    def _summary(self, f: dict[str, float], level: str, trend: str, q_tokens: list[str], events: list[Event]) -> str:
        c = self.config
        unit = f" {c.unit}" if c.unit else ""
        if "mean" in f:
            head = f"{c.label} mean {f['mean']:.4g}{unit} (range {f['min']:.4g}..{f['max']:.4g}), level {level}, trend {trend}"
        else:
            head = f"{c.label}: no valid samples"
        problems = [tok.split(":")[-1].rstrip(">") for tok in q_tokens]
        if problems != ["ok"]:
            head += f"; quality {'/'.join(problems)}"
        if events:
            worst = max(events, key=lambda e: e.severity)
            head += f"; {len(events)} event(s), worst {worst.kind} {worst.severity.name.lower()}"
            said = worst.evidence.get("said")
            head += f": {said}" if said else f" z={float(worst.evidence.get('z', 0.0)):.3g}"
        limit = 4 * SUMMARY_TOKEN_BUDGET
        return head if len(head) <= limit else head[: limit - 1] + "…"


def make_generic_encoder(sample_rate: float, **options: object) -> GenericEncoder:
    """Factory for the registry: `options` are GenericConfig fields, or DetectorConfig fields by name."""
    det_fields = set(DetectorConfig.__dataclass_fields__) - {"sample_period_s"}
    tok_fields = set(TokenizerConfig.__dataclass_fields__)
    det_opts = {k: options.pop(k) for k in list(options) if k in det_fields}
    tok_opts = {k: options.pop(k) for k in list(options) if k in tok_fields}
    unknown = set(options) - set(GenericConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown generic encoder option(s): {', '.join(sorted(unknown))}")
    if det_opts:
        options["detector"] = replace(options.get("detector") or DetectorConfig(), **det_opts)  # type: ignore[arg-type]
    if tok_opts:
        options["tokenizer"] = TokenizerConfig(**tok_opts)
    return GenericEncoder(GenericConfig(sample_rate=float(sample_rate), **options))  # type: ignore[arg-type]
