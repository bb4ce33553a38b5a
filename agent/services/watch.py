"""Sensor streams to decisions, for any service: ingest, encode per stream, hand urgent events to the agent loop.

The hub watches wearable ECG with it; the gateway watches vibration, traffic and process
sensors the same way, with its own event role (tools, rules, worked examples). What the
knowledge base says about an event goes into the alert or ticket as a short explanation with
its source. Encoders are chosen by stream name, with the options the device announced in its
retained meta. Encoding and deciding run on one worker thread, never on the MQTT network
thread; a bad window or a failing decision is logged and counted, and the next window is
processed.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from adapters import make_encoder
from adapters.base import Encoder, Event, Severity, TokenizedWindow
from base.settings import TesseraSettings
from agent.ingest.flood import QualityEvent
from agent.ingest.ingestor import Ingestor, StreamKey
from agent.llm.base import LLMBackend
from agent.decide.loop import Decided, Evidence, Guard, Step, ToolCalled, respond_to_event
from agent.decide.prompts import HUB_EVENTS, EventRole, decision_schema, event_head, reviewed_event_text, warmup_messages
from base.registry import UnknownNameError
from agent.services.health import Metrics
from tools import TOOLS, ToolContext

log = logging.getLogger(__name__)

MAX_QUEUED_WINDOWS = 1000  # backpressure: past this, the oldest windows are dropped and counted
# The same by size: a 12.8 kHz vibration window is 800 kB, so a thousand of them would hold 800 MB
# (and glibc keeps such freed blocks on its heap): a backlog may hold 64 MB of samples at most.
MAX_QUEUED_BYTES = 64 << 20
# What a device's retained meta may tell its stream's encoder (docs/wire.md): the vibration
# encoder places the bearing defect frequencies from the shaft speed and the bearing geometry,
# the traffic encoder turns counts into flow per lane.
META_OPTIONS: dict[str, tuple[str, ...]] = {"vibration": ("rpm", "bearing", "machine_class"), "traffic": ("lanes",)}
# A reviewed event counts for the current one at this cosine score or more (MiniLM, on event lines
# as the encoders write them). Measured: the same kind and severity at other numbers 0.948-0.994;
# at another severity 0.92-0.97; other kinds of the same modality 0.52-0.98 (outer vs inner race
# 0.98); other modalities 0.44 at most. The score cannot tell kinds or severities apart, so both are
# matched exactly; the floor keeps out what is plainly unlike.
REVIEW_MIN_SCORE = 0.90
REVIEW_SHOTS = 2  # reviewed examples shown to the model: the first, with its system turn, costs about 100 prompt tokens


class WatchObserver(Protocol):
    """Who wants to see the watcher work (the demo's live view): every window, every step of a decision."""

    def window(self, key: StreamKey, window: TokenizedWindow) -> None:
        """A window was encoded."""

    def step(self, key: StreamKey, step: Step) -> None:
        """A step of the agent loop on an event of this stream."""


# (stream, raw samples, t0, sample rate, modality) of each encoded window.
SamplesTap = Callable[[StreamKey, np.ndarray, float, float, str], None]


class EventWatcher:
    """Encodes every ingested window and lets the model decide on warning-or-worse events."""

    def __init__(self, settings: TesseraSettings, backend: LLMBackend, ctx: ToolContext, guard: Guard, metrics: Metrics,
                 cooldown_s: float = 60.0, ingest: Ingestor | None = None, role: EventRole = HUB_EVENTS,
                 observers: list[WatchObserver] = (), samples_tap: SamplesTap | None = None) -> None:
        self.backend, self.ctx, self.guard, self.metrics, self.cooldown_s, self.role = backend, ctx, guard, metrics, cooldown_s, role
        self.observers = list(observers)
        self.samples_tap = samples_tap  # sees each encoded window's raw samples (the console's live strip)
        self.tools = [TOOLS.get(name) for name in role.tools]
        self.ingest = ingest or Ingestor(settings, on_window=self._enqueue, on_meta=self._remember_meta, on_quality=self._quality)
        self.quality: dict[tuple[str, str], QualityEvent] = {}  # (site, device) -> its latest flood or oversized event
        self._queue: queue.Queue = queue.Queue(MAX_QUEUED_WINDOWS)
        self._queued_bytes = 0  # samples held in the queue; changed under _bytes_lock
        self._bytes_lock = threading.Lock()
        self._encoders: dict[StreamKey, Encoder | None] = {}
        self._meta: dict[tuple[str, str], dict] = {}  # (site, device) -> retained meta
        self._stale: set[tuple[str, str]] = set()  # devices whose meta changed since their encoders were built
        self._meta_lock = threading.Lock()
        self._fed_until: dict[StreamKey, float] = {}  # incremental encoders see each sample once...
        self._pending: dict[StreamKey, list[tuple[np.ndarray, float]]] = {}  # ...in blocks of their window length
        self._last_decision: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._serve, name="tessera-watch", daemon=True)

    def warm(self) -> float | None:
        """Put the event prompt's static prefix in the model's KV cache; seconds taken, None if the backend cannot."""
        warm = getattr(self.backend, "warm", None)
        return warm(warmup_messages(self.tools, self.role), decision_schema(self.tools)) if warm else None

    def start(self) -> EventWatcher:
        """Start ingesting and deciding."""
        self._worker.start()
        self.ingest.start()
        return self

    def stop(self, drain_s: float = 10.0) -> None:
        """Stop ingesting, then give the windows already taken up to `drain_s` to be encoded and decided."""
        self.ingest.stop()
        deadline = time.monotonic() + drain_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline and self._worker.is_alive():
            time.sleep(0.02)
        if self._queue.unfinished_tasks:
            log.warning("windows left undecided at stop", extra={"windows": self._queue.unfinished_tasks})
        self._stop.set()
        self._worker.join(timeout=30)

    def alive(self) -> bool:
        """The worker is running."""
        return self._worker.is_alive()

    def _enqueue(self, key: StreamKey, window: Any) -> None:
        item = (key, window.samples.copy(), window.t0, window.rate)  # ingest's windows are views valid for the call
        while True:
            with self._bytes_lock:
                fits = self._queued_bytes == 0 or self._queued_bytes + item[1].nbytes <= MAX_QUEUED_BYTES
            if fits:
                try:
                    self._queue.put_nowait(item)
                    self._count_bytes(item[1].nbytes)
                    return
                except queue.Full:
                    pass
            try:
                dropped = self._queue.get_nowait()  # drop the oldest; the worker may have taken it meanwhile
                self._count_bytes(-dropped[1].nbytes)
                self._queue.task_done()
                self.metrics.inc("watch_windows_dropped_total", "windows dropped because decisions fell behind")
            except queue.Empty:
                pass

    def _count_bytes(self, change: int) -> None:
        with self._bytes_lock:
            self._queued_bytes += change

    def _quality(self, event: QualityEvent) -> None:
        # Runs on the network thread, at most once per device and reason per ingest.quality_event_every_s.
        self.quality[(event.site, event.device)] = event
        self.metrics.inc("ingest_quality_events_total", "flood or oversized events, by device", device=event.device, reason=event.reason)
        self.metrics.inc("ingest_device_dropped_total", "messages dropped for flooding or size, by device", amount=float(event.dropped),
                         device=event.device, reason=event.reason)

    def _remember_meta(self, site: str, device: str, meta: dict) -> None:
        # Runs on the network thread; the worker builds encoders from it. A changed meta (a new
        # shaft speed, another bearing) rebuilds that device's encoders.
        with self._meta_lock:
            self._meta[(site, device)] = meta
            self._stale.add((site, device))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            key, samples, t0, rate = item
            self._count_bytes(-samples.nbytes)
            try:
                self.handle(key, samples, t0, rate)
            except Exception:  # one bad window or decision must not stop the watcher
                log.exception("watch failed on a window", extra={"device": key.device, "stream": key.stream})
                self.metrics.inc("watch_internal_errors_total", "windows that hit a bug")
            finally:
                self._queue.task_done()

    def handle(self, key: StreamKey, samples: np.ndarray, t0: float, rate: float) -> None:
        """Encode one window, remember it for read_stream, decide on its worst urgent event."""
        encoder = self._encoder(key, rate)
        if encoder is None:
            return
        if getattr(encoder, "incremental", False):
            block = self._accumulate(key, samples, t0, rate, encoder.window_s)
            if block is None:
                return
            samples, t0 = block
        window = encoder.encode(samples, t0)
        self.metrics.inc("windows_encoded_total", "windows encoded, by modality", modality=window.modality)
        if self.ctx.streams is not None:
            self.ctx.streams.put(key.device, window)
        for observer in self.observers:
            observer.window(key, window)
        if self.samples_tap is not None:
            self.samples_tap(key, samples, t0, rate, window.modality)
        urgent = [e for e in window.events if e.severity >= Severity.WARNING]
        if urgent:
            self._decide(key, window, max(urgent, key=lambda e: e.severity))

    def _decide(self, key: StreamKey, window: TokenizedWindow, event: Event) -> None:
        now = time.monotonic()
        if now - self._last_decision.get((key.device, event.kind), -1e9) < self.cooldown_s:
            return  # one decision per device and kind per cooldown: no alert storms
        self._last_decision[(key.device, event.kind)] = now
        start = time.perf_counter()
        evidence = gather_evidence(self.ctx.knowledge, window, event, device=key.device, site=key.site) if self.ctx.knowledge is not None else None
        for step in respond_to_event(self.backend, self.tools, self.ctx, self.guard, key.device, window, event, evidence=evidence, role=self.role):
            for observer in self.observers:
                observer.step(key, step)
            if isinstance(step, Decided):
                route = step.completion.backend or "local"
                self.metrics.inc("event_decisions_total", "event decisions, by route", route=route)
                self.metrics.observe("event_model", "model time of one event decision", step.completion.latency_s, route=route)
            elif isinstance(step, ToolCalled):
                self.metrics.inc("event_actions_total", "tool calls on events", tool=step.tool, ok=str(step.result.ok).lower())
        self.metrics.observe("event_decision", "time from event to action", time.perf_counter() - start)

    def _accumulate(self, key: StreamKey, samples: np.ndarray, t0: float, rate: float, window_s: float) -> tuple[np.ndarray, float] | None:
        # Ingest's windows overlap; an encoder that keeps baselines across windows must see each
        # sample once, in blocks of its own window length (a minute of a 1 Hz sensor, five of a loop).
        n = samples.shape[-1]
        start = int(np.clip(np.ceil((self._fed_until.get(key, -np.inf) - t0) * rate - 0.5), 0, n))
        self._fed_until[key] = t0 + n / rate
        if start < n:
            self._pending.setdefault(key, []).append((samples[..., start:], t0 + start / rate))
        parts = self._pending.get(key, [])
        if sum(p.shape[-1] for p, _ in parts) < max(1, round(window_s * rate)):
            return None
        del self._pending[key]
        return np.concatenate([p for p, _ in parts], axis=-1), parts[0][1]

    def _encoder(self, key: StreamKey, rate: float) -> Encoder | None:
        if self._stale:
            with self._meta_lock:
                stale, self._stale = self._stale, set()
            self._encoders = {k: v for k, v in self._encoders.items() if (k.site, k.device) not in stale}
        if key not in self._encoders:
            self._encoders[key] = self._build_encoder(key, rate)
        return self._encoders[key]

    def _build_encoder(self, key: StreamKey, rate: float) -> Encoder | None:
        with self._meta_lock:
            meta = self._meta.get((key.site, key.device), {})
        try:
            encoder = make_encoder(key.stream, sample_rate=rate)
            options = {name: meta[name] for name in META_OPTIONS.get(encoder.name, ()) if name in meta}
            return make_encoder(key.stream, sample_rate=rate, **options) if options else encoder
        except UnknownNameError:
            log.warning("no encoder for stream", extra={"device": key.device, "stream": key.stream})
        except (TypeError, ValueError) as err:  # a device declaring options the encoder refuses
            log.warning("device meta refused by its encoder", extra={"device": key.device, "stream": key.stream, "error": str(err)})
        return None


def gather_evidence(knowledge, window: TokenizedWindow, event: Event, k: int = 2, device: str = "", site: str = "") -> Evidence:
    """What the knowledge base says about `event` on `device`: the best passage as a short explanation, with sources,
    and the operator's reviews of like events (`recall_reviews`).

    The passages stay out of the small model's prompt: measured on SmolLM2-135M they cost
    250-400 prompt tokens and pushed a bearing warning to "critical". The model decides from
    the encoder's tokens; the passage explains the decision to the person who reads the alert
    or ticket. A store that fails is logged and the decision goes on without it: an alert
    without a reference beats no alert.
    """
    from rag.errors import RagError

    query = f"{event.kind.replace('_', ' ')} {window.modality}: {window.summary}"
    try:
        hits = knowledge.search(query, k=k)
        reviewed, ruling = recall_reviews(knowledge, window, event, device, site)
    except RagError as err:
        log.warning("knowledge search failed; deciding without it", extra={"error": str(err), "kind": event.kind})
        return Evidence()
    explanation = explain(hits[0]) if hits else ""
    return Evidence(explanation=explanation, citations=[h.citation for h in hits], reviewed=reviewed, ruling=ruling)


def recall_reviews(knowledge, window: TokenizedWindow, event: Event, device: str, site: str = "") -> tuple[list, Any]:
    """The operator's reviews of events of this modality, kind and severity (this device's first), and the one that decides.

    The one that decides is the newest review of such an event on this device: the operator's
    last word on exactly this. Reviews of other devices are shown to the model. Shipped examples
    carry no modality, so only the site's own reviews match.
    """
    from rag.examples import similar_examples
    from rag.store import Filter

    query = reviewed_event_text(window.modality, event.describe())
    # This device's reviews first, so that other devices' cannot crowd them out of the k.
    scopes = [Filter(kind="event", modality=window.modality, device=device), Filter(kind="event", modality=window.modality)]
    found = similar_examples(knowledge, query, k=6, where=scopes)
    # Same kind and severity only: a review of a warning says nothing about a critical event of that kind.
    head = event_head(event.describe())
    close = [e for e in found if e.score >= REVIEW_MIN_SCORE and e.site in ("", site) and event_head(e.text) == head]
    own = [e for e in close if e.device == device]
    ruling = max(own, key=lambda e: e.t) if own else None
    close.sort(key=lambda e: (e is not ruling, e.device != device, -e.score))
    return close[:REVIEW_SHOTS], ruling


def explain(hit, max_chars: int = 280) -> str:
    """The first sentences of a retrieved passage that fit in `max_chars`, with its source: a reason a person can check."""
    text = hit.text
    heading = str(hit.metadata.get("heading") or "")
    if heading and text.startswith(heading):
        text = text[len(heading):]  # chunks repeat their heading path; the citation carries it
    text = re.sub(r"\s+", " ", re.sub(r"(?m)^\s*(\d+\.|[-*#]+)\s+", "", text)).strip()
    room = max_chars - len(hit.citation) - 3
    picked = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if len(picked) + len(sentence) + 1 > room:
            break
        picked = f"{picked} {sentence}".strip()
    if not picked:
        picked = text[: room - 1].rsplit(" ", 1)[0] + "…"
    return f"{picked} [{hit.citation}]"
