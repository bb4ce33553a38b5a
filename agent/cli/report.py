"""`tessera report KIND`: a recording or a simulated signal drawn as PNG, the encoder's summary beside it.

The pictures themselves are drawn by agent/report.py; this module reads files, runs the
simulators of firmware_sim/ and turns options into the renderers' arguments.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from adapters.ecg.records import read_record
from evaluation.anomalies import load_csv
from base.bearing import BearingGeometry, bearing_from
from evaluation.vibration import load_recording
from agent.report import RenderedReport, ReportError, render_ecg_strip, render_scalar_chart, render_traffic_chart, render_vibration_spectra
from firmware_sim.sensors import VibrationNode
from firmware_sim.signals import scalar, traffic, vibration
from firmware_sim.signals.ecg import synthesize_ecg

KINDS = ("ecg", "vibration", "traffic", "scalar")
SIM_T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight (UTC): simulated days start there, as time-of-day baselines expect
DAY_S = 86400.0
DEFAULT_SECONDS = {"ecg": 10.0, "vibration": 1.0, "traffic": DAY_S, "scalar": 3 * DAY_S}  # files: streams default to all of it
WFDB_SUFFIXES = ("", ".hea", ".dat", ".mat")
TABLE_SUFFIXES = (".csv", ".npy")
DEFAULT_RPM = 1797.0  # the CWRU rig's motor at no load, as the vibration encoder assumes
INCIDENT_CAPACITY = 0.4  # share of capacity an injected incident leaves (one of three lanes blocked)
# Injected scalar anomalies: (duration s, size in units of the sensor's daily swing, or a noise multiplier).
ANOMALY_SHAPES = {"spike": (0.0, 1.0), "level_shift": (0.0, 0.8), "stuck": (3 * 3600.0, 0.0), "noise_burst": (2 * 3600.0, 8.0)}

EXAMPLES = """examples:
  tessera report ecg /work/shared/data/ecg/a103l --start 60 --duration 20s
  tessera report ecg --simulate --bpm 130 --v-fraction 0.1
  tessera report vibration pump.npy --rate 12800 --rpm 1780 --bearing 6205
  tessera report vibration --simulate --fault outer_race
  tessera report traffic loops.csv --period 30 --t0 2024-05-02T00:00
  tessera report traffic --simulate --incident 14:00
  tessera report scalar nab/realKnownCause/ambient_temperature_system_failure.csv
  tessera report scalar --simulate --sensor current --anomaly spike --anomaly stuck
"""


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `report`."""
    report = commands.add_parser(
        "report", help="draw a recording or a simulated signal as PNG (ECG strip, vibration spectra, traffic, scalar sensor) "
                       "with the encoder's summary",
        usage="tessera report KIND [FILE | --simulate] [options]",
        description="Draw what an encoder found as a PNG, with a Markdown file beside it holding the encoder's summary, "
                    "events and the caption.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common_options(report)
    options = KindOptions(report)
    _add_source_options(options.group(KINDS, "recording", "file"))
    _add_ecg_options(options.group(("ecg",), "ECG"), options.group(("ecg",), "ECG simulation", "simulate"))
    _add_vibration_options(options.group(("vibration",), "vibration"), options.group(("vibration",), "vibration simulation", "simulate"))
    streams = ("traffic", "scalar")
    _add_stream_options(options.group(streams, "traffic and scalar"), options.group(streams, "traffic and scalar recording", "file"))
    _add_traffic_options(options.group(("traffic",), "traffic simulation", "simulate"))
    _add_scalar_options(options.group(("scalar",), "scalar"), options.group(("scalar",), "scalar simulation", "simulate"))
    report.set_defaults(func=cmd_report, kind_options=options)


AddOption = Callable[..., argparse.Action]


class KindOptions:
    """Options that only some kinds take, and only for a file or only for a simulation: refused elsewhere, not ignored."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self.owners: dict[str, tuple[tuple[str, ...], Any, str]] = {}  # dest -> kinds, default, "file" | "simulate" | "any"

    def group(self, kinds: tuple[str, ...], title: str, mode: str = "any") -> AddOption:
        """An argument group whose options belong to `kinds`, for files, simulations or both (`mode`)."""
        group = self.parser.add_argument_group(f"{title} options")

        def add(*flags: str, **kw: Any) -> argparse.Action:
            action = group.add_argument(*flags, **kw)
            self.owners[action.dest] = (kinds, action.default, mode)
            return action

        return add

    def check(self, args: argparse.Namespace) -> None:
        """Refuse an option given for another kind, or a simulation's on a file (and the other way round)."""
        for dest, (kinds, default, mode) in self.owners.items():
            if getattr(args, dest) == default:
                continue
            flag = "--" + dest.replace("_", "-")
            if args.kind not in kinds:
                raise ReportError(f"{flag} is for {' and '.join(kinds)} reports, not {args.kind}")
            if mode == "simulate" and not args.simulate:
                raise ReportError(f"{flag} shapes a simulated signal: add --simulate, or leave it out for a recording")
            if mode == "file" and args.simulate:
                raise ReportError(f"{flag} applies to recordings, not to --simulate")


def _add_common_options(report: argparse.ArgumentParser) -> None:
    add = report.add_argument
    add("kind", metavar="KIND", help=f"what to draw: {', '.join(KINDS)}")
    add("source", nargs="?", metavar="FILE", help="recording: a WFDB record (ECG), .csv or .npy (vibration also .mat); or use --simulate")
    add("--simulate", action="store_true", help="draw a signal from firmware_sim's simulators instead of a file")
    add("--out", type=Path, metavar="DIR", default=Path("reports"), help="directory to write to (default ./reports)")
    add("--name", metavar="STEM", help="file name without extension (default: the recording's name or 'simulated', then the kind)")
    add("--rate", type=float, metavar="HZ", help="sample rate, Hz (files without one; simulations: ECG 250, vibration 12800)")
    add("--period", type=_seconds, metavar="T", help="sample period instead of --rate, for slow streams (e.g. 30s; traffic default 30s, scalar 60s)")
    add("--duration", type=_seconds, metavar="T", help="how much to draw, e.g. 10s, 5m, 24h, 3d (default: ECG 10s, vibration 1s, "
                                                       "traffic and scalar: the whole file, or 1d and 3d simulated)")
    add("--seed", type=int, default=0, metavar="N", help="random seed of a simulation (default 0)")
    add("--json", action="store_true", help="print the paths, summary and events as JSON")


def _add_source_options(add: AddOption) -> None:
    add("--start", type=_seconds, default=0.0, metavar="T", help="where in the recording to begin, e.g. 90 or 1.5m (default 0)")


def _add_ecg_options(add: AddOption, sim: AddOption) -> None:
    add("--channel", metavar="LEAD", help="lead of a WFDB record, by name or index (default: MLII, II, ... whichever it has)")
    sim("--bpm", type=float, default=72.0, help="heart rate (default 72)")
    sim("--v-fraction", type=float, default=0.0, metavar="F", help="share of beats replaced by ventricular premature beats (PVC), 0-0.45")
    sim("--s-fraction", type=float, default=0.0, metavar="F", help="share of beats replaced by supraventricular premature beats, 0-0.45")
    sim("--af", action="store_true", help="atrial fibrillation")


def _add_vibration_options(add: AddOption, sim: AddOption) -> None:
    add("--rpm", type=float, metavar="RPM", help="shaft speed (default: a .mat file's RPM, else 1797)")
    add("--bearing", default="6205", metavar="B", help="bearing: 6205, 6203, or n_balls,ball_mm,pitch_mm[,contact_deg] (default 6205)")
    add("--machine-class", default="II", metavar="C", help="ISO 10816 machine class for the severity zone (default II)")
    sim("--fault", choices=vibration.FAULTS, default="healthy", metavar="F",
        help=f"machine condition: {', '.join(vibration.FAULTS)} (default healthy)")
    sim("--severity", type=float, default=1.0, metavar="S", help="fault severity, 1 = the simulator's reference size (default 1)")


def _add_stream_options(add: AddOption, recording: AddOption) -> None:
    add("--window", type=_seconds, metavar="T", help="encoder window (default: traffic 5m, scalar 60 samples)")
    recording("--t0", type=_timestamp, metavar="ISO", help="clock time of the first sample, ISO 8601 in UTC (files without timestamps)")


def _add_traffic_options(sim: AddOption) -> None:
    sim("--incident", type=_time_of_day, action="append", metavar="HH:MM", help="inject an incident between the stations at this time (repeatable)")
    sim("--incident-minutes", type=float, default=30.0, metavar="MIN", help="how long each incident blocks the road (default 30)")


def _add_scalar_options(add: AddOption, sim: AddOption) -> None:
    add("--label", metavar="TEXT", help="what the sensor measures (default: the file's or the simulated sensor's name)")
    add("--unit", metavar="TEXT", help="its unit (default: the simulated sensor's; none for files)")
    sim("--sensor", choices=sorted(scalar.PROFILES), default="temperature", metavar="NAME",
        help=f"simulated sensor: {', '.join(sorted(scalar.PROFILES))} (default temperature)")
    sim("--anomaly", choices=sorted(ANOMALY_SHAPES), action="append", metavar="KIND",
        help=f"inject an anomaly after the first day: {', '.join(sorted(ANOMALY_SHAPES))} (repeatable)")


# -- the command -------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """Draw one report and print the paths written."""
    runners: dict[str, Callable[[argparse.Namespace], RenderedReport]] = {
        "ecg": _ecg_report, "vibration": _vibration_report, "traffic": _traffic_report, "scalar": _scalar_report}
    if args.kind not in runners:
        raise ReportError(f"unknown report kind {args.kind!r}; choose one of {', '.join(KINDS)}")
    _check_source(args)
    args.kind_options.check(args)
    report = runners[args.kind](args)
    if args.json:
        print(json.dumps({"png": str(report.png), "text": str(report.text), "summary": report.summary,
                          "events": [e.describe() for e in report.events]}, indent=2))
    else:
        print(report.png)
        print(report.text)
    return 0


def _check_source(args: argparse.Namespace) -> None:
    if args.simulate and args.source:
        raise ReportError(f"give a recording or --simulate, not both (got {args.source})")
    if not args.simulate and not args.source:
        raise ReportError(f"nothing to draw: give a recording, e.g. tessera report {args.kind} FILE, or --simulate")
    if args.source and not Path(args.source).exists() and not Path(args.source).with_suffix(".hea").exists():
        raise ReportError(f"no such file: {args.source}")
    if args.rate is not None and args.period is not None:
        raise ReportError("give --rate or --period, not both")
    if args.rate is not None and not (math.isfinite(args.rate) and args.rate > 0):
        raise ReportError(f"--rate must be a positive number of Hz, got {args.rate:g}")


def _png(args: argparse.Namespace) -> Path:
    stem = args.name or f"{Path(args.source).stem if args.source else 'simulated'}-{args.kind}"
    return args.out / f"{stem}.png"


def _duration(args: argparse.Namespace, whole: float | None = None) -> float:
    """Seconds to draw: --duration, else the kind's default (the whole recording for streams read from a file)."""
    if args.duration is not None:
        if args.duration <= 0:
            raise ReportError(f"--duration must be positive, got {args.duration:g} s")
        return args.duration
    return whole if whole is not None else DEFAULT_SECONDS[args.kind]


def _rate(args: argparse.Namespace, default: float | None = None, source: str = "") -> float:
    """Samples per second from --rate or --period, else `default`; a file that carries none needs one of them."""
    if args.rate is not None:
        return args.rate
    if args.period is not None:
        if args.period <= 0:
            raise ReportError(f"--period must be positive, got {args.period:g} s")
        return 1.0 / args.period
    if default is None:
        raise ReportError(f"{source} carries no sample rate: give --rate HZ or --period SECONDS")
    return default


def _stretch(x: np.ndarray, rate: float, args: argparse.Namespace, whole: bool = False) -> tuple[np.ndarray, float]:
    """The part of a recording from --start for --duration (all of the rest when `whole` and no --duration)."""
    total = x.shape[-1] / rate
    if args.start < 0 or args.start >= total:
        raise ReportError(f"--start {args.start:g} s lies outside the {total:g} s recording")
    seconds = _duration(args, whole=total - args.start if whole else None)
    i0 = int(round(args.start * rate))
    return x[..., i0:i0 + int(round(seconds * rate))], args.start


def _simulated(make: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a simulator; its complaints about the options given are the user's to fix."""
    try:
        return make(*args, **kwargs)
    except ValueError as err:
        raise ReportError(f"cannot simulate that: {err}") from err


# -- per kind ----------------------------------------------------------------------------------


def _ecg_report(args: argparse.Namespace) -> RenderedReport:
    if args.simulate:
        rate = _rate(args, 250.0)
        # The ECG patch's own recording conditions: 30 dB SNR, a little baseline wander.
        ecg = _simulated(synthesize_ecg, _duration(args), rate, args.bpm, rng=np.random.default_rng(args.seed), v_fraction=args.v_fraction,
                         s_fraction=args.s_fraction, af=args.af, snr_db=30.0, baseline_mv=0.05)
        return render_ecg_strip(ecg.signal, rate, _png(args), title=f"simulated ECG, {args.bpm:g} bpm")
    x, rate, title = _read_ecg(Path(args.source), args)
    x, start = _stretch(x, rate, args)
    return render_ecg_strip(x, rate, _png(args), start_s=start, title=title)


def _read_ecg(path: Path, args: argparse.Namespace) -> tuple[np.ndarray, float, str]:
    """One lead in mV: a WFDB record's (its own rate; the lead by --channel) or a table's first column at --rate."""
    if path.suffix.lower() in TABLE_SUFFIXES:
        if args.channel is not None:
            raise ReportError("--channel picks a lead of a WFDB record; a .csv or .npy is read from its first column")
        return _read_columns(path)[0], _rate(args, source=path.name), path.stem
    if path.suffix.lower() not in WFDB_SUFFIXES:
        raise ReportError(f"{path.name}: an ECG report reads a WFDB record (.hea), .csv or .npy, not {path.suffix}")
    if args.rate is not None or args.period is not None:
        raise ReportError(f"{path.name} is a WFDB record and carries its own sample rate: leave out --rate/--period")
    record = read_record(path, channel=args.channel)
    return record.signal, record.fs, f"{record.name} lead {record.lead}"


def _vibration_report(args: argparse.Namespace) -> RenderedReport:
    bearing = _bearing(args.bearing)
    if args.simulate:
        x, rate, options, title = _simulated_vibration(args, bearing)
    else:
        x, rate, options, title = _read_vibration(Path(args.source), args, bearing)
    return render_vibration_spectra(x, rate, _png(args), title=title, options={**options, "machine_class": args.machine_class})


def _simulated_vibration(args: argparse.Namespace, bearing: BearingGeometry) -> tuple[np.ndarray, float, dict[str, Any], str]:
    """A vibration node's signal; the encoder learns rpm and bearing from the node's meta, as on the wire."""
    rate = _rate(args, 12800.0)
    node = VibrationNode("simulated-vibration", rate_hz=rate, rpm=args.rpm if args.rpm is not None else DEFAULT_RPM, seed=args.seed)
    node.state = _simulated(replace, node.state, bearing=bearing, fault=args.fault, severity=args.severity)
    meta = node.metadata()
    signal = _simulated(vibration.simulate, _duration(args), rate, node.state, node.rng).signal_g
    return signal, rate, {"rpm": meta["rpm"], "bearing": meta["bearing"]}, f"simulated vibration node, {args.fault}"


def _read_vibration(path: Path, args: argparse.Namespace, bearing: BearingGeometry) -> tuple[np.ndarray, float, dict[str, Any], str]:
    """Acceleration in g from .csv, .npy or a CWRU-style .mat (which may carry the rpm), as `tessera eval vibration` reads it."""
    try:
        x, meta = load_recording(path)
    except ValueError as err:
        raise ReportError(f"cannot read {path.name}: {err}") from err
    rate = _rate(args, source=path.name)
    x, start = _stretch(x, rate, args)
    rpm = args.rpm if args.rpm is not None else meta.get("rpm", DEFAULT_RPM)
    return x, rate, {"rpm": rpm, "bearing": bearing}, f"{path.name} from {start:g} s"


def _traffic_report(args: argparse.Namespace) -> RenderedReport:
    window = args.window or 300.0
    if args.simulate:
        profile = _simulated(traffic.TrafficProfile, interval_s=1.0 / _rate(args, 1.0 / 30.0))
        minutes = args.incident_minutes * 60.0
        incidents = [traffic.Incident(SIM_T0 + hours * 3600.0, minutes, INCIDENT_CAPACITY) for hours in args.incident or []]
        rec = traffic.simulate(_duration(args), SIM_T0, incidents=incidents, profile=profile, seed=args.seed)
        return render_traffic_chart(rec.stacked(), 1.0 / profile.interval_s, _png(args), t0=SIM_T0,
                                    title="simulated loop-detector pair", window_s=window)
    path = Path(args.source)
    x = _read_columns(path)
    rate = _rate(args, source=path.name)
    x, start = _stretch(x, rate, args, whole=True)
    return render_traffic_chart(x, rate, _png(args), t0=(args.t0 or 0.0) + start, title=path.name, window_s=window)


def _scalar_report(args: argparse.Namespace) -> RenderedReport:
    if args.simulate:
        x, rate, t0, label, unit = _simulated_scalar(args)
    else:
        x, rate, t0, label = _read_scalar(Path(args.source), args)
        unit = ""
    options = {"label": args.label or label, "unit": args.unit if args.unit is not None else unit}
    return render_scalar_chart(x, rate, _png(args), t0=t0, title=options["label"], window_s=args.window, options=options)


def _simulated_scalar(args: argparse.Namespace) -> tuple[np.ndarray, float, float, str, str]:
    profile, seconds, kinds = scalar.PROFILES[args.sensor], _duration(args), args.anomaly or []
    if kinds and seconds <= DAY_S:
        raise ReportError("anomalies are injected after the detector's one-day warm-up: give a --duration longer than 1d")
    # Spread the anomalies evenly over what follows the warm-up day.
    starts = [SIM_T0 + DAY_S + (i + 0.5) / len(kinds) * (seconds - DAY_S) for i in range(len(kinds))]
    anomalies = [scalar.Anomaly(kind, at, ANOMALY_SHAPES[kind][0], _anomaly_size(kind, profile.daily_amplitude))
                 for kind, at in zip(kinds, starts)]
    period = 1.0 / _rate(args, 1.0 / 60.0)
    rec = _simulated(scalar.simulate, profile, seconds, period, SIM_T0, anomalies=anomalies, seed=args.seed)
    return rec.values, 1.0 / period, SIM_T0, profile.name, profile.unit


def _anomaly_size(kind: str, daily_swing: float) -> float:
    size = ANOMALY_SHAPES[kind][1]
    return size if kind == "noise_burst" else size * daily_swing


def _read_scalar(path: Path, args: argparse.Namespace) -> tuple[np.ndarray, float, float, str]:
    """A NAB-style `timestamp,value` CSV (its own clock and period), or a .npy at --rate from --t0."""
    if path.suffix.lower() == ".csv":
        if args.rate is not None or args.period is not None or args.t0 is not None:
            raise ReportError(f"{path.name} carries its own timestamps: leave out --rate, --period and --t0")
        series = load_csv(path)
        x, start = _stretch(series.values, 1.0 / series.period_s, args, whole=True)
        return x, 1.0 / series.period_s, series.t0 + start, path.stem
    column = _read_columns(path)[0]
    rate = _rate(args, source=path.name)
    x, start = _stretch(column, rate, args, whole=True)
    return x, rate, (args.t0 or 0.0) + start, path.stem


# -- files and option values -------------------------------------------------------------------


def _read_columns(path: Path) -> np.ndarray:
    """(channels, n) from a .csv (one column a channel, an optional header line, empty cells are gaps) or a .npy."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ReportError(f"{path.name}: expected a .csv or .npy file, not {suffix or 'no extension'}")
    try:
        data = np.load(path, allow_pickle=False) if suffix == ".npy" else np.genfromtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as err:
        raise ReportError(f"cannot read {path.name}: {err}") from err
    data = np.atleast_2d(np.asarray(data, dtype=np.float64))
    if suffix == ".csv" and data.size and np.isnan(data[0]).all():
        data = data[1:]  # a header line reads as a row of NaN
    # Channels are the short side: a (n, 3) table is three channels of n samples.
    return data.T if data.shape[0] > data.shape[1] else data


def _bearing(text: str) -> BearingGeometry:
    parts = text.split(",")
    try:
        if len(parts) == 1:
            return bearing_from(text)
        names = ("n_balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg")
        if len(parts) not in (3, 4):
            raise ValueError("give n_balls,ball_mm,pitch_mm or n_balls,ball_mm,pitch_mm,contact_deg")
        return bearing_from(dict(zip(names, (float(p) for p in parts))))
    except ValueError as err:
        raise ReportError(f"--bearing {text}: {err}") from err


def _seconds(text: str) -> float:
    """A duration such as 90, 90s, 1.5m, 24h or 3d, in seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S}
    text = text.strip().lower()
    scale = units.get(text[-1:], None)
    try:
        seconds = float(text[:-1] if scale else text) * (scale or 1.0)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 90s, 5m, 24h, 3d)")
    return seconds


def _time_of_day(text: str) -> float:
    """HH:MM as hours after midnight."""
    try:
        parsed = datetime.strptime(text.strip(), "%H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time of day: {text!r} (e.g. 14:00)") from None
    return parsed.hour + parsed.minute / 60.0


def _timestamp(text: str) -> float:
    """An ISO 8601 time (UTC unless it says otherwise) as epoch seconds."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2024-05-02T06:00)") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
