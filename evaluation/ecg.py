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
from evaluation.ecg_alarms import AlarmCount, format_alarms, window_alarms
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


def score_beats(name: str, ref: np.ndarray, ref_classes: list[str], det: np.ndarray, det_labels: np.ndarray, fs: float, *, start_s: float = 0.0, exclude: list[tuple[int, int]] | None = None) -> Score:
    """AAMI-style counts for detections `det` (labels `det_labels`) against the reference beats.

    `exclude`: sample spans left out of the comparison on both sides (EC57: ventricular
    flutter/fibrillation episodes, where there are flutter waves rather than beats).
    """
    tol = int(round(MATCH_WINDOW_S * fs))
    lo = int(start_s * fs)
    keep_r = (ref >= lo) & ~_inside(ref, exclude)
    ref, ref_classes = ref[keep_r], [c for c, k in zip(ref_classes, keep_r) if k]
    keep_d = (det >= lo) & ~_inside(det, exclude)
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


def _inside(x: np.ndarray, spans: list[tuple[int, int]] | None) -> np.ndarray:
    out = np.zeros(x.size, bool)
    for a, b in spans or ():
        out |= (x >= a) & (x < b)
    return out


def score_record(record: ECGRecord, config: ECGConfig | None = None, *, start_s: float = 0.0, second_lead: np.ndarray | None = None) -> Score:
    """Run the ECG analysis over a whole record (both leads with `second_lead`) and score it against its annotations."""
    if record.ref_samples.size == 0:
        raise TesseraError(f"record {record.name} has no beat annotations to score against")
    signal = record.signal if second_lead is None else np.vstack([record.signal, second_lead])
    analysis = analyze_ecg(signal, record.fs, config)
    return score_beats(record.name, record.ref_samples, record.ref_classes, analysis.r_peaks, analysis.labels, record.fs, start_s=start_s, exclude=record.vf_spans)


NOISE_DIR = Path("/work/shared/data/nstdb")
NOISE_START_S = 300.0  # NSTDB: clean for the first 5 minutes, then 2-minute noisy and clean segments in turn
NOISE_SEGMENT_S = 120.0
# NSTDB's electrode-motion record is not in the shared data: `motion` synthesizes its physics
# (firmware_sim.signals.ecg.electrode_motion), the same seeded artefacts for every record, as the
# real noise records are the same for every record.
MOTION = "motion"
MOTION_SEED = 20240622
QRS_HALF_S = 0.060  # peak-to-peak QRS amplitude is measured within +/-60 ms of each reference beat


def noise_segments(n: int, fs: float) -> np.ndarray:
    """Per-sample mask of the NSTDB noisy segments: minutes 5-7, 9-11, 13-15, ... of the record."""
    t = np.arange(n) / fs
    k = np.floor((t - NOISE_START_S) / NOISE_SEGMENT_S)
    return (t >= NOISE_START_S) & (k % 2 == 0)


def qrs_amplitudes(signal: np.ndarray, fs: float, ref: np.ndarray) -> np.ndarray:
    """Peak-to-peak amplitude of each reference QRS (within +/-60 ms), the largest and smallest 5% dropped."""
    half = max(1, int(round(QRS_HALF_S * fs)))
    ref = ref[(ref >= half) & (ref + half < signal.size)]
    if ref.size == 0:
        raise TesseraError("no reference beats to measure the QRS amplitude from")
    seg = signal[ref[:, None] + np.arange(-half, half + 1)[None, :]]
    amp = np.sort(np.ptp(seg, axis=1))
    cut = int(0.05 * amp.size)
    return amp[cut: amp.size - cut] if amp.size - 2 * cut > 0 else amp


def signal_power(signal: np.ndarray, fs: float, ref: np.ndarray) -> float:
    """S of nst: the mean squared peak-to-peak QRS amplitude over 8 (a sine of peak-to-peak A has power A^2/8)."""
    return float(np.mean(qrs_amplitudes(signal, fs, ref) ** 2) / 8.0)


def load_noise(kinds: tuple[str, ...], n: int, fs: float, channel: int = 0, directory: Path = NOISE_DIR) -> np.ndarray:
    """Real NSTDB noise (records `bw`, `ma`, ...) or synthesized electrode motion (`motion`) of `n` samples at `fs`, zero mean and unit power.

    Several kinds are each scaled to unit power and summed with equal shares (then rescaled to
    unit power), so 'bw,ma' is half baseline wander, half muscle artefact by power. A channel
    the noise record lacks takes its last one; a record shorter than `n` is repeated.
    """
    import wfdb
    from scipy.signal import resample_poly

    from firmware_sim.signals.ecg import electrode_motion

    total = np.zeros(n)
    for kind in kinds:
        if kind == MOTION:
            total += electrode_motion(n, fs, MOTION_SEED, channel)
            continue
        path = directory / kind
        if not path.with_suffix(".hea").exists():
            raise TesseraError(f"no noise record {path} (NSTDB {kind!r}); the kinds are NSTDB record names (bw, ma) or {MOTION!r}")
        rec = wfdb.rdrecord(str(path))
        x = np.asarray(rec.p_signal[:, min(channel, rec.n_sig - 1)], dtype=np.float64)
        if rec.fs != fs:
            x = resample_poly(x, int(round(fs)), int(round(rec.fs)))
        x = np.tile(x, int(np.ceil(n / x.size)))[:n] if x.size < n else x[:n]
        x = x - x.mean()
        total += x / max(float(np.sqrt(np.mean(x * x))), 1e-12)
    total -= total.mean()
    return total / max(float(np.sqrt(np.mean(total * total))), 1e-12)


def mix_noise(signal: np.ndarray, fs: float, ref: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """The record with `noise` added the NSTDB way at `snr_db`; returns (noisy signal, noisy-segment mask).

    SNR as nst defines it: SNR = 10 log10(S / N), with S the mean squared peak-to-peak QRS
    amplitude over 8 (`signal_power`, from the reference beats of the clean record) and N the
    noise power, the mean square of the scaled noise within the noisy segments. The noise is
    scaled by sqrt(S / (N0 * 10^(SNR/10))), N0 its own power over those segments, and added
    only within the noisy segments (`noise_segments`); elsewhere the record stays clean.
    """
    mask = noise_segments(signal.size, fs)
    if not mask.any():
        return signal.copy(), mask
    s = signal_power(signal, fs, ref)
    n0 = float(np.mean(noise[mask] ** 2))
    gain = np.sqrt(s / (max(n0, 1e-20) * 10 ** (snr_db / 10.0)))
    return signal + gain * noise * mask, mask


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray, fs: float, ref: np.ndarray, mask: np.ndarray) -> float:
    """SNR in dB of a mixed record, measured back: S from the clean record's QRS, N from what was added."""
    added = (noisy - clean)[mask]
    return float(10 * np.log10(signal_power(clean, fs, ref) / float(np.mean(added * added))))


def xqrs_detect(signal: np.ndarray, fs: float) -> np.ndarray:
    """Beats found by wfdb.processing.XQRS on the same signal, the reference detector."""
    import wfdb.processing

    xqrs = wfdb.processing.XQRS(sig=np.asarray(signal, dtype=np.float64), fs=fs)
    xqrs.detect(verbose=False)
    return np.asarray(xqrs.qrs_inds, dtype=np.int64)


@dataclass(slots=True)
class NoiseScore:
    """One record under added noise: our detector on all beats and on usable windows, XQRS on all beats."""

    name: str
    snr_db: float
    ours: Score
    usable: Score  # reference and detected beats inside windows judged usable
    xqrs: Score
    flagged_s: float = 0.0  # seconds judged noisy or lead-off
    noisy_flagged_s: float = 0.0  # of those, seconds inside the noisy segments
    seconds: float = 0.0
    noisy_s: float = 0.0  # seconds of noisy segments
    vt_flagged: int = 0  # VT runs / asystole gaps raised from a flagged window (must stay 0)
    measured_snr_db: float = float("nan")
    alarms: AlarmCount = field(default_factory=AlarmCount)  # the hub's 10 s windows of the noisy signal

    def add(self, other: NoiseScore) -> None:
        self.ours.add(other.ours)
        self.usable.add(other.usable)
        self.xqrs.add(other.xqrs)
        for name in ("flagged_s", "noisy_flagged_s", "seconds", "noisy_s", "vt_flagged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.alarms.add(other.alarms)

    def as_dict(self) -> dict:
        return {
            "name": self.name, "snr_db": self.snr_db, "measured_snr_db": self.measured_snr_db,
            "se": self.ours.se, "ppv": self.ours.ppv, "usable_se": self.usable.se, "usable_ppv": self.usable.ppv,
            "xqrs_se": self.xqrs.se, "xqrs_ppv": self.xqrs.ppv,
            "flagged_share": self.flagged_s / self.seconds if self.seconds else float("nan"),
            "flagged_share_noisy": self.noisy_flagged_s / self.noisy_s if self.noisy_s else float("nan"),
            "alarms_from_flagged": self.vt_flagged,
            "tp": self.ours.tp, "fn": self.ours.fn, "fp": self.ours.fp, "v_ppv": self.ours.class_ppv("V"),
            "alarms": self.alarms.as_dict(),
        }


def score_noisy_record(record: ECGRecord, snr_db: float, kinds: tuple[str, ...], *, config: ECGConfig | None = None, duration_s: float | None = None, xqrs: bool = True, noise_dir: Path = NOISE_DIR, second_lead: np.ndarray | None = None) -> NoiseScore:
    """Mix NSTDB noise into `record` at `snr_db`, analyse it, and score it beside XQRS on the same signal.

    With `second_lead` (the record's other lead) that lead gets the noise record's second channel
    at the same SNR (its own QRS amplitude), as nst does per signal, and the analysis sees both
    leads. XQRS, a one-lead detector, runs on the first lead.
    """
    fs = record.fs
    n = record.signal.size if duration_s is None else min(record.signal.size, int(duration_s * fs))
    clean = record.signal[:n]
    ref_keep = record.ref_samples < n
    ref = record.ref_samples[ref_keep]
    classes = [c for c, k in zip(record.ref_classes, ref_keep) if k]
    noise = load_noise(kinds, n, fs, 0, noise_dir)
    noisy, mask = mix_noise(clean, fs, ref, noise, snr_db)
    if second_lead is not None:
        noisy2, _ = mix_noise(second_lead[:n], fs, ref, load_noise(kinds, n, fs, 1, noise_dir), snr_db)
        both = np.vstack([noisy, noisy2])
    else:
        both = noisy
    a = analyze_ecg(both, fs, config)
    vf = record.vf_spans  # EC57: flutter/fibrillation episodes are not scored beat by beat
    ours = score_beats(record.name, ref, classes, a.r_peaks, a.labels, fs, exclude=vf)
    flagged = a.unusable_mask(n)
    ref_ok, det_ok = ~flagged[ref], ~flagged[a.r_peaks] if a.r_peaks.size else np.zeros(0, bool)
    usable = score_beats(record.name, ref[ref_ok], [c for c, k in zip(classes, ref_ok) if k], a.r_peaks[det_ok], a.labels[det_ok], fs, exclude=vf)
    xq = Score(record.name)
    if xqrs:
        xd = xqrs_detect(noisy, fs)
        xq = score_beats(record.name, ref, classes, xd, np.full(xd.size, "N"), fs, exclude=vf)
    alarms = 0
    if a.rhythm is not None:
        for run in a.rhythm.v_runs:
            if a.rhythm.vt and run.clean and run.regular and run.beats >= (config or ECGConfig()).vt_min_beats:
                alarms += int(flagged[min(n - 1, int(run.start_s * fs))])
        for gap in a.rhythm.asystole:
            lo, hi = int(gap.start_s * fs), int((gap.start_s + gap.length_s) * fs)
            alarms += int(flagged[lo:hi].any())
    window_count = window_alarms(both, fs, ref, classes, vf_spans=vf, config=config)
    return NoiseScore(
        record.name, snr_db, ours, usable, xq,
        flagged_s=float(flagged.sum() / fs), noisy_flagged_s=float((flagged & mask).sum() / fs),
        seconds=n / fs, noisy_s=float(mask.sum() / fs), vt_flagged=alarms,
        measured_snr_db=measured_snr_db(clean, noisy, fs, ref, mask) if mask.any() else float("nan"),
        alarms=window_count,
    )


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
    parser.add_argument("--seconds", type=float, default=None, help="with --snr: analyse only the first this many seconds of each record")
    parser.add_argument("--channel", default=None, help="lead name or index (default: MLII, II, ... else the first)")
    parser.add_argument("--annotator", default="atr", help="annotation file extension (default atr)")
    parser.add_argument("--start", type=float, default=0.0, help="ignore beats before this many seconds (EC57 learning period)")
    parser.add_argument("--snr", type=float, default=None, metavar="DB", help="add NSTDB noise at this SNR (nst definition) the NSTDB way and compare with XQRS")
    parser.add_argument("--noise", default="bw,ma", help="noise to mix, comma-separated: NSTDB records (bw, ma) and/or 'motion' (synthesized electrode motion) (default bw,ma)")
    parser.add_argument("--noise-dir", type=Path, default=NOISE_DIR, help="directory of the NSTDB noise records")
    parser.add_argument("--records", default=None, help="comma-separated record names, read from --data-dir")
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data/mitdb"), help="directory for --records")
    parser.add_argument("--no-xqrs", action="store_true", help="skip the XQRS comparison")
    parser.add_argument("--one-lead", action="store_true", help="analyse the first lead only (default: both leads where the record has two)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Score every record named and print Se, +P and the confusion table."""
    paths = [Path(p) for p in args.record]
    if getattr(args, "records", None):
        paths += [args.data_dir / name.strip() for name in args.records.split(",") if name.strip()]
    if getattr(args, "snr", None) is not None:
        return _run_noisy(args, paths)
    if args.synthetic_set is not None:
        existing = sorted(args.synthetic_set.glob("*.hea"))
        paths += [p.with_suffix("") for p in existing] if existing else write_synthetic_set(args.synthetic_set, duration_s=args.duration)
    if not paths:
        raise TesseraError("name at least one --record PATH or a --synthetic-set DIR")
    total = Score("total")
    scores = []
    alarms = AlarmCount()
    for path in paths:
        record = read_record(path, channel=args.channel, extension=args.annotator)
        second = None if args.one_lead else _other_lead(path, record.lead)
        score = score_record(record, start_s=args.start, second_lead=second)
        scores.append(score)
        total.add(score)
        signal = record.signal if second is None else np.vstack([record.signal, second])
        alarms.add(window_alarms(signal, record.fs, record.ref_samples, record.ref_classes, vf_spans=record.vf_spans))
    if args.json:
        print(json.dumps({"records": [s.as_dict() for s in scores], "total": total.as_dict(), "alarms": alarms.as_dict()}, indent=2))
    else:
        print(format_report(scores, total))
        print(format_alarms("alarms in 10 s windows", alarms))
    return 0


def _run_noisy(args: argparse.Namespace, paths: list[Path]) -> int:
    """Noise-stress evaluation: each record mixed with NSTDB noise at --snr, ours beside XQRS."""
    if not paths:
        raise TesseraError("name at least one --record PATH or --records NAMES to mix noise into")
    kinds = tuple(k.strip() for k in args.noise.split(",") if k.strip())
    duration = args.seconds
    total: NoiseScore | None = None
    rows = []
    for path in paths:
        record = read_record(path, channel=args.channel, extension=args.annotator)
        second = None if args.one_lead else _other_lead(path, record.lead)
        row = score_noisy_record(record, args.snr, kinds, duration_s=duration, xqrs=not args.no_xqrs, noise_dir=args.noise_dir, second_lead=second)
        rows.append(row)
        if total is None:
            total = NoiseScore("total", args.snr, Score("total"), Score("total"), Score("total"))
        total.add(row)
    assert total is not None
    if args.json:
        print(json.dumps({"records": [r.as_dict() for r in rows], "total": total.as_dict()}, indent=2))
    else:
        print(format_noise_report(rows, total))
    return 0


def _other_lead(path: Path, lead: str) -> np.ndarray | None:
    """The record's first lead other than `lead` (mV), or None for a one-lead record."""
    import wfdb

    header = wfdb.rdheader(str(path))
    others = [k for k, name in enumerate(header.sig_name) if name != lead]
    return read_record(path, channel=others[0]).signal if others else None


def format_noise_report(rows: list[NoiseScore], total: NoiseScore) -> str:
    """Per record: ours Se/+P on all beats and on usable windows, share of time flagged, XQRS Se/+P."""
    head = f"{'record':<10} {'SNR dB':>7} {'Se %':>7} {'+P %':>7} {'use Se%':>8} {'use +P%':>8} {'flag %':>7} {'flagN %':>7} {'XQRS Se':>8} {'XQRS +P':>8} {'alarm!':>6}"
    lines = [head]
    for r in [*rows, total] if len(rows) > 1 else rows:
        d = r.as_dict()
        snr = f"{r.measured_snr_db:.1f}" if r.measured_snr_db == r.measured_snr_db else f"{r.snr_db:.1f}"
        lines.append(
            f"{r.name:<10} {snr:>7} {_pct(d['se']):>7} {_pct(d['ppv']):>7} {_pct(d['usable_se']):>8} {_pct(d['usable_ppv']):>8} "
            f"{_pct(d['flagged_share']):>7} {_pct(d['flagged_share_noisy']):>7} {_pct(d['xqrs_se']):>8} {_pct(d['xqrs_ppv']):>8} {r.vt_flagged:>6}"
        )
    lines.append("use: beats in windows judged usable; flag: share of time judged noisy/lead-off (flagN: within the noisy segments); alarm!: VT/asystole from a flagged window")
    lines.append(format_alarms("alarms in 10 s windows", total.alarms))
    return "\n".join(lines)


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
