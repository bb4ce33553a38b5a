"""Credentials and TLS against a real broker: clear errors when wrong, a working ingest when right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.ingest.broker import EmbeddedBroker, make_test_ca
from base.settings import MqttSettings
from base.errors import BrokerError
from agent.ingest.ingestor import Ingestor
from base.mqtt import close, connect
from base.wire import encode_binary
from tests.ingest_support import settings_for, wait_until

pytestmark = pytest.mark.broker

USERS = {"tessera": "gateway-pass", "pump-1": "device-pass"}


@pytest.fixture()
def tls_broker(tmp_path: Path):
    files = make_test_ca(tmp_path / "ca")
    with EmbeddedBroker(workdir=tmp_path / "broker", users=USERS, tls=files) as running:
        yield running, files


def test_tls_with_the_test_ca_and_password_ingests_frames(tls_broker) -> None:
    broker, files = tls_broker
    settings = settings_for(broker.tls_url)
    settings.mqtt = MqttSettings(url=broker.tls_url, tls_ca=files.ca, username="tessera", password="gateway-pass", reconnect_min_s=0.1)
    ingestor = Ingestor(settings).start()
    device = connect(MqttSettings(url=broker.tls_url, tls_ca=files.ca, username="pump-1", password="device-pass"), "pump-1")
    try:
        device.publish("tessera/plant/pump-1/data/accel", encode_binary(0, 1.7e9, 12800.0, np.zeros(1280), "<i2", 0.001), qos=1)
        assert wait_until(lambda: ingestor.counters.accepted == 1, 5)
    finally:
        close(device)
        ingestor.stop()


def test_tls_without_the_ca_is_a_clear_error(tls_broker) -> None:
    broker, _files = tls_broker
    with pytest.raises(BrokerError, match="TLS handshake .* failed.*mqtt.tls_ca"):
        connect(MqttSettings(url=broker.tls_url, username="tessera", password="gateway-pass"), "no-ca")


def test_wrong_password_over_tls_is_refused_without_echoing_it(tls_broker) -> None:
    broker, files = tls_broker
    with pytest.raises(BrokerError, match="refused the connection.*mqtt.password") as caught:
        connect(MqttSettings(url=broker.tls_url, tls_ca=files.ca, username="tessera", password="not-this-one"), "bad")
    assert "not-this-one" not in str(caught.value)


def test_plain_listener_still_demands_credentials(tls_broker) -> None:
    broker, _files = tls_broker
    with pytest.raises(BrokerError, match="refused"):
        Ingestor(settings_for(broker.url)).start(timeout_s=5)
    good = settings_for(broker.url)
    good.mqtt = MqttSettings(url=broker.url, username="tessera", password="gateway-pass")
    with Ingestor(good) as ingestor:
        assert ingestor.subscriptions() == ["tessera/+/+/data/#"]
