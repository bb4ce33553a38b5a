"""What every Tessera product is made of: one composition, so the hub and the gateway differ only in profile.

A `ServiceRuntime` holds the guard (guardrails and audit log), the store-and-forward outbox for
what must reach people (alerts, tickets, reports), the tool context with tickets, streams and
the knowledge base, the stream watcher with its event role (hub: wearables; gateway: machines,
traffic, process sensors), a control MQTT client for device commands, and the metrics behind
`/metrics`. The hub adds its command service on top; the gateway is the runtime alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from agent.decide.audit import TicketStore
from base.settings import TesseraSettings
from base.errors import BrokerError
from agent.llm.base import LLMBackend
from agent.decide.loop import Guard
from agent.ingest.outbox import Outbox
from agent.decide.prompts import EVENT_ROLES
from agent.services.console import ConsoleFeed
from agent.services.health import Metrics
from agent.services.watch import EventWatcher, WatchObserver
from tools import ToolContext
from tools.home import Home
from tools.streams import StreamStore

log = logging.getLogger(__name__)

OnConnect = Callable[[Any, bool], None]


class ServiceRuntime:
    """The shared core of a long-running Tessera service; `start()`, `health()`, `stop()`."""

    def __init__(self, settings: TesseraSettings, name: str, *, home: Home | None = None, event_backend: LLMBackend | None = None,
                 knowledge: Any = None, guard: Guard | None = None, on_connect: OnConnect | None = None,
                 observer: WatchObserver | None = None) -> None:
        self.settings, self.name = settings, name
        self.metrics = Metrics()
        self.guard = guard or Guard.from_settings(settings)
        self.outbox = Outbox(settings.data_dir / f"outbox-{name}.sqlite", settings.mqtt,
                             settings.outbox.client_id or f"tessera-outbox-{name}-{settings.mqtt.site}",
                             max_messages=settings.outbox.max_messages)
        self.ctx = ToolContext(publish=self.publish, site=settings.mqtt.site, topic_prefix=settings.mqtt.topic_prefix, home=home,
                               streams=StreamStore(), tickets=TicketStore(self.guard.audit.db), knowledge=knowledge, outbox=self.outbox)
        role = EVENT_ROLES[settings.profile]
        self.feed = ConsoleFeed()  # what the operator's page shows of the streams
        observers = [self.feed, *([observer] if observer else [])]
        self.watcher = EventWatcher(settings, event_backend, self.ctx, self.guard, self.metrics, role=role, observers=observers,
                                    samples_tap=self.feed.signal) if event_backend else None
        self._on_connect = on_connect
        self._client = None
        self.metrics.collect(self._gauges)

    def start(self) -> ServiceRuntime:
        """Connect the control client, start the outbox sender and the stream watcher."""
        from base.mqtt import connect

        client_id = f"tessera-{self.name}-{self.settings.mqtt.site}-{os.getpid()}"
        self._client = connect(self.settings.mqtt, client_id, on_connect=self._on_connect)
        self.outbox.start()
        if self.watcher:
            warm_s = self.watcher.warm()
            if warm_s is not None:
                log.info("event prompt prefix cached", extra={"service": self.name, "seconds": round(warm_s, 2)})
            self.watcher.start()
        log.info("service started", extra={"service": self.name, "site": self.settings.mqtt.site, "watching": bool(self.watcher),
                                           "outbox_pending": self.outbox.pending()})
        return self

    def health(self) -> dict[str, Any]:
        """Connected to the broker and the workers alive; what waits in the outbox."""
        connected = bool(self._client and self._client.is_connected())
        watching = self.watcher.alive() if self.watcher else None
        return {"ok": connected and watching is not False, "mqtt_connected": connected, "watching": watching,
                "outbox_pending": self.outbox.pending()}

    def stop(self, flush_s: float = 5.0) -> None:
        """Stop watching (finishing the decision in hand), give the outbox `flush_s` to drain, then disconnect.

        What the outbox could not send stays on disk and goes out after the next start.
        """
        if self.watcher:
            self.watcher.stop()
        if not self.outbox.flush(flush_s):
            log.warning("outbox not drained at stop; the rest is sent after restart", extra={"service": self.name, "pending": self.outbox.pending()})
        pending = self.outbox.pending()
        self.outbox.stop()
        if self._client:
            from base.mqtt import close

            close(self._client)
            self._client = None
        ingest = self.watcher.ingest.snapshot() if self.watcher else {}
        log.info("service stopped", extra={"service": self.name, "frames_accepted": ingest.get("accepted"),
                                           "frames_missing": ingest.get("missing_frames"), "outbox_pending": pending})

    def publish(self, topic: str, payload: str | bytes, qos: int, retain: bool, properties: Any = None) -> None:
        """Publish now on the control client (device commands, answers); BrokerError when disconnected.

        Device commands go now or not at all: a light switched an hour late is worse than an error.
        """
        if self._client is None or not self._client.is_connected():
            raise BrokerError(f"not connected to the broker at {self.settings.mqtt.url}; the message to {topic} was not sent")
        self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def _gauges(self) -> dict[str, tuple[str, float]]:
        gauges = {"outbox_pending": ("messages waiting on disk for the broker", float(self.outbox.pending())),
                  "outbox_sent_total": ("messages the outbox delivered", float(self.outbox.counters.sent)),
                  "outbox_dropped_total": ("oldest messages dropped because the outbox was full", float(self.outbox.counters.dropped))}
        if self.watcher:
            c = self.watcher.ingest.counters
            gauges |= {"frames_in_total": ("sensor frames received", float(c.received)),
                       "frames_accepted_total": ("sensor frames validated and windowed", float(c.accepted)),
                       "dead_letters_total": ("messages refused to the dead-letter topic", float(c.dead_lettered)),
                       "frames_missing_total": ("frames missing by sequence number", float(c.missing_frames)),
                       "frames_flood_dropped_total": ("frames dropped beyond their device's flood budget", float(c.flood_dropped)),
                       "dead_letters_suppressed_total": ("refused messages past their device's dead-letter budget", float(c.dead_letters_suppressed))}
        return gauges



def open_knowledge(settings: TesseraSettings, progress: bool = False) -> Any:
    """The knowledge store of this Tessera, filled with the shipped knowledge base when it is empty (`progress` on stderr)."""
    from rag.ingest import ingest_seed
    from rag.store import KnowledgeStore

    store = KnowledgeStore(settings.rag, settings.data_dir)
    # Counts only: stats() would also read every document's metadata, heavy at start-up on a big store.
    if not any(col.count() for col in store.all_collections()):
        log.info("knowledge store empty: ingesting the shipped knowledge base", extra={"location": store.location})
        ingest_seed(store, progress=progress)
    return store
