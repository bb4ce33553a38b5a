"""Ingest throughput against a bare paho subscriber, and two workers on one shared subscription.

Method (preload and drain, so the publisher's speed does not cap what is measured): each
consumer first registers a persistent session, a publisher then queues the same frames for all of
them at the broker (12.8 kHz vibration, 0.1 s int16 frames, 16 devices), and each consumer drains
its queue in a fresh process: `bare` counts messages and reads each sequence number; `ingest` is
Tessera's Ingestor (binary validation, per-stream windowing 8 s / 2 s hop, gap and duplicate
checks); `solo` is one Ingestor on a shared subscription and `pair` two Ingestor processes on
another (mosquitto deals their frames out one by one); `halves` two Ingestors given 8 devices each. Rate = frames / (last frame - connect). Loss = sequence numbers expected minus seen.
Everything runs twice: with mosquitto's default in-flight window of 20 messages per client, and
with a deep window of 500, where the consumers' CPU rather than round trips sets the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


from benchmarks.common import Measurement

VIB_RATE, FRAME = 12800.0, 1280
IDLE_END_S = 1.5
# mosquitto's default in-flight window (20 unacknowledged messages per client), where the round
# trips set the pace, and a deep one (500), where the consumer's CPU does.
INFLIGHT_WINDOWS = ((20, ""), (500, "_deep_window"))  # a drainer stops once nothing arrived for this long


def run(quick: bool) -> list[Measurement]:
    """Bare versus ingest, and one versus two shared-subscription workers, at two broker in-flight windows."""
    out: list[Measurement] = []
    for inflight, suffix in INFLIGHT_WINDOWS:
        out += _run_window(quick, inflight, suffix)
    return out


def _run_window(quick: bool, inflight: int, suffix: str) -> list[Measurement]:
    from agent.ingest.broker import EmbeddedBroker

    devices, per_device = (16, 400) if quick else (16, 1500)
    rounds = 1 if quick else 3
    total = devices * per_device
    results: dict[str, list[dict]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp, \
            EmbeddedBroker(workdir=Path(tmp) / "broker", max_inflight_messages=inflight) as broker:
        _register(broker.url)
        for r in range(rounds):
            _preload(broker.url, devices, per_device, seq0=r * per_device)
            order = ["bare", "ingest"] if r % 2 == 0 else ["ingest", "bare"]
            pid = broker.pid
            for role in order + ["solo"]:
                results[role].append(_drain(broker.url, [role], Path(tmp), pid))
            results["pair"].append(_drain(broker.url, ["pair0", "pair1"], Path(tmp), pid))
            results["halves"].append(_drain(broker.url, ["half0", "half1"], Path(tmp), pid))
    med = {role: statistics.median(x["rate"] for x in runs) for role, runs in results.items()}
    lost = {role: sum(x["lost"] for x in runs) for role, runs in results.items()}
    cpu_us = {role: round(statistics.median(1e6 * x["cpu_s"] / x["frames"] for x in runs), 1) for role, runs in results.items()}
    broker = {role: round(statistics.median(x["broker_cpu"] for x in runs), 2) for role, runs in results.items()}
    detail = f"{rounds} round(s) of {total} frames (16 devices x 12.8 kHz, 1280 int16 samples/frame), broker in-flight window {inflight}, median"
    n = lambda name: f"ingest.{name}{suffix}"  # noqa: E731
    return [
        Measurement(n("bare_frames_per_s"), med["bare"], "frames/s", f"bare paho subscriber; {detail}",
                    {"lost": lost["bare"], "broker_cores": broker["bare"], "cpu_us_per_frame": cpu_us["bare"]}),
        Measurement(n("frames_per_s"), med["ingest"], "frames/s", f"Ingestor: validate + window; {detail}",
                    {"lost": lost["ingest"], "samples_per_s": med["ingest"] * FRAME, "cpu_us_per_frame": cpu_us["ingest"],
                     "broker_cores": broker["ingest"]}),
        Measurement(n("vs_bare"), med["ingest"] / med["bare"], "ratio", "ingest rate / bare rate (target >= 0.8, zero loss)"),
        Measurement(n("shared_1_worker"), med["solo"], "frames/s", f"one Ingestor on $share/solo; {detail}",
                    {"lost": lost["solo"], "broker_cores": broker["solo"], "cpu_us_per_frame": cpu_us["solo"]}),
        Measurement(n("shared_2_workers"), med["pair"], "frames/s", f"two Ingestor processes on $share/pair; {detail}",
                    {"lost": lost["pair"], "split": str([x["frames"] for x in results["pair"][0]["parts"]]), "broker_cores": broker["pair"]}),
        Measurement(n("shared_scaling"), med["pair"] / med["solo"], "ratio", "2 workers / 1 worker (target >= 1.8, zero loss)"),
        Measurement(n("split_devices_2_workers"), med["halves"], "frames/s", f"two Ingestor processes, 8 devices each by ingest.devices; {detail}",
                    {"lost": lost["halves"], "vs_1_worker": round(med["halves"] / med["solo"], 3)}),
    ]


def _settings(url: str, role: str):
    from base.settings import IngestSettings, MqttSettings, TesseraSettings

    group = {"solo": "solo", "pair0": "pair", "pair1": "pair"}.get(role)
    half = {"half0": range(0, 8), "half1": range(8, 16)}.get(role)
    devices = [f"pump-{d:02d}" for d in half] if half else ["*"]
    return TesseraSettings(mqtt=MqttSettings(url=url), ingest=IngestSettings(client_id=f"bench-{role}", shared_group=group, devices=devices,
                                                                             session_expiry_s=3600, window_s=8.0, hop_s=2.0))


def _register(url: str) -> None:
    """Create every consumer's persistent session before anything is published."""
    from agent.ingest.ingestor import Ingestor

    for role in ("bare", "ingest", "solo", "pair0", "pair1", "half0", "half1"):
        Ingestor(_settings(url, role)).start().stop()


def _preload(url: str, devices: int, per_device: int, seq0: int) -> None:
    """Publish every frame at QoS 1 and wait for all acknowledgements."""
    from base.settings import MqttSettings
    from base.mqtt import close, connect
    from base.wire import encode_binary
    from firmware_sim.signals.vibration import MachineState, simulate

    block = simulate(10.0, VIB_RATE, MachineState(), 1).signal_g
    client = connect(MqttSettings(url=url), "bench-publisher")
    infos = []
    t0 = time.time()
    for k in range(per_device):
        start = (k * FRAME) % (block.size - FRAME)
        for d in range(devices):
            seq = seq0 + k
            payload = encode_binary(seq, t0 + seq * 0.1, VIB_RATE, block[start:start + FRAME], "<i2", 16 / 32767)
            infos.append(client.publish(f"tessera/bench/pump-{d:02d}/data/accel", payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    close(client)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain(url: str, roles: list[str], tmp: Path, broker_pid: int) -> dict:
    """Drain in one process per role, started together; rates over their union."""
    start_at = time.time() + 4.0  # every process imported and waiting before the start
    broker_cpu0 = _cpu_s(broker_pid)
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.bench_ingest", "drain", url, role, str(start_at), str(tmp / f"{role}.json")])
             for role in roles]
    for p in procs:
        p.wait(timeout=600)
    broker_cpu = _cpu_s(broker_pid) - broker_cpu0
    parts = [json.loads((tmp / f"{role}.json").read_text()) for role in roles]
    seqs: dict[str, set[int]] = defaultdict(set)
    for part in parts:
        for stream, values in part["seqs"].items():
            seqs[stream].update(values)
    frames = sum(p["frames"] for p in parts)
    span = max(p["last"] for p in parts) - min(p["connect"] for p in parts)
    expected = sum(max(v) - min(v) + 1 for v in seqs.values())
    for p in parts:
        p.pop("seqs")
    # The broker idles through the start wait and the idle tail, so its share is over the drain span.
    return {"rate": frames / span, "frames": frames, "lost": expected - sum(len(v) for v in seqs.values()),
            "broker_cpu": broker_cpu / span,
            "cpu_s": sum(p["cpu_s"] for p in parts), "parts": parts}


def _drain_child(url: str, role: str, start_at: float, out: Path) -> None:
    """One consumer: connect at `start_at`, take everything queued, write counts and sequence numbers."""
    import paho.mqtt.client as mqtt

    from agent.ingest.ingestor import Ingestor
    from base.mqtt import close, connect

    settings = _settings(url, role)
    seqs: dict[str, list[int]] = defaultdict(list)
    state = {"last": 0.0}
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, connect_t = time.process_time(), time.time()
    if role == "bare":
        def on_message(_c, _u, msg: mqtt.MQTTMessage) -> None:
            seqs[msg.topic].append(int.from_bytes(msg.payload[8:12], "little"))
            state["last"] = time.time()

        client = connect(settings.mqtt, "bench-bare", clean_start=False, session_expiry_s=3600,
                         on_connect=lambda c, _p: setattr(c, "on_message", on_message))
        stop = lambda: close(client)  # noqa: E731
    else:
        def on_frame(key, frame) -> None:
            seqs[key.device].append(frame.seq)
            state["last"] = time.time()

        ingestor = Ingestor(settings, on_frame=on_frame, worker=None).start()
        stop = ingestor.stop
    while not state["last"] or time.time() - state["last"] < IDLE_END_S:
        time.sleep(0.05)
    cpu = time.process_time() - cpu0
    stop()
    frames = sum(len(v) for v in seqs.values())
    out.write_text(json.dumps({"role": role, "frames": frames, "connect": connect_t, "last": state["last"], "cpu_s": cpu,
                               "seqs": {k: sorted(set(v)) for k, v in seqs.items()}}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["drain"])
    parser.add_argument("url")
    parser.add_argument("role")
    parser.add_argument("start_at", type=float)
    parser.add_argument("out", type=Path)
    a = parser.parse_args()
    _drain_child(a.url, a.role, a.start_at, a.out)
