"""Calibrating the model's raw confidence into P(correct), and the escalation threshold that follows.

Fitted on (raw score, correct) pairs from a labelled set: isotonic regression (pool adjacent
violators, numpy) or Platt scaling (a logistic in the raw score, scipy). The stored calibration
records the model it was fitted for; a calibration made for another model is refused, since
its scores mean something else.

Scores from different sources do not mean the same: a template match's 1.0 is a rule, a
model's 0.99 is a token probability that a small model reaches when wrong too. Given the
source of each score ("fast", "local"), a map is fitted per source with enough answers, and
the pooled map serves the others.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from base.errors import TesseraError

FORMAT_VERSION = 1
FILENAME = "calibration.json"
Method = Literal["isotonic", "platt"]
MIN_SOURCE_ANSWERS = 20  # fewer answers from one source than this: it shares the pooled map
# A source's map counts this many pseudo-answers at the source's own accuracy into each block: the
# few highest scores of a small model, all right by luck, must not make its top scores "certain".
PRIOR_ANSWERS = 4.0


class CalibrationError(TesseraError):
    """A calibration cannot be fitted, read, or used for this model."""


@dataclass(slots=True)
class Reliability:
    """How well calibrated confidences match outcomes on the fitting set."""

    ece: float  # expected calibration error over `bins` equal-width bins
    brier: float  # mean squared error of P(correct)
    brier_raw: float  # the same for the raw scores clipped to 0..1, for comparison
    accuracy: float  # share of correct answers in the set
    bins: int = 10


@dataclass(slots=True)
class Calibration:
    """A fitted map from raw score to P(correct), and the escalation threshold chosen on it."""

    method: str
    params: dict[str, Any]  # isotonic: x and y knots; platt: a and b of sigmoid(a * raw + b)
    threshold: float  # escalate when the calibrated confidence is below this
    target_escalation_rate: float
    achieved_escalation_rate: float  # on the fitting set; ties in an isotonic step can keep it off target
    reliability: Reliability
    scores: list[float]  # the raw scores of the fitting set, sorted, so other rates can be chosen later
    model_sha256: str = ""
    score_kind: str = "mean_token_prob"  # what the raw score is; callers must pass the same kind
    n: int = 0
    fitted_at: float = 0.0
    version: int = FORMAT_VERSION
    meta: dict[str, Any] = field(default_factory=dict)
    by_source: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # source -> isotonic knots x, y
    sources: list[str] = field(default_factory=list)  # the source of each of `scores`, in the same order

    def predict(self, raw: float | np.ndarray, source: str | None = None) -> float | np.ndarray:
        """P(correct) for one raw score or an array of them, from `source`'s own map when it has one."""
        x = np.asarray(raw, dtype=float)
        if source in self.by_source:
            knots = self.by_source[source]
            out = np.interp(x, knots["x"], knots["y"])
        elif self.method == "platt":
            out = _sigmoid(self.params["a"] * x + self.params["b"])
        else:
            out = np.interp(x, self.params["x"], self.params["y"])
        return float(out) if out.ndim == 0 else out

    def predict_each(self, scores: Any, sources: list[str] | None = None) -> np.ndarray:
        """P(correct) for each score, each from its own source's map."""
        x = np.asarray(scores, dtype=float)
        if not sources:
            return np.asarray(self.predict(x), dtype=float)
        return np.array([self.predict(float(v), s) for v, s in zip(x, sources)], dtype=float)

    def threshold_for_escalation_rate(self, rate: float) -> float:
        """The calibrated-confidence threshold below which `rate` of the fitting set would escalate."""
        threshold, _ = _threshold(self.predict_each(self.scores, self.sources), rate)
        return threshold

    def escalation_rate(self, threshold: float) -> float:
        """Share of the fitting set whose calibrated confidence is below `threshold`."""
        conf = self.predict_each(self.scores, self.sources)
        return float(np.mean(conf < threshold)) if conf.size else 0.0

    def save(self, path: Path) -> Path:
        """Write the calibration as JSON (atomically); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.replace(path)
        return path


def calibration_path(data_dir: Path) -> Path:
    """Where `tessera calibrate` stores the calibration."""
    return Path(data_dir) / FILENAME


def load_calibration(path: Path, model_sha256: str | None = None) -> Calibration:
    """Read a stored calibration; refuses one fitted for another model than `model_sha256`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"no calibration at {path}; run `tessera calibrate` first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CalibrationError(f"calibration {path} is not readable JSON ({err}); run `tessera calibrate` again") from err
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise CalibrationError(f"calibration {path} has format version {data.get('version') if isinstance(data, dict) else None!r}, "
                               f"this Tessera reads {FORMAT_VERSION}; run `tessera calibrate` again")
    if model_sha256 is not None and data.get("model_sha256") != model_sha256:
        raise CalibrationError(f"calibration {path} was fitted for model {str(data.get('model_sha256'))[:12]}…, not the loaded model "
                               f"{model_sha256[:12]}…; run `tessera calibrate` for this model")
    try:
        data["reliability"] = Reliability(**data["reliability"])
        return Calibration(**data)
    except (KeyError, TypeError) as err:
        raise CalibrationError(f"calibration {path} is missing fields ({err}); run `tessera calibrate` again") from err


def fit_calibration(scores: Any, correct: Any, method: Method = "isotonic", target_escalation_rate: float = 0.2, *,
                    model_sha256: str = "", score_kind: str = "mean_token_prob", bins: int = 10,
                    sources: list[str] | None = None) -> Calibration:
    """Fit raw scores to outcomes and choose the threshold that escalates `target_escalation_rate` of them.

    `sources` (one per score, e.g. the plan's route) fits an isotonic map per source with at
    least MIN_SOURCE_ANSWERS answers; the pooled fit (`method`) serves the rest.
    """
    x = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(correct, dtype=float).ravel()
    if x.size != y.size:
        raise CalibrationError(f"{x.size} scores but {y.size} outcomes; pass one outcome per score")
    if sources is not None and len(sources) != x.size:
        raise CalibrationError(f"{x.size} scores but {len(sources)} sources; pass one source per score or none")
    if x.size < 2:
        raise CalibrationError(f"need at least 2 labelled answers to calibrate, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise CalibrationError("scores contain NaN or infinity")
    if not np.all((y == 0) | (y == 1)):
        raise CalibrationError("outcomes must be 0/1 (or False/True)")
    if not 0.0 <= target_escalation_rate <= 1.0:
        raise CalibrationError(f"target escalation rate must be within 0..1, got {target_escalation_rate}")
    if method == "isotonic":
        knots_x, knots_y = isotonic_fit(x, y)
        params: dict[str, Any] = {"x": knots_x.tolist(), "y": knots_y.tolist()}
    elif method == "platt":
        a, b = platt_fit(x, y)
        params = {"a": a, "b": b}
    else:
        raise CalibrationError(f"unknown calibration method {method!r}; use isotonic or platt")
    order = np.argsort(x, kind="mergesort")
    cal = Calibration(method=method, params=params, threshold=0.0, target_escalation_rate=target_escalation_rate,
                      achieved_escalation_rate=0.0, reliability=Reliability(0.0, 0.0, 0.0, 0.0, bins),
                      scores=x[order].tolist(), model_sha256=model_sha256, score_kind=score_kind, n=int(x.size), fitted_at=time.time(),
                      by_source=_per_source(x, y, sources), sources=[sources[i] for i in order] if sources else [])
    conf = cal.predict_each(x, sources)
    cal.threshold, cal.achieved_escalation_rate = _threshold(conf, target_escalation_rate)
    cal.reliability = Reliability(ece=expected_calibration_error(conf, y, bins), brier=float(np.mean((conf - y) ** 2)),
                                  brier_raw=float(np.mean((np.clip(x, 0, 1) - y) ** 2)), accuracy=float(y.mean()), bins=bins)
    return cal


def _per_source(x: np.ndarray, y: np.ndarray, sources: list[str] | None) -> dict[str, dict[str, list[float]]]:
    """Isotonic knots for each source with enough answers."""
    fitted: dict[str, dict[str, list[float]]] = {}
    for source in sorted(set(sources or [])):
        mask = np.array([s == source for s in sources or []])
        if mask.sum() >= MIN_SOURCE_ANSWERS:
            kx, ky = isotonic_fit(x[mask], y[mask], prior_answers=PRIOR_ANSWERS)
            fitted[source] = {"x": kx.tolist(), "y": ky.tolist()}
    return fitted


def isotonic_fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                 prior_answers: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent violators: knots (x, y) of the non-decreasing least-squares fit of y on x.

    prior_answers > 0 shrinks each block's mean toward the overall mean as if that many answers
    at the overall rate were added to it (a Beta prior), then restores order.
    """
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    ws = np.ones_like(ys) if weights is None else np.asarray(weights, dtype=float)[order]
    # Equal scores must get one value: merge them first.
    ux, start = np.unique(xs, return_index=True)
    wsum = np.add.reduceat(ws, start)
    ymean = np.add.reduceat(ws * ys, start) / wsum
    # Blocks as a stack: (mean, weight, first x, last x); merge while the last two violate order.
    means: list[float] = []
    wts: list[float] = []
    lo: list[float] = []
    hi: list[float] = []
    for xv, mv, wv in zip(ux, ymean, wsum):
        means.append(float(mv)); wts.append(float(wv)); lo.append(float(xv)); hi.append(float(xv))
        while len(means) > 1 and means[-2] >= means[-1]:
            w = wts[-2] + wts[-1]
            m = (means[-2] * wts[-2] + means[-1] * wts[-1]) / w
            means[-2:] = [m]; wts[-2:] = [w]; hi[-2:] = [hi[-1]]; lo.pop()
    if prior_answers > 0:
        overall = float(np.sum(ws * ys) / np.sum(ws))
        means = np.maximum.accumulate([(m * w + prior_answers * overall) / (w + prior_answers) for m, w in zip(means, wts)]).tolist()
    # Each block is flat from its first to its last score; np.interp joins blocks linearly.
    kx: list[float] = []
    ky: list[float] = []
    for m, a, b in zip(means, lo, hi):
        kx.append(a); ky.append(m)
        if b > a:
            kx.append(b); ky.append(m)
    return np.asarray(kx), np.asarray(ky)


def platt_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (a, b) of P(correct) = sigmoid(a * x + b), with Platt's smoothed targets."""
    from scipy.optimize import minimize

    n_pos, n_neg = float(y.sum()), float(y.size - y.sum())
    # Platt (1999): targets pulled off 0 and 1 so a separable set does not drive a to infinity.
    t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    scale = float(np.std(x)) or 1.0
    mean = float(np.mean(x))
    z = (x - mean) / scale  # fitted on standardized scores for a well-conditioned problem

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        s = p[0] * z + p[1]
        logp = -np.logaddexp(0, -s)
        log1mp = -np.logaddexp(0, s)
        value = -np.sum(t * logp + (1 - t) * log1mp)
        r = _sigmoid(s) - t
        return float(value), np.array([np.sum(r * z), np.sum(r)])

    res = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B")
    a_z, b_z = float(res.x[0]), float(res.x[1])
    return a_z / scale, b_z - a_z * mean / scale


def expected_calibration_error(conf: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(float(y[mask].mean()) - float(conf[mask].mean()))
    return float(total)


def _threshold(conf: np.ndarray, rate: float) -> tuple[float, float]:
    """The threshold whose escalation share (conf < threshold) is nearest `rate`, and that share."""
    if conf.size == 0:
        return 0.0, 0.0
    values = np.unique(conf)
    # Candidates: each distinct confidence (escalates everything below it) and one past the top.
    candidates = np.append(values, math.nextafter(float(values[-1]), math.inf))
    rates = np.searchsorted(np.sort(conf), candidates, side="left") / conf.size
    best = int(np.argmin(np.abs(rates - rate)))
    if 0 < best < len(values):
        # Midway between neighbours, so a score a hair below a fitting-set value is not routed differently.
        threshold = float((values[best - 1] + values[best]) / 2)
    else:
        threshold = float(candidates[best])
    return threshold, float(rates[best])


def _sigmoid(s: np.ndarray | float) -> np.ndarray:
    return np.exp(-np.logaddexp(0, -np.asarray(s, dtype=float)))
