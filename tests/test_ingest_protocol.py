"""MQTT 3.1.1 as well as 5: persistent sessions on both, and falling back to 3.1.1 when a broker refuses 5."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from agent.ingest.broker import EmbeddedBroker
from base.settings import MqttSettings
from base.errors import BrokerError
from agent.ingest.ingestor import Ingestor
from base.mqtt import close, connect
from base.wire import encode_json
from tests.ingest_support import SeqCollector, settings_for, wait_until

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_persistent_session_on_each_protocol(broker: EmbeddedBroker, protocol: str) -> None:
    settings = settings_for(broker.url, client_id=f"tessera-proto-{protocol}")
    settings.mqtt = MqttSettings(url=broker.url, protocol=protocol, reconnect_min_s=0.1)
    collector = SeqCollector()
    Ingestor(settings, on_frame=collector).start().stop()  # the session now exists at the broker
    device = connect(MqttSettings(url=broker.url, protocol=protocol), "proto-device")
    for seq in range(20):
        device.publish("tessera/lab/meter-1/data/power", encode_json(seq, 1.7e9 + seq, 1.0, np.array([230.0 + seq])), qos=1).wait_for_publish(5)
    close(device)
    with Ingestor(settings, on_frame=collector) as ingestor:
        assert wait_until(lambda: collector.total() == 20, 10)
        assert ingestor.client_id == f"tessera-proto-{protocol}"
    assert collector.seqs[("meter-1", "power")] == list(range(20))


class ThreeOneOneOnlyBroker:
    """A stand-in for an old broker that speaks MQTT 3.1.1 only: it refuses a v5 CONNECT as such brokers do."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.levels: list[int] = []
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            conn.recv(1)  # CONNECT fixed header
            length, shift = 0, 0
            while True:
                byte = conn.recv(1)[0]
                length |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            body = b""
            while len(body) < length:
                body += conn.recv(length - len(body))
            level = body[6]  # after the protocol name "MQTT"
            self.levels.append(level)
            conn.sendall(b"\x20\x02\x00\x00" if level == 4 else b"\x20\x02\x00\x01")  # accepted / unacceptable version

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


def test_auto_falls_back_to_3_1_1_when_the_broker_refuses_5() -> None:
    old = ThreeOneOneOnlyBroker()
    try:
        client = connect(MqttSettings(url=f"mqtt://127.0.0.1:{old.port}"), "fallback-test", clean_start=False)
        assert client.is_connected() and old.levels == [5, 4]
        client.loop_stop()
        with pytest.raises(BrokerError, match="refused.*mqtt.protocol"):
            connect(MqttSettings(url=f"mqtt://127.0.0.1:{old.port}", protocol="5"), "v5-only")
    finally:
        old.close()
