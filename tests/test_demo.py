"""`tessera demo` end to end: the whole story on a real broker, the real model, a real edge server and the real store."""

from __future__ import annotations

import io
import json
import queue
import re

import pytest

from agent.ingest.broker import EmbeddedBroker
from base.settings import load_settings
from agent.demo import run_demo
from base.mqtt import connect


@pytest.mark.model
@pytest.mark.broker
@pytest.mark.edge
def test_the_demo_tells_the_whole_story_within_two_minutes(broker: EmbeddedBroker, seeded_knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_RAG__PATH", str(seeded_knowledge))
    settings = load_settings()
    seen: queue.Queue = queue.Queue()
    watcher = connect(settings.mqtt, "test-demo-watcher")
    watcher.on_message = lambda _c, _u, msg: seen.put((msg.topic, json.loads(msg.payload)))
    watcher.subscribe([("tessera/home/+/alert", 1), ("tessera/plant/tickets", 1), ("tessera/home/garden-lamp/set", 1)])
    out = io.StringIO()
    try:
        assert run_demo(settings, duration_s=120, out=out) == 0, out.getvalue()[-3000:]
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    text = out.getvalue()
    messages: dict[str, list[dict]] = {}
    while not seen.empty():
        topic, payload = seen.get()
        messages.setdefault(topic, []).append(payload)
    # A spoken-style command, executed: the lamp got Home Assistant's JSON command and changed state.
    assert messages["tessera/home/garden-lamp/set"] == [{"state": "ON", "brightness": 102}]
    assert re.search(r'STATE .*garden-lamp/state .*"state": "ON", "brightness": 102', text)
    # The arrhythmia alert, with the encoder's facts and an explanation with its source.
    alert = messages["tessera/home/ecg-patch-1/alert"][0]
    assert alert["kind"] == "tachycardia" and re.search(r"HR 1[2-4]\d bpm", alert["summary"])
    assert "ecg-rhythm-interpretation.md" in alert["explanation"]
    # Two bearing tickets, one decided on the edge, one falling back with the edge down.
    tickets = messages["tessera/plant/tickets"]
    assert [t["device"] for t in tickets] == ["pump-01", "pump-03"]
    assert all("<vib:bearing:bpfo:" in " ".join(t["evidence"]) for t in tickets)
    assert re.search(r"LLM +plant/pump-01 .* route edge", text) and re.search(r"LLM +plant/pump-03 .* route fallback", text)
    assert re.search(r"home/ecg-patch-1/ecg +ecg +q=\d\.\d\d +<ecg:quality:ok> (?:<ecg:sqi:\w+> )?<ecg:hr:7\d>", text)  # the live view shows tokens
    assert "fallback with the edge down: yes" in text
    assert float(re.findall(r"^ *(\d+\.\d)s ", text, re.M)[-1]) < 120
