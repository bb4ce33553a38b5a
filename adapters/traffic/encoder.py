"""The traffic encoder: loop-detector aggregates to tokens, congestion and incident events.

`samples` layouts (one column per aggregation interval of 1/`sample_rate` s, typically 20-60 s,
accepted 5-900 s):

- (3, n): one station, rows count (vehicles per interval, all lanes), speed (km/h), occupancy (%);
- (6, n): an upstream then a downstream station, as above; enables the California #7 incident test;
- (n,):   counts only (flow and the time-of-day baseline; no speed, density from nothing: LOS '?').

Tokens (vocabulary `traffic-1`, listed in `VOCAB`; `codes` are their indices):

    <traffic:quality:ok|gaps|flat|short|saturated>
    <traffic:los:A..F|?>                 HCM level of service of the (upstream) station's mean density
    <traffic:flow:low|moderate|high|near_capacity>   <600, <1200, <1700, >=1700 veh/h/lane
    <traffic:speed:0..150>               mean speed rounded to 10 km/h
    <traffic:state:free|congested>
    <traffic:congestion:recurrent|nonrecurrent>      when congested: usual at this time of day or not
    <traffic:baseline:learning|typical|slower|quieter|busier>
    <traffic:incident:suspected|confirmed>

Events: `incident` (CRITICAL, on confirmation by the California #7 logic),
`incident_cleared` (INFO), `congestion_onset` (WARNING once congestion that is not
usual at this time of day, nor a breakdown of near-capacity flow, has lasted
`nonrecurrent_s` unbroken; INFO at onset while the baseline is still learning;
recurrent congestion raises none) and `congestion_clearance` (INFO, after a
reported onset). The generic encoder's streaming detector (`adapters.generic.detector`)
watches the station's speed (its flow in the counts-only layout) for what the
congestion rules do not name: `speed_spike`, `speed_level_shift`, `speed_out_of_range`,
`speed_stuck` (a frozen loop), `speed_dropout`... (`flow_...` for counts), each with
the detector's evidence and `said`, e.g. "speed 12 km/h, usual 55-70 at this hour".
It is off by default (`scalar_detector=DetectorConfig()` turns it on): until its
time-of-day profile has a day behind it, a rush hour is news to it. With one station, non-recurrent congestion also sets
`<traffic:incident:suspected>`. Congestion itself needs `onset_s` (3 min) of slow or
dense intervals, longer than a stop-and-go wave takes to pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from adapters.base import Event, Severity, TokenizedWindow
from adapters.generic.detector import AnomalyDetector, DetectorConfig, in_words
from adapters.quality import assess, fill_gaps
from adapters.traffic.baseline import Expected, TimeOfDayBaseline
from adapters.traffic.incident import CaliforniaConfig, CaliforniaDetector, IncidentState
from adapters.traffic.measures import density, flow_per_lane, level_of_service

VOCAB_VERSION = "traffic-1"
EMBEDDING_DIM = 16
SUMMARY_TOKEN_BUDGET = 40  # LLM tokens; the line is cut at about 4 characters per token
_FLOW_WORDS = ((600.0, "low"), (1200.0, "moderate"), (1700.0, "high"), (math.inf, "near_capacity"))
VOCAB: tuple[str, ...] = tuple(
    [f"<traffic:quality:{q}>" for q in ("ok", "gaps", "flat", "short", "saturated")]
    + [f"<traffic:los:{x}>" for x in "ABCDEF?"]
    + [f"<traffic:flow:{w}>" for _, w in _FLOW_WORDS]
    + [f"<traffic:speed:{v}>" for v in range(0, 160, 10)]
    + [f"<traffic:state:{s}>" for s in ("free", "congested")]
    + [f"<traffic:congestion:{s}>" for s in ("recurrent", "nonrecurrent")]
    + [f"<traffic:baseline:{s}>" for s in ("learning", "typical", "slower", "quieter", "busier")]
    + [f"<traffic:incident:{s}>" for s in ("suspected", "confirmed")]
)
_INDEX = {tok: i for i, tok in enumerate(VOCAB)}


@dataclass(slots=True, frozen=True)
class TrafficConfig:
    """Encoder settings in physical units (Hz, s, km/h, %, veh/h/lane)."""

    sample_rate: float  # 1 / aggregation interval, e.g. 1/30
    window_s: float = 300.0
    lanes: int = 3
    effective_length_m: float = 6.5  # vehicle plus loop length, for density from occupancy
    free_flow_kmh: float = 100.0
    congested_speed_ratio: float = 0.7  # congested below this share of free-flow speed...
    critical_occupancy_pct: float = 25.0  # ...or above this occupancy
    capacity_vphpl: float = 2000.0  # per lane; HCM basic freeway capacity is 2,250-2,400 pc/h/ln
    heavy_share: float = 0.85  # usual flow above this share of capacity: breakdowns are recurrent
    usual_margin_kmh: float = 15.0  # congestion within this of the usual speed at that time is recurrent
    usual_margin_occ_pct: float = 10.0  # or within this of the usual occupancy
    onset_s: float = 180.0  # congestion must hold this long to start (a stop-and-go wave passes in 1-2 min)
    clearance_s: float = 180.0  # and be gone this long to clear
    nonrecurrent_s: float = 120.0  # non-recurrent congestion must last this much longer to be reported
    baseline_bin_s: float = 900.0
    baseline_memory_days: float = 7.0
    california: CaliforniaConfig = field(default_factory=CaliforniaConfig)
    # Opt-in: the generic streaming detector on speed (flow when counts only); sample_period_s is set from sample_rate.
    scalar_detector: DetectorConfig | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ValueError(f"sample_rate must be positive Hz, got {self.sample_rate}")
        if not 5 <= 1 / self.sample_rate <= 900:
            raise ValueError(f"aggregation interval must be 5-900 s, got {1 / self.sample_rate:g} s")
        if self.lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {self.lanes}")
        for name in ("window_s", "effective_length_m", "free_flow_kmh", "critical_occupancy_pct", "usual_margin_kmh",
                     "capacity_vphpl", "heavy_share",
                     "usual_margin_occ_pct"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.congested_speed_ratio < 1:
            raise ValueError(f"congested_speed_ratio must lie in (0, 1), got {self.congested_speed_ratio}")
        if self.onset_s < 0 or self.clearance_s < 0 or self.nonrecurrent_s < 0:
            raise ValueError("onset_s, clearance_s and nonrecurrent_s must be non-negative seconds")


@dataclass(slots=True)
class _Station:
    """Per-window measures of one station (NaN where not measured)."""

    flow: np.ndarray
    speed: np.ndarray
    occ: np.ndarray
    quality: float
    problems: list[str]
    usable: bool


class TrafficEncoder:
    """Stateful: congestion state, incident state and the time-of-day baseline carry across windows."""

    name = "traffic"
    incremental = True  # baselines learnt across windows: each sample once
    vocab_version = VOCAB_VERSION
    embedding_dim = EMBEDDING_DIM

    def __init__(self, config: TrafficConfig) -> None:
        self.config = config
        self.sample_rate = config.sample_rate
        self.window_s = config.window_s
        self.interval_s = 1.0 / config.sample_rate
        self._onset_n = max(1, int(round(config.onset_s / self.interval_s)))
        self._clear_n = max(1, int(round(config.clearance_s / self.interval_s)))
        self._nonrecurrent_n = max(1, int(round(config.nonrecurrent_s / self.interval_s)))
        self._alpha_flow = min(1.0, self.interval_s / 300.0)
        self.reset()

    def reset(self) -> None:
        """Forget baseline, congestion and incident state."""
        c = self.config
        self.baseline = TimeOfDayBaseline(self.interval_s, c.baseline_bin_s, c.baseline_memory_days)
        self.california = CaliforniaDetector(c.california, self.interval_s)
        self.scalar = (AnomalyDetector(replace(c.scalar_detector, sample_period_s=self.interval_s))
                       if c.scalar_detector is not None else None)
        self._congested = False
        self._reported_onset = False
        self._run = 0  # consecutive intervals against the current congestion state
        self._congested_for = 0  # consecutive non-recurrent congested intervals
        self._flow_before = 0.0  # flow of the last free-flowing minutes (weighted over ~5 min)
        self._was_confirmed = False

    # -- stages ------------------------------------------------------------------------------

    def _station(self, rows: np.ndarray) -> _Station:
        c = self.config
        n = rows.shape[1]
        q = assess(rows[0], min_samples=2)
        problems = list(q.problems)
        count = fill_gaps(rows[0]) if q.usable else np.full(n, np.nan)
        flow = flow_per_lane(count, self.interval_s, c.lanes)
        speed = np.full(n, np.nan)
        occ = np.full(n, np.nan)
        score = q.score
        if rows.shape[0] >= 3:
            for i, (ch, rail) in enumerate(((1, None), (2, (0.0, 100.0)))):
                cq = assess(rows[ch], min_samples=2, rail=rail)
                # A steady speed or occupancy is normal traffic, not a fault: only gaps and rails count.
                problems += [p for p in cq.problems if p not in problems and p != "flat"]
                score = min(score, cq.score if "flat" not in cq.problems else score)
                if cq.usable or "flat" in cq.problems:
                    (speed if i == 0 else occ)[:] = fill_gaps(rows[ch]) if np.isfinite(rows[ch]).any() else np.nan
        occ_ok = rows[2][np.isfinite(rows[2])] if rows.shape[0] >= 3 else np.zeros(0)
        if occ_ok.size and np.mean(occ_ok >= 100.0) > 0.01 and "saturated" not in problems:
            # A loop stuck at 100% is flat too, which assess reports first; it is a rail all the same.
            problems.append("saturated")
            score = min(score, 0.5)
        usable = q.usable or np.isfinite(occ).any()
        if "flat" in problems and rows.shape[0] >= 3 and np.isfinite(occ).any():
            problems.remove("flat")  # zero counts on a quiet night with valid occupancy are real
            usable = True
        return _Station(flow, speed, occ, score if usable else 0.0, problems, usable)

    def _is_congested(self, speed: float, occ: float) -> bool:
        c = self.config
        slow = math.isfinite(speed) and speed < c.congested_speed_ratio * c.free_flow_kmh
        dense = math.isfinite(occ) and occ > c.critical_occupancy_pct
        return slow or dense

    def encode(self, samples: np.ndarray, t0: float) -> TokenizedWindow:
        """Encode a window of aggregates (see the module doc for the layouts) starting at `t0`."""
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim == 1:
            x = x[np.newaxis, :]
        if x.ndim != 2 or x.shape[0] not in (1, 3, 6):
            raise ValueError(f"traffic samples must be (n,), (3, n) or (6, n), got shape {np.shape(samples)}")
        n = x.shape[1]
        t = t0 + np.arange(n) * self.interval_s
        if n == 0:
            return self._empty(t0)
        up = self._station(x[:3])
        down = self._station(x[3:6]) if x.shape[0] == 6 else None
        events: list[Event] = []
        incident_state = IncidentState.FREE
        recurrent_any = nonrecurrent_any = False
        expected: Expected | None = None
        for i in range(n):
            ti = float(t[i])
            expected = self.baseline.expected(ti)
            spd, occ = float(up.speed[i]), float(up.occ[i])
            step = None
            if down is not None:
                step = self.california.step(occ, float(down.occ[i]))
                if step.changed and step.state is IncidentState.CONFIRMED:
                    events.append(Event("incident", Severity.CRITICAL, ti, {
                        "occdf_pct": round(step.occdf, 2), "occrdf": round(step.occrdf, 3),
                        "downstream_occ_pct": round(step.docc, 2), "upstream_speed_kmh": round(spd, 1)}))
                elif step.changed and step.state is IncidentState.FREE and self._was_confirmed:
                    events.append(Event("incident_cleared", Severity.INFO, ti, {"occdf_pct": round(step.occdf, 2)}))
                self._was_confirmed = self.california.state is IncidentState.CONFIRMED
                if self.california.state.value != "free":
                    incident_state = max(incident_state, self.california.state, key=_rank)
            if not self._is_congested(spd, occ) and math.isfinite(float(up.flow[i])):
                self._flow_before += self._alpha_flow * (float(up.flow[i]) - self._flow_before)
            recurrent = self._recurrent(expected, spd, occ)
            ev = self._congestion_step(ti, spd, occ, recurrent, expected)
            if ev is not None:
                events.append(ev)
            if self._congested:
                if recurrent:
                    recurrent_any = True
                else:
                    nonrecurrent_any = True
            # Incidents and their queues must not teach the baseline what is usual.
            if self.california.state is IncidentState.FREE and not (self._congested and not recurrent and expected):
                self.baseline.learn(ti, float(up.flow[i]), spd, occ)
        events += self._scalar_events(t, up)
        if down is None and nonrecurrent_any and expected is not None:
            incident_state = IncidentState.TENTATIVE
        return self._window(t0, n, up, down, events, incident_state, recurrent_any, nonrecurrent_any, expected)

    def _scalar_events(self, t: np.ndarray, up: _Station) -> list[Event]:
        """The generic detector's events on the station's speed (flow without speeds), named after it."""
        if self.scalar is None:
            return []
        measured = "speed" if np.isfinite(up.speed).any() else "flow"
        values = up.speed if measured == "speed" else up.flow
        events = []
        for ev in self.scalar.update(t, values).events:
            named = Event(f"{measured}_{ev.kind}", ev.severity, ev.t, dict(ev.evidence))
            words = in_words(named, measured, "km/h" if measured == "speed" else "veh/h/ln")
            if words:
                named.evidence["said"] = words
            events.append(named)
        return events

    def _recurrent(self, expected: Expected | None, speed: float, occ: float) -> bool:
        """Congestion is recurrent when this time of day is usually congested or about this slow."""
        if expected is None:
            return False
        if self._is_congested(expected.speed, expected.occupancy):
            return True
        c = self.config
        # Flow near capacity breaks down into stop-and-go as a matter of course (HCM: breakdown
        # probability climbs steeply as demand nears capacity); such queues are recurrent, whether
        # the usual flow at this hour or the flow just before the breakdown was that high.
        heavy = c.heavy_share * c.capacity_vphpl
        if (math.isfinite(expected.flow) and expected.flow >= heavy) or self._flow_before >= heavy:
            return True
        # The baseline averages a 15-min bin over days: a rush that only sometimes breaks down shows as a
        # moderately lower usual speed and higher occupancy, so "about as slow or as dense as usual" is
        # recurrent; an incident queue is far slower and far denser than usual.
        if math.isfinite(speed) and math.isfinite(expected.speed) and speed >= expected.speed - c.usual_margin_kmh:
            return True
        return math.isfinite(occ) and math.isfinite(expected.occupancy) and occ <= expected.occupancy + c.usual_margin_occ_pct

    def _congestion_step(self, t: float, speed: float, occ: float, recurrent: bool,
                         expected: Expected | None) -> Event | None:
        if not (math.isfinite(speed) or math.isfinite(occ)):
            return None
        congested = self._is_congested(speed, occ)
        if congested != self._congested:
            self._run += 1
            if self._run >= (self._onset_n if congested else self._clear_n):
                self._congested, self._run, self._congested_for = congested, 0, 0
                if not congested and self._reported_onset:
                    self._reported_onset = False
                    return Event("congestion_clearance", Severity.INFO, t, {"speed_kmh": round(speed, 1)})
        else:
            self._run = 0
        if not self._congested or self._reported_onset:
            return None
        # Count only unbroken non-recurrent congestion: stop-and-go at the edge of a rush flickers.
        self._congested_for = 0 if recurrent else self._congested_for + 1
        if recurrent:
            return None
        if expected is None:
            # Nothing learned yet: say so at once, as information.
            sev = Severity.INFO
        elif self._congested_for >= self._nonrecurrent_n:
            # Stop-and-go in heavy traffic comes and goes within minutes; an incident queue stays.
            sev = Severity.WARNING
        else:
            return None
        self._reported_onset = True
        return Event("congestion_onset", sev, t, {
            "speed_kmh": round(speed, 1), "occupancy_pct": round(occ, 1),
            "usual_speed_kmh": round(expected.speed, 1) if expected else "unknown"})
        congested = self._is_congested(speed, occ)
        if congested != self._congested:
            self._run += 1
            if self._run >= (self._onset_n if congested else self._clear_n):
                self._congested, self._run = congested, 0
                if congested and not recurrent:
                    self._reported_onset = True
                    sev = Severity.WARNING if expected is not None else Severity.INFO
                    return Event("congestion_onset", sev, t, {
                        "speed_kmh": round(speed, 1), "occupancy_pct": round(occ, 1),
                        "usual_speed_kmh": round(expected.speed, 1) if expected else "unknown"})
                if not congested and self._reported_onset:
                    self._reported_onset = False
                    return Event("congestion_clearance", Severity.INFO, t, {"speed_kmh": round(speed, 1)})
        else:
            self._run = 0
        return None

    # -- output -------------------------------------------------------------------------------

    def _empty(self, t0: float) -> TokenizedWindow:
        tokens = ["<traffic:quality:short>", "<traffic:los:?>"]
        return TokenizedWindow("traffic", VOCAB_VERSION, float(t0), 0.0, tokens, _codes(tokens),
                               np.zeros(EMBEDDING_DIM, np.float32), [], "traffic: no data", 0.0, {})

    def _window(self, t0: float, n: int, up: _Station, down: _Station | None, events: list[Event],
                incident: IncidentState, recurrent: bool, nonrecurrent: bool, expected: Expected | None) -> TokenizedWindow:
        c = self.config
        flow = _nanmean(up.flow)
        speed = _nanmean(up.speed)
        occ = _nanmean(up.occ)
        k = float(density(flow, speed, occ, c.effective_length_m)) if up.usable else math.nan
        los = level_of_service(k)
        problems = up.problems + ([p for p in down.problems if p not in up.problems] if down else [])
        tokens = [f"<traffic:quality:{p}>" for p in problems] or ["<traffic:quality:ok>"]
        tokens.append(f"<traffic:los:{los}>")
        if math.isfinite(flow):
            tokens.append(f"<traffic:flow:{next(w for lim, w in _FLOW_WORDS if flow < lim)}>")
        if math.isfinite(speed):
            tokens.append(f"<traffic:speed:{int(min(150, max(0, round(speed, -1))))}>")
        tokens.append(f"<traffic:state:{'congested' if self._congested or recurrent or nonrecurrent else 'free'}>")
        if nonrecurrent:
            tokens.append("<traffic:congestion:nonrecurrent>")
        elif recurrent:
            tokens.append("<traffic:congestion:recurrent>")
        base = _baseline_word(expected, flow, speed)
        tokens.append(f"<traffic:baseline:{base}>")
        if incident is not IncidentState.FREE:
            tokens.append(f"<traffic:incident:{incident.value}>")
        feats = {"flow_vphpl": flow, "speed_kmh": speed, "occupancy_pct": occ, "density_vpkmpl": k,
                 "density_pcpmpl": k * 1.609344 if math.isfinite(k) else math.nan}
        if down is not None:
            feats.update(down_flow_vphpl=_nanmean(down.flow), down_speed_kmh=_nanmean(down.speed),
                         down_occupancy_pct=_nanmean(down.occ))
            feats["occdf_pct"] = occ - feats["down_occupancy_pct"]
        if expected is not None:
            feats.update(usual_flow_vphpl=expected.flow, usual_speed_kmh=expected.speed)
        quality = min(up.quality, down.quality) if down else up.quality
        summary = self._summary(los, flow, speed, occ, base, incident, recurrent, nonrecurrent, events, problems)
        return TokenizedWindow("traffic", VOCAB_VERSION, float(t0), n * self.interval_s, tokens, _codes(tokens),
                               self._embedding(feats, incident, quality), events, summary, float(quality), feats)

    def _embedding(self, f: dict[str, float], incident: IncidentState, quality: float) -> np.ndarray:
        def z(v: float, s: float) -> float:
            return float(np.tanh(v / s)) if math.isfinite(v) else 0.0
        emb = np.array([
            z(f["flow_vphpl"], 2000), z(f["speed_kmh"], 100), z(f["occupancy_pct"], 30), z(f["density_pcpmpl"], 45),
            z(f.get("down_flow_vphpl", math.nan), 2000), z(f.get("down_speed_kmh", math.nan), 100),
            z(f.get("down_occupancy_pct", math.nan), 30), z(f.get("occdf_pct", math.nan), 20),
            z(f["flow_vphpl"] - f.get("usual_flow_vphpl", math.nan), 500),
            z(f["speed_kmh"] - f.get("usual_speed_kmh", math.nan), 30),
            1.0 if self._congested else 0.0, _rank(incident) / 2.0, quality,
            1.0 if "usual_speed_kmh" in f else 0.0, 0.0, 0.0,
        ], dtype=np.float32)
        return emb

    def _summary(self, los: str, flow: float, speed: float, occ: float, base: str, incident: IncidentState,
                 recurrent: bool, nonrecurrent: bool, events: list[Event], problems: list[str]) -> str:
        parts = [f"traffic LOS {los}"]
        if math.isfinite(flow):
            parts.append(f"{flow:.0f} veh/h/ln")
        if math.isfinite(speed):
            parts.append(f"{speed:.0f} km/h")
        if math.isfinite(occ):
            parts.append(f"occ {occ:.0f}%")
        state = "nonrecurrent congestion" if nonrecurrent else "recurrent congestion" if recurrent else base
        line = ", ".join(parts) + f"; {state}"
        if incident is not IncidentState.FREE:
            line += f"; incident {incident.value}"
        if events:
            line += "; " + ", ".join(f"{e.kind} ({e.severity.name.lower()})" for e in events[:2])
        if problems:
            line += f"; quality {'/'.join(problems)}"
        limit = 4 * SUMMARY_TOKEN_BUDGET
        return line if len(line) <= limit else line[: limit - 1] + "…"


def _rank(state: IncidentState) -> int:
    return {IncidentState.FREE: 0, IncidentState.TENTATIVE: 1, IncidentState.CONFIRMED: 2}[state]


def _nanmean(x: np.ndarray) -> float:
    finite = x[np.isfinite(x)]
    return float(finite.mean()) if finite.size else math.nan


def _codes(tokens: list[str]) -> np.ndarray:
    return np.array([_INDEX[t] for t in tokens], dtype=np.int32)


def _baseline_word(expected: Expected | None, flow: float, speed: float) -> str:
    if expected is None:
        return "learning"
    if math.isfinite(speed) and math.isfinite(expected.speed) and speed < expected.speed - 15.0:
        return "slower"
    if math.isfinite(flow) and math.isfinite(expected.flow) and expected.flow > 0:
        ratio = flow / expected.flow
        if ratio < 0.6:
            return "quieter"
        if ratio > 1.4:
            return "busier"
    return "typical"


def make_traffic_encoder(sample_rate: float, **options: object) -> TrafficEncoder:
    """Factory for the registry: options are TrafficConfig fields; California thresholds by their names."""
    cal_fields = set(CaliforniaConfig.__dataclass_fields__)
    cal = {k: options.pop(k) for k in list(options) if k in cal_fields}
    unknown = set(options) - set(TrafficConfig.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown traffic encoder option(s): {', '.join(sorted(unknown))}")
    if cal:
        options["california"] = CaliforniaConfig(**cal)  # type: ignore[arg-type]
    return TrafficEncoder(TrafficConfig(sample_rate=float(sample_rate), **options))  # type: ignore[arg-type]
