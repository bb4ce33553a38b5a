"""Ingest cost in CPU seconds per frame against a bare paho subscriber, and two workers splitting the devices.

What two shared cores allow: with broker, publisher and two workers on one 2-core machine,
frames per second measure the machine's other load as much as the code, so the figures here are
CPU seconds per frame of each consumer process (its own user + system time from getrusage),
fed the same frames in the same round, which free cores do not change.

Method (preload and drain): each consumer first registers a persistent session, a publisher then
queues the same frames for all of them at the broker (12.8 kHz vibration, 0.1 s int16 frames,
16 devices), and each consumer drains its queue in a fresh process, one role after the other,
in an order reversed every round (9 rounds) so that each ratio pairs drains run side by side:
`bare` counts messages and reads each sequence number; `ingest` is Tessera's Ingestor (binary
validation, flood budget, per-stream windowing 8 s / 2 s hop, gap and duplicate checks);
`halves` two Ingestor processes given 8 devices each by `ingest.devices` (whole devices per
worker, on any broker); `pair` two Ingestor processes on one shared subscription ($share/pair),
which mosquitto deals out one message at a time. Loss = sequence numbers expected minus seen;
order breaks = frames arriving at a worker with a sequence number not above the previous one of
their stream. Rates are reported too, for the record; on this machine they measure its load.
A drain's fixed cost (connect, subscribe, the idle tail) is 6-8 ms of CPU per process, under 1%
of a 24,000-frame drain even for the two-process roles: the spread between rounds is the
machine's other load, which is why the figures are medians of per-round ratios over 9 rounds.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


from benchmarks.common import Measurement

VIB_RATE, FRAME = 12800.0, 1280
IDLE_END_S = 1.5  # a drainer stops once nothing arrived for this long
INFLIGHT = 500  # the broker's in-flight window per client: deep, so round trips do not pace the drain
ROLES = ("bare", "ingest", "half0", "half1", "pair0", "pair1")
GROUPS = {"bare": ["bare"], "ingest": ["ingest"], "halves": ["half0", "half1"], "pair": ["pair0", "pair1"]}  # processes per drain


def run(quick: bool) -> list[Measurement]:
    """CPU per frame: bare versus ingest, and one worker versus two (whole devices each, and a shared subscription)."""
    from agent.ingest.broker import EmbeddedBroker

    devices, per_device = (16, 400) if quick else (16, 1500)
    rounds = 1 if quick else 9
    results: dict[str, list[dict]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp, \
            EmbeddedBroker(workdir=Path(tmp) / "broker", max_inflight_messages=INFLIGHT) as broker:
        _register(broker.url)
        for r in range(rounds):
            _preload(broker.url, devices, per_device, seq0=r * per_device)
            # Each ratio compares drains run next to each other, and the order flips every round,
            # so a change in the machine's other load between drains does not favour one side.
            order = ["bare", "ingest", "halves", "pair"] if r % 2 == 0 else ["pair", "halves", "ingest", "bare"]
            for name in order:
                results[name].append(_drain(broker.url, GROUPS[name], Path(tmp)))
    total = devices * per_device
    cpu_us = {role: [1e6 * x["cpu_s"] / x["frames"] for x in runs] for role, runs in results.items()}
    med = {role: round(statistics.median(v), 2) for role, v in cpu_us.items()}
    # Ratios per round (the two roles drained the same frames one after the other), then the median.
    vs_bare = [i / b for i, b in zip(cpu_us["ingest"], cpu_us["bare"])]
    halves_vs_one = [h / i for h, i in zip(cpu_us["halves"], cpu_us["ingest"])]
    pair_vs_one = [p / i for p, i in zip(cpu_us["pair"], cpu_us["ingest"])]
    lost = {role: sum(x["lost"] for x in runs) for role, runs in results.items()}
    breaks = {role: sum(x["order_breaks"] for x in runs) for role, runs in results.items()}
    rate = {role: round(statistics.median(x["rate"] for x in runs)) for role, runs in results.items()}
    detail = (f"{rounds} round(s) of {total} frames (16 devices x 12.8 kHz, 1280 int16 samples/frame), broker in-flight window {INFLIGHT}, "
              "median of per-round figures")
    split = lambda role: " / ".join(f"{p['frames']} frames, {p['devices']} devices" for p in results[role][0]["parts"])  # noqa: E731
    rng = lambda v: f"{min(v):.3f}-{max(v):.3f}"  # noqa: E731
    per_round = lambda v: " ".join(f"{x:.3f}" for x in v)  # noqa: E731
    return [
        Measurement("ingest.bare_cpu_us_per_frame", med["bare"], "us", f"bare paho subscriber, own CPU per frame; {detail}",
                    {"lost": lost["bare"], "frames_per_s": rate["bare"]}),
        Measurement("ingest.cpu_us_per_frame", med["ingest"], "us", f"Ingestor: validate + flood budget + window 8 s / 2 s; {detail}",
                    {"lost": lost["ingest"], "order_breaks": breaks["ingest"], "frames_per_s": rate["ingest"]}),
        Measurement("ingest.cpu_vs_bare", statistics.median(vs_bare), "ratio",
                    "ingest / bare CPU per frame, same frames same round (target <= 1.25, zero loss)",
                    {"range": rng(vs_bare), "per_round": per_round(vs_bare)}),
        Measurement("ingest.two_workers_by_device_cpu_vs_one", statistics.median(halves_vs_one), "ratio",
                    f"two Ingestor processes, 8 devices each (ingest.devices): total CPU per frame / one worker (target <= 1.1); {detail}",
                    {"range": rng(halves_vs_one), "per_round": per_round(halves_vs_one), "cpu_us_per_frame": med["halves"], "lost": lost["halves"], "order_breaks": breaks["halves"],
                     "split": split("halves"), "devices_on_both": results["halves"][0]["devices_on_both"]}),
        Measurement("ingest.two_workers_shared_cpu_vs_one", statistics.median(pair_vs_one), "ratio",
                    f"two Ingestor processes on one mosquitto shared subscription (dealt per message): total CPU per frame / one worker; {detail}",
                    {"range": rng(pair_vs_one), "per_round": per_round(pair_vs_one), "cpu_us_per_frame": med["pair"], "lost": lost["pair"], "order_breaks": breaks["pair"],
                     "split": split("pair"), "devices_on_both": results["pair"][0]["devices_on_both"]}),
    ]


def _settings(url: str, role: str):
    from base.settings import IngestSettings, MqttSettings, TesseraSettings

    group = {"pair0": "pair", "pair1": "pair"}.get(role)
    half = {"half0": range(0, 8), "half1": range(8, 16)}.get(role)
    devices = [f"pump-{d:02d}" for d in half] if half else ["*"]
    return TesseraSettings(mqtt=MqttSettings(url=url), ingest=IngestSettings(client_id=f"bench-{role}", shared_group=group, devices=devices,
                                                                             session_expiry_s=3600, window_s=8.0, hop_s=2.0))


def _register(url: str) -> None:
    """Create every consumer's persistent session before anything is published."""
    from agent.ingest.ingestor import Ingestor

    for role in ROLES:
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
    t0 = time.time() - 3600.0  # device time an hour back: a backlog, drained far faster than real time
    order = list(range(devices))
    shuffle = random.Random(seq0).shuffle
    for k in range(per_device):
        start = (k * FRAME) % (block.size - FRAME)
        shuffle(order)  # devices in a fixed rotation would let a per-message round robin look like a per-device split
        for d in order:
            seq = seq0 + k
            payload = encode_binary(seq, t0 + seq * 0.1, VIB_RATE, block[start:start + FRAME], "<i2", 16 / 32767)
            infos.append(client.publish(f"tessera/bench/pump-{d:02d}/data/accel", payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    close(client)


def _drain(url: str, roles: list[str], tmp: Path) -> dict:
    """Drain in one process per role, started together; totals over their union."""
    start_at = time.time() + 4.0  # every process imported and waiting before the start
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.bench_ingest", "drain", url, role, str(start_at), str(tmp / f"{role}.json")])
             for role in roles]
    for p in procs:
        p.wait(timeout=600)
    parts = [json.loads((tmp / f"{role}.json").read_text()) for role in roles]
    seqs: dict[str, set[int]] = defaultdict(set)
    owners: dict[str, set[str]] = defaultdict(set)
    for part in parts:
        for stream, values in part["seqs"].items():
            seqs[stream].update(values)
            owners[stream].add(part["role"])
    frames = sum(p["frames"] for p in parts)
    span = max(p["last"] for p in parts) - min(p["connect"] for p in parts)
    expected = sum(max(v) - min(v) + 1 for v in seqs.values())
    for p in parts:
        p["devices"] = len(p.pop("seqs"))
    return {"rate": frames / span, "frames": frames, "lost": expected - sum(len(v) for v in seqs.values()),
            "order_breaks": sum(p["order_breaks"] for p in parts), "devices_on_both": sum(len(o) > 1 for o in owners.values()),
            "cpu_s": sum(p["cpu_s"] for p in parts), "parts": parts}


def _own_cpu_s() -> float:
    """User + system CPU seconds of this process, all threads (paho's network thread does the work)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _drain_child(url: str, role: str, start_at: float, out: Path) -> None:
    """One consumer: connect at `start_at`, take everything queued, write counts, sequence numbers and order breaks."""
    import paho.mqtt.client as mqtt

    from agent.ingest.ingestor import Ingestor
    from base.mqtt import close, connect

    settings = _settings(url, role)
    seqs: dict[str, list[int]] = defaultdict(list)
    state = {"last": 0.0}
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, connect_t = _own_cpu_s(), time.time()
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
    cpu = _own_cpu_s() - cpu0  # includes the idle tail: a select() wake-up or two, for both kinds alike
    stop()
    frames = sum(len(v) for v in seqs.values())
    breaks = sum(sum(b <= a for a, b in zip(v, v[1:])) for v in seqs.values())
    out.write_text(json.dumps({"role": role, "frames": frames, "connect": connect_t, "last": state["last"], "cpu_s": cpu,
                               "order_breaks": breaks, "seqs": {k.split("/")[2] if "/" in k else k: sorted(set(v)) for k, v in seqs.items()}}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["drain"])
    parser.add_argument("url")
    parser.add_argument("role")
    parser.add_argument("start_at", type=float)
    parser.add_argument("out", type=Path)
    a = parser.parse_args()
    _drain_child(a.url, a.role, a.start_at, a.out)
