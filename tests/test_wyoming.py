"""The hub's Wyoming service driven by the wyoming library's own client over TCP, as Home Assistant drives it.

The hub is built as `tessera hub` builds it (the cascade over the real model, with a stored
calibration under which only near-certain answers are trusted), on a real private broker, with
a simulated light that announces itself through Home Assistant MQTT discovery.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.decide.command_eval import DEFAULT_HOME
from agent.ingest.broker import EmbeddedBroker
from agent.services.hub import HubDaemon
from agent.services.wyoming_service import WyomingServer
from base.errors import ConfigError
from base.net import free_port
from base.settings import load_settings
from tools.home import Home


def ask(port: int, request) -> object:
    """One request over a fresh connection, as Home Assistant sends each sentence; the first event back."""
    from wyoming.client import AsyncTcpClient

    async def exchange():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(request.event())
            return await asyncio.wait_for(client.read_event(), 120)

    return asyncio.run(exchange())


def store_strict_calibration(settings) -> None:
    """A calibration under which only near-certain answers are trusted: a template match is, a guess of the model is not."""
    from agent.decide.calibration import calibration_path, fit_calibration
    from agent.llm.models import resolve_model
    from base.settings import LlmSettings

    scores = [0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.0]
    cal = fit_calibration(scores, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1], target_escalation_rate=0.8,
                          model_sha256=resolve_model(LlmSettings()).sha256, score_kind="planner_raw_confidence")
    cal.save(calibration_path(settings.data_dir))


def test_a_wyoming_service_beyond_loopback_needs_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_WYOMING__PORT", "10800")
    monkeypatch.setenv("TESSERA_WYOMING__HOST", "0.0.0.0")
    with pytest.raises(ConfigError, match="wyoming.allow_from"):
        WyomingServer(None, load_settings(), None)
    monkeypatch.setenv("TESSERA_WYOMING__ALLOW_FROM", '["home-assistant.local"]')
    with pytest.raises(ConfigError, match="not an IP address or network"):
        load_settings()
    monkeypatch.setenv("TESSERA_WYOMING__ALLOW_FROM", '["192.168.1.0/24"]')
    server = WyomingServer(None, load_settings(), None)
    assert server.serves("192.168.1.10") and server.serves("127.0.0.1") and not server.serves("10.0.0.5")


@pytest.mark.model
@pytest.mark.broker
def test_home_assistant_handles_and_recognises_through_the_hub(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    from wyoming.asr import Transcript
    from wyoming.handle import Handled, NotHandled
    from wyoming.info import Describe, Info
    from wyoming.intent import Intent, NotRecognized, Recognize

    from agent.decide.cascade import build_cascade
    from base.settings import MqttSettings
    from firmware_sim.home import Light
    from firmware_sim.runtime import SimRuntime

    port = free_port()
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_WYOMING__PORT", str(port))
    settings = load_settings(profile="hub")
    store_strict_calibration(settings)
    home = Home.load(DEFAULT_HOME)
    hub = HubDaemon(settings, home, build_cascade(settings, home, mode="auto", review_unsure=True)).start()
    lamp = Light("garden-lamp", name="Garden Lamp", site="home")
    sim = SimRuntime(MqttSettings(url=broker.url), [lamp]).start()
    seen: queue.Queue = queue.Queue()  # every device command and the lamp's state, as the broker carries them
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{time.monotonic_ns()}", protocol=mqtt.MQTTv5)
    watcher.on_message = lambda _c, _u, msg: seen.put((msg.topic, msg.payload.decode()))
    watcher.connect("127.0.0.1", broker.port)
    watcher.loop_start()
    watcher.subscribe([("tessera/home/+/set", 1), (lamp.topic("state"), 1)])
    intent_server = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Garden Lamp" not in {e.name for e in home.entities}:
            time.sleep(0.1)
        assert "Garden Lamp" in {e.name for e in home.entities}
        time.sleep(0.3)
        _drain(seen)

        info = Info.from_event(ask(port, Describe()))
        [program] = info.handle
        assert program.installed and program.supports_home_control and program.models[0].languages == ["en"] and not info.intent

        # "What is the capital of France" is not for a hub: the intent model says so, declined, nothing sent.
        audited = len(hub.runtime.guard.audit.last(100))
        declined = ask(port, Transcript("what is the capital of France", language="en", context={"conversation_id": "c1"}))
        assert NotHandled.is_type(declined.type), declined
        assert "not something I can do" in NotHandled.from_event(declined).text
        assert lamp.state["state"] == "OFF" and not _drain(seen) and len(hub.runtime.guard.audit.last(100)) == audited

        # Said to a satellite: carried out by the hub, answered as Home Assistant answers, and the lamp is on.
        done = ask(port, Transcript("turn on the garden lamp", language="en", context={"satellite_id": "assist_satellite.kitchen"}))
        assert Handled.is_type(done.type), done
        assert Handled.from_event(done).text == "Turned on the light"
        assert ("tessera/home/garden-lamp/state", json.dumps(lamp.state)) in _drain(seen, until=lambda m: m[0].endswith("/state") and '"ON"' in m[1])
        assert lamp.state["state"] == "ON"
        [record] = hub.runtime.guard.audit.last(1)
        assert (record.tool, record.arguments, record.route, record.ok) == ("HassTurnOn", {"name": "Garden Lamp", "domain": "light"}, "fast", True)

        other = ask(port, Transcript("schalte das Licht ein", language="de"))
        assert NotHandled.is_type(other.type) and "in en here" in NotHandled.from_event(other).text

        # Recognised, not carried out: the intent and slots Home Assistant runs on its own entities.
        recognized = ask(port, Recognize("turn off the kitchen lights"))
        assert Intent.is_type(recognized.type), recognized
        intent = Intent.from_event(recognized)
        assert intent.name == "HassTurnOff" and {e.name: e.value for e in intent.entities} == {"area": "Kitchen", "domain": "light"}
        assert NotRecognized.is_type(ask(port, Recognize("tell me a joke")).type)

        # A hub in intent mode answers Home Assistant's transcripts with intents, and nothing runs here.
        intent_port = free_port()
        intent_settings = settings.model_copy(update={"wyoming": settings.wyoming.model_copy(update={"port": intent_port, "mode": "intent"})})
        intent_server = WyomingServer(hub.service, intent_settings, hub.metrics).start()
        assert Info.from_event(ask(intent_port, Describe())).intent[0].models[0].languages == ["en"]
        off = Intent.from_event(ask(intent_port, Transcript("turn off the garden lamp", language="en")))
        assert off.name == "HassTurnOff" and {e.name: e.value for e in off.entities} == {"name": "Garden Lamp", "domain": "light"}
        time.sleep(0.5)
        assert lamp.state["state"] == "ON" and not _drain(seen)
        assert hub.metrics.value("wyoming_requests_total", program="handle", outcome="handled") == 1
    finally:
        if intent_server is not None:
            intent_server.stop()
        watcher.loop_stop()
        watcher.disconnect()
        sim.stop()
        hub.stop()


def _drain(seen: queue.Queue, until=None, timeout_s: float = 10.0) -> list[tuple[str, str]]:
    """What the broker carried meanwhile; with `until`, waits for a message it accepts."""
    got: list[tuple[str, str]] = []
    deadline = time.monotonic() + (timeout_s if until else 0.3)
    while time.monotonic() < deadline:
        try:
            got.append(seen.get(timeout=0.1))
        except queue.Empty:
            continue
        if until and until(got[-1]):
            break
    return got
