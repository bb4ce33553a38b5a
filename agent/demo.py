"""`tessera demo`: the hub and the gateway in one process, a simulated home and plant, a story in under two minutes.

What the audience sees, in order (times from DemoSettings):
- a spoken-style command sent to the hub over MQTT, planned, executed, and the lamp's state changing;
- a wearable ECG patch going into tachycardia, and the hub's alert with its explanation;
- a pump's bearing starting to spall, and the gateway's ticket, decided by the edge model
  (a local llama.cpp server the demo starts);
- the edge server stopped once it has answered, a second pump failing, and the ticket decided
  locally as a fallback, queued for review.
A line-oriented live view shows streams, tokens, decisions, routes and latencies.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TextIO

from pydantic import SecretStr

from adapters.base import TokenizedWindow
from agent.ingest.broker import EmbeddedBroker
from base.settings import TesseraSettings
from base.errors import BrokerError
from agent.ingest.ingestor import StreamKey
from agent.decide.loop import Decided, Failed, Step, ToolCalled
from base.mqtt import broker_answers, connect

HOME_SITE, PLANT_SITE = "home", "plant"
ECG_DEVICE = "ecg-patch-1"
SPALL = {"fault": "outer_race", "severity": 1.0, "growth_per_s": 0.01}  # a bearing defect the encoder finds in seconds
WINDOW_LINE_EVERY_S = 10.0  # one token line per device this often; events and decisions always show


@dataclass(slots=True)
class DemoStats:
    """What the demo saw come back over MQTT and from the agents, for the closing lines and for tests."""

    windows: int = 0
    command_answer: dict[str, Any] | None = None
    lamp_state: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)  # device -> route of its event decision
    decision_latencies_s: list[float] = field(default_factory=list)

    def complete(self) -> bool:
        """Every act of the story has happened."""
        return (self.command_answer is not None and self.lamp_state is not None and bool(self.alerts)
                and "edge" in self.routes.values() and "fallback" in self.routes.values() and len(self.tickets) >= 2)


def run_demo(settings: TesseraSettings, duration_s: float | None = None, heart_rate_bpm: float | None = None, out: TextIO = sys.stdout) -> int:
    """Run the story; 0 when every act happened, 1 when the time ran out first."""
    view = LiveView(out)
    if heart_rate_bpm:
        settings = settings.model_copy(update={"demo": settings.demo.model_copy(update={"heart_rate_bpm": heart_rate_bpm})})
    with ExitStack() as stack:
        settings = _with_broker(settings, stack, view)
        stats = Demo(settings, view, stack).run(duration_s or settings.demo.max_s)
    view.closing(stats)
    return 0 if stats.complete() else 1


def _with_broker(settings: TesseraSettings, stack: ExitStack, view: LiveView) -> TesseraSettings:
    if broker_answers(settings.mqtt.url):
        view.note(f"using MQTT broker at {settings.mqtt.url}")
        return settings
    if not settings.demo.embedded_broker:
        raise BrokerError(f"no MQTT broker answers at {settings.mqtt.url}; start one or set demo.embedded_broker: true")
    broker = stack.enter_context(EmbeddedBroker(workdir=settings.data_dir / "demo-broker"))
    view.note(f"no broker at the configured URL; started an embedded {broker.kind} at {broker.url}")
    return settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"url": broker.url})})


class Demo:
    """Builds the home, the plant and the two services, then plays the timeline."""

    def __init__(self, settings: TesseraSettings, view: LiveView, stack: ExitStack) -> None:
        self.settings, self.view, self.stack, self.story = settings, view, stack, settings.demo
        self.stats = DemoStats()
        self.inbox: queue.Queue = queue.Queue()
        self.said_at: float | None = None
        self.lamp_before: dict[str, Any] | None = None  # the lamp's retained state before the command
        view.stats = self.stats

    def run(self, max_s: float) -> DemoStats:
        """Start everything, play the timeline until the story is complete or `max_s` passes."""
        from agent.llm.local import LlamaCppBackend

        data_dir = self.settings.data_dir / "demo"
        shutil.rmtree(data_dir, ignore_errors=True)  # each demo starts with an empty audit log, outbox and review queue
        backend = LlamaCppBackend(self.settings.llm)
        self.view.note(f"local model {backend.model.path.name} loaded in {backend.load_s:.2f} s")
        edge_url, edge_key, edge_server = self._edge()
        knowledge = self._knowledge()
        self.stack.callback(self.view.note, "services stopped; outboxes flushed")  # runs after the stops below
        hub = self._hub(data_dir, backend, knowledge)
        self.stack.callback(hub.stop)
        gateway = self._gateway(data_dir, backend, knowledge, edge_url, edge_key)
        self.stack.callback(gateway.stop)
        self._consoles(hub, gateway)
        self._listen()
        for device in self._devices():
            self.stack.callback(device.stop)  # devices stop first, then the services, then the edge and the broker
        self.view.note(f"ready: home ({ECG_DEVICE}, garden lamp, shed lock) and plant (3 pumps at 12.8 kHz, pressure and current sensors)")
        start = time.monotonic()
        # Acts happen at their time and once what they rely on has happened: the edge goes down only
        # after it has answered an escalation, so the story shows one of each on any machine.
        acts = [(lambda t: t >= self.story.command_at_s, self._say_command),
                (lambda t: t >= self.story.edge_stop_at_s and "edge" in self.stats.routes.values(),
                 lambda: self._edge_down(edge_server))]
        try:
            while time.monotonic() - start < max_s and not (self.stats.complete() and not acts):
                for act in [a for a in acts if a[0](time.monotonic() - start)]:
                    acts.remove(act)
                    act[1]()
                self._drain(0.2)
            self._drain(1.0)  # what was published just now is still on its way back
        except KeyboardInterrupt:
            self.view.note("interrupted; shutting down")
        return self.stats

    # --- building -------------------------------------------------------------------------

    def _edge(self) -> tuple[str, str, Any]:
        if self.settings.edge.url:
            self.view.note(f"edge model at {self.settings.edge.url} (from config)")
            key = self.settings.edge.api_key.get_secret_value() if self.settings.edge.api_key else ""
            return self.settings.edge.url, key, None
        from agent.llm.server import LocalLlamaServer

        started = time.monotonic()
        key = secrets.token_urlsafe(16)
        server = LocalLlamaServer(self.settings.data_dir / "demo-edge", key)
        self.stack.callback(server.stop)
        self.view.note(f"edge model: a local llama.cpp server at {server.url}, up in {time.monotonic() - started:.1f} s")
        return server.url, key, server

    def _knowledge(self) -> Any:
        from agent.services.runtime import open_knowledge

        started = time.monotonic()
        store = open_knowledge(self.settings, progress=True)
        self.view.note(f"knowledge store {store.location} open in {time.monotonic() - started:.1f} s")
        return store

    def _site(self, data_dir: Any, profile: str, site: str, window_s: float, hop_s: float, **sections: Any) -> TesseraSettings:
        ingest = self.settings.ingest.model_copy(update={
            "client_id": f"tessera-demo-{site}-{os.getpid()}", "session_expiry_s": 0, "sites": [site], "window_s": window_s, "hop_s": hop_s})
        mqtt = self.settings.mqtt.model_copy(update={"site": site})
        return self.settings.model_copy(update={"profile": profile, "data_dir": data_dir / site, "mqtt": mqtt, "ingest": ingest, **sections})

    def _hub(self, data_dir: Any, backend: Any, knowledge: Any) -> Any:
        from agent.decide.command_eval import DEFAULT_HOME
        from agent.services.hub import HubDaemon
        from agent.decide.planner import CommandPlanner
        from tools.home import Home

        settings = self._site(data_dir, "hub", HOME_SITE, self.story.window_s, self.story.hop_s)
        home = Home.load(DEFAULT_HOME)
        # Heart alerts never wait on the edge: the hub decides them on the local model.
        hub = HubDaemon(settings, home, CommandPlanner(home, backend), event_backend=backend, knowledge=knowledge, observer=self.view).start()
        self.view.note(f"hub up: commands on {settings.mqtt.topic_prefix}/{HOME_SITE}/hub/command, watching wearables")
        return hub

    def _gateway(self, data_dir: Any, backend: Any, knowledge: Any, edge_url: str, edge_key: str) -> Any:
        from agent.decide.cascade import build_event_backend
        from agent.services.runtime import ServiceRuntime

        edge = self.settings.edge.model_copy(update={"url": edge_url, "api_key": SecretStr(edge_key), "event_threshold": self.story.event_threshold,
                                                    "timeout_s": max(self.settings.edge.timeout_s, 15.0)})
        settings = self._site(data_dir, "gateway", PLANT_SITE, 2.0, 2.0, edge=edge)
        events = build_event_backend(settings, backend)
        gateway = ServiceRuntime(settings, "gateway", event_backend=events, knowledge=knowledge, observer=self.view).start()
        threading.Thread(target=self._warm_edge, args=(events, gateway.watcher), name="tessera-demo-edge-warm", daemon=True).start()
        self.view.note(f"gateway up: watching {settings.mqtt.topic_prefix}/{PLANT_SITE}/+, escalating below confidence {edge.event_threshold:g}")
        return gateway

    def _consoles(self, hub: Any, gateway: Any) -> None:
        """The operator page of each service, on free loopback ports, to watch the story in a browser."""
        from agent.decide.corrections import teach
        from agent.services.console import serve_console

        home = serve_console(hub, on_reviewed=lambda done: teach(hub.service.planner, done))
        self.stack.callback(home.stop)
        plant = serve_console(gateway)
        self.stack.callback(plant.stop)
        self.view.note(f"operator consoles: home {home.url}  plant {plant.url}")

    def _warm_edge(self, events: Any, watcher: Any) -> None:
        # The edge server evaluates the event prompt's static prefix once, while the story starts,
        # so the first escalation pays only for its own tokens.
        from base.errors import TesseraError
        from agent.decide.prompts import decision_schema, warmup_messages

        started = time.monotonic()
        try:
            events.edge.complete(warmup_messages(watcher.tools, watcher.role), decision_schema(watcher.tools), max_tokens=8)
        except TesseraError as err:
            self.view.note(f"edge warm-up failed: {err}")
            return
        self.view.note(f"edge prompt prefix cached in {time.monotonic() - started:.1f} s")

    def _devices(self) -> list[Any]:
        from firmware_sim.ecg_patch import EcgPatch
        from firmware_sim.faults import Fault, FaultKind, FaultSchedule
        from firmware_sim.home import Light, Lock
        from firmware_sim.runtime import SimRuntime
        from firmware_sim.sensors import ScalarSensor, VibrationNode

        story, mqtt = self.story, self.settings.mqtt

        spall = FaultSchedule([Fault(FaultKind.BEARING_DEFECT, story.bearing_defect_at_s, 3600.0, SPALL)])

        home = SimRuntime(mqtt, [Light("garden-lamp", name="Garden Lamp", site=HOME_SITE), Lock("shed-lock", name="Shed Lock", site=HOME_SITE)])
        self.second_pump = VibrationNode("pump-03", site=PLANT_SITE, seed=3)  # fails once the edge is down
        plant = SimRuntime(mqtt, [VibrationNode("pump-01", site=PLANT_SITE, faults=spall),
                                  VibrationNode("pump-02", site=PLANT_SITE, seed=2),
                                  self.second_pump,
                                  ScalarSensor("pressure-1", site=PLANT_SITE, sensor="pressure", period_s=1.0, batch=5),
                                  ScalarSensor("motor-current-1", site=PLANT_SITE, sensor="current", period_s=1.0, batch=5)])
        ecg_mqtt = mqtt.model_copy(update={"site": HOME_SITE})
        patch = EcgPatch(ecg_mqtt, ECG_DEVICE, [(0.0, story.heart_rate_bpm), (story.tachycardia_episode_at_s, story.tachycardia_bpm)],
                         rate_hz=story.sample_rate_hz)
        return [home.start(), plant.start(), patch.start()]

    def _listen(self) -> None:
        prefix = self.settings.mqtt.topic_prefix
        client = connect(self.settings.mqtt, client_id=f"tessera-demo-view-{os.getpid()}")
        client.on_message = lambda _c, _u, msg: self.inbox.put((msg.topic, msg.payload))
        client.subscribe([(f"{prefix}/+/+/alert", 1), (f"{prefix}/+/tickets", 1), (f"{prefix}/{HOME_SITE}/garden-lamp/state", 1),
                          (f"{prefix}/{HOME_SITE}/demo/answers", 1)])
        self.client = client
        self.stack.callback(lambda: (client.disconnect(), client.loop_stop()))

    # --- the timeline ---------------------------------------------------------------------

    def _say_command(self) -> None:
        prefix = self.settings.mqtt.topic_prefix
        self.view.note(f'someone says: "{self.story.command}"')
        self.said_at = time.monotonic()
        request = {"text": self.story.command, "id": "demo-1", "reply_to": f"{prefix}/{HOME_SITE}/demo/answers"}
        self.client.publish(f"{prefix}/{HOME_SITE}/hub/command", json.dumps(request), qos=1)

    def _edge_down(self, server: Any) -> None:
        from firmware_sim.faults import Fault, FaultKind

        if server is None:
            self.view.note("the edge is external (edge.url); not stopping it, so no fallback will be shown")
        else:
            server.stop()
            self.view.note("edge server stopped: the edge box is down; the plant's next decisions fall back to the local model")
        faults = self.second_pump.faults
        faults.inject(Fault(FaultKind.BEARING_DEFECT, time.time() - faults.origin + 2.0, 3600.0, SPALL))
        self.view.note("pump-03's bearing starts to fail")

    def _drain(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                topic, payload = self.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return
            self._received(topic, payload)

    def _received(self, topic: str, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            self.view.note(f"unreadable message on {topic}")
            return
        if topic.endswith("/alert"):
            self.stats.alerts.append(message)
            self.view.mqtt("ALERT", topic, f"{message.get('severity')} {message.get('kind')}: {message.get('summary')} | why: {message.get('explanation') or '-'}")
        elif topic.endswith("/tickets"):
            self.stats.tickets.append(message)
            self.view.mqtt("TICKET", topic, f"#{message.get('id')} {message.get('title')} ({message.get('priority')}); evidence: {'; '.join(message.get('evidence', [])[:2])}")
        elif topic.endswith("/answers"):
            self.stats.command_answer = message
            self.view.mqtt("ANSWER", topic, f"{message.get('tool')}({json.dumps(message.get('args'))}) route {message.get('route')} "
                                            f"in {message.get('latency_s', 0):.2f} s: {message.get('answer')}")
        elif topic.endswith("/state"):
            if self.said_at is None:
                self.lamp_before = message
            elif message != self.lamp_before:
                self.stats.lamp_state = message
                self.view.mqtt("STATE", topic, f"{json.dumps(message)}  ({time.monotonic() - self.said_at:.2f} s after the command)")


class LiveView:
    """A readable, line-oriented live view: streams and tokens, decisions with routes and latencies, what came back."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()
        self.stats: DemoStats | None = None
        self._last_line: dict[StreamKey, float] = {}
        self._kinds_seen: dict[StreamKey, set[str]] = {}
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        # The watchers' threads and the main loop all print: one write per line, under a lock.
        with self._lock:
            self.out.write(f"{time.monotonic() - self.start:7.1f}s  {text}\n")
            self.out.flush()

    def note(self, text: str) -> None:
        """A status line."""
        self._line(f"· {text}")

    def window(self, key: StreamKey, window: TokenizedWindow) -> None:
        """An encoded window: one line per stream every WINDOW_LINE_EVERY_S, and at once when a new kind of event appears."""
        if self.stats is not None:
            self.stats.windows += 1
        now = time.monotonic()
        kinds = {e.kind for e in window.events} - self._kinds_seen.setdefault(key, set())
        if not kinds and now - self._last_line.get(key, -1e9) < WINDOW_LINE_EVERY_S:
            return
        self._kinds_seen[key] |= kinds
        self._last_line[key] = now
        self._line(f"{key.site}/{key.device}/{key.stream}  {window.modality}  q={window.quality:.2f}  {' '.join(window.tokens[:10])}")

    def step(self, key: StreamKey, step: Step) -> None:
        """One step of an event decision, with its route and latency."""
        where = f"{key.site}/{key.device}"
        if isinstance(step, Decided):
            c = step.completion
            route = c.backend or "local"
            if self.stats is not None:
                self.stats.routes[key.device] = route
                self.stats.decision_latencies_s.append(c.latency_s)
            self._line(f"LLM    {where}  {c.text.strip()}  route {route}  confidence {c.confidence:.2f}  latency {c.latency_s:.2f} s  "
                       f"({c.prompt_tokens} prompt tokens)")
        elif isinstance(step, ToolCalled):
            self._line(f"TOOL   {where}  {step.tool} -> {step.result.message}")
        elif isinstance(step, Failed):
            self._line(f"FAILED {where}  {step.reason.value}: {step.detail}")

    def mqtt(self, what: str, topic: str, text: str) -> None:
        """Something that came back over MQTT."""
        self._line(f"{what:<6} {topic}  {text}")

    def closing(self, stats: DemoStats) -> None:
        """Which acts happened, and the decision latencies."""
        acts = [("command executed", stats.command_answer is not None and bool(stats.command_answer.get("ok")) and stats.lamp_state is not None),
                ("arrhythmia alert", bool(stats.alerts)), ("bearing defect ticket", bool(stats.tickets)),
                ("escalation to the edge", "edge" in stats.routes.values()), ("fallback with the edge down", "fallback" in stats.routes.values())]
        lat = ", ".join(f"{x:.2f} s" for x in stats.decision_latencies_s) or "none"
        self._line("· " + "; ".join(f"{name}: {'yes' if done else 'NO'}" for name, done in acts))
        self._line(f"· {stats.windows} windows encoded, {len(stats.decision_latencies_s)} event decisions (latency {lat}), "
                   f"{len(stats.alerts)} alerts and {len(stats.tickets)} tickets received over MQTT")
