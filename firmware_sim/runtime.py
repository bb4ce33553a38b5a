"""Runs many simulated devices in one thread: one MQTT connection each, one selector for all.

Threads per device would not carry 1,000 devices on a small gateway, so paho runs on an external
event loop (its on_socket_* callbacks feed a selector). Per device, as firmware does: its own
connection with a last will, retained online status on every connection, QoS 1 data, reconnect
with exponential backoff and jitter, and a bounded local buffer while offline (oldest dropped,
counted). Messages handed to paho but not yet acknowledged stay with paho and are resent after a
reconnect, before anything newer: per-stream order holds across broker restarts.
"""

from __future__ import annotations

import heapq
import logging
import random
import selectors
import threading
import time
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from base.settings import MqttSettings
from base.mqtt import BrokerAddress
from firmware_sim.firmware import Firmware, Publication

log = logging.getLogger(__name__)

MISC_EVERY_S = 0.5  # keepalive pings and reconnect attempts are checked this often
MAX_SELECT_S = 0.05


@dataclass(slots=True)
class SimCounters:
    """What the runtime did since start, over all devices."""

    published: int = 0
    acked: int = 0
    bytes: int = 0
    buffered_while_offline: int = 0
    dropped_offline: int = 0
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    commands: int = 0


class DeviceLink:
    """One device's MQTT connection, driven by the runtime's loop."""

    def __init__(self, runtime: SimRuntime, device: Firmware, buffer_max: int) -> None:
        self.runtime, self.device = runtime, device
        s = runtime.settings
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{device.site}-{device.device_id}", protocol=mqtt.MQTTv5)
        if s.username:
            self.client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if runtime.address.tls:
            self.client.tls_set(ca_certs=str(s.tls_ca) if s.tls_ca else None)
        self.client.will_set(*device.will(), qos=1, retain=True)
        self.client.max_inflight_messages_set(100)
        c = self.client
        c.on_connect, c.on_disconnect, c.on_message, c.on_publish = self._on_connect, self._on_disconnect, self._on_message, self._on_publish
        c.on_socket_open, c.on_socket_close = self._socket_open, self._socket_close
        c.on_socket_register_write, c.on_socket_unregister_write = self._want_write, self._done_write
        self.connected = False
        self.fresh = False  # connected, announce and buffer flush still to do (after paho's own resends)
        self.started = False
        self.next_attempt = 0.0
        self.backoff = s.reconnect_min_s
        self.buffer: deque[Publication] = deque(maxlen=buffer_max)
        self.outstanding = 0

    def send(self, publications: list[Publication]) -> None:
        """Publish now when connected, else keep in the local buffer."""
        counters = self.runtime.counters
        for pub in publications:
            if self.connected and not self.fresh:
                self._publish(pub)
            else:
                if len(self.buffer) == self.buffer.maxlen:
                    counters.dropped_offline += 1
                self.buffer.append(pub)
                counters.buffered_while_offline += 1

    def _publish(self, pub: Publication) -> None:
        self.client.publish(pub.topic, pub.payload, qos=pub.qos, retain=pub.retain)
        self.outstanding += pub.qos > 0
        self.runtime.counters.published += 1
        self.runtime.counters.bytes += len(pub.payload)

    def try_connect(self, now: float) -> None:
        """Open the connection (or reopen it); on failure wait longer next time."""
        address = self.runtime.address
        try:
            if self.started:
                self.client.reconnect()
            else:
                self.client.connect(address.host, address.port, keepalive=self.runtime.settings.keepalive_s)
                self.started = True
        except OSError as err:
            self.runtime.counters.connect_failures += 1
            self._schedule_retry(now)
            log.debug("device cannot reach the broker", extra={"device": self.device.device_id, "error": str(err)})

    def _schedule_retry(self, now: float) -> None:
        # Full jitter so a thousand devices do not reconnect in lockstep after a broker restart.
        self.next_attempt = now + random.uniform(0.5, 1.0) * self.backoff
        self.backoff = min(self.backoff * 2, self.runtime.settings.reconnect_max_s)

    def settle(self) -> None:
        """After a (re)connection: announce, subscribe to commands, then flush the offline buffer in order."""
        self.fresh = False
        for pub in self.device.announce():
            self._publish(pub)
        topics = self.device.subscriptions()
        if topics:
            self.client.subscribe([(t, 1) for t in topics])
        while self.buffer:
            self._publish(self.buffer.popleft())

    def _on_connect(self, _c, _u, _flags, reason, _props) -> None:
        if reason.is_failure:
            log.warning("broker refused a device", extra={"device": self.device.device_id, "reason": str(reason)})
            return
        self.connected, self.fresh = True, True
        self.backoff = self.runtime.settings.reconnect_min_s
        self.runtime.counters.connects += 1

    def _on_disconnect(self, _c, _u, _flags, reason, _props) -> None:
        if self.connected:
            self.runtime.counters.disconnects += 1
        self.connected = False
        self._schedule_retry(time.monotonic())

    def _on_publish(self, _c, _u, _mid, _reason, _props) -> None:
        self.outstanding -= 1
        self.runtime.counters.acked += 1

    def _on_message(self, _c, _u, msg: mqtt.MQTTMessage) -> None:
        self.runtime.counters.commands += 1
        self.send(self.device.on_command(msg.topic, msg.payload, self.runtime.now()))
        self.runtime.reschedule(self)

    def _socket_open(self, _c, _u, sock) -> None:
        self.runtime.selector.register(sock, selectors.EVENT_READ, self)

    def _socket_close(self, _c, _u, sock) -> None:
        try:
            self.runtime.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _want_write(self, _c, _u, sock) -> None:
        try:
            self.runtime.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self)
        except (KeyError, ValueError):
            pass

    def _done_write(self, _c, _u, sock) -> None:
        try:
            self.runtime.selector.modify(sock, selectors.EVENT_READ, self)
        except (KeyError, ValueError):
            pass


class SimRuntime:
    """Drives devices in simulated time (`speed` x real time) and their connections, in one thread."""

    def __init__(self, settings: MqttSettings, devices: list[Firmware], *, speed: float = 1.0, buffer_max: int = 10_000,
                 seed: int = 0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.settings, self.speed = settings, speed
        self.address = BrokerAddress.parse(settings.url)
        self.selector = selectors.DefaultSelector()
        self.counters = SimCounters()
        self.devices = devices
        self.links = [DeviceLink(self, d, buffer_max) for d in devices]
        self._index = {id(link): i for i, link in enumerate(self.links)}
        self._rng = random.Random(seed)
        self._heap: list[tuple[float, int]] = []
        self._scheduled: list[float] = [float("inf")] * len(devices)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.origin = time.time()
        self._wall0 = time.monotonic()

    def now(self) -> float:
        """Simulated epoch time."""
        return self.origin + (time.monotonic() - self._wall0) * self.speed

    def reschedule(self, link: DeviceLink) -> None:
        """Put a device back on the timetable after its next_due changed."""
        i = self._index[id(link)]
        due = link.device.next_due()
        if due != self._scheduled[i]:
            self._scheduled[i] = due
            if due != float("inf"):
                heapq.heappush(self._heap, (due, i))

    def start(self) -> SimRuntime:
        """Run in a background thread until stop()."""
        self._thread = threading.Thread(target=self.run, name="tessera-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the devices: last frames delivered, status offline, connections closed."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout_s)

    def run(self, duration_s: float | None = None) -> SimCounters:
        """Boot every device, then run for `duration_s` wall seconds (None: until stop())."""
        self.origin, self._wall0 = time.time(), time.monotonic()
        for i, link in enumerate(self.links):
            link.device.boot(self.origin, phase=self._rng.random())
            link.device.faults.origin = self.origin
            self.reschedule(link)
            link.try_connect(time.monotonic())
        deadline = self._wall0 + duration_s if duration_s else float("inf")
        next_misc = time.monotonic() + MISC_EVERY_S
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._tick_devices()
                self._io(self._select_timeout())
                if time.monotonic() >= next_misc:
                    self._misc()
                    next_misc = time.monotonic() + MISC_EVERY_S
        finally:
            self._shutdown()
        return self.counters

    def _tick_devices(self) -> None:
        t = self.now()
        while self._heap and self._heap[0][0] <= t:
            due, i = heapq.heappop(self._heap)
            if due != self._scheduled[i]:
                continue  # stale entry: the device was rescheduled
            self._scheduled[i] = float("inf")
            link = self.links[i]
            link.send(link.device.tick(t))
            self.reschedule(link)

    def _select_timeout(self) -> float:
        if not self._heap:
            return MAX_SELECT_S
        return min(MAX_SELECT_S, max(0.0, (self._heap[0][0] - self.now()) / self.speed))

    def _io(self, timeout: float) -> None:
        for key, mask in self.selector.select(timeout):
            link: DeviceLink = key.data
            if mask & selectors.EVENT_READ:
                link.client.loop_read()
            if mask & selectors.EVENT_WRITE and link.client.want_write():
                link.client.loop_write()
            if link.fresh and link.connected:
                link.settle()

    def _misc(self) -> None:
        now = time.monotonic()
        for link in self.links:
            if link.connected:
                link.client.loop_misc()
            elif now >= link.next_attempt and link.client.socket() is None:
                link.try_connect(now)

    def _shutdown(self) -> None:
        """Deliver what is in flight, publish offline status, disconnect."""
        deadline = time.monotonic() + 5.0
        for link in self.links:
            if link.connected:
                link._publish(Publication(*link.device.will(), retain=True))
        while time.monotonic() < deadline and any(l.connected and (l.outstanding > 0 or l.fresh) for l in self.links):
            self._io(0.02)
        for link in self.links:
            if link.connected:
                link.client.disconnect()
                if link.client.want_write():
                    link.client.loop_write()
            self._close_socket(link)
        unsent = sum(len(l.buffer) + max(0, l.outstanding) for l in self.links)
        if unsent:
            log.warning("sim stopped with messages not delivered", extra={"unsent": unsent})

    def _close_socket(self, link: DeviceLink) -> None:
        sock = link.client.socket()
        if sock is not None:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass

    def expected_frames(self) -> dict[tuple[str, str], int]:
        """Frames each (device, stream) produced so far (sequence numbers 0..n-1), dropouts included."""
        return {(d.device_id, s.name): s.seq for d in self.devices for s in d.streams}
