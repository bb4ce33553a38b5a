"""Soak: the demo's plant and home for a long run, sampling what could grow every minute.

Method: an embedded mosquitto and the simulated devices of examples/scenarios/plant.yaml and
home.yaml (accelerated `speed` times) run in this process; Tessera's services run in a child
process as the demo runs them: a gateway runtime for the plant and a hub-profile runtime for
the home, each with its stream watcher, guard and audit log, ticket store and outbox, on their
own data directories. Every `every_s` the child records its resident memory, open files and
threads, the size of every SQLite file under its data directories, and its queue depths (windows
waiting for the watcher, outbox messages waiting for the broker: at the sample and the deepest of
polls every 0.5 s since the previous one), with ingest counters. The
result is the slope of resident memory (least squares, MB per hour, over the samples after the
first two minutes of warm-up, and over the second half of the run) and the maximum of each figure.

Event decisions come from a fixed stand-in backend (the first tool offered, severity warning):
the soak watches Tessera's own memory, files and queues, not the model's; it runs with every
decision path, the audit log, tickets and the outbox live. No knowledge store is opened.
Run: `python -m benchmarks soak --minutes 30` (quick: 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import Measurement

REPO = Path(__file__).resolve().parents[1]
SPEED = 4.0  # simulated seconds per wall second
WARMUP_S = 120.0  # samples before this are left out of the slope (imports, first windows, buffers reaching size)


def run(quick: bool, minutes: float | None = None) -> list[Measurement]:
    """Run the soak for `minutes` (default 30; quick 3) and report slopes and maxima."""
    minutes = minutes if minutes is not None else (3.0 if quick else 30.0)
    every_s = 20.0 if quick else 60.0
    samples, sim = soak(minutes, every_s)
    return summarize(samples, sim, minutes, every_s)


def soak(minutes: float, every_s: float) -> tuple[list[dict], dict]:
    """Run broker, devices and the services child for `minutes`; the child's samples and the devices' counters."""
    from agent.ingest.broker import EmbeddedBroker
    from base.settings import MqttSettings
    from firmware_sim.runtime import SimRuntime
    from firmware_sim.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="tessera-soak-") as tmp, EmbeddedBroker(workdir=Path(tmp) / "broker") as broker:
        out = Path(tmp) / "samples.jsonl"
        child = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_soak", "serve", broker.url, str(Path(tmp) / "data"), str(out),
                                  str(minutes * 60.0), str(every_s)], cwd=REPO)
        time.sleep(8.0)  # the services connected and subscribed before the devices start
        sims = []
        for name in ("plant", "home"):
            scenario = load_scenario(REPO / "examples" / "scenarios" / f"{name}.yaml")
            sims.append(SimRuntime(MqttSettings(url=broker.url), scenario.build(), speed=SPEED, seed=scenario.seed).start())
        broker_rss: list[float] = []
        stop = threading.Event()

        def watch_broker() -> None:
            while not stop.wait(every_s):
                broker_rss.append(_rss_mb(broker.pid) if broker.pid else 0.0)

        threading.Thread(target=watch_broker, daemon=True).start()
        try:
            child.wait(timeout=minutes * 60.0 + 120.0)
        finally:
            stop.set()
            for sim in sims:
                sim.stop()
            if child.poll() is None:
                child.terminate()
        samples = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        counters = [s.counters for s in sims]
        by_fault = sum(stream.frames_dropped for s in sims for device in s.devices for stream in device.streams)
        sim = {"published": sum(c.published for c in counters), "acked": sum(c.acked for c in counters), "dropped_by_dropout_fault": by_fault,
               "dropped_offline": sum(c.dropped_offline for c in counters), "broker_rss_mb_max": max(broker_rss, default=0.0),
               "broker_rss_mb_first_last": [broker_rss[0], broker_rss[-1]] if broker_rss else []}
        return samples, sim


def summarize(samples: list[dict], sim: dict, minutes: float, every_s: float) -> list[Measurement]:
    """Slopes and maxima of the samples."""
    if len(samples) < 3:
        raise RuntimeError(f"the soak child recorded {len(samples)} samples; see its log above")
    steady = [s for s in samples if s["t"] >= WARMUP_S] or samples
    slope = _slope([s["t"] / 3600.0 for s in steady], [s["rss_mb"] for s in steady])
    half = [s for s in samples if s["t"] >= samples[-1]["t"] / 2]  # warm-up effects (lazy encoders, caches) have settled
    slope_half = _slope([s["t"] / 3600.0 for s in half], [s["rss_mb"] for s in half])
    sql_slope = _slope([s["t"] / 3600.0 for s in steady], [sum(s["sqlite_kb"].values()) / 1024.0 for s in steady])
    peak = lambda key: max(s[key] for s in samples)  # noqa: E731
    last = samples[-1]
    detail = (f"{minutes:g} min wall of plant.yaml + home.yaml at {SPEED:g}x ({minutes * SPEED:g} min simulated), "
              f"a sample every {every_s:g} s; slope by least squares after {WARMUP_S:g} s")
    per_minute = [{k: s[k] for k in ("t", "rss_mb", "open_files", "threads", "watch_queue", "outbox_pending", "watch_queue_peak",
                                     "outbox_pending_peak", "frames_missing")}
                  | {"sqlite_kb": sum(s["sqlite_kb"].values())} for s in samples]
    return [
        Measurement("soak.rss_slope_mb_per_h", slope, "MB/h", f"resident memory of the services process; {detail}",
                    {"rss_mb_first": samples[0]["rss_mb"], "rss_mb_after_warmup": steady[0]["rss_mb"], "rss_mb_last": last["rss_mb"],
                     "rss_mb_max": peak("rss_mb"), "slope_second_half_mb_per_h": round(slope_half, 2)}),
        Measurement("soak.open_files_max", peak("open_files"), "files", f"open file descriptors; first {samples[0]['open_files']}, last {last['open_files']}"),
        Measurement("soak.threads_max", peak("threads"), "threads", f"first {samples[0]['threads']}, last {last['threads']}"),
        Measurement("soak.sqlite_kb_last", sum(last["sqlite_kb"].values()), "kB", "all SQLite files (audit, tickets, outbox, WAL)",
                    {"files": json.dumps(last["sqlite_kb"]), "slope_mb_per_h": round(sql_slope, 3)}),
        Measurement("soak.watch_queue_max", peak("watch_queue_peak"), "windows",
                    "windows waiting for the watchers (bound 1,000 each), deepest of polls every 0.5 s",
                    {"windows_dropped": last["windows_dropped"], "at_minute_samples_max": peak("watch_queue")}),
        Measurement("soak.outbox_pending_max", peak("outbox_pending_peak"), "messages",
                    "outbound messages waiting on disk, deepest of polls every 0.5 s", {"at_minute_samples_max": peak("outbox_pending")}),
        Measurement("soak.frames", last["frames_accepted"], "frames", "frames accepted by both runtimes over the run",
                    {"missing_frames": last["frames_missing"], "dropped_on_devices_by_dropout_faults": sim["dropped_by_dropout_fault"],
                     "dead_letters": last["dead_letters"], "flood_dropped": last["flood_dropped"],
                     "decisions": last["decisions"], "published": sim["published"], "sim_dropped_offline": sim["dropped_offline"],
                     "broker_rss_mb_max": sim["broker_rss_mb_max"], "per_minute": json.dumps(per_minute)}),
    ]


def _slope(x: list[float], y: list[float]) -> float:
    if len(x) < 2:
        return 0.0
    mx, my = statistics.fmean(x), statistics.fmean(y)
    den = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / den if den else 0.0


def _rss_mb(pid: int | str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


class FixedDecisions:
    """A stand-in event backend: always the first tool offered, at warning. For soaking the services, not the model."""

    name = "fixed"

    def complete(self, messages, schema=None, max_tokens=None):
        """The first tool of the schema's enum, severity warning."""
        from agent.llm.base import Completion

        tool = (schema or {}).get("properties", {}).get("tool", {}).get("enum", ["log_observation"])[0]
        parsed = {"tool": tool, "severity": "warning"}
        return Completion(text=json.dumps(parsed), parsed=parsed, token_logprobs=[-0.05] * 4, backend=self.name)


def serve(url: str, data: Path, out: Path, duration_s: float, every_s: float) -> None:
    """The services child: a gateway for the plant and a hub-profile runtime for the home; a sample every `every_s`."""
    from agent.services.runtime import ServiceRuntime
    from base.settings import IngestSettings, MqttSettings, load_settings

    runtimes = []
    for name, profile, site in (("gateway", "gateway", "plant-7"), ("hub", "hub", "home")):
        settings = load_settings(profile=profile).model_copy(update={"data_dir": data / name})
        settings = settings.model_copy(update={"mqtt": MqttSettings(url=url, site=site),
                                               "ingest": IngestSettings(sites=[site], window_s=8.0, hop_s=2.0)})
        (data / name).mkdir(parents=True, exist_ok=True)
        runtimes.append(ServiceRuntime(settings, name, event_backend=FixedDecisions()).start())
    start = time.monotonic()
    peak = {"watch_queue": 0, "outbox_pending": 0}  # the deepest queues since the last sample, polled every 0.5 s
    polling = threading.Event()

    def poll_queues() -> None:
        while not polling.wait(0.5):
            peak["watch_queue"] = max(peak["watch_queue"], sum(r.watcher._queue.qsize() for r in runtimes))
            peak["outbox_pending"] = max(peak["outbox_pending"], sum(r.outbox.pending() for r in runtimes))

    threading.Thread(target=poll_queues, daemon=True).start()
    try:
        with out.open("w") as sink:
            while True:
                sample = _sample(runtimes, data, time.monotonic() - start)
                sample.update({f"{k}_peak": max(v, sample[k]) for k, v in peak.items()})
                peak.update(watch_queue=0, outbox_pending=0)
                sink.write(json.dumps(sample) + "\n")
                sink.flush()
                if time.monotonic() - start >= duration_s:
                    break
                time.sleep(max(0.0, min(every_s, duration_s - (time.monotonic() - start))))
    finally:
        polling.set()
        for runtime in runtimes:
            runtime.stop(flush_s=2.0)


def _sample(runtimes: list, data: Path, t: float) -> dict:
    status = {k: v for k, v in (line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)}
    ingest = [r.watcher.ingest.counters for r in runtimes]
    return {
        "t": round(t, 1),
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024.0,
        "open_files": len(os.listdir("/proc/self/fd")),
        "threads": int(status["Threads"]),
        "sqlite_kb": {str(p.relative_to(data)): round(p.stat().st_size / 1024.0, 1) for p in sorted(data.rglob("*.sqlite*"))},
        "watch_queue": sum(r.watcher._queue.qsize() for r in runtimes),
        "windows_dropped": sum(r.metrics.value("watch_windows_dropped_total") for r in runtimes),
        "outbox_pending": sum(r.outbox.pending() for r in runtimes),
        "streams": sum(len(r.watcher.ingest.windowers) for r in runtimes),
        "frames_accepted": sum(c.accepted for c in ingest),
        "frames_missing": sum(c.missing_frames for c in ingest),
        "dead_letters": sum(c.dead_lettered for c in ingest),
        "flood_dropped": sum(c.flood_dropped for c in ingest),
        "decisions": sum(r.metrics.value("event_decisions_total", route=FixedDecisions.name) for r in runtimes),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the soak's services child (run the soak with: python -m benchmarks soak)")
    parser.add_argument("mode", choices=["serve"])
    parser.add_argument("url")
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("duration_s", type=float)
    parser.add_argument("every_s", type=float)
    a = parser.parse_args()
    serve(a.url, a.data, a.out, a.duration_s, a.every_s)
