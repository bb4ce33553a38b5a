"""`tessera sim` (run a device scenario) and `tessera ingest` (take frames from the broker, print counters)."""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from dataclasses import asdict

from base.errors import BrokerError

log = logging.getLogger(__name__)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `sim` and `ingest` to the tessera command."""
    sim = subparsers.add_parser("sim", help="run simulated device firmware from a YAML scenario")
    sim.add_argument("--scenario", required=True, metavar="FILE", help="scenario YAML (see examples/scenarios/)")
    sim.add_argument("--duration", type=float, default=None, help="wall seconds to run (default: the scenario's, else until Ctrl-C)")
    sim.add_argument("--speed", type=float, default=None, help="simulated seconds per wall second (default: the scenario's)")
    sim.add_argument("--json", action="store_true", help="print the summary as JSON")
    sim.set_defaults(func=cmd_sim)

    ingest = subparsers.add_parser("ingest", help="ingest sensor frames from MQTT and print counters")
    ingest.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    ingest.add_argument("--every", type=float, default=5.0, help="print counters every N seconds")
    ingest.add_argument("--worker", type=int, default=None, help="worker index, for several workers on a shared subscription")
    ingest.add_argument("--json", action="store_true", help="print counters as JSON lines")
    ingest.set_defaults(func=cmd_ingest)


def cmd_sim(args: argparse.Namespace) -> int:
    """Run a scenario against the configured broker."""
    from base.settings import load_settings
    from base.mqtt import broker_answers
    from firmware_sim.runtime import SimRuntime
    from firmware_sim.scenario import load_scenario

    settings = load_settings(args.config, profile=args.profile)
    scenario = load_scenario(args.scenario)
    if not broker_answers(settings.mqtt.url):
        raise BrokerError(f"no MQTT broker answers at {settings.mqtt.url}; start one or set mqtt.url")
    devices = scenario.build()
    runtime = SimRuntime(settings.mqtt, devices, speed=args.speed or scenario.speed, seed=scenario.seed)
    duration = args.duration or scenario.duration_s
    start_wall, start_cpu = time.monotonic(), time.process_time()
    try:
        counters = runtime.run(duration)
    except KeyboardInterrupt:
        counters = runtime.counters
    wall = time.monotonic() - start_wall
    summary = {"devices": len(devices), "wall_s": round(wall, 2), "speed": runtime.speed, **asdict(counters),
               "messages_per_s": round(counters.published / max(wall, 1e-9), 1),
               "cpu_fraction": round((time.process_time() - start_cpu) / max(wall, 1e-9), 3),
               "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['devices']} devices, {summary['wall_s']} s at x{summary['speed']}: {counters.published} messages "
              f"({summary['messages_per_s']}/s), {counters.acked} acknowledged, {counters.dropped_offline} dropped offline, "
              f"CPU {summary['cpu_fraction']:.0%} of a core, max RSS {summary['max_rss_mb']} MB")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest frames with the configured settings and report counters."""
    from base.settings import load_settings
    from agent.ingest.ingestor import Ingestor

    settings = load_settings(args.config, profile=args.profile)
    ingestor = Ingestor(settings, worker=args.worker).start()
    deadline = time.monotonic() + args.duration if args.duration else float("inf")
    try:
        while time.monotonic() < deadline:
            time.sleep(max(0.0, min(args.every, deadline - time.monotonic())))
            _report(ingestor.snapshot(), args.json)
    except KeyboardInterrupt:
        pass
    finally:
        ingestor.stop()
    return 0


def _report(snapshot: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(snapshot), flush=True)
    else:
        print(ingest_line(snapshot), flush=True)


def ingest_line(snapshot: dict) -> str:
    """One line of ingest counters; what was dropped, and from which devices, only when something was."""
    line = (f"{snapshot['accepted']} frames, {snapshot['samples']} samples, {snapshot['windows']} windows, "
            f"{snapshot['streams']} streams, {snapshot['dead_lettered']} dead-lettered, {snapshot['duplicates']} duplicates, "
            f"{snapshot['gaps']} gaps ({snapshot['missing_frames']} frames missing), {snapshot['out_of_order']} late")
    dropped = snapshot.get("dropped_by_device") or {}
    if snapshot["flood_dropped"] or dropped:
        worst = sorted(dropped.items(), key=lambda kv: -(kv[1]["flood"] + kv[1]["oversized"]))[:3]
        line += (f"; {snapshot['flood_dropped']} dropped for flooding, {sum(d['oversized'] for d in dropped.values())} oversized"
                 f" (" + ", ".join(f"{dev}: {d['flood']} flood, {d['oversized']} oversized" for dev, d in worst) + ")")
    if snapshot["internal_errors"]:
        line += f"; {snapshot['internal_errors']} internal errors (see the log)"
    return line
