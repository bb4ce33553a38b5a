"""Sensor streams to decisions, for any service: ingest, encode per stream, hand urgent events to the agent loop.

The hub watches wearable ECG with it; the gateway will watch vibration, traffic and
process sensors the same way. Encoding and deciding run on one worker thread, never on
the MQTT network thread; a bad window or a failing decision is logged and counted, and
the next window is processed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import numpy as np

from adapters import make_encoder
from adapters.base import Encoder, Severity
from agent.config import TesseraSettings
from agent.ingest import Ingestor, StreamKey
from agent.llm.base import LLMBackend
from agent.loop import Guard, ToolCalled, respond_to_event
from agent.registry import UnknownNameError
from agent.service import Metrics
from tools import TOOLS, ToolContext

log = logging.getLogger(__name__)

EVENT_TOOLS = ("raise_alert", "log_observation")
MAX_QUEUED_WINDOWS = 1000  # backpressure: past this, the oldest windows are dropped and counted


class EventWatcher:
    """Encodes every ingested window and lets the model decide on warning-or-worse events."""

    def __init__(self, settings: TesseraSettings, backend: LLMBackend, ctx: ToolContext, guard: Guard, metrics: Metrics,
                 cooldown_s: float = 60.0, ingest: Ingestor | None = None) -> None:
        self.backend, self.ctx, self.guard, self.metrics, self.cooldown_s = backend, ctx, guard, metrics, cooldown_s
        self.tools = [TOOLS.get(name) for name in EVENT_TOOLS]
        self.ingest = ingest or Ingestor(settings, on_window=self._enqueue)
        self._queue: queue.Queue = queue.Queue(MAX_QUEUED_WINDOWS)
        self._encoders: dict[StreamKey, Encoder | None] = {}
        self._last_decision: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._serve, name="tessera-watch", daemon=True)

    def start(self) -> EventWatcher:
        """Start ingesting and deciding."""
        self._worker.start()
        self.ingest.start()
        return self

    def stop(self) -> None:
        """Stop ingesting, finish the window in hand."""
        self.ingest.stop()
        self._stop.set()
        self._worker.join(timeout=30)

    def alive(self) -> bool:
        """The worker is running."""
        return self._worker.is_alive()

    def _enqueue(self, key: StreamKey, window: Any) -> None:
        item = (key, window.samples.copy(), window.t0, window.rate)  # ingest's windows are views valid for the call
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop the oldest; the worker may have taken it meanwhile
                    self.metrics.inc("watch_windows_dropped_total", "windows dropped because decisions fell behind")
                except queue.Empty:
                    pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                key, samples, t0, rate = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.handle(key, samples, t0, rate)
            except Exception:  # one bad window or decision must not stop the watcher
                log.exception("watch failed on a window", extra={"device": key.device, "stream": key.stream})
                self.metrics.inc("watch_internal_errors_total", "windows that hit a bug")

    def handle(self, key: StreamKey, samples: np.ndarray, t0: float, rate: float) -> None:
        """Encode one window, remember it for read_stream, decide on its worst urgent event."""
        encoder = self._encoder(key, rate)
        if encoder is None:
            return
        window = encoder.encode(samples, t0)
        self.metrics.inc("windows_encoded_total", "windows encoded, by modality", modality=window.modality)
        if self.ctx.streams is not None:
            self.ctx.streams.put(key.device, window)
        urgent = [e for e in window.events if e.severity >= Severity.WARNING]
        if not urgent:
            return
        event = max(urgent, key=lambda e: e.severity)
        now = time.monotonic()
        if now - self._last_decision.get((key.device, event.kind), -1e9) < self.cooldown_s:
            return  # one decision per device and kind per cooldown: no alert storms
        self._last_decision[(key.device, event.kind)] = now
        start = time.perf_counter()
        for step in respond_to_event(self.backend, self.tools, self.ctx, self.guard, key.device, window, event):
            if isinstance(step, ToolCalled):
                self.metrics.inc("event_actions_total", "tool calls on events", tool=step.tool, ok=str(step.result.ok).lower())
        self.metrics.observe("event_decision", "time from event to action", time.perf_counter() - start)

    def _encoder(self, key: StreamKey, rate: float) -> Encoder | None:
        if key not in self._encoders:
            try:
                self._encoders[key] = make_encoder(key.stream, sample_rate=rate)
            except UnknownNameError:
                log.warning("no encoder for stream", extra={"device": key.device, "stream": key.stream})
                self._encoders[key] = None
        return self._encoders[key]
