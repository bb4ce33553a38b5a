"""`tessera demo`: the thin end-to-end slice.

A simulated ECG patch publishes over MQTT; Tessera windows the stream, encodes
tokens, and when the heart rate crosses the alert threshold the local LLM picks a
tool through a grammar-constrained call; the tool publishes the alert over MQTT.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from adapters import make_encoder
from adapters.base import Event, Severity, TokenizedWindow
from agent.broker import EmbeddedBroker
from agent.config import TesseraSettings
from agent.errors import BrokerError
from agent.ingest import Ingestor
from agent.llm.local import LlamaCppBackend
from agent.loop import Decided, Failed, Finished, Guard, ToolCalled, respond_to_event
from agent.mqtt import broker_answers, connect
from agent.prompts import decision_schema, warmup_messages
from firmware_sim.ecg_patch import EcgPatch
from tools import TOOLS, ToolContext

DEVICE_ID = "ecg-patch-1"
ALERT_COOLDOWN_S = 60.0  # one alert per device and kind per minute: a guardrail against alert storms


@dataclass(slots=True)
class DemoStats:
    """What the demo saw, for the closing line and for tests."""

    windows: int = 0
    decisions: int = 0
    alerts_received: int = 0
    decision_latencies_s: list[float] = field(default_factory=list)


def run_demo(settings: TesseraSettings, duration_s: float | None = None, heart_rate_bpm: float | None = None, out: TextIO = sys.stdout) -> int:
    """Run the demo until `duration_s` passes or Ctrl-C; returns the exit code."""
    view = LiveView(out)
    broker = None
    if not broker_answers(settings.mqtt.url):
        if not settings.demo.embedded_broker:
            raise BrokerError(f"no MQTT broker answers at {settings.mqtt.url}; start one or set demo.embedded_broker: true")
        broker = EmbeddedBroker(workdir=settings.data_dir / "demo-broker").start()
        settings = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"url": broker.url})})
        view.note(f"no broker at the configured URL; started an embedded {broker.kind} at {broker.url}")
    else:
        view.note(f"using MQTT broker at {settings.mqtt.url}")
    try:
        return _run(settings, duration_s, heart_rate_bpm, view)
    finally:
        if broker:
            broker.stop()


def _run(settings: TesseraSettings, duration_s: float | None, heart_rate_bpm: float | None, view: LiveView) -> int:
    demo = settings.demo
    backend = LlamaCppBackend(settings.llm)
    view.note(f"local model {backend.model.path.name} loaded in {backend.load_s:.2f} s")
    tools = [TOOLS.get("raise_alert"), TOOLS.get("log_observation")]
    view.note(f"prompt prefix cached in {backend.warm(warmup_messages(tools), decision_schema(tools)):.2f} s (instructions, tools, worked examples)")
    inbox: queue.Queue = queue.Queue()
    prefix, site = settings.mqtt.topic_prefix, settings.mqtt.site
    client = connect(settings.mqtt, client_id=f"tessera-demo-{os.getpid()}")
    client.on_message = lambda _c, _u, msg: inbox.put(("alert", msg.topic, msg.payload))
    client.subscribe(f"{prefix}/{site}/+/alert", qos=1)
    ctx = ToolContext(publish=lambda t, p, q, r: client.publish(t, p, qos=q, retain=r), site=site, topic_prefix=prefix)
    # Frames go through the real ingest (validation, dead letters, windowing); a short-lived session
    # keeps one demo's frames from reaching the next. Windows are views valid for the call: copy them.
    ingest_settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={
        "client_id": f"tessera-demo-ingest-{os.getpid()}", "session_expiry_s": 0, "sites": [site],
        "window_s": demo.window_s, "hop_s": demo.hop_s})})
    ingest = Ingestor(ingest_settings, on_window=lambda key, w: inbox.put(("window", key.device, w.samples.copy(), w.t0))).start()
    resting = heart_rate_bpm or demo.heart_rate_bpm
    patch = EcgPatch(settings.mqtt, DEVICE_ID, [(0.0, resting), (demo.tachycardia_episode_at_s, demo.tachycardia_bpm)], rate_hz=demo.sample_rate_hz).start()
    view.note(f"simulated {DEVICE_ID}: {resting:.0f} bpm, tachycardia episode ({demo.tachycardia_bpm:.0f} bpm) at {demo.tachycardia_episode_at_s:.0f} s")
    encoder = make_encoder("ecg", sample_rate=demo.sample_rate_hz)
    stats, last_alert = DemoStats(), {}
    guard = Guard.from_settings(settings)
    deadline = time.monotonic() + duration_s if duration_s else float("inf")
    try:
        while time.monotonic() < deadline:
            try:
                kind, *item = inbox.get(timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                continue
            if kind == "alert":
                stats.alerts_received += 1
                view.alert(*item)
                continue
            device, samples, t0 = item
            tokenized = encoder.encode(samples, t0)
            stats.windows += 1
            view.window(device, tokenized)
            event = trigger_event(tokenized, demo.alert_above_bpm)
            if event and time.monotonic() - last_alert.get((device, event.kind), -1e9) > ALERT_COOLDOWN_S:
                last_alert[(device, event.kind)] = time.monotonic()
                view.event(event)
                for step in respond_to_event(backend, tools, ctx, guard, device, tokenized, event):
                    view.step(step)
                    if isinstance(step, Decided):
                        stats.decisions += 1
                        stats.decision_latencies_s.append(step.completion.latency_s)
        _drain_alerts(inbox, stats, view)
    except KeyboardInterrupt:
        view.note("interrupted; shutting down")
    finally:
        patch.stop()
        ingest.stop()
        client.disconnect()
        client.loop_stop()
    view.closing(stats)
    return 0


def _drain_alerts(inbox: queue.Queue, stats: DemoStats, view: LiveView, wait_s: float = 2.0) -> None:
    # An alert published just before the deadline is still on its way back from the broker.
    if stats.decisions == stats.alerts_received:
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            kind, *item = inbox.get(timeout=0.1)
        except queue.Empty:
            continue
        if kind == "alert":
            stats.alerts_received += 1
            view.alert(*item)


def trigger_event(window: TokenizedWindow, alert_above_bpm: float) -> Event | None:
    """The worst warning-or-worse event in the window, or a tachycardia event when the rate crosses the threshold."""
    urgent = [e for e in window.events if e.severity >= Severity.WARNING]
    if urgent:
        return max(urgent, key=lambda e: e.severity)
    hr = window.features.get("hr_bpm")
    if hr is not None and hr > alert_above_bpm:
        return Event("tachycardia", Severity.WARNING, window.t0 + window.duration_s, {"hr_bpm": round(float(hr), 1), "threshold_bpm": alert_above_bpm})
    return None


class LiveView:
    """A readable, line-oriented live view: stream, tokens, decision, latency."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()

    def _line(self, text: str) -> None:
        print(f"{time.monotonic() - self.start:7.1f}s  {text}", file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A status line."""
        self._line(f"· {text}")

    def window(self, device: str, w: TokenizedWindow) -> None:
        """One encoded window: device, quality and its tokens."""
        self._line(f"{device}  ecg  q={w.quality:.2f}  {' '.join(w.tokens)}")

    def event(self, event: Event) -> None:
        """An event that goes to the agent."""
        self._line(f"EVENT  {event.describe()}")

    def step(self, step: object) -> None:
        """One agent step."""
        if isinstance(step, Decided):
            c = step.completion
            self._line(f"LLM    {c.text.strip()}  confidence {c.confidence:.2f}  latency {c.latency_s:.2f} s  ({c.prompt_tokens} prompt + {c.completion_tokens} generated tokens)")
        elif isinstance(step, ToolCalled):
            self._line(f"TOOL   {step.tool}({json.dumps(step.args)}) -> {step.result.message}")
        elif isinstance(step, Failed):
            self._line(f"FAILED {step.reason.value}: {step.detail}")
        elif isinstance(step, Finished):
            self._line(f"DONE   {'acted' if step.acted else 'no action'} in {step.total_s:.2f} s")

    def alert(self, topic: str, payload: bytes) -> None:
        """An alert as received back from the broker."""
        self._line(f"MQTT   alert on {topic}: {payload.decode('utf-8', 'replace')}")

    def closing(self, stats: DemoStats) -> None:
        """The closing summary."""
        lat = ", ".join(f"{x:.2f} s" for x in stats.decision_latencies_s) or "none"
        self._line(f"· {stats.windows} windows encoded, {stats.decisions} LLM decisions (latency {lat}), {stats.alerts_received} alerts received over MQTT")
