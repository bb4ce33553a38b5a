"""Zero loss against a real broker: the broker restarts (or is killed) mid-stream, then Tessera restarts mid-stream.

Frames are counted by sequence number per stream: every number the devices produced must be
accepted by ingest exactly once and in order.
"""

from __future__ import annotations

import time

import pytest

from agent.ingest.broker import EmbeddedBroker
from agent.ingest.ingestor import Ingestor
from firmware_sim.firmware import Firmware
from firmware_sim.runtime import SimRuntime
from firmware_sim.sensors import EcgPatchDevice, ScalarSensor, VibrationNode
from tests.ingest_support import SeqCollector, settings_for, wait_until

pytestmark = pytest.mark.broker


def devices() -> list[Firmware]:
    """A binary high-rate stream, a two-lead ECG and a JSON scalar stream."""
    return [
        VibrationNode("pump-1", rate_hz=12800.0, frame_s=0.1, speed_period_s=2.0),
        EcgPatchDevice("patch-1", rate_hz=360.0, leads=2, frame_s=0.25, battery_period_s=5.0),
        ScalarSensor("temp-1", period_s=0.5, batch=2),
    ]


def assert_complete_and_ordered(collector: SeqCollector, expected: dict[tuple[str, str], int]) -> None:
    for stream, count in expected.items():
        got = collector.seqs.get(stream, [])
        assert got == list(range(count)), f"{stream}: {len(got)} of {count} frames, first missing {sorted(set(range(count)) - set(got))[:5]}"


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_broker_restart_mid_stream_loses_no_frame(how: str, tmp_path) -> None:
    # A deep in-flight window: a killed mosquitto loses what it queued in memory, so everything
    # it accepted should already be on its way to Tessera (see docs/wire.md).
    with EmbeddedBroker(workdir=tmp_path / "broker", max_inflight_messages=1000) as broker:
        _restart_mid_stream(broker, how)


def _restart_mid_stream(broker: EmbeddedBroker, how: str) -> None:
    settings = settings_for(broker.url, window_s=2.0, hop_s=1.0)
    collector = SeqCollector()
    ingestor = Ingestor(settings, on_frame=collector).start()
    sim = SimRuntime(settings.mqtt, devices(), speed=3.0).start()
    try:
        assert wait_until(lambda: collector.total() > 50, 10)
        bounce = broker.restart if how == "restart" else lambda: (broker.kill(), broker.start())
        bounce()  # restart: SIGTERM, sessions and queued frames saved; kill: SIGKILL, nothing saved since autosave
        time.sleep(1.5)
        before_second = collector.total()
        bounce()
        time.sleep(2.0)
    finally:
        sim.stop()
    expected = sim.expected_frames()
    assert sim.counters.disconnects >= 2 * len(sim.devices)  # every device saw both restarts
    assert sim.counters.acked == sim.counters.published
    assert wait_until(lambda: collector.total() >= sum(expected.values()), 20)
    ingestor.stop()
    assert collector.total() > before_second
    assert_complete_and_ordered(collector, expected)
    assert ingestor.counters.gaps == 0 and ingestor.counters.dead_lettered == 0


def test_tessera_restart_gets_frames_from_its_persistent_session(broker: EmbeddedBroker) -> None:
    settings = settings_for(broker.url, window_s=2.0, hop_s=1.0, client_id="tessera-restart-test")
    first, second = SeqCollector(), SeqCollector()
    ingestor = Ingestor(settings, on_frame=first).start()
    sim = SimRuntime(settings.mqtt, devices(), speed=3.0).start()
    try:
        assert wait_until(lambda: first.total() > 30, 10)
        ingestor.stop()  # Tessera goes away; the broker keeps its session and queues frames
        stopped_at = first.total()
        time.sleep(2.0)
        published_while_down = sim.counters.published
        ingestor = Ingestor(settings, on_frame=second).start()  # same client id: the same session
        time.sleep(1.0)
    finally:
        sim.stop()
    expected = sim.expected_frames()
    assert wait_until(lambda: first.total() + second.total() >= sum(expected.values()), 20)
    ingestor.stop()
    assert first.total() == stopped_at and published_while_down > stopped_at
    for stream, count in expected.items():
        a, b = first.seqs.get(stream, []), second.seqs.get(stream, [])
        assert a == sorted(a) and b == sorted(b), f"{stream}: order broken"
        assert set(a) | set(b) == set(range(count)), f"{stream}: lost {sorted(set(range(count)) - set(a) - set(b))[:5]}"
        if a and b:
            assert b[0] <= a[-1] + 1  # the restarted ingest picks up where the first one stopped


def test_workers_with_disjoint_device_lists_each_get_whole_streams(broker: EmbeddedBroker) -> None:
    fleet = [ScalarSensor(f"temp-{i}", period_s=0.25, batch=2) for i in range(4)]
    collectors = [SeqCollector(), SeqCollector()]
    workers = [Ingestor(settings_for(broker.url, devices=[f"temp-{i}", f"temp-{i + 2}"]), on_frame=c, worker=i).start()
               for i, c in enumerate(collectors)]
    assert workers[0].subscriptions() == ["tessera/+/temp-0/data/#", "tessera/+/temp-2/data/#"]
    sim = SimRuntime(settings_for(broker.url).mqtt, fleet, speed=2.0).start()
    time.sleep(2.0)
    sim.stop()
    expected = sim.expected_frames()
    assert wait_until(lambda: sum(c.total() for c in collectors) >= sum(expected.values()), 10)
    for i, (worker, collector) in enumerate(zip(workers, collectors)):
        worker.stop()
        assert set(d for d, _ in collector.seqs) == {f"temp-{i}", f"temp-{i + 2}"}
        for (device, stream), seqs in collector.seqs.items():
            assert seqs == list(range(expected[(device, stream)]))
        assert worker.counters.gaps == 0 and worker.counters.dead_lettered == 0
