"""Simulated devices on a real broker: discovery, commands, last will, reconnects, the CLI, 1,000 devices."""

from __future__ import annotations

import json
import queue
import socket
import time
from pathlib import Path

import pytest

from agent.ingest.broker import EmbeddedBroker, free_port
from agent.cli import main
from base.mqtt import close, connect
from firmware_sim.home import Light, Lock, Thermostat
from firmware_sim.runtime import SimRuntime
from firmware_sim.scenario import load_scenario
from firmware_sim.sensors import ScalarSensor
from tests.ingest_support import settings_for, wait_until

pytestmark = pytest.mark.broker
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


def watch(settings, *topics: str) -> tuple:
    got: queue.Queue = queue.Queue()
    client = connect(settings, f"watch-{time.monotonic_ns()}")
    client.on_message = lambda _c, _u, m: got.put((m.topic, m.payload.decode(), m.retain))
    client.subscribe([(t, 1) for t in topics])
    return client, got


def drain(got: queue.Queue, seconds: float) -> list:
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out.append(got.get(timeout=0.05))
        except queue.Empty:
            pass
    return out


def test_home_devices_announce_retained_discovery_and_obey_commands(broker: EmbeddedBroker) -> None:
    mqtt = settings_for(broker.url).mqtt
    devices = [Light("porch-light", site="home"), Lock("front-door", site="home"), Thermostat("hall", site="home")]
    sim = SimRuntime(mqtt, devices).start()
    try:
        time.sleep(1.0)
        late, got = watch(mqtt, "homeassistant/#", "tessera/home/+/status", "tessera/home/+/state")  # retained reach a late subscriber
        seen = {t: (p, r) for t, p, r in drain(got, 1.0)}
        config = json.loads(seen["homeassistant/lock/tessera_home_front_door/lock/config"][0])
        assert config["command_topic"] == "tessera/home/front-door/set" and config["availability_topic"] == "tessera/home/front-door/status"
        assert seen["tessera/home/front-door/status"] == ("online", True)
        assert json.loads(seen["tessera/home/front-door/state"][0]) == {"state": "LOCKED"}
        late.publish("tessera/home/front-door/set", "UNLOCK", qos=1)
        late.publish("tessera/home/porch-light/set", "not json", qos=1)  # ignored, as firmware would
        late.publish("tessera/home/hall/set/temperature", "23", qos=1)
        after = drain(got, 1.0)
        assert ("tessera/home/front-door/state", '{"state": "UNLOCKED"}', False) in after
        assert json.loads([p for t, p, _ in after if t == "tessera/home/hall/state"][-1])["target"] == 23.0
        assert sim.counters.commands == 3 and devices[0].commands_handled == 0
        close(late)
    finally:
        sim.stop()
    _, got = watch(mqtt, "tessera/home/+/status")
    assert {t: p for t, p, _ in drain(got, 0.5)}["tessera/home/hall/status"] == "offline"  # clean stop says so too


def test_a_vanished_device_goes_offline_by_last_will_and_comes_back(broker: EmbeddedBroker) -> None:
    mqtt = settings_for(broker.url).mqtt
    device = ScalarSensor("temp-9", site="lab", period_s=0.5)
    sim = SimRuntime(mqtt, [device]).start()
    watcher, got = watch(mqtt, "tessera/lab/temp-9/status")
    try:
        assert wait_until(lambda: sim.counters.published > 2, 5)
        sock = sim.links[0].client.socket()
        sock.shutdown(socket.SHUT_RDWR)  # the radio dies: no DISCONNECT, the broker sends the will
        statuses = [p for _t, p, _r in drain(got, 3.0)]
        assert "offline" in statuses and statuses[-1] == "online"  # will, then reconnect with backoff
        assert sim.counters.disconnects == 1 and sim.counters.connects == 2
    finally:
        sim.stop()
        close(watcher)


def test_thousand_devices_connect_and_report_from_one_process(broker: EmbeddedBroker) -> None:
    mqtt = settings_for(broker.url).mqtt
    devices = load_scenario(EXAMPLES / "thousand.yaml").build()
    watcher, got = watch(mqtt, "tessera/campus/+/status")
    sim = SimRuntime(mqtt, devices).start()
    try:
        online: set[str] = set()
        def all_online() -> bool:
            online.update(t.split("/")[2] for t, p, _ in drain(got, 0.1) if p == "online")
            return len(online) == 1000
        assert wait_until(all_online, 20)
        time.sleep(2.0)
    finally:
        sim.stop()
        close(watcher)
    assert sim.counters.connects == 1000 and sim.counters.connect_failures == 0
    assert sim.counters.published > 3000 and sim.counters.acked == sim.counters.published


def test_cli_sim_and_ingest(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("TESSERA_MQTT__URL", broker.url)
    assert main(["sim", "--scenario", str(EXAMPLES / "plant.yaml"), "--duration", "1.5", "--speed", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["devices"] == 12 and summary["published"] > 100 and summary["acked"] == summary["published"]
    assert main(["ingest", "--duration", "1", "--every", "0.5", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and lines[-1]["dead_lettered"] == 0
    monkeypatch.setenv("TESSERA_MQTT__URL", f"mqtt://127.0.0.1:{free_port()}")
    assert main(["sim", "--scenario", str(EXAMPLES / "home.yaml"), "--duration", "1"]) == 1
    assert "no MQTT broker answers" in capsys.readouterr().err
