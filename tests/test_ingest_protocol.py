"""MQTT 3.1.1 as well as 5: the persistent session (clean session off) still holds frames across a restart."""

from __future__ import annotations

import numpy as np
import pytest

from agent.broker import EmbeddedBroker
from agent.config import MqttSettings
from agent.ingest import Ingestor
from agent.mqtt import close, connect
from agent.wire import encode_json
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
