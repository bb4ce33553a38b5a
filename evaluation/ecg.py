"""Score ECG beat detection and classes against WFDB reference annotations (AAMI EC57, 150 ms window).

Each detected beat is matched one-to-one with the nearest reference beat within 150 ms.
Sensitivity Se = TP / (TP + FN) and positive predictivity +P = TP / (TP + FP) measure
detection; the confusion table crosses reference AAMI classes (N S V F Q) with the
detected class (N S V, or "-" for missed), plus the unmatched detections. V sensitivity
counts missed V beats as misses. `--synthetic-set DIR` writes Tessera's synthetic
evaluation records (250/360/500 Hz; clean; 10 dB SNR with baseline wander; a 6 dB stress case) and scores them.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from adapters.ecg.analysis import analyze_ecg
from adapters.ecg.config import ECGConfig
from adapters.ecg.records import ECGRecord, read_record, write_record
from base.errors import TesseraError

log = logging.getLogger(__name__)

MATCH_WINDOW_S = 0.150
REF_CLASSES = ("N", "S", "V", "F", "Q")
DET_CLASSES = ("N", "S", "V", "-")

# The synthetic evaluation set: (name, options) per sample rate; truth is written as `atr`.
SYNTHETIC_RATES = (250, 360, 500)
# Each record draws its own lead shape and two ventricular foci, so the set is not one morphology.
_COMMON: dict[str, object] = {"v_fraction": 0.08, "s_fraction": 0.05, "vary_morphology": True, "v_forms": 2}
SYNTHETIC_CONDITIONS: dict[str, dict[str, object]] = {
    "clean": dict(_COMMON),
    "noisy": {**_COMMON, "snr_db": 10.0, "noise": "mixed", "baseline_mv": 0.5},
    # Beyond the targets: 6 dB, strong wander, mains hum and frequent V beats.
    "stress": {**_COMMON, "v_fraction": 0.12, "snr_db": 6.0, "noise": "mixed", "baseline_mv": 1.0, "powerline_hz": 60.0, "powerline_mv": 0.1},
}


@dataclass(slots=True)
class Score:
    """Detection and classification counts of one record (or the sum of several)."""

    name: str
    tp: int = 0
    fn: int = 0
    fp: int = 0
    # confusion[ref][det]: ref in REF_CLASSES, det in DET_CLASSES
    confusion: dict[str, dict[str, int]] = field(default_factory=lambda: {r: dict.fromkeys(DET_CLASSES, 0) for r in REF_CLASSES})
    extra: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("N", "S", "V"), 0))  # unmatched detections by class

    @property
    def se(self) -> float:
        """Beat detection sensitivity."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        """Beat detection positive predictivity."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    def class_se(self, cls: str) -> float:
        """Share of reference beats of `cls` detected and labelled `cls` (missed ones count against)."""
        row = self.confusion[cls]
        total = sum(row.values())
        return row.get(cls, 0) / total if total else float("nan")

    def class_ppv(self, cls: str) -> float:
        """Share of detections labelled `cls` whose reference is `cls`."""
        called = sum(self.confusion[r][cls] for r in REF_CLASSES) + self.extra[cls]
        return self.confusion[cls][cls] / called if called else float("nan")

    def add(self, other: Score) -> None:
        """Accumulate another record's counts (gross statistics)."""
        self.tp += other.tp
        self.fn += other.fn
        self.fp += other.fp
        for r in REF_CLASSES:
            for d in DET_CLASSES:
                self.confusion[r][d] += other.confusion[r][d]
        for d in self.extra:
            self.extra[d] += other.extra[d]

    def as_dict(self) -> dict:
        """JSON-ready counts and rates."""
        out = asdict(self)
        out.update(se=self.se, ppv=self.ppv, v_se=self.class_se("V"), v_ppv=self.class_ppv("V"), s_se=self.class_se("S"), s_ppv=self.class_ppv("S"))
        return out


def match_beats(ref: np.ndarray, det: np.ndarray, tolerance: int) -> np.ndarray:
    """For each reference beat the index of its matched detection, or -1; one-to-one, nearest first."""
    match = np.full(ref.size, -1, np.int64)
    used = np.zeros(det.size, bool)
    right = np.searchsorted(det, ref)
    for k, r in enumerate(ref):
        best, best_d = -1, tolerance + 1
        # Nearest unused detection on either side (at most a few steps from the insertion point).
        for j in (right[k] - 2, right[k] - 1, right[k], right[k] + 1):
            if 0 <= j < det.size and not used[j]:
                d = abs(int(det[j]) - int(r))
                if d <= tolerance and d < best_d:
                    best, best_d = j, d
        if best >= 0:
            used[best] = True
            match[k] = best
    return match


def score_beats(name: str, ref: np.ndarray, ref_classes: list[str], det: np.ndarray, det_labels: np.ndarray, fs: float, *, start_s: float = 0.0) -> Score:
    """AAMI-style counts for detections `det` (labels `det_labels`) against the reference beats."""
    tol = int(round(MATCH_WINDOW_S * fs))
    lo = int(start_s * fs)
    keep_r = ref >= lo
    ref, ref_classes = ref[keep_r], [c for c, k in zip(ref_classes, keep_r) if k]
    keep_d = det >= lo
    det, det_labels = det[keep_d], det_labels[keep_d]
    match = match_beats(ref, det, tol)
    s = Score(name)
    s.tp = int((match >= 0).sum())
    s.fn = int(ref.size - s.tp)
    s.fp = int(det.size - s.tp)
    for cls, m in zip(ref_classes, match):
        s.confusion[cls]["-" if m < 0 else str(det_labels[m])] += 1
    unmatched = np.ones(det.size, bool)
    unmatched[match[match >= 0]] = False
    for lab in det_labels[unmatched]:
        s.extra[str(lab)] += 1
    return s


def score_record(record: ECGRecord, config: ECGConfig | None = None, *, start_s: float = 0.0) -> Score:
    """Run the ECG analysis over a whole record and score it against its annotations."""
    if record.ref_samples.size == 0:
        raise TesseraError(f"record {record.name} has no beat annotations to score against")
    analysis = analyze_ecg(record.signal, record.fs, config)
    return score_beats(record.name, record.ref_samples, record.ref_classes, analysis.r_peaks, analysis.labels, record.fs, start_s=start_s)


def write_synthetic_set(directory: str | Path, *, duration_s: float = 300.0, seed: int = 20240601, rates: tuple[int, ...] = SYNTHETIC_RATES) -> list[Path]:
    """Write the synthetic evaluation records (one per rate and condition) with truth annotations."""
    from firmware_sim.signals.ecg import synthesize_ecg

    paths = []
    for i, fs in enumerate(rates):
        for j, (cond, options) in enumerate(SYNTHETIC_CONDITIONS.items()):
            rng = np.random.default_rng([seed, fs, j])
            hr = float(rng.uniform(55.0, 95.0))
            ecg = synthesize_ecg(duration_s, fs, hr, rng=rng, **options)
            paths.append(write_record(directory, f"{cond}_{fs}", ecg.signal, fs, ecg.r_peaks, ecg.labels))
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tessera eval ecg`."""
    parser.add_argument("--record", action="append", default=[], metavar="PATH", help="WFDB record path without extension (repeatable)")
    parser.add_argument("--synthetic-set", metavar="DIR", type=Path, help="write the synthetic evaluation set into DIR (if absent) and score it")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per synthetic record (default 300)")
    parser.add_argument("--channel", default=None, help="lead name or index (default: MLII, II, ... else the first)")
    parser.add_argument("--annotator", default="atr", help="annotation file extension (default atr)")
    parser.add_argument("--start", type=float, default=0.0, help="ignore beats before this many seconds (EC57 learning period)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Score every record named and print Se, +P and the confusion table."""
    paths = [Path(p) for p in args.record]
    if args.synthetic_set is not None:
        existing = sorted(args.synthetic_set.glob("*.hea"))
        paths += [p.with_suffix("") for p in existing] if existing else write_synthetic_set(args.synthetic_set, duration_s=args.duration)
    if not paths:
        raise TesseraError("name at least one --record PATH or a --synthetic-set DIR")
    total = Score("total")
    scores = []
    for path in paths:
        record = read_record(path, channel=args.channel, extension=args.annotator)
        score = score_record(record, start_s=args.start)
        scores.append(score)
        total.add(score)
    if args.json:
        print(json.dumps({"records": [s.as_dict() for s in scores], "total": total.as_dict()}, indent=2))
    else:
        print(format_report(scores, total))
    return 0


def format_report(scores: list[Score], total: Score) -> str:
    """Per-record Se / +P / V Se, then the gross confusion table."""
    lines = [f"{'record':<16} {'beats':>6} {'TP':>6} {'FN':>5} {'FP':>5} {'Se %':>7} {'+P %':>7} {'V Se %':>7} {'V +P %':>7}"]
    for s in [*scores, total] if len(scores) > 1 else scores:
        lines.append(f"{s.name:<16} {s.tp + s.fn:>6} {s.tp:>6} {s.fn:>5} {s.fp:>5} {_pct(s.se):>7} {_pct(s.ppv):>7} {_pct(s.class_se('V')):>7} {_pct(s.class_ppv('V')):>7}")
    lines.append("")
    lines.append("reference \\ detected " + "".join(f"{d:>8}" for d in DET_CLASSES))
    for r in REF_CLASSES:
        lines.append(f"{r:<20} " + "".join(f"{total.confusion[r][d]:>8}" for d in DET_CLASSES))
    lines.append(f"{'(no reference)':<20} " + "".join(f"{total.extra.get(d, 0):>8}" for d in ("N", "S", "V")) + f"{'':>8}")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.2f}"
