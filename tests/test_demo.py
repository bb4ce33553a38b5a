"""The thin slice end to end: simulated ECG patch -> MQTT -> windows -> tokens -> real local LLM -> alert over MQTT."""

from __future__ import annotations

import io
import json
import queue
import re

import pytest

from agent.broker import EmbeddedBroker
from agent.config import load_settings
from agent.demo import run_demo
from agent.mqtt import connect


@pytest.mark.model
@pytest.mark.broker
def test_demo_raises_a_tachycardia_alert_over_mqtt(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_DEMO__TACHYCARDIA_EPISODE_AT_S", "8")
    monkeypatch.setenv("TESSERA_DEMO__WINDOW_S", "6")
    monkeypatch.setenv("TESSERA_DEMO__HOP_S", "2")
    settings = load_settings()
    alerts: queue.Queue = queue.Queue()
    watcher = connect(settings.mqtt, "test-alert-watcher")
    watcher.on_message = lambda _c, _u, msg: alerts.put((msg.topic, json.loads(msg.payload)))
    watcher.subscribe("tessera/home/+/alert", qos=1)
    out = io.StringIO()
    try:
        assert run_demo(settings, duration_s=30, out=out) == 0
        topic, alert = alerts.get(timeout=5)
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    text = out.getvalue()
    assert topic == "tessera/home/ecg-patch-1/alert"
    assert alert["kind"] == "tachycardia" and alert["severity"] in {"warning", "critical"}
    assert re.search(r"HR 1[2-4]\d bpm", alert["summary"]), alert["summary"]  # the encoder's rate, not the model's
    assert re.search(r"<ecg:hr:7\d>", text) and re.search(r"<ecg:hr:1[2-4]\d>", text)
    assert re.search(r'LLM +\{"tool": "raise_alert"', text)
    assert re.search(r"latency \d+\.\d\d s", text)
    assert "1 alerts received over MQTT" in text
