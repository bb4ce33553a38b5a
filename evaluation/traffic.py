"""Score the traffic encoder's incident detection on simulated two-station loop data (DR, FAR, MTTD).

The simulator (`firmware_sim/signals/traffic.py`) runs one day to learn, then one
day per incident: each incident starts at a random time between 07:00 and 20:00,
lasts 15-45 minutes and leaves 30-50% of capacity, with the usual AM and PM
rush on every day. Scores follow incident-detection practice:

- detection rate (DR): incidents with an `incident` event between their start and
  15 minutes after their end; `detectable` counts those whose queue reached the
  upstream loop at all (a late-evening incident with demand just above the
  remaining capacity may queue too slowly to reach it: no loop can see it);
- false alarms per day, and the false alarm rate (FAR): false `incident` events
  per station-pair decision (one decision per aggregation interval);
- mean time to detect (MTTD) from the capacity drop, and from the moment the queue
  reaches the upstream loop (what a detector can see).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

import numpy as np

from adapters.traffic.encoder import make_traffic_encoder
from base.errors import TesseraError
from firmware_sim.signals.traffic import Incident, TrafficRecording, simulate

_DAY = 86400.0
_T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight
_AFTER_END_S = 900.0


def scenario(n_incidents: int, seed: int) -> TrafficRecording:
    """A simulated recording: one quiet day, then one incident per day."""
    rng = np.random.default_rng(seed)
    incidents = [
        Incident(start=_T0 + (k + 1) * _DAY + float(rng.uniform(7, 20)) * 3600.0,
                 duration_s=float(rng.uniform(15, 45)) * 60.0, capacity_fraction=float(rng.uniform(0.3, 0.5)))
        for k in range(n_incidents)
    ]
    return simulate((n_incidents + 1) * _DAY, _T0, incidents=incidents, seed=seed)


def evaluate(n_incidents: int = 10, seed: int = 0, window_s: float = 300.0) -> dict:
    """Stream a scenario through a fresh encoder and score its incident events."""
    rec = scenario(n_incidents, seed)
    interval = rec.profile.interval_s
    enc = make_traffic_encoder(1.0 / interval, window_s=window_s)
    x = rec.stacked()
    step = max(1, int(round(window_s / interval)))
    alarms = [e.t for s in range(0, x.shape[1], step)
              for e in enc.encode(x[:, s:s + step], float(rec.t[s])).events if e.kind == "incident"]
    delays, queue_delays, matched, detectable = [], [], set(), 0
    for inc in rec.incidents:
        end = inc.start + inc.duration_s
        reached = bool(np.any(rec.upstream[2][(rec.t >= inc.start) & (rec.t <= end)] > 30.0))
        detectable += reached
        hits = [t for t in alarms if inc.start <= t <= inc.start + inc.duration_s + _AFTER_END_S]
        if not hits:
            continue
        matched.update(hits)
        delays.append(min(hits) - inc.start)
        queued = rec.t[(rec.t >= inc.start) & (rec.upstream[2] > 30.0)]
        if queued.size:
            queue_delays.append(min(hits) - float(queued[0]))
    false = [t for t in alarms if t not in matched]
    days = x.shape[1] * interval / _DAY
    return {
        "incidents": len(rec.incidents),
        "detected": len(delays),
        "detectable": detectable,
        "detection_rate": len(delays) / len(rec.incidents) if rec.incidents else math.nan,
        "false_alarms": len(false),
        "false_alarms_per_day": len(false) / days,
        "false_alarm_rate": len(false) / x.shape[1],
        "mttd_s": statistics.mean(delays) if delays else math.nan,
        "mttd_after_queue_s": statistics.mean(queue_delays) if queue_delays else math.nan,
        "days": days,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tessera eval traffic`."""
    parser.add_argument("--incidents", type=int, default=10, help="incidents to simulate, one a day (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the scenario (default 0)")
    parser.add_argument("--window-s", type=float, default=300.0, help="encoder window in seconds (default 300)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Run the scenario and print DR, FAR and MTTD."""
    if args.incidents < 1:
        raise TesseraError(f"--incidents must be at least 1, got {args.incidents}")
    if not args.window_s > 0:
        raise TesseraError(f"--window-s must be positive, got {args.window_s}")
    r = evaluate(args.incidents, args.seed, args.window_s)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"incidents detected {r['detected']}/{r['incidents']} (DR {r['detection_rate']:.0%}; "
          f"{r['detectable']} queued up to the upstream loop), "
          f"false alarms {r['false_alarms']} ({r['false_alarms_per_day']:.2f}/day, FAR {r['false_alarm_rate']:.2e} "
          f"per decision) over {r['days']:.0f} days, MTTD {r['mttd_s'] / 60:.1f} min from the capacity drop, "
          f"{r['mttd_after_queue_s'] / 60:.1f} min after the queue reached the upstream loop")
    return 0
