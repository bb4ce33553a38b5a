"""Pictures of what the encoders found: ECG strips, vibration spectra, traffic and scalar charts as PNG.

Each renderer takes samples and their rate, runs the modality's own encoder (beats, envelope
spectra, defect frequencies, incidents and anomalies are never worked out here), draws with
matplotlib's object-oriented API on the Agg canvas (no pyplot, so any thread may render), and
writes a PNG with a Markdown file beside it (same name, `.md`) holding the encoder's summary,
its events and the figure's caption. The gateway attaches both to a report; `tessera report`
(agent/cli/report.py) is the command-line face.

matplotlib is imported where a figure is made, not at the top: `tessera` builds every command's
parser at start, which imports this module, and matplotlib would slow every command by 0.4 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from adapters import Encoder, Event, TokenizedWindow
from adapters.ecg import make_ecg_encoder
from adapters.ecg.analysis import MIN_SECONDS as ECG_MIN_SECONDS
from adapters.ecg.analysis import ECGAnalysis
from adapters.generic import make_generic_encoder
from adapters.traffic import make_traffic_encoder
from adapters.vibration.encoder import DEFECT_NAMES, VibrationSpectra
from adapters.vibration.encoder import factory as make_vibration_encoder
from base.errors import TesseraError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

MAX_STRIP_S = 60.0  # longer ECG strips stop being readable beat by beat; pick a stretch with start_s
ROW_S = 10.0  # one row of ECG paper, as a 12-lead printout's rhythm strip
MM_PER_S, MM_PER_MV = 25.0, 10.0  # standard paper speed and gain
EPOCH_FLOOR = 1e9  # t0 from here on (2001) is a clock time; smaller t0 is an offset into a recording

# Beat classes as the ECG encoder labels them; V is the colour tests look for, kept apart from the paper's pinks.
BEAT_COLOURS = {"N": "#1b7f3b", "S": "#1f4fd1", "V": "#d40000"}
BEAT_NAMES = {"N": "normal", "S": "supraventricular premature", "V": "ventricular premature"}
PAPER, GRID_MINOR, GRID_MAJOR, TRACE = "#fffafa", "#f6cccc", "#e79a9a", "#111111"
DEFECT_COLOURS = {"bpfo": "#d62728", "bpfi": "#1f77b4", "bsf": "#2ca02c", "ftf": "#9467bd"}
SHAFT_COLOUR, BAND_COLOUR = "#7f7f7f", "#d8e8f8"
# Shading is opaque and drawn under the data, so a region has one exact colour (incidents over congestion).
INCIDENT_FILL, CONGESTION_FILL, ANOMALY_FILL, WARMUP_FILL = "#f7c1c1", "#fde2b3", "#f7c1c1", "#e8e8e8"
UPSTREAM, DOWNSTREAM, SERIES, MARKER = "#1f4fd1", "#ff7f0e", "#1f4fd1", "#d40000"


EncoderT = TypeVar("EncoderT")


class ReportError(TesseraError):
    """Samples a picture cannot be made of: too short, too long, the wrong shape, nothing usable."""


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """A written picture: the PNG, the Markdown beside it, the encoder's summary and events, the caption."""

    png: Path
    text: Path
    summary: str
    caption: str
    events: tuple[Event, ...]


# -- ECG strip ---------------------------------------------------------------------------------


def render_ecg_strip(samples: np.ndarray, rate: float, path: str | Path, *, start_s: float = 0.0, title: str = "ECG",
                     options: Mapping[str, Any] | None = None) -> RenderedReport:
    """One lead (mV) on ECG paper with the encoder's R peaks and beat classes; `start_s` is its time in the record."""
    x = _one_lead(samples, rate, "ECG")
    _check_length(x.size / rate, ECG_MIN_SECONDS, MAX_STRIP_S, "an ECG strip")
    encoder = _encoder(make_ecg_encoder, rate, options)
    analysis = encoder.analyze(x)
    window = encoder.encode(x, start_s)
    fig = _ecg_figure(x, rate, start_s, analysis)
    counts = {lab: int(np.sum(analysis.labels == lab)) for lab in BEAT_COLOURS}
    caption = (f"{title}, {start_s:g}-{start_s + x.size / rate:g} s at {MM_PER_S:g} mm/s and {MM_PER_MV:g} mm/mV "
               f"(small squares 0.04 s x 0.1 mV). Dots mark the R peaks the ECG encoder detected; the letters above "
               f"are its beat classes ({', '.join(f'{lab} {name}' for lab, name in BEAT_NAMES.items())}).")
    beats = f"{analysis.labels.size} beats: " + ", ".join(f"{n} {lab}" for lab, n in counts.items())
    details = [f"**Beats** {beats}", f"**Tokens** {' '.join(f'`{t}`' for t in window.tokens)}"]
    return _save(fig, Path(path), title, caption, window.summary, window.events, details, lambda t: f"{t:.1f} s")


def _ecg_figure(x: np.ndarray, rate: float, start_s: float, a: ECGAnalysis) -> Figure:
    baseline = float(np.nanmedian(x)) if np.isfinite(x).any() else 0.0
    y = x - baseline  # the strip sits on the paper however far the lead has wandered
    lo, hi = _mv_range(y)
    rows = max(1, math.ceil(x.size / rate / ROW_S - 1e-9))
    row_h_in = ((hi - lo) * MM_PER_MV + 9.0) / 25.4
    fig = _figure((ROW_S * MM_PER_S + 30.0) / 25.4, rows * row_h_in + 0.5, dpi=150)
    t = start_s + np.arange(x.size) / rate
    r_t = start_s + a.r_peaks / rate
    for row, ax in enumerate(fig.subplots(rows, 1, squeeze=False)[:, 0]):
        t_lo = start_s + row * ROW_S
        _ecg_paper(ax, t_lo, t_lo + ROW_S, lo, hi)
        inside = (t >= t_lo) & (t <= t_lo + ROW_S)
        ax.plot(t[inside], y[inside], color=TRACE, lw=0.9, zorder=3)
        beats = (r_t >= t_lo) & (r_t < t_lo + ROW_S)
        _beat_marks(ax, r_t[beats], y[a.r_peaks[beats]], a.labels[beats], hi, legend=row == 0)
    fig.suptitle(_ecg_heading(a), fontsize=10)
    return fig


def _mv_range(y: np.ndarray) -> tuple[float, float]:
    """Paper limits in whole 0.5 mV squares: the trace (ignoring the odd spike) plus headroom for the labels."""
    finite = y[np.isfinite(y)]
    lo, hi = (np.percentile(finite, [0.2, 99.8]) if finite.size else (0.0, 0.0))
    lo, hi = max(float(lo), -4.0), min(float(hi), 6.0)
    return math.floor(min(lo, -0.5) / 0.5) * 0.5 - 0.5, math.ceil(max(hi, 1.0) / 0.5) * 0.5 + 1.0


def _ecg_paper(ax: Axes, t0: float, t1: float, lo: float, hi: float) -> None:
    """Standard ECG paper: 1 mm squares (0.04 s, 0.1 mV), heavier every 5 mm; seconds and mV labelled."""
    ax.set_facecolor(PAPER)
    ax.set_xlim(t0, t1)
    ax.set_ylim(lo, hi)
    ax.set_aspect(MM_PER_MV / MM_PER_S)  # square millimetres whatever the figure's size
    # The grid is two line collections rather than tick gridlines: hundreds of ticks make layout slow.
    for step_s, step_mv, colour, width in ((0.04, 0.1, GRID_MINOR, 0.4), (0.2, 0.5, GRID_MAJOR, 0.8)):
        ax.vlines(_grid(t0, t1, step_s), lo, hi, colors=colour, lw=width, zorder=1)
        ax.hlines(_grid(lo, hi, step_mv), t0, t1, colors=colour, lw=width, zorder=1)
    from matplotlib.ticker import MultipleLocator

    ax.xaxis.set_major_locator(MultipleLocator(1.0))
    ax.yaxis.set_major_locator(MultipleLocator(1.0))
    ax.tick_params(length=0, labelsize=7)
    ax.set_ylabel("mV", fontsize=7)
    ax.set_xlabel("s", fontsize=7, loc="right")
    for spine in ax.spines.values():
        spine.set_color(GRID_MAJOR)


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    """Multiples of `step` from lo to hi, computed from integers so that 0.04 s lines do not drift."""
    return np.arange(math.ceil(lo / step - 1e-6), math.floor(hi / step + 1e-6) + 1) * step


def _beat_marks(ax: Axes, t: np.ndarray, y: np.ndarray, labels: np.ndarray, top: float, legend: bool) -> None:
    """A dot on the trace at each R peak and its class letter above, in the class's colour."""
    for lab, colour in BEAT_COLOURS.items():
        mine = labels == lab
        if not mine.any():
            continue
        ax.scatter(t[mine], y[mine], s=14, color=colour, zorder=4, label=f"{lab} {BEAT_NAMES[lab]}")
        for ti in t[mine]:
            ax.text(ti, top - 0.15, lab, color=colour, ha="center", va="top", fontsize=8, fontweight="bold", zorder=5)
    if legend and labels.size:
        ax.legend(loc="lower right", fontsize=6, framealpha=0.9)


def _ecg_heading(a: ECGAnalysis) -> str:
    r = a.rhythm
    rate = f"HR {r.hr_bpm:.0f} bpm" if r is not None and r.hr_bpm is not None else "HR n/a"
    quality = ", ".join(a.problems) or "ok"
    counts = ", ".join(f"{int(np.sum(a.labels == lab))} {lab}" for lab in BEAT_COLOURS)
    return f"{rate}; {a.labels.size} beats ({counts}); signal quality {quality}"


# -- vibration spectra -------------------------------------------------------------------------


def render_vibration_spectra(samples: np.ndarray, rate: float, path: str | Path, *, title: str = "vibration",
                             options: Mapping[str, Any] | None = None) -> RenderedReport:
    """Acceleration spectrum and envelope spectrum with shaft orders and bearing defect frequencies marked.

    `options` are the vibration encoder's (rpm, bearing, machine_class, ...): the defect
    frequencies come from the bearing geometry at the shaft speed the encoder used.
    """
    x = _one_lead(samples, rate, "vibration")
    encoder = _encoder(make_vibration_encoder, rate, options)
    _check_length(x.size / rate, encoder.config.min_window_s, math.inf, "a vibration spectrum")
    window = encoder.encode(x, 0.0)
    spectra = encoder.spectra(x)
    if spectra is None:
        raise ReportError(f"nothing to draw: {window.summary}")
    fig = _figure(11, 7.5)
    top, bottom = fig.subplots(2, 1)
    _acceleration_panel(top, spectra)
    _envelope_panel(bottom, spectra)
    fig.suptitle(window.summary, fontsize=9)
    bearing = encoder.config.bearing
    caption = _vibration_caption(spectra, bearing.name or f"{bearing.n_balls}-ball bearing")
    details = [f"**Tokens** {' '.join(f'`{t}`' for t in window.tokens)}"]
    return _save(fig, Path(path), title, caption, window.summary, window.events, details, lambda t: f"{t:.2f} s")


def _acceleration_panel(ax: Axes, s: VibrationSpectra) -> None:
    """Log-log amplitude spectrum: shaft 1x/2x and the band the envelope was demodulated from."""
    keep = s.freqs_hz >= 0.5 * s.shaft_hz
    ax.loglog(s.freqs_hz[keep], np.maximum(s.amplitude_g[keep], 1e-7), color=TRACE, lw=0.6)
    if s.envelope_source:
        ax.axvspan(*s.band_hz, color=BAND_COLOUR, zorder=0, label=f"demodulated band ({s.envelope_source})")
    for k in (1, 2):
        ax.axvline(k * s.shaft_hz, color=SHAFT_COLOUR, ls="--", lw=1.0, label="shaft 1x, 2x" if k == 1 else None)
    ax.set_xlim(0.5 * s.shaft_hz, s.freqs_hz[-1])
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("acceleration (g peak)")
    ax.set_title("acceleration spectrum", fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="lower left")


def _envelope_panel(ax: Axes, s: VibrationSpectra) -> None:
    """Squared-envelope spectrum over its floor, with every defect family's comb and the matched one in bold."""
    ax.set_title("envelope spectrum (squared envelope over its local floor)", fontsize=9, loc="left")
    ax.set_xlabel("frequency (Hz)")
    if not s.envelope_hz.size:
        ax.text(0.5, 0.5, "no room for envelope analysis at this sample rate", ha="center", transform=ax.transAxes)
        return
    top_hz = float(s.envelope_hz[-1])
    ax.plot(s.envelope_hz, s.envelope_ratio, color=TRACE, lw=0.7, zorder=3)
    ax.axhline(s.detection_ratio, color="#555555", ls="--", lw=0.8, label=f"detection line ({s.detection_ratio:g}x floor)")
    for k in (1, 2):
        ax.axvline(k * s.shaft_hz, color=SHAFT_COLOUR, ls="--", lw=1.0, label="shaft 1x, 2x" if k == 1 else None)
    for name in DEFECT_COLOURS:
        f = s.defect_hz[name]
        harmonics = [h * f for h in range(1, 6) if h * f < top_hz]
        for i, fh in enumerate(harmonics):
            ax.axvline(fh, color=DEFECT_COLOURS[name], ls=":", lw=1.0, label=f"{name.upper()} {f:.1f} Hz x1-5" if i == 0 else None)
    if s.detected is not None and s.fitted_hz is not None:
        comb = [h * s.fitted_hz for h in range(1, 6) if h * s.fitted_hz < top_hz]
        ax.vlines(comb, 0, max(float(s.envelope_ratio.max()), s.detection_ratio), color=DEFECT_COLOURS[s.detected], lw=2.2,
                  alpha=0.4, zorder=2, label=f"matched: {DEFECT_NAMES[s.detected]} at {s.fitted_hz:.1f} Hz")
    ax.set_xlim(0, top_hz)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("line / floor")
    ax.legend(fontsize=7, loc="upper right", ncol=2)


def _vibration_caption(s: VibrationSpectra, bearing: str) -> str:
    speed = "measured from the spectrum" if s.speed_refined else "as declared"
    lines = ", ".join(f"{name.upper()} {s.defect_hz[name]:.1f} Hz" for name in DEFECT_COLOURS)
    found = (f"the thick lines are the comb the encoder matched, {DEFECT_NAMES[s.detected]} defect at {s.fitted_hz:.1f} Hz"
             if s.detected and s.fitted_hz else "the encoder matched no defect comb")
    band = f"{s.band_hz[0]:.0f}-{s.band_hz[1]:.0f} Hz, {s.envelope_source}" if s.envelope_source else "none at this rate"
    return (f"Top: acceleration spectrum (peak g, Hann window, log scales), shaft 1x and 2x at {s.shaft_hz:.2f} Hz ({speed}), "
            f"the shaded band demodulated for the envelope ({band}). Bottom: squared-envelope spectrum over its running "
            f"median; dotted lines are the kinematic defect frequencies of the {bearing} and their harmonics ({lines}); "
            f"{found}; the dashed line is the height a family's first line must reach (further harmonics need 3x and "
            f"the comb must stand out from its neighbourhood).")


# -- traffic -----------------------------------------------------------------------------------


def render_traffic_chart(samples: np.ndarray, rate: float, path: str | Path, *, t0: float = 0.0, title: str = "traffic",
                         window_s: float = 300.0, options: Mapping[str, Any] | None = None) -> RenderedReport:
    """Speed and occupancy of one loop station (or an upstream/downstream pair), incidents and congestion shaded.

    `samples` is the traffic encoder's layout: (3, n) count, speed km/h, occupancy %, or (6, n)
    upstream then downstream; one column per 1/`rate` s from `t0` (epoch s, or 0 for a recording's start).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] not in (3, 6):
        raise ReportError(f"traffic samples need 3 rows (count, speed, occupancy) or 6 (upstream then downstream), got shape {x.shape}")
    _check_length(x.shape[1] / rate, 2.0 / rate, math.inf, "a traffic chart")
    windows = encode_stream(_encoder(make_traffic_encoder, rate, {"window_s": window_s, **(options or {})}), x, t0, window_s)
    events = [e for w in windows for e in w.events]
    t = t0 + np.arange(x.shape[1]) / rate
    end = float(t[-1]) + 1.0 / rate
    incidents = _spans(events, "incident", "incident_cleared", end)
    congestion = _spans(events, "congestion_onset", "congestion_clearance", end)
    summary = _stream_summary(windows, f"{len(incidents)} incident(s), {len(congestion)} congestion episode(s)")
    fig = _traffic_figure(x, t, t0, incidents, congestion)
    fig.suptitle(summary, fontsize=9)
    caption = (f"{title}: speed and occupancy per {_span(1 / rate)} interval; red shading from each `incident` event of the "
               f"traffic encoder (California #7 on the station pair) to its `incident_cleared`, orange from "
               f"`congestion_onset` to `congestion_clearance`; encoder windows of {_span(window_s)}.")
    return _save(fig, Path(path), title, caption, summary, events, _window_lines(windows, t0), lambda v: _clock(v, t0))


def _traffic_figure(x: np.ndarray, t: np.ndarray, t0: float, incidents: list[tuple[float, float]],
                    congestion: list[tuple[float, float]]) -> Figure:
    """Speed above occupancy, each station a line, incidents shaded over congestion."""
    fig = _figure(12, 7)
    axes = fig.subplots(2, 1, sharex=True)
    stations = [("upstream", x[:3], UPSTREAM), ("downstream", x[3:], DOWNSTREAM)] if x.shape[0] == 6 else [("station", x, UPSTREAM)]
    for ax, row, unit in zip(axes, (1, 2), ("speed (km/h)", "occupancy (%)")):
        _shade(ax, congestion, CONGESTION_FILL, t0)
        _shade(ax, incidents, INCIDENT_FILL, t0)
        for name, station, colour in stations:
            ax.plot(_axis_time(t, t0), station[row], color=colour, lw=0.8, label=name)
        ax.set_ylabel(unit)
    _time_axis(axes[-1], t0)
    shading = _keys((INCIDENT_FILL, "incident (confirmed to cleared)", incidents), (CONGESTION_FILL, "congestion (onset to clearance)", congestion))
    axes[0].legend(handles=[*axes[0].get_legend_handles_labels()[0], *shading], fontsize=7, loc="lower left")
    return fig


def _spans(events: list[Event], start_kind: str, end_kind: str, end: float) -> list[tuple[float, float]]:
    """(start, end) of each episode an encoder opens with `start_kind` and closes with `end_kind` (or at `end`)."""
    spans: list[tuple[float, float]] = []
    opened: float | None = None
    for e in sorted(events, key=lambda e: e.t):
        if e.kind == start_kind and opened is None:
            opened = e.t
        elif e.kind == end_kind and opened is not None:
            spans.append((opened, e.t))
            opened = None
    return spans + ([(opened, end)] if opened is not None else [])


# -- generic scalar ----------------------------------------------------------------------------


def render_scalar_chart(samples: np.ndarray, rate: float, path: str | Path, *, t0: float = 0.0, title: str = "sensor",
                        window_s: float | None = None, options: Mapping[str, Any] | None = None) -> RenderedReport:
    """Any scalar sensor over time, the windows where the generic encoder raised anomalies shaded and its events marked.

    `options` are the generic encoder's (label, unit, detector settings...); the window defaults to its own (60 samples).
    """
    x = _one_lead(samples, rate, "sensor")
    _check_length(x.size / rate, 3.0 / rate, math.inf, "a sensor chart")
    encoder = _encoder(make_generic_encoder, rate, options)
    window_s = window_s or encoder.window_s
    windows = encode_stream(encoder, x, t0, window_s)
    events = [e for w in windows for e in w.events]
    label, unit = encoder.config.label, encoder.config.unit
    fig = _scalar_figure(x, t0 + np.arange(x.size) / rate, t0, windows, f"{label} ({unit})" if unit else label)
    summary = _stream_summary(windows, f"{len(events)} anomaly event(s)")
    fig.suptitle(summary, fontsize=9)
    caption = (f"{title}: one sample every {_span(1 / rate)}; red shading marks each encoder window ({_span(window_s)}) in which the "
               f"generic encoder raised an anomaly event, dots its events; grey is the detector's warm-up, when no events are raised.")
    return _save(fig, Path(path), title, caption, summary, events, _window_lines(windows, t0), lambda v: _clock(v, t0))


def _scalar_figure(x: np.ndarray, t: np.ndarray, t0: float, windows: list[TokenizedWindow], ylabel: str) -> Figure:
    """The series, the windows that raised events shaded red over the detector's grey warm-up, each event a dot."""
    fig = _figure(12, 5)
    ax = fig.subplots()
    warmup = [(w.t0, w.t0 + w.duration_s) for w in windows if "<gen:warmup>" in w.tokens]
    flagged = [(w.t0, w.t0 + w.duration_s) for w in windows if w.events]
    _shade(ax, warmup, WARMUP_FILL, t0)
    _shade(ax, flagged, ANOMALY_FILL, t0)
    ax.plot(_axis_time(t, t0), x, color=SERIES, lw=0.8)
    _event_marks(ax, [e for w in windows for e in w.events], t0)
    ax.set_ylabel(ylabel)
    _time_axis(ax, t0)
    shading = _keys((ANOMALY_FILL, "window with an anomaly event", flagged), (WARMUP_FILL, "detector warming up", warmup))
    if shading:
        ax.legend(handles=shading, fontsize=7, loc="upper left")
    return fig


def _event_marks(ax: Axes, events: list[Event], t0: float) -> None:
    """A dot at each event's reading, named by its kind."""
    for e in events:
        when, value = _axis_time(np.array([e.t]), t0)[0], float(e.evidence.get("value", np.nan))
        ax.plot([when], [value], "o", color=MARKER, ms=5)
        ax.annotate(e.kind, (when, value), fontsize=7, color=MARKER, xytext=(4, 6), textcoords="offset points")


# -- streams of windows ------------------------------------------------------------------------


def encode_stream(encoder: Encoder, samples: np.ndarray, t0: float, window_s: float) -> list[TokenizedWindow]:
    """Feed a recording to a (stateful) encoder window by window, as the hub does with a live stream."""
    step = max(1, int(round(window_s * encoder.sample_rate)))
    x = np.asarray(samples)
    return [encoder.encode(x[..., i:i + step], t0 + i / encoder.sample_rate) for i in range(0, x.shape[-1], step)]


def _stream_summary(windows: list[TokenizedWindow], counted: str) -> str:
    hours = sum(w.duration_s for w in windows) / 3600.0
    return f"{counted} over {hours:.1f} h ({len(windows)} windows); last window: {windows[-1].summary}"


def _window_lines(windows: list[TokenizedWindow], t0: float) -> list[str]:
    """The summaries of the windows that raised events, as one Markdown list under a heading."""
    flagged = [f"- {_clock(w.t0, t0)}: {w.summary}" for w in windows if w.events]
    return ["\n".join(["**Windows with events**", *flagged])] if flagged else []


def _shade(ax: Axes, spans: list[tuple[float, float]], colour: str, t0: float) -> None:
    """Opaque spans under the data (zorder 0), so later spans cover earlier ones exactly."""
    for start, end in spans:
        a, b = _axis_time(np.array([start, end]), t0)
        ax.axvspan(a, b, color=colour, lw=0, zorder=0)


def _keys(*shadings: tuple[str, str, list[tuple[float, float]]]) -> list[Patch]:
    """Legend keys for the kinds of shading the chart has: a key for what is absent would put its colour on the chart."""
    from matplotlib.patches import Patch

    return [Patch(color=colour, label=label) for colour, label, spans in shadings if spans]


def _axis_time(t: np.ndarray, t0: float) -> np.ndarray:
    """Clock times as datetime64 (UTC) when t0 is a clock time, else hours into the recording."""
    if t0 >= EPOCH_FLOOR:
        return (np.asarray(t) * 1000.0).astype("int64").astype("datetime64[ms]")
    return np.asarray(t, dtype=np.float64) / 3600.0


def _time_axis(ax: Axes, t0: float) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if t0 >= EPOCH_FLOOR:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_xlabel("time (UTC)")
    else:
        ax.set_xlabel("hours from the start of the recording")
    ax.margins(x=0)


def _span(seconds: float) -> str:
    """A length of time in the unit people say it in: 30 s, 5 min, 60 h."""
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _clock(t: float, t0: float) -> str:
    if t0 >= EPOCH_FLOOR:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{t / 3600.0:.2f} h"


# -- shared ------------------------------------------------------------------------------------


def _figure(width_in: float, height_in: float, dpi: int = 110) -> Figure:
    """A figure on the Agg canvas without pyplot: no global state, so renderers may run on any thread."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")


def _one_lead(samples: np.ndarray, rate: float, what: str) -> np.ndarray:
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ReportError(f"{what} sample rate must be a positive number of Hz, got {rate!r}")
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise ReportError(f"{what} samples must be one channel (1-D), got shape {x.shape}")
    return x


def _encoder(factory: Callable[..., EncoderT], rate: float, options: Mapping[str, Any] | None) -> EncoderT:
    """The modality's encoder; options it refuses (unknown names, values out of range) are the caller's to fix."""
    try:
        return factory(rate, **dict(options or {}))
    except (TypeError, ValueError) as err:
        raise ReportError(f"encoder options refused: {err}") from err


def _check_length(seconds: float, shortest: float, longest: float, what: str) -> None:
    if seconds < shortest:
        raise ReportError(f"{what} needs at least {shortest:g} s of signal, got {seconds:g} s")
    if seconds > longest:
        raise ReportError(f"{what} shows at most {longest:g} s, got {seconds:g} s; choose a stretch")


def _save(fig: Figure, png: Path, title: str, caption: str, summary: str, events: list[Event], details: list[str],
          when: Callable[[float], str]) -> RenderedReport:
    """Write the PNG and the Markdown beside it; the Markdown says in words what the picture shows."""
    text = png.with_suffix(".md")
    lines = [f"# {title}", "", f"![{title}]({png.name})", "", f"*{caption}*", "", f"**Summary** {summary}", ""]
    lines += ["**Events**", *(f"- {when(e.t)}: {e.describe()}" for e in events)] if events else ["**Events** none"]
    for detail in details:
        lines += ["", detail]
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png)
        text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as err:
        raise ReportError(f"cannot write the report to {png.parent}: {err}") from err
    return RenderedReport(png, text, summary, caption, tuple(events))
