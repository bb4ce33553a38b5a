"""ECGEncoder: one window of single-lead ECG (mV) to tokens, codes, embedding, events and a summary."""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

import numpy as np

from adapters.base import Event, Severity, TokenizedWindow
from adapters.ecg.analysis import ECGAnalysis, analyze_ecg
from adapters.ecg.config import INTERNAL_FS, ECGConfig
from adapters.ecg.vocab import SUMMARY_MAX_CHARS, VOCAB_VERSION, beat_token, encode_tokens, hr_token, hrv_token

log = logging.getLogger(__name__)

EMBEDDING_DIM = 24
_TEMPLATE_POINTS = 8


class ECGEncoder:
    """Encodes ECG windows at `sample_rate` Hz; stateless between windows (`reset` is a no-op)."""

    name = "ecg"
    vocab_version = VOCAB_VERSION
    embedding_dim = EMBEDDING_DIM

    def __init__(self, sample_rate: float, config: ECGConfig | None = None, **options: Any) -> None:
        if not (isinstance(sample_rate, (int, float)) and np.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
        known = {f.name for f in fields(ECGConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown ECG option(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        if config is not None and options:
            raise ValueError("pass either config or keyword options, not both")
        self.sample_rate = float(sample_rate)
        self.config = config or ECGConfig(**options)
        self.window_s = self.config.window_s

    def reset(self) -> None:
        """Nothing carries over between windows, so there is nothing to forget."""

    def analyze(self, samples: np.ndarray) -> ECGAnalysis:
        """The full analysis behind `encode` (beats, classes, rhythm), for callers that want it."""
        return analyze_ecg(samples, self.sample_rate, self.config)

    def encode(self, samples: np.ndarray, t0: float) -> TokenizedWindow:
        """Tokens, codes, embedding, events and summary of one window starting at `t0` (epoch s)."""
        a = self.analyze(samples)
        tokens = _tokens(a)
        events = _events(a, t0, self.config)
        return TokenizedWindow(
            modality=self.name,
            vocab_version=self.vocab_version,
            t0=float(t0),
            duration_s=a.duration_s,
            tokens=tokens,
            codes=np.asarray(encode_tokens(tokens), dtype=np.int32),
            embedding=_embedding(a),
            events=events,
            summary=_summary(a),
            quality=a.score,
            features=_features(a),
        )


def _counts(a: ECGAnalysis) -> dict[str, int]:
    return {lab: int((a.labels == lab).sum()) for lab in ("N", "V", "S")}


def _rhythm_names(a: ECGAnalysis) -> list[str]:
    r = a.rhythm
    if r is None or r.hr_bpm is None and not r.asystole:
        return ["unknown"]
    names: list[str] = []
    if r.asystole:
        names.append("asystole")
    if r.vt:
        names.append("vt")
    elif r.v_runs:
        names.append("vrun")
    if r.af_suspect:
        names.append("af")
    if r.brady:
        names.append("brady")
    if r.tachy:
        names.append("tachy")
    if r.pauses:
        names.append("pause")
    if not names:
        names.append("sinus")
    return names


def _tokens(a: ECGAnalysis) -> list[str]:
    tokens = [f"<ecg:quality:{p}>" for p in dict.fromkeys(a.problems)] or ["<ecg:quality:ok>"]
    tokens.append(f"<ecg:sqi:{a.verdict}>")
    r = a.rhythm
    tokens.append(hr_token(r.hr_bpm if r else None))
    tokens += [f"<ecg:rhythm:{name}>" for name in _rhythm_names(a)]
    counts = _counts(a)
    tokens += [beat_token(lab, counts[lab]) for lab in ("V", "S") if counts[lab] > 0]
    if r is not None and r.sdnn_ms is not None:
        tokens.append(hrv_token("sdnn", r.sdnn_ms))
    if r is not None and r.rmssd_ms is not None:
        tokens.append(hrv_token("rmssd", r.rmssd_ms))
    if a.beats is not None and a.labels.size >= 2:
        tokens.append("<ecg:qrs:wide>" if a.beats.dominant_width_s > 0.12 else "<ecg:qrs:narrow>")
    return tokens


def _events(a: ECGAnalysis, t0: float, config: ECGConfig) -> list[Event]:
    events: list[Event] = []
    if "flat" in a.problems:
        events.append(Event("lead_off", Severity.WARNING, t0, {"reason": "flat line"}))
    bad = [p for p in a.problems if p != "flat"]
    if bad:
        events.append(Event("signal_quality", Severity.WARNING if not a.usable else Severity.INFO, t0, {"problems": ",".join(bad), "quality": round(a.score, 3)}))
    for w in a.windows:
        # A window too noisy to judge says so instead of raising rhythm alarms (they are gated off).
        if w.verdict == "noisy" or (w.verdict == "lead_off" and "flat" not in a.problems):
            kind = "signal_too_noisy" if w.verdict == "noisy" else "lead_off"
            evidence = {"length_s": round((w.stop - w.start) / INTERNAL_FS, 2), "bsqi": round(w.bsqi, 3), "ksqi": round(w.ksqi, 2), "psqi": round(w.psqi, 3), "bassqi": round(w.bassqi, 3)}
            if w.doubt:
                evidence["doubt"] = w.doubt
            events.append(Event(kind, Severity.WARNING, t0 + w.start / INTERNAL_FS, evidence))
    r = a.rhythm
    if r is None:
        return events
    if r.hr_bpm is not None and r.tachy:
        sev = Severity.CRITICAL if r.hr_bpm > config.severe_tachy_bpm else Severity.WARNING
        events.append(Event("tachycardia", sev, t0, {"hr_bpm": round(r.hr_bpm, 1)}))
    if r.hr_bpm is not None and r.brady:
        sev = Severity.CRITICAL if r.hr_bpm < config.severe_brady_bpm else Severity.WARNING
        events.append(Event("bradycardia", sev, t0, {"hr_bpm": round(r.hr_bpm, 1)}))
    for gap in r.asystole:
        events.append(Event("asystole", Severity.CRITICAL, t0 + gap.start_s, {"length_s": round(gap.length_s, 2)}))
    for gap in r.pauses:
        events.append(Event("pause", Severity.WARNING, t0 + gap.start_s, {"length_s": round(gap.length_s, 2)}))
    for gap in r.unreadable:
        events.append(Event("signal_quality", Severity.WARNING, t0 + gap.start_s, {"problems": "artifact", "length_s": round(gap.length_s, 2)}))
    if r.af_suspect:
        events.append(Event("af_suspect", Severity.WARNING, t0, {"irregularity": round(r.irregularity or 0.0, 3), "p_wave_ratio": round(r.p_wave_ratio or 0.0, 3), "hr_bpm": round(r.hr_bpm or 0.0, 1)}))
    counts = _counts(a)
    for run in r.v_runs:
        kind, sev = ("ventricular_tachycardia", Severity.CRITICAL) if r.vt and run.beats >= config.vt_min_beats else ("ventricular_run", Severity.WARNING)
        events.append(Event(kind, sev, t0 + run.start_s, {"beats": run.beats, "rate_bpm": round(run.rate_bpm, 1)}))
    if counts["V"]:
        share = counts["V"] / max(1, a.labels.size)
        events.append(Event("ventricular_ectopy", Severity.WARNING if share > 0.1 else Severity.INFO, t0, {"count": counts["V"], "share": round(share, 3)}))
    if counts["S"]:
        events.append(Event("supraventricular_ectopy", Severity.INFO, t0, {"count": counts["S"]}))
    return events


def _summary(a: ECGAnalysis) -> str:
    r = a.rhythm
    head = f"ECG {a.duration_s:.0f}s"
    if r is None:
        return f"{head}: unreadable ({', '.join(a.problems) or 'no signal'})"[:SUMMARY_MAX_CHARS]
    counts = _counts(a)
    parts = [f"HR {r.hr_bpm:.0f} bpm" if r.hr_bpm is not None else "HR n/a", " ".join(_rhythm_names(a))]
    parts.append(f"{counts['V']} V {counts['S']} S beats")
    if r.sdnn_ms is not None and r.rmssd_ms is not None:
        parts.append(f"SDNN {r.sdnn_ms:.0f} RMSSD {r.rmssd_ms:.0f} ms")
    parts.append(f"quality {a.score:.2f}" + (f" ({','.join(a.problems)})" if a.problems else ""))
    return f"{head}: {', '.join(parts)}"[:SUMMARY_MAX_CHARS]


def _features(a: ECGAnalysis) -> dict[str, float]:
    counts = _counts(a)
    out: dict[str, float] = {"n_beats": float(a.labels.size), "n_N": float(counts["N"]), "n_V": float(counts["V"]), "n_S": float(counts["S"]), "quality": a.score, "artifact_fraction": a.artifact_fraction}
    if a.windows:
        out["bsqi"] = float(min(w.bsqi for w in a.windows))
        out["unusable_fraction"] = float(sum(w.stop - w.start for w in a.windows if not w.usable) / max(1, sum(w.stop - w.start for w in a.windows)))
    r = a.rhythm
    if r is not None:
        for key, value in (("hr_bpm", r.hr_bpm), ("sdnn_ms", r.sdnn_ms), ("rmssd_ms", r.rmssd_ms), ("irregularity", r.irregularity), ("p_wave_ratio", r.p_wave_ratio)):
            if value is not None:
                out[key] = float(value)
        out["af_suspect"] = float(r.af_suspect)
        out["pauses"] = float(len(r.pauses))
        out["asystole"] = float(len(r.asystole))
        out["longest_v_run"] = float(max((run.beats for run in r.v_runs), default=0))
    if a.beats is not None and a.labels.size:
        out["qrs_ms"] = a.beats.dominant_width_s * 1000.0
    return out


def _embedding(a: ECGAnalysis) -> np.ndarray:
    """Fixed-length vector: scaled rhythm figures, then the dominant beat shape (8 points)."""
    vec = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    r = a.rhythm
    vec[0] = a.score
    if r is None or a.beats is None:
        return vec
    n = max(1, a.labels.size)
    counts = _counts(a)
    vec[1:16] = [
        (r.hr_bpm or 0.0) / 200.0,
        min((r.sdnn_ms or 0.0) / 200.0, 2.0),
        min((r.rmssd_ms or 0.0) / 200.0, 2.0),
        counts["V"] / n,
        counts["S"] / n,
        float(r.af_suspect),
        float(r.brady),
        float(r.tachy),
        float(bool(r.pauses)),
        float(bool(r.asystole)),
        float(r.vt),
        min(r.irregularity or 0.0, 1.0),
        min(r.p_wave_ratio or 0.0, 1.0),
        a.beats.dominant_width_s / 0.2,
        a.artifact_fraction,
    ]
    template = a.beats.template
    if template.size >= _TEMPLATE_POINTS and np.ptp(template) > 0:
        points = np.interp(np.linspace(0, template.size - 1, _TEMPLATE_POINTS), np.arange(template.size), template)
        vec[16:] = points / np.ptp(template)
    return vec
