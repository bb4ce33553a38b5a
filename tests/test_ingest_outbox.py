"""Store-and-forward: outbound messages wait on disk while the broker is away, survive a restart of
Tessera, and go out in order once the broker is back."""

from __future__ import annotations

import queue
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from agent.ingest.broker import EmbeddedBroker, free_port
from base.settings import MqttSettings
from base.mqtt import close, connect
from agent.ingest.outbox import Outbox
from tests.ingest_support import wait_until

pytestmark = pytest.mark.broker


def subscribe_persistently(settings: MqttSettings, received: queue.Queue) -> mqtt.Client:
    """An upstream consumer with a persistent session, so it gets what was sent while it was away."""
    client = connect(settings, "upstream-consumer", clean_start=False, session_expiry_s=600)
    client.on_message = lambda _c, _u, msg: received.put(msg.payload.decode())
    client.subscribe("tessera/plant/+/alert", qos=1)
    return client


def test_messages_wait_on_disk_survive_a_restart_and_go_out_in_order(tmp_path: Path) -> None:
    broker = EmbeddedBroker(workdir=tmp_path / "broker", port=free_port())
    settings = MqttSettings(url=broker.url, reconnect_min_s=0.1, reconnect_max_s=0.5)
    received: queue.Queue = queue.Queue()
    with broker:  # the consumer's session exists before the outage
        close(subscribe_persistently(settings, received))
    db = tmp_path / "data" / "outbox.sqlite3"
    first = Outbox(db, settings, "tessera-outbox").start()
    for i in range(5):
        first.put(f"tessera/plant/pump-{i}/alert", f"alert {i}")
    assert wait_until(lambda: first.counters.connect_failures >= 2, 5)  # it keeps trying, with backoff
    first.stop()  # Tessera restarts while the broker is still down
    second = Outbox(db, settings, "tessera-outbox")
    assert second.pending() == 5
    second.put("tessera/plant/pump-9/alert", "alert 5")
    second.start()
    with broker:
        consumer = subscribe_persistently(settings, received)
        try:
            assert second.flush(10)
            got = [received.get(timeout=5) for _ in range(6)]
            assert got == [f"alert {i}" for i in range(6)]
            assert second.counters.sent == 6 and second.pending() == 0
        finally:
            second.stop()
            close(consumer)


def test_a_full_outbox_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}"), "x", max_messages=3)
    for i in range(5):
        outbox.put("tessera/t/alert", str(i))
    assert outbox.pending() == 3 and outbox.counters.dropped == 2
    rows = [bytes(p).decode() for (p,) in outbox._db.execute("SELECT payload FROM outbox ORDER BY id")]
    assert rows == ["2", "3", "4"]
    outbox.stop()
