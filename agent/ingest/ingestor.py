"""MQTT ingest: sensor frames from the broker, validated and windowed per stream, nothing lost.

Guarantees (docs/wire.md has the full statement):
- QoS 1 subscriptions on a persistent session (clean start off, session expiry), so frames
  published while Tessera is down or reconnecting wait at the broker and arrive afterwards;
  paho reconnects with backoff and `_on_connect` resubscribes when the session is gone.
- Frames are processed inline in paho's network thread and acknowledged (PUBACK) only after
  they are windowed. That is the backpressure policy: a slow consumer slows acknowledgement,
  the broker holds the backlog (bounded by its max_queued_messages), Tessera never drops a
  frame it accepted, and its own memory stays bounded: one window plus one frame per stream,
  at most ingest.max_streams streams, payloads above ingest.max_frame_bytes refused unread.
- Bad input never stops ingest: each refused message goes to the dead-letter topic with its
  reason, is counted, and the next message is processed.
- A flooding device is cut back alone (agent.ingest.flood): its excess is dropped, counted,
  acknowledged and reported as a quality event; its dead letters are budgeted per minute.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import paho.mqtt.client as mqtt

from base.settings import TesseraSettings
from base.mqtt import close, connect
from base.wire import MAGIC, WireError, WireErrorReason, dead_letter_topic, decode_frame, parse_data_topic, read_binary
from agent.ingest.flood import DeviceFlow, FloodLimiter, QualityEvent, StreamClock
from agent.ingest.windowing import StreamWindower, Window

log = logging.getLogger(__name__)

TOO_MANY = "more messages than the device's clock advances: copies, overlapping or too frequent frames"


@dataclass(slots=True, frozen=True)
class StreamKey:
    """One stream of one device."""

    site: str
    device: str
    stream: str


@dataclass(slots=True)
class FrameHeader:
    """An accepted frame as `on_frame` sees it: where it sits in its stream. Its samples reach consumers in windows."""

    seq: int
    t0: float
    rate: float
    n_samples: int


@dataclass(slots=True)
class IngestCounters:
    """Totals since start; per-stream detail lives in each windower's counters."""

    received: int = 0
    accepted: int = 0
    samples: int = 0
    windows: int = 0
    bytes: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    missing_frames: int = 0
    dead_lettered: int = 0
    dead_letters_suppressed: int = 0  # refused past the device's dead-letter budget: counted, not republished
    flood_dropped: int = 0  # beyond a device's flood budget: counted, acknowledged, not windowed
    quality_events: int = 0
    internal_errors: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class DeadLetter:
    """A refused message, as published on the dead-letter topic."""

    reason: WireErrorReason
    detail: str
    topic: str
    size: int
    payload_head: bytes

    def to_json(self) -> bytes:
        """The dead-letter payload: reason, detail, original topic and the first bytes, base64."""
        return json.dumps({"v": 1, "reason": self.reason.value, "detail": self.detail[:300], "topic": self.topic,
                           "size": self.size, "payload_b64": base64.b64encode(self.payload_head).decode(),
                           "at": time.time()}).encode()


FrameHook = Callable[[StreamKey, FrameHeader], None]
MetaHook = Callable[[str, str, dict], None]  # site, device, the device's retained meta (docs/wire.md)
WindowHook = Callable[[StreamKey, Window], None]
QualityHook = Callable[[QualityEvent], None]


class Ingestor:
    """Subscribes to sensor frames and windows them; `handle()` is the whole pipeline for one message.

    on_window(key, window) runs in the network thread for each completed window; window.samples
    is a read-only view valid during the call (copy it to keep it). on_frame(key, header) runs for
    each accepted frame, before its windows, with its FrameHeader (no samples: they are converted
    a hop at a time, see agent.ingest.windowing). on_meta(site, device, meta) runs for each device's retained meta message (shaft speed,
    bearing geometry, streams), which encoders need. on_quality(event) runs when a device's
    messages are dropped for flooding or for size, at most once per device and reason per
    ingest.quality_event_every_s.
    """

    def __init__(self, settings: TesseraSettings, *, on_window: WindowHook | None = None, on_frame: FrameHook | None = None,
                 on_meta: MetaHook | None = None, on_quality: QualityHook | None = None, worker: int | None = None) -> None:
        self.settings = settings
        self.cfg = cfg = settings.ingest
        self.on_window, self.on_frame, self.on_meta, self.on_quality = on_window, on_frame, on_meta, on_quality
        base_id = cfg.client_id or f"tessera-ingest-{settings.mqtt.site}"
        self.client_id = base_id if worker is None else f"{base_id}-{worker}"
        self.counters = IngestCounters()
        self.windowers: dict[StreamKey, StreamWindower] = {}
        self.dead_letters_topic = dead_letter_topic(settings.mqtt.topic_prefix)
        self.limiter = FloodLimiter(factor=cfg.flood_factor, burst=cfg.flood_burst,
                                    event_every_s=cfg.quality_event_every_s, dead_letters_per_min=cfg.dead_letters_per_device_per_min,
                                    max_devices=cfg.max_streams)
        self._allowed: dict[str, bool] = {}
        self._max_frame_bytes = cfg.max_frame_bytes
        # By topic, one dict hit per frame: the stream's key, windower and place on its device's clock.
        self._streams: dict[str, tuple[StreamKey, StreamWindower, StreamClock]] = {}
        self._client: mqtt.Client | None = None

    def subscriptions(self) -> list[str]:
        """The topic filters, with the shared-subscription prefix when ingest.shared_group is set.

        When ingest.devices lists plain ids (no wildcards) each device gets its own filter, so
        workers given disjoint lists split the devices with every stream whole on one worker.
        A shared subscription on mosquitto splits per message instead: each worker then sees
        part of every stream (see docs/wire.md).
        """
        share = f"$share/{self.cfg.shared_group}/" if self.cfg.shared_group else ""
        prefix = self.settings.mqtt.topic_prefix
        # Meta is retained and small: every worker takes all of it, never shared.
        meta = [f"{prefix}/{site}/+/meta" for site in self.cfg.sites] if self.on_meta else []
        if not any(ch in d for d in self.cfg.devices for ch in "*?["):
            return [f"{share}{prefix}/{site}/{device}/data/#" for site in self.cfg.sites for device in self.cfg.devices] + meta
        return [f"{share}{prefix}/{site}/+/data/#" for site in self.cfg.sites] + meta

    def start(self, timeout_s: float = 10.0) -> Ingestor:
        """Connect with a persistent session and start consuming; BrokerError when the broker is unusable."""
        self._client = connect(self.settings.mqtt, self.client_id, clean_start=False, timeout_s=timeout_s,
                               session_expiry_s=self.cfg.session_expiry_s, on_connect=self._on_connect)
        return self

    def stop(self) -> None:
        """Disconnect; the broker keeps the session and queues frames until we come back."""
        if self._client:
            close(self._client)
            self._client = None

    def __enter__(self) -> Ingestor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_connect(self, client: mqtt.Client, session_present: bool) -> None:
        client.on_message = self._on_message
        # Subscribing again on a present session is harmless and covers a broker that lost it.
        client.subscribe([(topic, 1) for topic in self.subscriptions()])
        log.info("ingest subscribed", extra={"client_id": self.client_id, "session_present": session_present,
                                             "filters": self.subscriptions()})

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            try:
                topic = msg.topic
            except UnicodeDecodeError:
                topic = msg._topic.decode("utf-8", "replace")  # brokers check topics; this is belt and braces
            if self.on_meta is not None and topic.endswith("/meta"):
                self._meta(topic, msg.payload)
            else:
                self.handle(topic, msg.payload)
        except Exception:  # a bug on one frame must not stop ingest; count it and go on
            self.counters.internal_errors += 1
            log.exception("ingest failed on a message", extra={"topic": repr(getattr(msg, "_topic", b""))[:200]})

    def handle(self, topic: str, payload: bytes) -> bool:
        """Validate, window and hand on one message; whether it was accepted.

        Refused messages go to the dead-letter topic; duplicates, late frames and a flooding
        device's excess are counted and dropped. A binary frame of a known stream is checked by
        its header and its samples wait, as a view over `payload`, to be scaled into the window
        buffer with the rest of their hop: this path runs for every frame. So `payload` must not
        change afterwards (paho's bytes never do).
        """
        c = self.counters
        c.received += 1
        size = len(payload)
        c.bytes += size
        known = self._streams.get(topic)
        if known is not None and size <= self._max_frame_bytes and payload[:2] == MAGIC:
            key, windower, clock = known  # the path of every high-rate frame: a known stream, binary
            try:
                seq, t0, rate, raw, scale = read_binary(payload)
            except WireError as err:
                self._refuse(err, topic, payload, clock.device)
                return False
        else:
            opened = self._first_or_other(topic, payload, known)
            if opened is None:
                return False
            key, windower, clock, (seq, t0, rate, raw, scale) = opened
        m = raw.shape[1]
        if not self.limiter.admit(clock, t0, m / rate, time.time()):
            c.flood_dropped += 1
            self._report(self.limiter.refuse(clock.device, "flood", time.time(), TOO_MANY))
            return False
        missing = c.missing_frames
        windows = windower.push_samples(seq, t0, rate, raw, scale)
        if windows is None:
            return False  # a duplicate or a late frame, counted by the windower
        if c.missing_frames != missing:
            log.info("gap in stream", extra={"device": key.device, "stream": key.stream, "missing_frames": c.missing_frames - missing})
        c.accepted += 1
        c.samples += m
        if self.on_frame is not None:
            self.on_frame(key, FrameHeader(seq, t0, rate, m))
        if windows:
            c.windows += len(windows)
            if self.on_window is not None:
                for window in windows:
                    self.on_window(key, window)
        return True

    def _first_or_other(self, topic: str, payload: bytes, known: tuple | None) -> tuple | None:
        """Everything but a binary frame of a known stream: a new stream's first frame, JSON, oversized.

        (key, windower, clock, (seq, t0, rate, raw, scale)), or None when the message was refused.
        """
        flow: DeviceFlow | None = None
        try:
            if known is None:
                key = self._key(topic)
                flow = self.limiter.flow(key.site, key.device)
            else:
                key, windower, clock = known
                flow = clock.device
            size = len(payload)
            if size > self._max_frame_bytes:
                raise WireError(WireErrorReason.OVERSIZED, f"{size} bytes > ingest.max_frame_bytes {self._max_frame_bytes}")
            if payload[:2] == MAGIC:
                frame = read_binary(payload)
            else:
                decoded = decode_frame(payload)
                raw = decoded.samples
                frame = decoded.seq, decoded.t0, decoded.rate, raw[None, :] if raw.ndim == 1 else raw, None
            if known is None:
                windower, clock = self._open_stream(key, topic, flow)
        except WireError as err:
            self._refuse(err, topic, payload, flow)
            return None
        return key, windower, clock, frame

    def _meta(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if not payload:
            return  # a cleared retained message: the device is gone
        try:
            meta = json.loads(payload)
            if len(parts) != 4 or not isinstance(meta, dict):
                raise ValueError("meta must be a JSON object on <prefix>/<site>/<device>/meta")
        except (ValueError, UnicodeDecodeError) as err:
            device = self.limiter.flow(parts[1], parts[2]) if len(parts) == 4 else None
            self._refuse(WireError(WireErrorReason.BAD_JSON, f"device meta: {err}"), topic, payload, device)
            return
        self.on_meta(parts[1], parts[2], meta)

    def _key(self, topic: str) -> StreamKey:
        parts = parse_data_topic(topic, self.settings.mqtt.topic_prefix)
        allowed = self._allowed.get(parts.device)
        if allowed is None:
            allowed = any(fnmatch.fnmatchcase(parts.device, pattern) for pattern in self.cfg.devices)
            if len(self._allowed) < 100_000:  # cache bounded; past it we just match each time
                self._allowed[parts.device] = allowed
        if not allowed:
            raise WireError(WireErrorReason.UNKNOWN_DEVICE, f"device {parts.device!r} not in ingest.devices")
        return StreamKey(parts.site, parts.device, parts.stream)

    def _open_stream(self, key: StreamKey, topic: str, flow: DeviceFlow) -> tuple[StreamWindower, StreamClock]:
        windower = self.windowers.get(key)
        if windower is None:
            if len(self.windowers) >= self.cfg.max_streams:
                raise WireError(WireErrorReason.TOO_MANY_STREAMS, f"ingest.max_streams {self.cfg.max_streams} reached")
            # Views, not copies: a 12.8 kHz window is 800 kB and on_window runs before the next frame.
            windower = self.windowers[key] = StreamWindower(self.cfg.window_s, min(self.cfg.hop_s, self.cfg.window_s), copy=False,
                                                            totals=self.counters)
        clock = StreamClock(flow)  # a topic names exactly one stream, so this is the stream's only clock
        self._streams[topic] = (key, windower, clock)
        return windower, clock

    def _refuse(self, err: WireError, topic: str, payload: bytes, flow: DeviceFlow | None) -> None:
        c = self.counters
        c.dead_lettered += 1
        c.rejected[err.reason.value] = c.rejected.get(err.reason.value, 0) + 1
        now = time.time()
        if flow is None:  # a bad topic or a device not allowed: budget by the device id the topic claims, if any
            parts = topic.split("/", 3)
            flow = self.limiter.flow(parts[1], parts[2]) if len(parts) > 2 else self.limiter.anonymous()
        if err.reason is WireErrorReason.OVERSIZED:
            self._report(self.limiter.refuse(flow, "oversized", now, err.detail))
        if not self.limiter.dead_letter_allowed(flow, now):
            c.dead_letters_suppressed += 1  # a device sending garbage must not flood the dead-letter topic in turn
            return
        letter = DeadLetter(err.reason, err.detail, topic, len(payload), payload[: self.cfg.dead_letter_payload_bytes])
        log.debug("dead-lettered", extra={"topic": topic[:200], "reason": err.reason.value})
        if self._client is not None:
            self._client.publish(self.dead_letters_topic, letter.to_json(), qos=1)

    def _report(self, event: QualityEvent | None) -> None:
        if event is None:
            return
        self.counters.quality_events += 1
        log.warning("device messages dropped", extra=event.as_dict())
        if self.on_quality is not None:
            self.on_quality(event)

    def snapshot(self) -> dict:
        """Counters as JSON-ready data, with the number of live streams."""
        return {**asdict(self.counters), "streams": len(self.windowers), "dropped_by_device": self.limiter.snapshot()}
