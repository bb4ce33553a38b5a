"""Store-and-forward for Tessera's outbound messages (alerts, reports, escalation results).

`put()` commits the message to SQLite before returning; a sender thread publishes rows in
insertion order at QoS 1 and deletes each only once the broker acknowledged it. While the
broker is unreachable the rows wait on disk, and they survive a restart of Tessera. Delivery is
at least once: a message acknowledged just before a crash may be sent again after it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from base.settings import MqttSettings
from base.errors import BrokerError
from base.migrations import Migration, apply_migrations
from base.mqtt import close, connect

log = logging.getLogger(__name__)

MIGRATIONS: list[Migration] = [
    (1, "create outbox", "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
                         " qos INTEGER NOT NULL, retain INTEGER NOT NULL, created_at REAL NOT NULL)"),
]


@dataclass(slots=True)
class OutboxCounters:
    """What the outbox did since start."""

    queued: int = 0
    sent: int = 0
    dropped: int = 0  # oldest rows removed because the outbox was full
    connect_failures: int = 0


class Outbox:
    """A durable, ordered queue of MQTT messages in front of the broker."""

    def __init__(self, path: Path, mqtt_settings: MqttSettings, client_id: str, *, max_messages: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.mqtt_settings, self.client_id, self.max_messages = mqtt_settings, client_id, max_messages
        self.counters = OutboxCounters()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an alert we said we queued must survive power loss
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: mqtt.Client | None = None
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            apply_migrations(self._db, MIGRATIONS, f"outbox {self.path}")

    def put(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        """Queue a message durably; returns its id. Sent in order once the broker answers."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute("INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, ?, ?, ?)",
                                   (topic, data, qos, int(retain), time.time()))
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            if count > self.max_messages:
                # Bounded disk: the oldest go first, counted, since the newest alerts matter most.
                excess = count - self.max_messages
                self._db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,))
                self.counters.dropped += excess
            self._db.execute("COMMIT")
        self.counters.queued += 1
        self._wake.set()
        return int(cur.lastrowid)

    def pending(self) -> int:
        """Messages waiting on disk."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def start(self) -> Outbox:
        """Start the sender thread; it connects (and reconnects) by itself."""
        self._thread = threading.Thread(target=self._run, name="tessera-outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop sending; unsent messages stay on disk for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)
        if self._client:
            close(self._client)
            self._client = None
        with self._lock:
            self._db.close()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued is sent; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pending() == 0:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        backoff = self.mqtt_settings.reconnect_min_s
        while not self._stop.is_set():
            if self._client is None:
                try:
                    self._client = connect(self.mqtt_settings, self.client_id, timeout_s=5.0)
                    backoff = self.mqtt_settings.reconnect_min_s
                except BrokerError as err:
                    self.counters.connect_failures += 1
                    log.warning("outbox cannot reach the broker; messages wait on disk", extra={"error": str(err), "retry_s": backoff})
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.mqtt_settings.reconnect_max_s)
                    continue
            if not self._send_next():
                self._wake.wait(0.5)
                self._wake.clear()

    def _send_next(self) -> bool:
        """Publish the oldest row and delete it once acknowledged; False when there is nothing to do now."""
        with self._lock:
            row = self._db.execute("SELECT id, topic, payload, qos, retain FROM outbox ORDER BY id LIMIT 1").fetchone()
        if row is None or not self._client.is_connected():
            return False
        row_id, topic, payload, qos, retain = row
        info = self._client.publish(topic, payload, qos=qos, retain=bool(retain))
        # paho keeps an unacknowledged message across its own reconnects, so we wait on this one
        # rather than publish it again: order kept, no duplicate within one run.
        while not info.is_published():
            if self._stop.wait(0.01):
                return False
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        self.counters.sent += 1
        return True
