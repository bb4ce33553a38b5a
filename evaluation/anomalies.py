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
the time from the window's start to the first such event. Every event outside
all windows is a false alarm; false alarms per day divide their count by the
days of data.
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
from adapters.generic.encoder import make_generic_encoder
from base.errors import TesseraError

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


def score(series: Series, windows: list[tuple[float, float]], events: list[Event], file: str, key: str) -> FileScore:
    """Windows detected, their delays and the false alarms of one series."""
    detected, delays = 0, []
    for start, end in windows:
        inside = [e.t for e in events if start <= e.t <= end]
        if inside:
            detected += 1
            delays.append(min(inside) - start)
    false_alarms = sum(1 for e in events if not any(s <= e.t <= en for s, en in windows))
    return FileScore(file=file, key=key, windows=len(windows), detected=detected, false_alarms=false_alarms,
                     days=series.days, delays_s=delays, events=len(events))


def evaluate(csv_paths: list[Path], labels: dict[str, list[list[str]]], window_s: float = DEFAULT_WINDOW_S) -> dict:
    """Score every CSV against its labelled windows; totals and per-file results."""
    keys = list(labels)
    files = []
    for path in csv_paths:
        key = match_key(path, keys)
        series = load_csv(path)
        windows = [(parse_time(a), parse_time(b)) for a, b in labels[key]]
        events = detect_events(series, window_s=window_s)
        files.append(score(series, windows, events, str(path), key))
        log.info("%s: %d events", key, len(events))
    total_w = sum(f.windows for f in files)
    delays = [d for f in files for d in f.delays_s]
    days = sum(f.days for f in files)
    return {
        "windows": total_w,
        "detected": sum(f.detected for f in files),
        "detection_rate": sum(f.detected for f in files) / total_w if total_w else math.nan,
        "false_alarms": sum(f.false_alarms for f in files),
        "days": days,
        "false_alarms_per_day": sum(f.false_alarms for f in files) / days if days else math.nan,
        "median_delay_h": statistics.median(delays) / 3600.0 if delays else math.nan,
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
    result = evaluate(list(args.csv), labels, window_s=args.window_s)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for f in result["files"]:
        delay = f"{statistics.median(f['delays_s']) / 3600:.1f} h" if f["delays_s"] else "-"
        print(f"{f['key']:<55} windows {f['detected']}/{f['windows']}  false alarms {f['false_alarms']:>3} "
              f"({f['false_alarms'] / f['days']:.2f}/day)  median delay {delay}")
    print(f"windows detected {result['detected']}/{result['windows']}, "
          f"false alarms {result['false_alarms_per_day']:.3f}/day over {result['days']:.1f} days, "
          f"median detection delay {result['median_delay_h']:.1f} h")
    return 0
