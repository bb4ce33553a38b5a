"""Loop-detector aggregates for two freeway stations, with known truth (pure numpy).

Each station reports per interval: vehicle count over all lanes, time-mean
speed (km/h) and occupancy (%). Traffic follows a daily demand profile with an
AM and a PM rush and a triangular-ish fundamental diagram:

- uncongested: speed falls from free flow towards `speed_at_capacity_kmh` as
  flow nears capacity (the HCM speed-flow shape), density = flow / speed;
- queued: flow is what the bottleneck lets through, density on the congested
  branch k = k_jam - q / w (w: backward wave speed), speed = q / k.

Rush hours that exceed `capacity_vphpl` put a queue over both stations (a
bottleneck further downstream): recurrent congestion, similar at both, which an
incident detector must not flag. An incident between the stations drops the
capacity there: the upstream station queues once the shock wave reaches it,
the downstream one sees light, fast traffic. Occupancy = density x L_eff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_DAY = 86400.0


@dataclass(slots=True, frozen=True)
class Incident:
    """A capacity drop between the stations from `start` for `duration_s` (epoch seconds)."""

    start: float
    duration_s: float
    capacity_fraction: float = 0.4  # share of capacity left (one of three lanes blocked and rubbernecking)


@dataclass(slots=True, frozen=True)
class TrafficProfile:
    """Road and demand settings in physical units."""

    lanes: int = 3
    interval_s: float = 30.0
    free_flow_kmh: float = 105.0
    speed_at_capacity_kmh: float = 85.0
    capacity_vphpl: float = 2000.0
    jam_density_vpkmpl: float = 120.0
    wave_speed_kmh: float = 20.0  # with jam density, meets the free branch near capacity
    effective_length_m: float = 6.5
    night_vphpl: float = 250.0
    midday_vphpl: float = 1100.0
    am_peak_vphpl: float = 1900.0
    pm_peak_vphpl: float = 2000.0
    am_peak_h: float = 8.0
    pm_peak_h: float = 17.5
    peak_width_h: float = 1.0
    station_gap_m: float = 600.0  # distance from the upstream station to the incident
    speed_noise_kmh: float = 3.0
    occupancy_noise_pct: float = 0.6

    def __post_init__(self) -> None:
        if self.lanes < 1 or self.interval_s <= 0 or self.capacity_vphpl <= 0:
            raise ValueError("lanes, interval_s and capacity_vphpl must be positive")


@dataclass(slots=True)
class TrafficRecording:
    """Two stations' aggregates: arrays of shape (3, n) = count, speed km/h, occupancy %."""

    t: np.ndarray  # interval start times, epoch seconds
    upstream: np.ndarray
    downstream: np.ndarray
    profile: TrafficProfile
    incidents: list[Incident] = field(default_factory=list)
    recurrent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # rush queue over both

    def stacked(self) -> np.ndarray:
        """(6, n): upstream then downstream channels, the traffic encoder's two-station layout."""
        return np.vstack([self.upstream, self.downstream])


def demand(hours: np.ndarray, p: TrafficProfile) -> np.ndarray:
    """Demand in veh/h/lane at hours of day: night level, midday plateau, AM and PM rush."""
    h = np.asarray(hours, dtype=np.float64) % 24
    day = p.night_vphpl + (p.midday_vphpl - p.night_vphpl) / (1 + np.exp(-(h - 6.0) * 1.5)) \
        - (p.midday_vphpl - p.night_vphpl) / (1 + np.exp(-(h - 21.0) * 1.0))
    am = (p.am_peak_vphpl - p.midday_vphpl) * np.exp(-0.5 * ((h - p.am_peak_h) / p.peak_width_h) ** 2)
    pm = (p.pm_peak_vphpl - p.midday_vphpl) * np.exp(-0.5 * ((h - p.pm_peak_h) / p.peak_width_h) ** 2)
    return day + am + pm


def _free_speed(q: np.ndarray, p: TrafficProfile) -> np.ndarray:
    x = np.clip(q / p.capacity_vphpl, 0, 1)
    return p.free_flow_kmh - (p.free_flow_kmh - p.speed_at_capacity_kmh) * x ** 2.6


def _queued(q: np.ndarray, p: TrafficProfile) -> tuple[np.ndarray, np.ndarray]:
    k = p.jam_density_vpkmpl - q / p.wave_speed_kmh
    return np.maximum(q / np.maximum(k, 1e-6), 3.0), k


def simulate(duration_s: float, t0: float = 0.0, *, incidents: list[Incident] | None = None,
             profile: TrafficProfile | None = None, seed: int = 0,
             recurrent_capacity_vphpl: float | None = 1850.0, waves_per_hour: float = 6.0) -> TrafficRecording:
    """Simulate both stations for `duration_s` from `t0` (epoch seconds, midnight-aligned days).

    recurrent_capacity_vphpl: capacity of a bottleneck beyond both stations; rush demand above
    it queues over both (None: no recurrent congestion).
    waves_per_hour: stop-and-go (compression) waves in heavy traffic (demand above 85% of
    capacity): each stops traffic for 60-120 s at the downstream station, then at the
    upstream one as it travels back at the wave speed. They are the classic false alarm
    of occupancy-difference incident detectors.
    """
    p = profile or TrafficProfile()
    rng = np.random.default_rng(seed)
    incidents = list(incidents or [])
    n = int(duration_s // p.interval_s)
    t = t0 + np.arange(n) * p.interval_s
    q_dem = demand((t % _DAY) / 3600.0, p) * rng.normal(1.0, 0.03, n)
    # Recurrent queue: both stations carry what the far bottleneck discharges, on the congested branch.
    recurrent = np.zeros(n, dtype=bool) if recurrent_capacity_vphpl is None else q_dem > recurrent_capacity_vphpl
    q_up = np.where(recurrent, recurrent_capacity_vphpl or 0.0, q_dem)
    v_up = _free_speed(q_up, p)
    k_up = q_up / v_up
    if recurrent.any():
        vq, kq = _queued(q_up[recurrent], p)
        v_up[recurrent], k_up[recurrent] = vq, kq
    q_dn, v_dn, k_dn = q_up.copy(), v_up.copy(), k_up.copy()
    for inc in incidents:
        cap = p.capacity_vphpl * inc.capacity_fraction
        active = (t >= inc.start) & (t < inc.start + inc.duration_s) & (q_dem > cap)
        if not active.any():
            continue
        # Downstream gets only what passes the incident: light, fast traffic.
        q_dn[active] = cap
        v_dn[active] = _free_speed(np.full(active.sum(), cap), p)
        k_dn[active] = cap / v_dn[active]
        # Upstream: the queue tail reaches the station after the shock wave has covered the gap.
        vq, kq = _queued(np.full(n, cap), p)
        k_free = q_dem / _free_speed(q_dem, p)
        shock_kmh = np.maximum((q_dem - cap) / np.maximum(kq - k_free, 1e-6), 1e-3)
        reach_s = p.station_gap_m / 1000.0 / shock_kmh * 3600.0
        queued = active & (t >= inc.start + reach_s)
        # After clearance the queue discharges; hold it for as long as it took to build, at most 15 min.
        tail = (t >= inc.start + inc.duration_s) & (t < inc.start + inc.duration_s + min(900.0, inc.duration_s / 2)) \
            & (q_dem > cap)
        queued |= tail
        q_up[queued], v_up[queued], k_up[queued] = cap, vq[queued], kq[queued]
    _compression_waves(t, q_dem, q_up, v_up, k_up, q_dn, v_dn, k_dn, p, rng, waves_per_hour)
    up = _aggregate(q_up, v_up, k_up, p, rng)
    dn = _aggregate(q_dn, v_dn, k_dn, p, rng)
    return TrafficRecording(t=t, upstream=up, downstream=dn, profile=p, incidents=incidents, recurrent=recurrent)


def _compression_waves(t: np.ndarray, q_dem: np.ndarray, q_up: np.ndarray, v_up: np.ndarray, k_up: np.ndarray,
                       q_dn: np.ndarray, v_dn: np.ndarray, k_dn: np.ndarray, p: TrafficProfile,
                       rng: np.random.Generator, per_hour: float) -> None:
    """Overwrite intervals hit by stop-and-go waves (in place): dense and slow, first downstream."""
    # Waves form in heavy flow at the station itself: not downstream of an incident (light
    # traffic there) and not in an incident's queue (already stopped).
    heavy_dn = q_dn > 0.85 * p.capacity_vphpl
    heavy_up = q_up > 0.85 * p.capacity_vphpl
    if per_hour <= 0 or not heavy_dn.any():
        return
    hits = np.flatnonzero(heavy_dn & (rng.random(t.size) < per_hour * p.interval_s / 3600.0))
    travel_s = p.station_gap_m / 1000.0 / p.wave_speed_kmh * 3600.0
    wave_q = 0.3 * p.capacity_vphpl
    wave_k = p.jam_density_vpkmpl - wave_q / p.wave_speed_kmh
    for i in hits:
        length = int(round(rng.uniform(60.0, 120.0) / p.interval_s))
        j_up = i + int(round(travel_s / p.interval_s))
        reaches_up = j_up < t.size and heavy_up[j_up]
        for q, v, k, j in ((q_dn, v_dn, k_dn, i), (q_up, v_up, k_up, j_up)):
            if j == j_up and not reaches_up:
                continue
            sl = slice(j, min(t.size, j + max(1, length)))
            q[sl], k[sl], v[sl] = wave_q, wave_k, wave_q / wave_k


def _aggregate(q: np.ndarray, v: np.ndarray, k: np.ndarray, p: TrafficProfile, rng: np.random.Generator) -> np.ndarray:
    """Counts (Poisson), noisy speeds and occupancies, as a loop controller would report them."""
    count = rng.poisson(np.maximum(q, 0) * p.lanes * p.interval_s / 3600.0).astype(np.float64)
    speed = np.maximum(v + rng.normal(0, p.speed_noise_kmh, q.size), 1.0)
    occ = np.clip(k * p.effective_length_m / 10.0 + rng.normal(0, p.occupancy_noise_pct, q.size), 0, 100)
    return np.vstack([count, speed, occ])
