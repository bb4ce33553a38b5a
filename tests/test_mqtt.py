"""MQTT plumbing against a real broker: a round trip, refused credentials and an unreachable broker."""

from __future__ import annotations

import queue

import pytest

from agent.ingest.broker import EmbeddedBroker, free_port
from base.settings import MqttSettings
from base.errors import BrokerError
from base.mqtt import broker_answers, connect


def test_publish_subscribe_round_trip(broker: EmbeddedBroker) -> None:
    settings = MqttSettings(url=broker.url)
    received: queue.Queue = queue.Queue()
    sub = connect(settings, "test-sub")
    sub.on_message = lambda _c, _u, msg: received.put((msg.topic, msg.payload))
    sub.subscribe("tessera/home/+/alert", qos=1)[0]
    pub = connect(settings, "test-pub")
    import time

    time.sleep(0.2)  # let the subscription settle
    pub.publish("tessera/home/ecg-1/alert", b"hello", qos=1).wait_for_publish(5)
    assert received.get(timeout=5) == ("tessera/home/ecg-1/alert", b"hello")
    for c in (sub, pub):
        c.disconnect()
        c.loop_stop()


def test_credentials_are_required_and_checked(tmp_path) -> None:
    with EmbeddedBroker(workdir=tmp_path, users={"hub": "s3cret"}) as secured:
        with pytest.raises(BrokerError, match="refused") as caught:
            connect(MqttSettings(url=secured.url, username="hub", password="wrong"), "bad-pass")
        assert "wrong" not in str(caught.value)
        good = connect(MqttSettings(url=secured.url, username="hub", password="s3cret"), "good-pass")
        assert good.is_connected()
        good.disconnect()
        good.loop_stop()


def test_unreachable_broker_is_one_clear_error() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    assert not broker_answers(url)
    with pytest.raises(BrokerError, match="cannot reach MQTT broker"):
        connect(MqttSettings(url=url), "nobody")
