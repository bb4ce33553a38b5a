"""Score the vibration encoder on a labelled set of recordings: accuracy and confusion table.

A labelled set is a directory of recordings (.csv, .npy or .mat) and a manifest,
`labels.csv` or `labels.json`, with one entry per file:

    file         path relative to the directory
    label        healthy | imbalance | misalignment | looseness | outer_race | inner_race | ball | cage
                 (aliases: normal, OR, IR, B, unbalance, ...)
    sample_rate  Hz (required: files do not carry it)
    rpm          shaft speed (optional: a .mat `*RPM` variable, else 1797)
    optional     bearing (catalogue name, e.g. 6205), n_balls, ball_diameter_mm, pitch_diameter_mm,
                 contact_angle_deg, machine_class, units (g, m/s2), channel (DE, FE, BA for .mat)

labels.json is a list of such objects (or {"files": [...]}). A .csv recording
holds one number per row (the first column; a header line is skipped); a .mat
file is read with scipy.io.loadmat and its `*_<channel>_time` array used (the
CWRU layout), else its longest numeric array. Each file is cut into windows of
`--window` seconds; the file's verdict is the commonest fault found in at least a
quarter of its windows, else healthy (see `file_verdict`).

Other manifests' column names are read too (`COLUMN_ALIASES`): the CWRU set's
`fault`, `sample_rate_hz`, `rpm_in_file` (else `nominal_rpm`) and `de_var` (the
.mat array); `outer_race_position` and `load_hp` are reported and can select rows
(`--where load_hp=0`). Besides the file table the report gives a window-level
confusion table with each class's share of windows right, unclear and wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from base.errors import TesseraError

log = logging.getLogger(__name__)

CLASSES = ("healthy", "imbalance", "misalignment", "looseness", "outer_race", "inner_race", "ball", "cage")
SYNTHETIC_CLASSES = ("healthy", "imbalance", "misalignment", "looseness", "outer_race", "inner_race", "ball")
ALIASES = {
    "normal": "healthy", "baseline": "healthy", "ok": "healthy", "good": "healthy", "n": "healthy", "h": "healthy",
    "unbalance": "imbalance", "misalign": "misalignment", "loose": "looseness",
    "or": "outer_race", "outer": "outer_race", "outer race": "outer_race", "bpfo": "outer_race",
    "ir": "inner_race", "inner": "inner_race", "inner race": "inner_race", "bpfi": "inner_race",
    "b": "ball", "bsf": "ball", "rolling_element": "ball", "roller": "ball",
    "ftf": "cage",
}
UNCLEAR = "unclear"  # a window whose bearing impacts no family explains confidently: neither healthy nor a fault
DEFECT_LABELS = {"bpfo": "outer_race", "bpfi": "inner_race", "bsf": "ball", "ftf": "cage"}
ENCODER_OPTIONS = ("bearing", "n_balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg", "machine_class", "units")


class DatasetError(TesseraError):
    """A labelled set that cannot be read: missing manifest, file or column."""


@dataclass(slots=True)
class FileResult:
    """The verdict on one recording."""

    file: str
    label: str
    predicted: str
    sample_rate: float
    zones: str  # zone letter of each window, e.g. "BBC"
    windows: int
    window_labels: tuple[str, ...] = ()  # each window's class (window_label), in order
    position: str = ""  # outer-race defect position from the manifest (e.g. 6:00), if any
    load: str = ""  # load from the manifest (load_hp / load), if any

    @property
    def group(self) -> str:
        """The label, with the outer-race position when the manifest gives one: outer_race@6:00."""
        return f"{self.label}@{self.position}" if self.position else self.label


def canonical_label(label: str) -> str:
    """Map a manifest label or alias to one of CLASSES (unknown labels pass through, lower-cased).

    Besides the names and aliases, CWRU-style codes are understood by their first known word:
    `IR007` -> inner_race, `OR014@6` -> outer_race, `B021` -> ball, `Normal_0` -> healthy.
    """
    key = str(label).strip().lower().replace("-", "_")
    for candidate in (key, key.replace("_", " ")):
        if candidate in CLASSES:
            return candidate
        if candidate in ALIASES:
            return ALIASES[candidate]
    for word in re.findall(r"[a-z]+", key):
        if word in CLASSES:
            return word
        if word in ALIASES:
            return ALIASES[word]
    return key


def window_label(tokens: list[str]) -> str:
    """The class one window's tokens point to: a bearing defect first, then shaft faults, else healthy."""
    for tok in tokens:
        if tok.startswith("<vib:bearing:") and tok.count(":") == 3:
            return DEFECT_LABELS[tok.split(":")[2]]
    if "<vib:bearing:unclear>" in tokens:
        return UNCLEAR
    for fault in ("looseness", "misalignment", "imbalance"):
        if f"<vib:fault:{fault}>" in tokens:
            return fault
    return "healthy"


def file_verdict(labels: list[str], persistence: float = 0.25) -> str:
    """A file's class from its windows' classes: the commonest fault seen in at least `persistence` of the windows.

    A healthy machine almost never shows a defect comb in a window, while a weak real
    defect may show it only in some windows (speed wander, load-zone passes), so a fault
    that persists in a quarter of the windows outweighs a healthy majority.
    """
    if not labels:
        return "healthy"
    need = max(1, int(np.ceil(persistence * len(labels))))
    counts = Counter(labels).most_common()
    faults = [label for label, count in counts if label not in ("healthy", UNCLEAR) and count >= need]
    if faults:
        return faults[0]
    return UNCLEAR if Counter(labels)[UNCLEAR] >= need else "healthy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tessera eval vibration`."""
    parser.add_argument("data", nargs="?", type=Path, help="directory with recordings and labels.csv / labels.json")
    parser.add_argument("--make-synthetic", metavar="DIR", type=Path, help="write a simulated labelled set to DIR (and score it when no DATA is given)")
    parser.add_argument("--rates", default="12000,48000", help="sample rates of the simulated set, Hz (default 12000,48000)")
    parser.add_argument("--per-class", type=int, default=10, help="simulated files per class and rate (default 10)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each simulated file, s (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated set (default 0)")
    parser.add_argument("--window", type=float, default=1.0, help="analysis window, s (default 1)")
    parser.add_argument("--machine-class", default=None, help="ISO machine class when the manifest gives none (default II)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verbose", action="store_true", help="list every file's verdict (always on for a labelled set)")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="score only manifest rows with this value, e.g. load_hp=0 (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Evaluate (and optionally first simulate) a labelled set; print accuracy and confusion."""
    data = args.data
    if args.make_synthetic is not None:
        rates = [float(r) for r in str(args.rates).split(",") if r.strip()]
        make_synthetic(args.make_synthetic, rates, args.per_class, args.seconds, args.seed)
        data = data or args.make_synthetic
    if data is None:
        raise DatasetError("give a labelled set directory, or --make-synthetic DIR")
    where = {}
    for item in args.where:
        key, sep, value = item.partition("=")
        if not sep:
            raise DatasetError(f"--where wants COLUMN=VALUE, got {item!r}")
        where[key.strip()] = value.strip()
    results = evaluate_dir(Path(data), window_s=args.window, machine_class=args.machine_class, where=where)
    report = summarise(results)
    verbose = args.verbose or args.make_synthetic is None
    if args.json:
        if verbose:
            report["files_detail"] = [_as_dict(r) for r in results]
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report, results if verbose else []))
    return 0


def make_synthetic(directory: Path, rates: list[float], per_class: int, seconds: float, seed: int, classes: tuple[str, ...] = SYNTHETIC_CLASSES) -> Path:
    """Write a simulated labelled set (NPY files in g plus labels.csv) and return the manifest path."""
    from firmware_sim.signals.vibration import random_state, simulate

    if per_class < 1 or seconds <= 0 or not rates:
        raise DatasetError("need at least one rate, one file per class and a positive length")
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for rate in rates:
        for label in classes:
            for i in range(per_class):
                state = random_state(label, rng, rate)
                sim = simulate(seconds, rate, state, rng)
                name = f"{label}_{int(rate)}_{i:03d}.npy"
                np.save(directory / name, sim.signal_g.astype(np.float32))
                # A tachometer-free device knows its speed only roughly: declare it within +-0.5%.
                declared = state.rpm * (1 + rng.uniform(-0.005, 0.005))
                rows.append({"file": name, "label": label, "sample_rate": f"{rate:g}", "rpm": f"{declared:.1f}", "bearing": "6205"})
    manifest = directory / "labels.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    log.info("wrote %d simulated recordings to %s", len(rows), directory)
    return manifest


def read_manifest(directory: Path) -> list[dict[str, Any]]:
    """Entries of labels.csv or labels.json in `directory`."""
    if (directory / "labels.json").is_file():
        raw = json.loads((directory / "labels.json").read_text())
        entries = raw.get("files", []) if isinstance(raw, dict) else raw
    elif (directory / "labels.csv").is_file():
        with (directory / "labels.csv").open(newline="") as fh:
            entries = [dict(row) for row in csv.DictReader(fh)]
    else:
        raise DatasetError(f"no labels.csv or labels.json in {directory}")
    entries = [_normalise_entry(e) for e in entries]
    for entry in entries:
        if not entry.get("file") or not entry.get("label"):
            raise DatasetError(f"manifest entry without file or label: {entry}")
    return entries


# Column names other manifests use for the same fields (the CWRU set's labels.csv among them).
COLUMN_ALIASES = {
    "label": ("fault", "class", "condition"),
    "sample_rate": ("sample_rate_hz", "fs", "fs_hz", "rate_hz"),
    "rpm": ("rpm_in_file", "measured_rpm", "rpm_measured"),
    "variable": ("de_var",),
}


def _normalise_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """Fill the canonical keys from their aliases (first non-empty alias wins; a canonical key present stays)."""
    out = dict(entry)
    for key, aliases in COLUMN_ALIASES.items():
        if out.get(key) not in (None, ""):
            continue
        for alias in aliases:
            if entry.get(alias) not in (None, ""):
                out[key] = entry[alias]
                break
    return out


def load_recording(path: Path, channel: str = "DE", variable: str | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Samples of one recording and what the file itself says (e.g. rpm in a CWRU .mat).

    variable: the .mat array to read (the manifest's `variable` / `de_var`), else the `*_<channel>_time` one.
    """
    if not path.is_file():
        raise DatasetError(f"recording not found: {path}")
    suffix = path.suffix.lower()
    meta: dict[str, float] = {}
    if suffix == ".npy":
        x = np.load(path)
    elif suffix == ".csv" or suffix == ".txt":
        x = _load_csv(path)
    elif suffix == ".mat":
        from scipy.io import loadmat

        try:
            mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        except (NotImplementedError, ValueError) as err:  # MATLAB v7.3 (HDF5) or a damaged file
            raise DatasetError(f"cannot read {path.name}: {err}") from err
        arrays = {k: np.asarray(v) for k, v in mat.items() if isinstance(v, np.ndarray) and v.dtype.kind in "fiu"}
        if variable and variable not in arrays:
            raise DatasetError(f"{path.name} has no array {variable!r}")
        keys = [variable] if variable else [k for k in arrays if k.upper().endswith(f"_{channel.upper()}_TIME")]
        # Some CWRU files carry a second record's arrays too: prefer the one numbered like the file.
        keys.sort(key=lambda k: _record_number(k) != _record_number(path.stem))
        if not keys:
            keys = sorted(arrays, key=lambda k: arrays[k].size, reverse=True)[:1]
        if not keys:
            raise DatasetError(f"no numeric array in {path}")
        x = arrays[keys[0]]
        rpm_keys = [k for k in arrays if k.upper().endswith("RPM") and arrays[k].size == 1]
        rpm_keys.sort(key=lambda k: _record_number(k) != _record_number(keys[0]))
        if rpm_keys:
            meta["rpm"] = float(arrays[rpm_keys[0]].ravel()[0])
    else:
        raise DatasetError(f"unsupported recording format {suffix!r} ({path.name}); use .csv, .npy or .mat")
    return np.asarray(x, dtype=np.float64).ravel(), meta


def evaluate_dir(directory: Path, window_s: float = 1.0, machine_class: str | None = None, where: dict[str, str] | None = None) -> list[FileResult]:
    """Encode every recording of a labelled set window by window and vote a label per file.

    where: score only the manifest rows whose columns have these values (e.g. {"load_hp": "0"}).
    """
    from adapters.vibration.encoder import factory

    if not window_s >= 0.25:
        raise DatasetError(f"--window must be at least 0.25 s (the encoder's shortest window), got {window_s}")
    results = []
    for entry in read_manifest(directory):
        if where and any(str(entry.get(k, "")).strip() != v for k, v in where.items()):
            continue
        x, meta = load_recording(directory / entry["file"], str(entry.get("channel") or "DE"), entry.get("variable") or None)
        try:
            rate = float(entry.get("sample_rate") or meta["sample_rate"])
        except KeyError:
            raise DatasetError(f"{entry['file']}: sample_rate missing from the manifest") from None
        options: dict[str, Any] = {k: entry[k] for k in ENCODER_OPTIONS if entry.get(k) not in (None, "")}
        for k in ("n_balls",):
            if k in options:
                options[k] = int(float(options[k]))
        for k in ("ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"):
            if k in options:
                options[k] = float(options[k])
        if machine_class and "machine_class" not in options:
            options["machine_class"] = machine_class
        rpm = float(entry.get("rpm") or meta.get("rpm") or entry.get("nominal_rpm") or 1797.0)
        try:
            encoder = factory(rate, rpm=rpm, window_s=window_s, **options)
        except (TypeError, ValueError) as err:
            raise DatasetError(f"{entry['file']}: {err}") from err
        step = int(round(window_s * rate))
        labels, zones = [], []
        for start in range(0, max(1, x.size - step + 1), step):
            window = encoder.encode(x[start: start + step], start / rate)
            labels.append(window_label(window.tokens))
            zone = next((t[10:-1] for t in window.tokens if t.startswith("<vib:zone:")), "-")
            zones.append(zone)
        votes = Counter(labels).most_common()
        predicted = file_verdict(labels)
        position = str(entry.get("outer_race_position") or entry.get("position") or "").strip()
        load = str(entry.get("load_hp") or entry.get("load") or "").strip()
        results.append(
            FileResult(entry["file"], canonical_label(entry["label"]), predicted, rate, "".join(zones), len(labels), tuple(labels), position, load)
        )
        log.debug("%s: %s -> %s (%s)", entry["file"], entry["label"], predicted, dict(votes))
    return results


def summarise(results: list[FileResult]) -> dict[str, Any]:
    """Accuracy, per-class recall, confusion counts, zones of healthy files, accuracy per rate."""
    labels = sorted({r.label for r in results} | {r.predicted for r in results}, key=_class_order)
    confusion = {t: {p: 0 for p in labels} for t in labels}
    for r in results:
        confusion[r.label][r.predicted] += 1
    per_class = {}
    for t in labels:
        n = sum(confusion[t].values())
        if n:
            per_class[t] = {"n": n, "recall": confusion[t][t] / n}
    by_rate: dict[str, dict[str, float]] = {}
    for rate in sorted({r.sample_rate for r in results}):
        sub = [r for r in results if r.sample_rate == rate]
        by_rate[f"{rate:g}"] = {"n": len(sub), "accuracy": sum(r.label == r.predicted for r in sub) / len(sub)}
    healthy = [r for r in results if r.label == "healthy"]
    return {
        "windows": summarise_windows(results),
        "files": len(results),
        "accuracy": sum(r.label == r.predicted for r in results) / len(results) if results else 0.0,
        "by_rate": by_rate,
        "per_class": per_class,
        "confusion": confusion,
        "healthy_files": len(healthy),
        "healthy_zone_d": sum("D" in r.zones for r in healthy),
        "zones_by_label": {t: dict(Counter("".join(r.zones for r in results if r.label == t))) for t in labels},
    }


def summarise_windows(results: list[FileResult]) -> dict[str, Any]:
    """Window-level scores: confusion (rows: true class, with the outer-race position when given), accuracy per row.

    A window is right when its class is the file's label; `unclear` counts as not right but is no
    wrong fault; `wrong_fault` counts windows named a fault other than the file's (healthy included).
    """
    rows = sorted({r.group for r in results}, key=lambda g: (_class_order(g.split("@")[0]), g))
    predicted = sorted({w for r in results for w in r.window_labels}, key=_class_order)
    confusion = {g: {p: 0 for p in predicted} for g in rows}
    for r in results:
        for w in r.window_labels:
            confusion[r.group][w] += 1
    per_row = {}
    for g in rows:
        label = g.split("@")[0]
        n = sum(confusion[g].values())
        if not n:
            continue
        unclear = confusion[g].get(UNCLEAR, 0)
        wrong = n - confusion[g].get(label, 0) - unclear - (0 if label == "healthy" else confusion[g].get("healthy", 0))
        per_row[g] = {
            "n": n,
            "accuracy": confusion[g].get(label, 0) / n,
            "unclear": unclear / n,
            "called_healthy": confusion[g].get("healthy", 0) / n if label != "healthy" else 0.0,
            "wrong_fault": wrong / n,
        }
    total = sum(len(r.window_labels) for r in results)
    right = sum(sum(w == r.label for w in r.window_labels) for r in results)
    return {"n": total, "accuracy": right / total if total else 0.0, "confusion": confusion, "per_class": per_row}


def format_report(report: dict[str, Any], details: list[FileResult]) -> str:
    """Plain-text report: accuracy, per-rate accuracy, confusion table (rows true, columns predicted)."""
    lines = [f"files: {report['files']}   accuracy: {report['accuracy']:.1%}"]
    for rate, r in report["by_rate"].items():
        lines.append(f"  at {rate} Hz: {r['accuracy']:.1%} of {int(r['n'])}")
    lines.append(f"healthy files with a zone D window: {report['healthy_zone_d']} of {report['healthy_files']}")
    labels = list(report["confusion"])
    short = [lab[:9] for lab in labels]
    width = max(len(lab) for lab in labels) + 2
    lines.append("")
    lines.append("true \\ predicted".ljust(width) + " ".join(s.rjust(9) for s in short) + "   recall")
    for t in labels:
        row = report["confusion"][t]
        recall = report["per_class"].get(t, {}).get("recall")
        lines.append(t.ljust(width) + " ".join(str(row[p]).rjust(9) for p in labels) + (f"   {recall:.0%}" if recall is not None else ""))
    win = report.get("windows")
    if win and win["n"]:
        cols = list(next(iter(win["confusion"].values())))
        width = max(len(g) for g in win["confusion"]) + 2
        lines.append("")
        lines.append(f"windows: {win['n']}   accuracy: {win['accuracy']:.1%}")
        lines.append("true \\ predicted".ljust(width) + " ".join(c[:10].rjust(10) for c in cols) + "   right  unclear  wrong")
        for g, row in win["confusion"].items():
            pc = win["per_class"][g]
            lines.append(
                g.ljust(width) + " ".join(str(row[c]).rjust(10) for c in cols)
                + f"   {pc['accuracy']:5.0%}  {pc['unclear']:6.0%}  {pc['wrong_fault']:5.0%}"
            )
    if details:
        lines.append("")
    for r in details:
        votes = ", ".join(f"{k} {v}" for k, v in Counter(r.window_labels).most_common())
        lines.append(f"{r.file}: {r.group} -> {r.predicted}  windows: {votes}  zones {r.zones}")
    return "\n".join(lines)


def _class_order(label: str) -> tuple[int, str]:
    return (CLASSES.index(label) if label in CLASSES else len(CLASSES), label)


def _as_dict(r: FileResult) -> dict[str, Any]:
    d = {k: getattr(r, k) for k in r.__slots__}
    d["window_labels"] = list(r.window_labels)
    return d


def _record_number(name: str) -> int | None:
    digits = "".join(ch if ch.isdigit() else " " for ch in name).split()
    return int(digits[0]) if digits else None


def _load_csv(path: Path) -> np.ndarray:
    with path.open() as fh:
        first = fh.readline()
    try:
        float(first.split(",")[0])
        skip = 0
    except ValueError:
        skip = 1
    data = np.loadtxt(path, delimiter="," if "," in first else None, skiprows=skip, ndmin=2)
    return data[:, 0]
