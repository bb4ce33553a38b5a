"""A device that floods is cut back alone: against a real broker every other stream keeps every frame, in order, on time.

The flood budget counts against each device's own clock (agent/ingest/flood.py), so the unit
tests also show what it must not do: drop a backlog the broker replays at full speed.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.ingest.broker import EmbeddedBroker
from agent.ingest.flood import FloodLimiter, QualityEvent, StreamClock
from agent.ingest.ingestor import FrameHeader, Ingestor, StreamKey
from base.wire import encode_binary
from firmware_sim.faults import Fault, FaultKind, FaultSchedule
from firmware_sim.runtime import SimRuntime
from firmware_sim.sensors import EcgPatchDevice, ScalarSensor, VibrationNode
from tests.ingest_support import settings_for, wait_until

FLOOD_AT_S, FLOOD_S, RUN_S = 3.0, 6.0, 11.0


class Arrivals:
    """An on_frame hook: sequence numbers per stream in arrival order, and each frame's delay after its last sample."""

    def __init__(self) -> None:
        self.seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.delays: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)  # (device time, delay s)
        self.lock = threading.Lock()

    def __call__(self, key: StreamKey, frame: FrameHeader) -> None:
        end = frame.t0 + frame.n_samples / frame.rate
        with self.lock:
            self.seqs[(key.device, key.stream)].append(frame.seq)
            self.delays[(key.device, key.stream)].append((end, time.time() - end))


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else 0.0


@pytest.mark.broker
def test_a_flooding_device_is_limited_alone_and_the_others_lose_nothing(broker: EmbeddedBroker) -> None:
    settings = settings_for(broker.url, window_s=2.0, hop_s=1.0, quality_event_every_s=2.0, max_frame_bytes=64 * 1024)
    arrivals, events = Arrivals(), []
    ingestor = Ingestor(settings, on_frame=arrivals, on_quality=events.append).start()
    normal = [VibrationNode("pump-1", site="plant", frame_s=0.1, speed_period_s=2.0),
              EcgPatchDevice("patch-1", site="plant", rate_hz=360.0, frame_s=0.25, battery_period_s=5.0),
              ScalarSensor("temp-1", site="plant", period_s=0.5, batch=2)]
    flood = Fault(FaultKind.FLOOD, FLOOD_AT_S, FLOOD_S, {"factor": 100})  # every frame sent 100 times: 1,000 messages/s
    flooder = VibrationNode("pump-flood", site="plant", frame_s=0.1, speed_period_s=2.0, faults=FaultSchedule([flood]))
    sims = [SimRuntime(settings.mqtt, normal).start(), SimRuntime(settings.mqtt, [flooder]).start()]  # the flooder on its own thread
    oversized = OversizedSender(broker.port, "tessera/plant/cam-1/data/image", size=100 * 1024, count=150)
    started = time.time()
    try:
        time.sleep(FLOOD_AT_S)
        oversized.start()
        time.sleep(RUN_S - FLOOD_AT_S)
    finally:
        for sim in sims:
            sim.stop()
        oversized.join()
    expected = {k: v for sim in sims for k, v in sim.expected_frames().items()}
    assert sims[1].counters.published > 40 * FLOOD_S * 10, "the flood did not happen"
    assert wait_until(lambda: all(len(arrivals.seqs.get(k, [])) >= n for k, n in expected.items()), 30), "frames still missing"
    time.sleep(0.5)
    ingestor.stop()

    # Every stream of every other device: each frame, once, in order.
    for stream, count in expected.items():
        assert arrivals.seqs[stream] == list(range(count)), f"{stream}: {len(arrivals.seqs[stream])} of {count}"
    # The flooder is cut back, counted and reported; its own frames still pass (each first copy earns its way).
    flows = {f.device: f for f in ingestor.limiter.devices.values()}
    assert flows["pump-flood"].flood_dropped > 0.8 * sims[1].counters.published - 200 - 400
    assert ingestor.counters.flood_dropped == flows["pump-flood"].flood_dropped
    assert all(f.flood_dropped == 0 for name, f in flows.items() if name != "pump-flood")
    floods = [e for e in events if e.reason == "flood"]
    assert floods and {e.device for e in floods} == {"pump-flood"} and "copies" in floods[0].detail
    assert len(floods) <= FLOOD_S / 2.0 + 2, "quality events are rate-limited per device"
    assert sum(e.dropped for e in floods) <= flows["pump-flood"].flood_dropped
    # Oversized frames: refused unread, counted for their device, dead letters within its budget, one event per interval.
    assert ingestor.counters.rejected.get("oversized") == oversized.sent == 150
    assert flows["cam-1"].oversized == 150 and ingestor.counters.dead_letters_suppressed >= 150 - 60 - 5
    assert any(e.reason == "oversized" and e.device == "cam-1" for e in events)
    # The others' latency while the flood ran stays that of before it (generous: this machine is shared).
    quiet, flooded = [], []
    for (device, _), delays in arrivals.delays.items():
        if device == "pump-flood":
            continue
        for end, delay in delays:
            rel = end - started
            (flooded if FLOOD_AT_S + 0.5 <= rel <= FLOOD_AT_S + FLOOD_S else quiet if rel < FLOOD_AT_S else []).append(delay)
    print(f"p95 delay of other streams: before the flood {p95(quiet) * 1e3:.0f} ms, during {p95(flooded) * 1e3:.0f} ms; "
          f"median {statistics.median(quiet) * 1e3:.0f} / {statistics.median(flooded) * 1e3:.0f} ms; "
          f"flood dropped {flows['pump-flood'].flood_dropped} of {sims[1].counters.published} published")
    assert p95(flooded) <= max(0.5, 3 * p95(quiet))


class OversizedSender(threading.Thread):
    """A misbehaving device: `count` messages of `size` bytes as fast as the broker takes them."""

    def __init__(self, port: int, topic: str, size: int, count: int) -> None:
        super().__init__(daemon=True)
        self.port, self.topic, self.size, self.count = port, topic, size, count
        self.sent = 0

    def run(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cam-1", protocol=mqtt.MQTTv5)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        payload = encode_binary(0, time.time(), 12800.0, np.zeros(self.size // 2 - 16), "<i2", 1e-3)
        infos = [client.publish(self.topic, payload, qos=1) for _ in range(self.count)]
        for info in infos:
            info.wait_for_publish(20)
        self.sent = sum(info.is_published() for info in infos)
        client.disconnect()
        client.loop_stop()


def frames(limiter: FloodLimiter, clock: StreamClock, t0s: list[float], now: float, frame_s: float = 0.1) -> int:
    return sum(limiter.admit(clock, t0, frame_s, now) for t0 in t0s)


def test_a_backlog_replayed_at_full_speed_passes_the_flood_budget() -> None:
    limiter = FloodLimiter(factor=4.0, burst=200.0)
    clock = StreamClock(limiter.flow("plant", "pump-1"))
    now = 1.7e9
    # An hour of 0.1 s frames queued while Tessera was down, all arriving within the same second.
    assert frames(limiter, clock, [now - 3600 + 0.1 * k for k in range(36_000)], now) == 36_000


def test_copies_earn_nothing_past_the_burst_but_a_fast_clock_passes() -> None:
    limiter = FloodLimiter(factor=4.0, burst=200.0)
    now = 1.7e9
    copies = StreamClock(limiter.flow("plant", "pump-1"))
    assert frames(limiter, copies, [now] * 1000, now) == 200  # the burst, then nothing: copies move no clock
    assert limiter.devices[("plant", "pump-1")].flood_dropped == 800
    # A simulator at 4x (the soak's speed) for an hour: a 10 frames/s stream and a slow one on the same device.
    fast = limiter.flow("plant", "pump-2")
    accel, speed = StreamClock(fast), StreamClock(fast)
    passed = 0
    for k in range(144_000):
        t = now + 0.1 * k
        passed += limiter.admit(accel, t, 0.1, now + k * 0.1 / 4)
        if k % 100 == 0:
            passed += limiter.admit(speed, t, 10.0, now + k * 0.1 / 4)
    assert passed == 144_000 + 1440 and fast.flood_dropped == 0


def test_tiny_frames_earn_for_the_time_they_cover_and_a_clock_set_back_is_followed() -> None:
    limiter = FloodLimiter(factor=4.0, burst=10.0)
    now = 1.7e9
    clock = StreamClock(limiter.flow("home", "ecg-1"))
    assert limiter.admit(clock, now, 0.5, now)  # the stream's frames are 0.5 s long
    # 1 ms frames at 1,000 per second of device time earn 4 x 0.002 each: far below one message each.
    assert sum(limiter.admit(clock, now + 0.5 + 0.001 * k, 0.001, now + 1) for k in range(1000)) < 10 + 4 * 2 + 2
    # NTP sets the device clock back an hour: the stream follows it instead of starving.
    limiter.flow("home", "ecg-1").tokens = 0.0
    back = now - 3600
    assert limiter.admit(clock, back, 0.5, now + 2) is False  # the jump itself earns nothing
    assert all(limiter.admit(clock, back + 0.5 * k, 0.5, now + 2) for k in range(1, 100))


def test_quality_events_are_rate_limited_and_carry_what_was_dropped_since_the_last() -> None:
    limiter = FloodLimiter(event_every_s=60.0)
    flow = limiter.flow("plant", "pump-1")
    raised = [limiter.refuse(flow, "flood", 1000.0 + i) for i in range(130)]
    events = [e for e in raised if e is not None]
    assert [e.dropped for e in events] == [1, 60, 60] and all(isinstance(e, QualityEvent) for e in events)
    assert [e.at for e in events] == [1000.0, 1060.0, 1120.0]


def test_ingest_counters_line_names_what_was_dropped_and_from_whom() -> None:
    """`tessera ingest` prints flood and oversized drops, by device, only when there were any."""
    from agent.cli.sim import ingest_line

    ingestor = Ingestor(settings_for("mqtt://127.0.0.1:1", flood_burst=5, max_frame_bytes=4096))  # never started: handle() only
    frame = lambda seq: encode_binary(seq, 1000.0 + seq * 0.1, 100.0, np.zeros(10), "<i2", 1.0)  # noqa: E731
    for seq in range(3):
        ingestor.handle("tessera/home/quiet-1/data/temp", frame(seq))
    assert "flood" not in ingest_line(ingestor.snapshot())
    for seq in range(3, 30):  # 27 frames in one tick of the device's clock: a burst of 5 passes
        ingestor.handle("tessera/home/noisy-2/data/temp", encode_binary(seq, 1000.0, 100.0, np.zeros(10), "<i2", 1.0))
    ingestor.handle("tessera/home/big-3/data/temp", encode_binary(0, 1000.0, 100.0, np.zeros(3000), "<i2", 1.0))
    line = ingest_line(ingestor.snapshot())
    assert line.startswith("8 frames,")  # 3 quiet ones and the flooder's burst of 5
    assert "22 dropped for flooding, 1 oversized" in line
    assert "home/noisy-2: 22 flood, 0 oversized" in line and "home/big-3: 0 flood, 1 oversized" in line
