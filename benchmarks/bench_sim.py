"""1,000 simulated devices in one process (examples/scenarios/thousand.yaml): CPU, memory, rate, loss.

The devices run in a child process at real time against a private mosquitto; a subscriber in
this process counts every data frame by sequence number, so loss is measured, not assumed.
CPU is the child's process time over wall time (1.0 = one core); memory is its resident set
after importing Tessera and at the end, so the devices' own share is visible.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import Measurement

SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "thousand.yaml"


def run(quick: bool) -> list[Measurement]:
    """Run the scenario for 15 s (quick) or 60 s and report what it cost."""
    from agent.ingest.broker import EmbeddedBroker
    from base.settings import MqttSettings
    from base.mqtt import close, connect
    from base.wire import parse_data_topic

    duration = 15.0 if quick else 60.0
    seqs: dict[tuple[str, str], set[int]] = defaultdict(set)
    lock = threading.Lock()

    def on_message(_c, _u, msg) -> None:
        topic = parse_data_topic(msg.topic, "tessera")
        seq = int.from_bytes(msg.payload[8:12], "little") if msg.payload[:2] == b"TS" else json.loads(msg.payload)["seq"]
        with lock:
            seqs[(topic.device, topic.stream)].add(seq)

    with tempfile.TemporaryDirectory(prefix="tessera-bench-sim-") as tmp, EmbeddedBroker(workdir=Path(tmp) / "broker") as broker:
        watcher = connect(MqttSettings(url=broker.url), "bench-sim-counter",
                          on_connect=lambda c, _p: setattr(c, "on_message", on_message))
        watcher.subscribe("tessera/campus/+/data/#", qos=1)
        out = Path(tmp) / "child.json"
        subprocess.run([sys.executable, "-m", "benchmarks.bench_sim", broker.url, str(duration), str(out)], check=True, timeout=duration + 120)
        result = json.loads(out.read_text())
        time.sleep(2.0)
        close(watcher)
    expected = {tuple(k.split("|")): v for k, v in result["expected"].items()}
    lost = sum(n - len(seqs.get(k, set())) for k, n in expected.items())
    frames = sum(expected.values())
    detail = f"{result['devices']} devices, {duration:.0f} s real time, one process"
    return [
        Measurement("sim.devices", result["devices"], "devices", detail),
        Measurement("sim.messages_per_s", result["published"] / result["wall_s"], "msg/s", f"{detail}; status, meta, state and data"),
        Measurement("sim.samples_per_s", result["samples"] / result["wall_s"], "samples/s", detail),
        Measurement("sim.cpu", result["cpu_s"] / result["wall_s"], "cores", f"{detail}; process time / wall time"),
        Measurement("sim.rss_mb", result["rss_end_mb"], "MB", f"{detail}; resident set at the end",
                    {"after_imports_mb": result["rss_base_mb"], "devices_mb": round(result["rss_end_mb"] - result["rss_base_mb"], 1)}),
        Measurement("sim.frames_lost", lost, "frames", f"{frames} data frames counted by sequence number at a subscriber"),
    ]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(url: str, duration: float, out: Path) -> None:
    from base.settings import MqttSettings
    from firmware_sim.runtime import SimRuntime
    from firmware_sim.scenario import load_scenario

    base = _rss_mb()
    scenario = load_scenario(SCENARIO)
    devices = scenario.build()
    runtime = SimRuntime(MqttSettings(url=url), devices, seed=scenario.seed)
    cpu0, wall0 = time.process_time(), time.monotonic()
    counters = runtime.run(duration)
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    expected = {f"{d}|{s}": n for (d, s), n in runtime.expected_frames().items()}
    samples = sum(st.seq * st.per_frame * (len(st.channels) if st.channels else 1) for d in devices for st in d.streams)
    out.write_text(json.dumps({"devices": len(devices), "published": counters.published, "acked": counters.acked, "wall_s": wall,
                               "cpu_s": cpu, "rss_base_mb": round(base, 1), "rss_end_mb": round(_rss_mb(), 1),
                               "samples": samples, "expected": expected}))


if __name__ == "__main__":
    _child(sys.argv[1], float(sys.argv[2]), Path(sys.argv[3]))
