"""Score the generic encoder's anomaly events against labelled windows (Numenta Anomaly Benchmark format).

Each CSV has a header and rows `timestamp,value` (timestamps as NAB writes them,
read as UTC). The series is put on a regular grid at its median spacing (missing
slots become NaN, which the encoder treats as gaps) and streamed through a fresh
generic encoder in windows of `--window-s`.

The labels file maps a file path relative to the data root (e.g.
`realKnownCause/nyc_taxi.csv`) to a list of `[start, end]` windows. A CSV is
matched to the key that its path ends with (whole path components); failing
that, to the one key with the same file name. A CSV with no key is an error.

Scores: a window is detected if at least one event falls inside it; its delay is
the time from the window's start to the first such event, and its share the
delay over the window's length (0 = at its start, 1 = at its end). Every event
outside all windows is a false alarm; false alarms per day divide their count by
the days of data. The NAB score (three profiles, normalised so that detecting
nothing is 0 and every window at its start is 100) is computed as in
`evaluation/nab.py`.

The same files are also run through a rolling 3-sigma rule
(`evaluation.nab.rolling_three_sigma`) so that one report compares the two.
With `--published FILE` (NAB's published detectors' detections, as in
`shared/data/nab/published_detections.json`: detector -> {"detections": {key:
[timestamps]}}) each published detector is scored on the same files by the same
scorer, and the report gives every detector's NAB score per category (the first
component of the label key) and overall. `--profile` picks the NAB profile whose
event threshold the detector uses (`PROFILE_SENSITIVITY`) and whose score is shown.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np

from adapters.base import Event
from adapters.generic.detector import PROFILE_SENSITIVITY
from adapters.generic.encoder import make_generic_encoder
from base.errors import TesseraError
from evaluation import nab

log = logging.getLogger(__name__)

DEFAULT_WINDOW_S = 3600.0


@dataclass(slots=True)
class Series:
    """A regularly sampled series: values (NaN where missing), first time and period."""

    name: str
    t0: float
    period_s: float
    values: np.ndarray

    @property
    def days(self) -> float:
        """Length of the series in days."""
        return self.values.size * self.period_s / 86400.0


@dataclass(slots=True)
class FileScore:
    """Detection results for one labelled series."""

    file: str
    key: str
    windows: int
    detected: int
    false_alarms: int
    days: float
    delays_s: list[float] = field(default_factory=list)
    events: int = 0
    shares: list[float] = field(default_factory=list)  # first detection's place in each detected window
    nab_raw: dict[str, list[float]] = field(default_factory=dict)  # profile -> [raw, null, perfect]


def parse_time(text: str) -> float:
    """Epoch seconds of a NAB timestamp such as `2014-04-01 00:05:00` (UTC)."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise TesseraError(f"not a timestamp: {text!r}") from err
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def load_csv(path: Path) -> Series:
    """Read `timestamp,value` rows onto a regular grid at the median spacing."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as err:
        raise TesseraError(f"cannot read {path}: {err}") from err
    if rows and rows[0] and not _is_number(rows[0][-1]):
        rows = rows[1:]  # header
    pairs = []
    for row in rows:
        if len(row) < 2:
            continue
        value = float(row[1]) if _is_number(row[1]) else math.nan
        pairs.append((parse_time(row[0]), value))
    if len(pairs) < 2:
        raise TesseraError(f"{path}: need at least two rows of timestamp,value")
    pairs.sort()
    t = np.array([p[0] for p in pairs])
    v = np.array([p[1] for p in pairs])
    steps = np.diff(t)
    period = float(np.median(steps[steps > 0])) if np.any(steps > 0) else 0.0
    if period <= 0:
        raise TesseraError(f"{path}: timestamps do not advance")
    idx = np.round((t - t[0]) / period).astype(np.int64)
    grid = np.full(int(idx[-1]) + 1, np.nan)
    grid[idx] = v  # a duplicate slot keeps the later row
    return Series(name=str(path), t0=float(t[0]), period_s=period, values=grid)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def match_key(path: Path, keys: list[str]) -> str:
    """The label key whose path components end the CSV path, else the one with its file name."""
    parts = PurePosixPath(path.as_posix()).parts
    for key in keys:
        kparts = PurePosixPath(key).parts
        if len(kparts) <= len(parts) and tuple(parts[-len(kparts):]) == kparts:
            return key
    same_name = [k for k in keys if PurePosixPath(k).name == path.name]
    if len(same_name) == 1:
        return same_name[0]
    if len(same_name) > 1:
        raise TesseraError(f"{path}: ambiguous labels {', '.join(same_name)}; pass the CSV under its data-root path")
    raise TesseraError(f"{path}: no labels for this file (keys end with e.g. {keys[0] if keys else '(none)'})")


def detect_events(series: Series, window_s: float = DEFAULT_WINDOW_S, **options: object) -> list[Event]:
    """Stream a series through a fresh generic encoder and collect its events."""
    encoder = make_generic_encoder(1.0 / series.period_s, window_s=window_s, **options)
    n = max(1, int(round(window_s / series.period_s)))
    events: list[Event] = []
    for start in range(0, series.values.size, n):
        window = encoder.encode(series.values[start:start + n], series.t0 + start * series.period_s)
        events.extend(window.events)
    return events


def baseline_times(series: Series) -> list[float]:
    """Alarm times of the rolling 3-sigma rule on a series."""
    return [series.t0 + r * series.period_s for r in nab.rolling_three_sigma(series.values, series.period_s)]


def score(series: Series, windows: list[tuple[float, float]], events: list[Event] | list[float], file: str,
          key: str) -> FileScore:
    """Windows detected, their delays and shares, the false alarms and the NAB scores of one series."""
    times = [e if isinstance(e, (int, float)) else e.t for e in events]
    detected, delays, shares = 0, [], []
    for start, end in windows:
        inside = [t for t in times if start <= t <= end]
        if inside:
            detected += 1
            delays.append(min(inside) - start)
            shares.append((min(inside) - start) / (end - start) if end > start else 0.0)
    false_alarms = sum(1 for t in times if not any(s <= t <= en for s, en in windows))
    n = series.values.size
    rows = nab.rows_of(series.t0, series.period_s, n, times)
    win_rows = [tuple(nab.rows_of(series.t0, series.period_s, n, [a, b])) for a, b in windows]
    raw = {}
    for profile in nab.PROFILES:
        r = nab.score_file(n, win_rows, rows, profile)  # type: ignore[arg-type]
        raw[profile.name] = [r.score, r.null, r.perfect]
    return FileScore(file=file, key=key, windows=len(windows), detected=detected, false_alarms=false_alarms,
                     days=series.days, delays_s=delays, events=len(times), shares=shares, nab_raw=raw)


def evaluate(csv_paths: list[Path], labels: dict[str, list[list[str]]], window_s: float = DEFAULT_WINDOW_S,
             detector: str = "generic", baseline: bool = False, **options: object) -> dict:
    """Score every CSV against its labelled windows; totals and per-file results.

    `detector` is `generic` (the generic encoder, with `options` as its settings) or
    `3sigma` (the rolling 3-sigma rule). With `baseline`, the result also holds the
    3-sigma rule's result on the same files under `baseline`.
    """
    if detector not in ("generic", "3sigma"):
        raise TesseraError(f"unknown detector {detector!r}: generic or 3sigma")
    keys = list(labels)
    files = []
    for path in csv_paths:
        key = match_key(path, keys)
        series = load_csv(path)
        windows = [(parse_time(a), parse_time(b)) for a, b in labels[key]]
        if detector == "generic":
            events: list = detect_events(series, window_s=window_s, **options)
        else:
            events = baseline_times(series)
        files.append(score(series, windows, events, str(path), key))
        log.info("%s: %d events", key, len(events))
    result = _totals(files, detector)
    if baseline and detector != "3sigma":
        result["baseline"] = evaluate(csv_paths, labels, window_s=window_s, detector="3sigma")
    return result


def load_published(path: Path) -> dict[str, dict[str, list[float]]]:
    """Published detections: detector name -> label key -> detection times (epoch seconds)."""
    try:
        data = json.loads(Path(path).read_text())
        return {name: {key: [parse_time(t) for t in times] for key, times in entry["detections"].items()}
                for name, entry in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise TesseraError(f"cannot read published detections {path}: {err}; expected "
                           '{"DETECTOR": {"detections": {"dir/file.csv": ["2014-04-01 00:05:00", ...]}}}') from err


def score_published(csv_paths: list[Path], labels: dict[str, list[list[str]]],
                    published: dict[str, dict[str, list[float]]]) -> dict[str, dict]:
    """Each published detector's detections scored like Tessera's events, on the same files."""
    keys = list(labels)
    series = []
    for path in csv_paths:
        key = match_key(path, keys)
        series.append((path, key, load_csv(path), [(parse_time(a), parse_time(b)) for a, b in labels[key]]))
    out = {}
    for name, detections in published.items():
        files = []
        for path, key, s, windows in series:
            if key not in detections:
                raise TesseraError(f"published detector {name} has no detections for {key}")
            files.append(score(s, windows, detections[key], str(path), key))
        out[name] = _totals(files, name)
    return out


def by_category(result: dict, profile: str = "standard") -> dict[str, float]:
    """NAB score of one profile per category (the label key's first component), and `overall`."""
    groups: dict[str, list[dict]] = {}
    for f in result["files"]:
        groups.setdefault(PurePosixPath(f["key"]).parts[0], []).append(f)
    out = {}
    for name, files in sorted(groups.items()) + [("overall", result["files"])]:
        raw, null, perfect = (sum(f["nab_raw"][profile][i] for f in files) for i in range(3))
        out[name] = nab.normalise(raw, null, perfect) if any(f["windows"] for f in files) else math.nan
    return out


def _events_in(result: dict, category: str) -> int:
    return sum(f["events"] for f in result["files"] if PurePosixPath(f["key"]).parts[0] == category)


def _totals(files: list[FileScore], detector: str) -> dict:
    total_w = sum(f.windows for f in files)
    delays = [d for f in files for d in f.delays_s]
    shares = [d for f in files for d in f.shares]
    days = sum(f.days for f in files)
    nab_scores = {}
    for profile in nab.PROFILES:
        raw, null, perfect = (sum(f.nab_raw[profile.name][i] for f in files) for i in range(3))
        nab_scores[profile.name] = nab.normalise(raw, null, perfect) if total_w else math.nan
    return {
        "detector": detector,
        "windows": total_w,
        "detected": sum(f.detected for f in files),
        "detection_rate": sum(f.detected for f in files) / total_w if total_w else math.nan,
        "false_alarms": sum(f.false_alarms for f in files),
        "days": days,
        "false_alarms_per_day": sum(f.false_alarms for f in files) / days if days else math.nan,
        "median_delay_h": statistics.median(delays) / 3600.0 if delays else math.nan,
        "median_share": statistics.median(shares) if shares else math.nan,
        "mean_share": statistics.fmean(shares) if shares else math.nan,
        "nab": nab_scores,
        "files": [asdict(f) for f in files],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tessera eval anomalies`."""
    parser.add_argument("--csv", action="append", required=True, type=Path, metavar="FILE",
                        help="timestamp,value CSV to score (repeat for several)")
    parser.add_argument("--labels", required=True, type=Path, metavar="LABELS.json",
                        help="NAB-style windows: {\"dir/file.csv\": [[start, end], ...]}")
    parser.add_argument("--window-s", type=float, default=DEFAULT_WINDOW_S,
                        help=f"encoder window in seconds (default {DEFAULT_WINDOW_S:g})")
    parser.add_argument("--no-baseline", action="store_true", help="skip the rolling 3-sigma comparison")
    parser.add_argument("--profile", choices=list(PROFILE_SENSITIVITY), default="standard",
                        help="NAB profile: sets the detector's event threshold and the score shown (default standard)")
    parser.add_argument("--published", type=Path, metavar="FILE",
                        help="published detectors' detections (NAB published_detections.json) to score beside Tessera")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print the scores."""
    try:
        labels = json.loads(Path(args.labels).read_text())
    except (OSError, ValueError) as err:
        raise TesseraError(f"cannot read labels {args.labels}: {err}") from err
    if not isinstance(labels, dict):
        raise TesseraError(f"{args.labels}: expected an object mapping file paths to windows")
    if not (args.window_s > 0):
        raise TesseraError(f"--window-s must be positive, got {args.window_s}")
    published = load_published(args.published) if args.published else {}
    result = evaluate(list(args.csv), labels, window_s=args.window_s, baseline=not args.no_baseline,
                      sensitivity=PROFILE_SENSITIVITY[args.profile])
    if published:
        result["published"] = score_published(list(args.csv), labels, published)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for res in [result] + ([result["baseline"]] if "baseline" in result else []):
        name = "generic encoder" if res["detector"] == "generic" else "rolling 3-sigma (1 day, 1 alarm/h)"
        print(f"== {name}")
        for f in res["files"]:
            delay = f"{statistics.median(f['delays_s']) / 3600:.1f} h" if f["delays_s"] else "-"
            shares = ",".join(f"{s:.2f}" for s in f["shares"]) or "-"
            std = nab.normalise(*f["nab_raw"]["standard"]) if f["windows"] else math.nan
            print(f"{f['key']:<55} windows {f['detected']}/{f['windows']}  false alarms {f['false_alarms']:>3} "
                  f"({f['false_alarms'] / f['days']:.2f}/day)  median delay {delay}  first at {shares}  "
                  f"NAB standard {std:.1f}")
        scores = "  ".join(f"{k} {v:.1f}" for k, v in res["nab"].items())
        print(f"windows detected {res['detected']}/{res['windows']}, "
              f"false alarms {res['false_alarms_per_day']:.3f}/day over {res['days']:.1f} days, "
              f"median detection delay {res['median_delay_h']:.1f} h, "
              f"median first detection at {res['median_share']:.2f} of the window; NAB {scores}")
    if published:
        _print_categories(result, args.profile)
    return 0


def _print_categories(result: dict, profile: str) -> None:
    """One line per detector: NAB score of the profile per category and overall, windows and false alarms."""
    rows = [("Tessera generic", result)] + ([("rolling 3-sigma", result["baseline"])] if "baseline" in result else [])
    rows += sorted(result["published"].items(), key=lambda kv: -by_category(kv[1], profile)["overall"])
    cats = list(by_category(result, profile))
    widths = [max(9, len(c) + 2) for c in cats]
    print(f"== NAB {profile} per category (same files, same scorer; a category without windows: its events)")
    print(f"{'detector':<20}" + "".join(f"{c:>{w}}" for c, w in zip(cats, widths)) + f"{'windows':>10}{'FA/day':>8}")
    for name, res in rows:
        scores = by_category(res, profile)
        cells = [f"{scores[c]:.1f}" if not math.isnan(scores[c]) else f"{_events_in(res, c)} ev" for c in cats]
        print(f"{name:<20}" + "".join(f"{v:>{w}}" for v, w in zip(cells, widths))
              + f"{res['detected']:>6}/{res['windows']:<3}{res['false_alarms_per_day']:>8.3f}")
