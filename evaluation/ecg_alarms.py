"""Rhythm alarms the hub raises, window by window, set against what the reference beats support.

The hub encodes 10 s windows one at a time; this cuts a record the same way, encodes each
window (both leads where given) and counts the alarm events by kind: from windows judged
usable (`<ecg:sqi:usable>`, the ones a wearer is told about) and from the others (which the
quality gate should keep silent). An alarm from a usable window is *unsupported* when the
reference beats of that window do not show it:

- ventricular run / VT: no three reference V beats in a row there (nor a flutter episode);
- tachycardia: reference rate (median RR) under 90/min, bradycardia: over 55/min (10 % margin
  round the encoder's 100 and 50);
- pause / asystole: no reference RR of 1.5 s or more touching the window (the encoder needs 2 s);
- AF: not judged (the beat annotations carry no rhythm truth here); counted only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adapters.ecg.config import ECGConfig
from adapters.ecg.encoder import ECGEncoder

ALARM_KINDS = ("ventricular_tachycardia", "ventricular_run", "tachycardia", "bradycardia", "pause", "asystole", "af_suspect")
# The alarms that must never come from noise (issue 22's bar): a false one sends a family running.
CRITICAL_KINDS = ("ventricular_tachycardia", "ventricular_run", "tachycardia", "pause", "asystole")
_TACHY_MARGIN, _BRADY_MARGIN = 0.9, 1.1
_PAUSE_SUPPORT_S = 1.5
_RUN_SUPPORT = 3


def _zero() -> dict[str, int]:
    return dict.fromkeys(ALARM_KINDS, 0)


@dataclass(slots=True)
class AlarmCount:
    """Alarm events of a record (or several) cut into windows."""

    seconds: float = 0.0
    usable_s: float = 0.0
    windows: int = 0
    usable_windows: int = 0
    raised: dict[str, int] = field(default_factory=_zero)  # from usable windows
    unsupported: dict[str, int] = field(default_factory=_zero)  # of those, not shown by the reference
    from_flagged: dict[str, int] = field(default_factory=_zero)  # from windows judged noisy or lead-off

    def per_hour(self, kind: str, counts: dict[str, int] | None = None) -> float:
        """Alarms of `kind` per hour of usable signal."""
        return (counts or self.raised)[kind] * 3600.0 / self.usable_s if self.usable_s else float("nan")

    @property
    def unsupported_critical(self) -> int:
        """Unsupported VT, ventricular run, tachycardia, pause and asystole alarms from usable windows."""
        return sum(self.unsupported[k] for k in CRITICAL_KINDS)

    def add(self, other: AlarmCount) -> None:
        """Accumulate another record's counts."""
        self.seconds += other.seconds
        self.usable_s += other.usable_s
        self.windows += other.windows
        self.usable_windows += other.usable_windows
        for mine, theirs in ((self.raised, other.raised), (self.unsupported, other.unsupported), (self.from_flagged, other.from_flagged)):
            for k in ALARM_KINDS:
                mine[k] += theirs[k]

    def as_dict(self) -> dict:
        """JSON-ready counts and rates per hour of usable signal."""
        return {
            "seconds": self.seconds, "usable_s": self.usable_s, "windows": self.windows, "usable_windows": self.usable_windows,
            "raised": dict(self.raised), "unsupported": dict(self.unsupported), "from_flagged": dict(self.from_flagged),
            "per_hour": {k: self.per_hour(k) for k in ALARM_KINDS},
            "unsupported_per_hour": {k: self.per_hour(k, self.unsupported) for k in ALARM_KINDS},
            "unsupported_critical": self.unsupported_critical,
        }


def window_alarms(signal: np.ndarray, fs: float, ref: np.ndarray, ref_classes: list[str], *, vf_spans: list[tuple[int, int]] | None = None, config: ECGConfig | None = None) -> AlarmCount:
    """Encode `signal` (1-D, or leads x samples) in consecutive windows and count its alarms against the reference."""
    config = config or ECGConfig()
    enc = ECGEncoder(fs, config)
    x = np.atleast_2d(signal)
    n = x.shape[1]
    step = int(round(config.window_s * fs))
    ref = np.asarray(ref, dtype=np.int64)
    is_v = np.asarray([c == "V" for c in ref_classes], bool)
    out = AlarmCount()
    for a in range(0, n - step + 1, step):
        b = a + step
        w = enc.encode(x[:, a:b] if x.shape[0] > 1 else x[0, a:b], a / fs)
        kinds = [e.kind for e in w.events if e.kind in ALARM_KINDS]
        usable = "<ecg:sqi:usable>" in w.tokens
        out.windows += 1
        out.seconds += step / fs
        if not usable:
            for k in kinds:
                out.from_flagged[k] += 1
            continue
        out.usable_windows += 1
        out.usable_s += step / fs
        for k in kinds:
            out.raised[k] += 1
            if not _supported(k, ref, is_v, a, b, fs, vf_spans or [], config):
                out.unsupported[k] += 1
    return out


def _supported(kind: str, ref: np.ndarray, is_v: np.ndarray, a: int, b: int, fs: float, vf_spans: list[tuple[int, int]], config: ECGConfig) -> bool:
    """Whether the reference beats of window [a, b) show what alarm `kind` says."""
    inside = (ref >= a) & (ref < b)
    beats = ref[inside]
    if kind in ("ventricular_tachycardia", "ventricular_run"):
        return _longest_run(is_v[inside]) >= _RUN_SUPPORT or any(lo < b and hi > a for lo, hi in vf_spans)
    if kind in ("tachycardia", "bradycardia"):
        if beats.size < 2:
            return kind == "bradycardia"
        hr = 60.0 * fs / float(np.median(np.diff(beats)))
        return hr >= _TACHY_MARGIN * config.tachy_bpm if kind == "tachycardia" else hr <= _BRADY_MARGIN * config.brady_bpm
    if kind in ("pause", "asystole"):
        # The beats round the window too: a gap may start before it or end after it.
        lo, hi = np.searchsorted(ref, a) - 1, np.searchsorted(ref, b) + 1
        span = ref[max(lo, 0): min(hi, ref.size)]
        edges = np.concatenate([[a], span, [b]]) if span.size < 2 else span
        return float(np.max(np.diff(edges))) / fs >= _PAUSE_SUPPORT_S
    return True  # AF: no rhythm truth to judge it by


def _longest_run(flags: np.ndarray) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def format_alarms(label: str, count: AlarmCount) -> str:
    """One line: alarms per hour of usable signal by kind (unsupported in brackets), and any from flagged windows."""
    parts = [f"{k.replace('ventricular_', 'v').replace('tachycardia', 'tachy')} {count.per_hour(k):.1f}/h ({count.unsupported[k]} unsupp.)" if k != "af_suspect" else f"AF {count.per_hour(k):.1f}/h" for k in ALARM_KINDS]
    flagged = sum(count.from_flagged.values())
    return f"{label}: {count.usable_windows}/{count.windows} windows usable; " + ", ".join(parts) + f"; from flagged windows: {flagged}"
