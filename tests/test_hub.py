"""The hub against a real broker: MQTT 5 request/response, the 3.1.1 fallback, confirmation of dangerous actions, bad input."""

from __future__ import annotations

import json
import re
import queue
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.ingest.broker import EmbeddedBroker
from base.settings import load_settings
from agent.services.hub import HubDaemon
from agent.decide.planner import CommandPlanner
from agent.services.console import serve_console
from tools.home import Home

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def hub(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    settings = load_settings()
    home = Home.load(REPO / "examples" / "home.yaml")
    daemon = HubDaemon(settings, home, CommandPlanner(home, backend=None)).start()
    yield daemon
    daemon.stop()


def client(broker: EmbeddedBroker, protocol: int, inbox: queue.Queue, *topics: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{protocol}-{time.monotonic_ns()}", protocol=protocol)
    c.on_message = lambda _c, _u, msg: inbox.put(msg)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    for topic in topics:
        c.subscribe(topic, qos=1)
    time.sleep(0.3)
    return c


def test_mqtt5_request_response_executes_the_command(broker: EmbeddedBroker, hub: HubDaemon) -> None:
    inbox: queue.Queue = queue.Queue()
    c = client(broker, mqtt.MQTTv5, inbox, "my/replies", "tessera/home/+/set")
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData = "my/replies", b"req-7"
    c.publish("tessera/home/hub/command", json.dumps({"text": "turn off the kitchen lights"}), qos=1, properties=props)
    got = {}
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        msg = inbox.get(timeout=10)
        got[msg.topic] = msg
    reply = got["my/replies"]
    assert reply.properties.CorrelationData == b"req-7"
    answer = json.loads(reply.payload)
    assert answer["ok"] and answer["tool"] == "HassTurnOff" and answer["args"] == {"area": "Kitchen", "domain": "light"}
    assert json.loads(got["tessera/home/light.kitchen_ceiling/set"].payload) == {"service": "turn_off"}
    assert "tessera/home/light.kitchen_counter/set" in got
    c.loop_stop()


def test_mqtt311_fallback_confirmation_and_bad_input(broker: EmbeddedBroker, hub: HubDaemon) -> None:
    inbox: queue.Queue = queue.Queue()
    c = client(broker, mqtt.MQTTv311, inbox, "old/replies", "tessera/home/hub/response", "tessera/home/lock.front_door/set")

    commands: list = []  # device commands seen while waiting for answers

    def ask(payload: bytes | str) -> dict:
        c.publish("tessera/home/hub/command", payload, qos=1)
        while True:
            msg = inbox.get(timeout=10)
            if msg.topic in ("old/replies", "tessera/home/hub/response"):
                return json.loads(msg.payload)
            commands.append(msg)

    for bad, reason in [(b"\xff\xfe", "UTF-8"), (b'{"text": ', "JSON"), (b'{"confirm": "x"}', "confirm"), (b"x" * 5000, "limit")]:
        answer = ask(bad)
        assert not answer["ok"] and reason in answer["error"]
    unlock = ask(json.dumps({"text": "unlock the front door", "id": "a1", "reply_to": "old/replies"}))
    assert unlock["id"] == "a1" and unlock["needs_confirmation"] and not unlock["ok"]
    assert not commands  # nothing reached the lock
    done = ask(json.dumps({"confirm": unlock["decision_id"]}))
    assert done["ok"] and done["tool"] == "HassTurnOff"
    lock_cmd = commands[0] if commands else inbox.get(timeout=10)
    assert lock_cmd.topic == "tessera/home/lock.front_door/set" and json.loads(lock_cmd.payload) == {"service": "unlock"}
    assert not ask(json.dumps({"confirm": unlock["decision_id"]}))["ok"]  # a confirmation is used once
    assert ask("please tell me a joke")["tool"] == "OutOfScope"
    c.loop_stop()


def test_health_and_metrics_endpoint(hub: HubDaemon) -> None:
    hub.service.answer(b"turn on the porch light")
    server = serve_console(hub)  # the console serves /healthz and /metrics beside the page
    try:
        health = json.loads(urllib.request.urlopen(f"{server.url}healthz", timeout=5).read())
        metrics = urllib.request.urlopen(f"{server.url}metrics", timeout=5).read().decode()
        state = json.loads(urllib.request.urlopen(f"{server.url}api/state", timeout=5).read())
    finally:
        server.stop()
    assert health["ok"] and health["mqtt_connected"]
    assert [(d["input"], d["route"], d["tool"]) for d in state["decisions"]] == [("turn on the porch light", "fast", "HassTurnOn")]
    assert 'tessera_hub_decisions_total{route="fast"} 1' in metrics
    assert 'tessera_hub_actions_total{outcome="ok",tool="HassTurnOn"} 1' in metrics
    assert "# TYPE tessera_hub_command_seconds_sum counter" in metrics


def test_tessera_hub_stops_cleanly_on_sigterm(broker: EmbeddedBroker, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {"TESSERA_MQTT__URL": broker.url, "TESSERA_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "hub", "--home", str(REPO / "examples" / "home.yaml"), "--health-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "hub listening on tessera/home/hub/command" in line, proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_devices_learnt_from_discovery_obey_spoken_commands(broker: EmbeddedBroker, hub: HubDaemon) -> None:
    from base.settings import MqttSettings
    from firmware_sim.home import Light, Lock
    from firmware_sim.runtime import SimRuntime

    devices = [Light("garden-lamp", name="Garden Lamp", site="home"), Lock("shed-lock", name="Shed Lock", site="home")]
    sim = SimRuntime(MqttSettings(url=broker.url), devices).start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not {"Garden Lamp", "Shed Lock"} <= {e.name for e in hub.service.home.entities}:
            time.sleep(0.1)
        learnt = {e.name: e for e in hub.service.home.entities}
        assert learnt["Garden Lamp"].entity_id.startswith("light.") and learnt["Shed Lock"].domain == "lock"

        # A Home Assistant sentence template: the fast path answers it without a model.
        answer = hub.service.answer(b"set the garden lamp to 40 percent")
        assert answer["ok"] and answer["tool"] == "HassLightSet", answer
        refused = hub.service.answer(b"unlock the shed lock")
        assert refused["needs_confirmation"]  # a lock learnt from discovery is guarded like any other
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and devices[0].state.get("state") != "ON":
            time.sleep(0.1)
        assert devices[0].state["state"] == "ON" and devices[0].state["brightness"] == round(40 * 255 / 100)
        assert devices[1].state["state"] == "LOCKED"
    finally:
        sim.stop()


def test_the_hub_watches_a_wearable_and_alerts_on_tachycardia(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.llm.scripted import ScriptedBackend
    from firmware_sim.ecg_patch import EcgPatch

    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_INGEST__WINDOW_S", "6")
    monkeypatch.setenv("TESSERA_INGEST__HOP_S", "2")
    settings = load_settings()
    home = Home.load(REPO / "examples" / "home.yaml")
    # The model's choice is scripted here (the real model's event decisions are tested in test_demo.py).
    decisions = ScriptedBackend([{"tool": "raise_alert", "severity": "warning"}] * 5)
    daemon = HubDaemon(settings, home, CommandPlanner(home, backend=None), event_backend=decisions).start()
    inbox: queue.Queue = queue.Queue()
    watcher = client(broker, mqtt.MQTTv5, inbox, "tessera/home/+/alert")
    patch = EcgPatch(settings.mqtt, "ecg-patch-9", [(0.0, 132.0)], speed=4.0).start()
    try:
        alert = json.loads(inbox.get(timeout=30).payload)
    finally:
        patch.stop()
        daemon.stop()
        watcher.loop_stop()
    assert alert["device"] == "ecg-patch-9" and alert["kind"] == "tachycardia" and alert["severity"] == "warning"
    assert "bpm" in alert["summary"]  # the encoder's words, not the model's
    assert len(decisions.calls) == 1  # one decision per device and kind per cooldown, however many windows
    latest = daemon.service.answer(b'{"text": "is the front door locked"}')  # commands still answered meanwhile
    assert latest["tool"] == "HassGetState"
    assert daemon.metrics.value("windows_encoded_total", modality="ecg") >= 1


@pytest.mark.broker
@pytest.mark.parametrize("kind, signal", [
    ("af_suspect", {"hr_bpm": 95, "af": True}),
    ("pause", {"hr_bpm": 60, "pauses": 1, "pause_s": 3.0}),
    ("lead_off", None),
])
def test_the_hub_alerts_on_pauses_af_and_lead_off_with_an_explanation(kind: str, signal: dict | None, broker: EmbeddedBroker, seeded_knowledge: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from agent.ingest.ingestor import StreamKey
    from agent.llm.scripted import ScriptedBackend
    from agent.services.runtime import open_knowledge
    from firmware_sim.signals.ecg import synthesize_ecg

    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_RAG__PATH", str(seeded_knowledge))
    settings = load_settings()
    home = Home.load(REPO / "examples" / "home.yaml")
    decisions = ScriptedBackend([{"tool": "raise_alert", "severity": "warning"}] * 3)
    daemon = HubDaemon(settings, home, CommandPlanner(home, backend=None), event_backend=decisions, knowledge=open_knowledge(settings)).start()
    inbox: queue.Queue = queue.Queue()
    watcher = client(broker, mqtt.MQTTv5, inbox, "tessera/home/+/alert")
    rate = 250.0
    samples = np.zeros(int(10 * rate)) if signal is None else synthesize_ecg(10.0, rate, rng=np.random.default_rng(1), **signal).signal
    try:
        # The window as ingest hands it on; the streaming path itself is tested above.
        daemon.watcher.handle(StreamKey("home", "ecg-patch-5", "ecg"), samples, 1000.0, rate)
        alert = json.loads(inbox.get(timeout=10).payload)
    finally:
        daemon.stop()
        watcher.loop_stop()
    assert alert["device"] == "ecg-patch-5" and alert["kind"] == kind
    assert any(e.startswith(f"{kind} (") for e in alert["evidence"])  # the encoder's event, with its values
    assert re.search(r"\[seed/docs/ecg-[a-z-]+\.md#", alert["explanation"]), alert["explanation"]


def test_a_command_carries_where_it_was_spoken(broker: EmbeddedBroker, hub: HubDaemon) -> None:
    inbox: queue.Queue = queue.Queue()
    watcher = client(broker, mqtt.MQTTv5, inbox, "tessera/home/bedroom-ceiling-light/set", "tessera/home/light.bedroom_ceiling/set")
    try:
        answer = hub.service.answer(json.dumps({"text": "turn on the lights", "context": {"area": "Bedroom"}}).encode())
        assert answer["ok"] and answer["tool"] == "HassTurnOn" and answer["args"] == {"area": "Bedroom", "domain": "light"}, answer
        assert answer["route"] == "fast" and answer["confidence"] == 1.0
        bad = hub.service.answer(json.dumps({"text": "turn on the lights", "context": {"area": "Attic"}}).encode())
        assert not bad["ok"] and "not an area of this home" in bad["error"] and "\n" not in bad["error"]
        shape = hub.service.answer(json.dumps({"text": "turn on the lights", "context": "Bedroom"}).encode())
        assert not shape["ok"] and "context" in shape["error"]
    finally:
        watcher.loop_stop()
        watcher.disconnect()


def test_timers_run_on_the_hub_and_lists_are_kept(broker: EmbeddedBroker, hub: HubDaemon) -> None:
    inbox: queue.Queue = queue.Queue()
    watcher = client(broker, mqtt.MQTTv5, inbox, "tessera/home/hub/timer")
    try:
        started = hub.service.answer(b"set a timer for 1 second")
        assert started["ok"] and started["tool"] == "HassStartTimer" and started["args"] == {"seconds": 1}, started
        assert hub.service.answer(b"set a 10 minute timer for pizza")["ok"]
        status = hub.service.answer(b"how much time is left on the pizza timer")
        # Home Assistant's answer, and Tessera's own sentence as the detail.
        assert status["tool"] == "HassTimerStatus" and re.fullmatch(r"(9 minutes and \d+ seconds|10 minutes) left\.", status["answer"]), status
        assert re.search(r"pizza timer: (9 minutes \d+ seconds|10 minutes) left", status["detail"]), status
        assert hub.service.answer(b"pause the pizza timer")["answer"] == "Timer paused"
        added = hub.service.answer(b"add 5 minutes to the pizza timer")
        assert added["tool"] == "HassIncreaseTimer" and added["answer"] == "5 minutes added to timer named pizza", added
        assert re.search(r"; 1[45] minutes( \d+ seconds)? left", added["detail"]), added
        events = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e["action"] == "finished" for e in events):
            try:
                events.append(json.loads(inbox.get(timeout=0.5).payload))
            except queue.Empty:
                pass
        assert [e["action"] for e in events].count("start") == 2 and any(e["action"] == "finished" and e["seconds"] == 1 for e in events)
        cancelled = hub.service.answer(b"cancel all timers")
        assert cancelled["tool"] == "HassCancelAllTimers" and cancelled["answer"] == "Canceled 1 timer.", cancelled

        assert hub.service.answer(b"add oat milk to my shopping list")["ok"]
        done = hub.service.answer(b"check oat milk off my shopping list")
        assert done["tool"] == "HassShoppingListCompleteItem" and done["ok"], done
        saved = json.loads((hub.settings.data_dir / "lists.json").read_text())
        assert saved["Shopping List"] == [{"item": "oat milk", "complete": True}]
    finally:
        watcher.loop_stop()
        watcher.disconnect()


# Devices the newer intents act on, beside examples/home.yaml's: two voice satellites, a mower, a vacuum, a to-do list.
MORE_DEVICES = [
    {"entity_id": "assist_satellite.kitchen", "name": "Kitchen Satellite", "area": "kitchen", "state": "idle"},
    {"entity_id": "assist_satellite.bedroom", "name": "Bedroom Satellite", "area": "bedroom", "state": "idle"},
    {"entity_id": "lawn_mower.mowbot", "name": "Mowbot", "area": "garage", "state": "docked"},
    {"entity_id": "vacuum.robot", "name": "Robot Vacuum", "area": "hallway", "state": "docked"},
    {"entity_id": "todo.chores", "name": "Chores", "state": "0"},
]


def test_every_newer_intent_is_carried_out_and_answered_as_home_assistant_answers(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch,
                                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    monkeypatch.setenv("TESSERA_DATA_DIR", str(tmp_path))
    settings = load_settings()
    home = Home.load(REPO / "examples" / "home.yaml")
    home = Home.model_validate(home.model_dump() | {"entities": [*home.model_dump()["entities"], *MORE_DEVICES]})
    home.entity("climate.living_room").attributes["fan_modes"] = ["auto", "low", "high"]
    daemon = HubDaemon(settings, home, CommandPlanner(home, backend=None)).start()
    inbox: queue.Queue = queue.Queue()
    c = client(broker, mqtt.MQTTv5, inbox, "my/replies", "tessera/home/+/set", "tessera/home/hub/broadcast")
    seen: list = []  # device commands and announcements, in order

    def ask(text: str, **context: str) -> dict:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "my/replies"
        c.publish("tessera/home/hub/command", json.dumps({"text": text, **({"context": context} if context else {})}), qos=1, properties=props)
        while True:
            msg = inbox.get(timeout=10)
            if msg.topic == "my/replies":
                return json.loads(msg.payload)
            seen.append((msg.topic, json.loads(msg.payload)))

    def sent(topic: str) -> dict:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(t == topic for t, _ in seen):
            try:
                msg = inbox.get(timeout=0.2)
                seen.append((msg.topic, json.loads(msg.payload)))
            except queue.Empty:
                pass
        return next(p for t, p in reversed(seen) if t == topic)

    try:
        said = ask("broadcast that dinner is ready", device_id="assist_satellite.kitchen")
        assert (said["tool"], said["args"], said["answer"], said["route"]) == ("HassBroadcast", {"message": "dinner is ready"}, "Done", "fast"), said
        # Every satellite of the home but the one that heard it.
        assert sent("tessera/home/hub/broadcast") == {"message": "dinner is ready", "satellites": ["assist_satellite.bedroom"],
                                                       "exclude": "assist_satellite.kitchen"}

        said = ask("who made you")
        assert said["tool"] == "HassRespond" and said["answer"].startswith("I was created by the wonderful Home Assistant community"), said

        said = ask("set the Living Room Thermostat fan mode to low")
        assert (said["tool"], said["args"], said["answer"]) == ("HassClimateSetFanMode", {"name": "Living Room Thermostat", "domain": "climate", "fan_mode": "low"},
                                                                "Fan mode set to low"), said
        assert sent("tessera/home/climate.living_room/set") == {"service": "set_fan_mode", "fan_mode": "low"}
        refused = ask("set the Living Room Thermostat fan mode to top")  # a mode this thermostat does not have
        assert not refused["ok"] and "auto, low, high" in refused["answer"], refused

        said = ask("set the speed of the office fan to 40%")
        assert (said["tool"], said["args"], said["answer"]) == ("HassFanSetSpeed", {"name": "Office Fan", "domain": "fan", "percentage": 40}, "Speed set"), said
        assert sent("tessera/home/fan.office_fan/set") == {"service": "set_percentage", "percentage": 40}

        said = ask("start the Mowbot")
        assert (said["tool"], said["answer"]) == ("HassLawnMowerStartMowing", "Started"), said
        assert sent("tessera/home/lawn_mower.mowbot/set") == {"service": "start_mowing"}
        said = ask("dock the Mowbot")
        assert (said["tool"], said["answer"]) == ("HassLawnMowerDock", "Docking"), said
        assert sent("tessera/home/lawn_mower.mowbot/set") == {"service": "dock"}

        said = ask("play the album abbey road on the kitchen speaker")
        assert (said["tool"], said["answer"]) == ("HassMediaSearchAndPlay", "Playing media"), said
        assert said["args"] == {"name": "Kitchen Speaker", "domain": "media_player", "device_class": "speaker", "search_query": "abbey road",
                                "media_class": "album"}, said
        assert sent("tessera/home/media_player.kitchen_speaker/set")["service"] == "play_media"
        speaker = daemon.service.home.entity("media_player.kitchen_speaker")
        assert speaker.state == "playing" and speaker.attributes["media_title"] == "abbey road"

        assert ask("add eggs to the Chores list")["answer"] == "Added eggs"
        said = ask("remove eggs from my Chores list")
        assert (said["tool"], said["args"], said["answer"]) == ("HassListRemoveItem", {"item": "eggs", "name": "Chores"}, "Removed eggs"), said
        assert json.loads((tmp_path / "lists.json").read_text())["Chores"] == []

        said = ask("clean the kitchen")
        assert (said["tool"], said["args"], said["answer"]) == ("HassVacuumCleanArea", {"area": "Kitchen"}, "Cleaning kitchen"), said
        assert sent("tessera/home/vacuum.robot/set") == {"service": "clean_area", "area": "Kitchen", "area_id": "kitchen"}
    finally:
        c.loop_stop()
        c.disconnect()
        daemon.stop()


def test_understood_but_not_possible_is_answered_why_and_nothing_is_run(broker: EmbeddedBroker, hub: HubDaemon) -> None:
    inbox: queue.Queue = queue.Queue()
    c = client(broker, mqtt.MQTTv311, inbox, "tessera/home/+/set")
    windows = hub.service.answer(b"close the kitchen windows")
    assert (windows["ok"], windows["tool"], windows["args"], windows["failure"]) == (
        False, "HassTurnOff", {"area": "Kitchen", "domain": "cover", "device_class": "window"}, "no_domain_in_area")
    assert windows["answer"] == "Sorry, I am not aware of any cover in the Kitchen area"  # Home Assistant's own answer
    hot = hub.service.answer(b"set the bedroom thermostat to 50 degrees")
    assert (hot["ok"], hot["tool"], hot["args"]["temperature"], hot["failure"]) == (False, "HassClimateSetTemperature", 50, "out_of_range")
    assert hot["answer"] == "Sorry, Bedroom Thermostat accepts 7–30 degrees, not 50"
    not_understood = hub.service.answer(b"turn on the lights in the guest room")
    assert not_understood["tool"] == "Clarify" and "failure" not in not_understood
    time.sleep(0.5)
    assert inbox.empty()  # no device was sent anything
    c.loop_stop()
