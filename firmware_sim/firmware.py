"""What every simulated device does like firmware, free of any transport.

A `Firmware` turns time into publications: `tick(t)` returns what the device sends at epoch
time `t` and `next_due()` says when it wants to run again. Its streams number their frames,
batch samples into frames, and stamp them with a drifting device clock. The runtime
(firmware_sim.runtime) owns the MQTT side: connection, last will, buffering, reconnects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from base.wire import WIRE_VERSION, data_topic, device_topic, encode_binary, encode_json
from firmware_sim.faults import FaultKind, FaultSchedule

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Publication:
    """One MQTT message a device sends."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(slots=True)
class DeviceClock:
    """A device's RTC: set with an offset at boot, then drifting by `drift_ppm`."""

    drift_ppm: float = 0.0
    offset_s: float = 0.0
    boot: float = 0.0

    def read(self, t: float) -> float:
        """The device's idea of epoch time `t`."""
        return t + self.offset_s + (t - self.boot) * self.drift_ppm * 1e-6


SampleSource = Callable[[int], np.ndarray]  # n samples -> (channels, n) array, continuing where it left off


class SampledStream:
    """A sampled signal sent as frames: sequence numbers, batching, drifting timestamps, stream faults."""

    def __init__(self, name: str, rate_hz: float, frame_s: float, source: SampleSource, *, encoding: str = "binary",
                 dtype: str = "<f4", scale: float = 1.0, channels: list[str] | None = None, unit: str = "") -> None:
        if rate_hz <= 0 or frame_s <= 0:
            raise ValueError(f"stream {name}: rate_hz and frame_s must be positive, got {rate_hz}, {frame_s}")
        if encoding not in ("binary", "json"):
            raise ValueError(f"stream {name}: encoding must be binary or json, got {encoding!r}")
        self.name, self.rate_hz, self.frame_s, self.source = name, rate_hz, frame_s, source
        self.encoding, self.dtype, self.scale, self.channels, self.unit = encoding, dtype, scale, channels, unit
        self.per_frame = max(1, int(round(rate_hz * frame_s)))
        self.seq = 0
        self._origin = 0.0
        self.next_due = 0.0
        self.frames_sent = 0
        self.frames_dropped = 0  # lost on the device by a dropout fault
        self._stuck: np.ndarray | None = None

    def describe(self) -> dict:
        """The stream as announced in the device's meta message."""
        return {"rate_hz": self.rate_hz, "frame_samples": self.per_frame, "encoding": self.encoding,
                "dtype": self.dtype if self.encoding == "binary" else "json", "channels": self.channels or [self.name], "unit": self.unit}

    def start(self, t: float) -> None:
        """Begin sampling at epoch `t`: the first frame is due one frame later."""
        self._origin = t  # frame k covers origin + k * frame duration; computed, not summed, so no float creep
        self.next_due = t + self.per_frame / self.rate_hz

    def emit(self, topic: str, clock: DeviceClock, faults: FaultSchedule, rng: np.random.Generator) -> list[Publication]:
        """The frame that is due now (or several copies, under a flood fault)."""
        duration = self.per_frame / self.rate_hz
        first_sample_t = self._origin + self.seq * duration
        samples = np.atleast_2d(self.source(self.per_frame))
        seq, self.seq = self.seq, self.seq + 1
        self.next_due = max(self.next_due, self._origin + self.seq * duration + duration)
        if faults.active(FaultKind.DROPOUT, first_sample_t):
            self.frames_dropped += 1
            return []
        if faults.active(FaultKind.STUCK, first_sample_t):
            if self._stuck is None:
                self._stuck = samples[:, -1:].copy()
            samples = np.repeat(self._stuck, samples.shape[1], axis=1)
        else:
            self._stuck = None
        burst = faults.active(FaultKind.NOISE_BURST, first_sample_t)
        if burst:
            sigma = burst.params.get("sigma") or burst.params.get("factor", 5.0) * max(float(np.nanstd(samples)), 1e-3)
            samples = samples + rng.normal(0.0, sigma, samples.shape)
        t0 = clock.read(first_sample_t)
        data = samples[0] if samples.shape[0] == 1 else samples
        if self.encoding == "binary":
            payload = encode_binary(seq, t0, self.rate_hz, data, self.dtype, self.scale)
        else:
            payload = encode_json(seq, t0, self.rate_hz, data, self.channels if samples.shape[0] > 1 else None)
        flood = faults.active(FaultKind.FLOOD, first_sample_t)
        copies = int(flood.params.get("factor", 20)) if flood else 1
        self.frames_sent += 1
        return [Publication(topic, payload) for _ in range(copies)]


class Firmware:
    """A simulated device: its streams, retained status and meta, commands; no transport."""

    kind = "device"
    model = "Tessera sim"

    def __init__(self, device_id: str, *, site: str = "home", prefix: str = "tessera", seed: int = 0,
                 clock: DeviceClock | None = None, faults: FaultSchedule | None = None) -> None:
        self.device_id, self.site, self.prefix = device_id, site, prefix
        self.rng = np.random.default_rng(seed)
        self.clock = clock or DeviceClock()
        self.faults = faults or FaultSchedule()
        self.streams: list[SampledStream] = []
        self.booted_at = 0.0

    def topic(self, leaf: str) -> str:
        """A per-device topic (status, meta, state, set, alert)."""
        return device_topic(self.prefix, self.site, self.device_id, leaf)

    def will(self) -> tuple[str, str]:
        """The last will: retained "offline" on the status topic."""
        return self.topic("status"), "offline"

    def boot(self, t: float, phase: float = 0.0) -> None:
        """Power on at epoch `t`; `phase` (0-1) brings the first frames forward so devices do not report in lockstep."""
        self.booted_at = t
        self.clock.boot = t
        for stream in self.streams:
            stream.start(t - phase * stream.per_frame / stream.rate_hz)

    def metadata(self) -> dict:
        """What the device says about itself, retained on its meta topic."""
        return {"v": WIRE_VERSION, "kind": self.kind, "model": self.model, "streams": {s.name: s.describe() for s in self.streams}}

    def announce(self) -> list[Publication]:
        """Sent on every (re)connection: retained online status and meta."""
        return [Publication(self.topic("status"), b"online", retain=True),
                Publication(self.topic("meta"), json.dumps(self.metadata()).encode(), retain=True)]

    def subscriptions(self) -> list[str]:
        """Command topics the device listens to."""
        return []

    def on_command(self, topic: str, payload: bytes, t: float) -> list[Publication]:
        """Handle a command; returns what the device publishes in answer."""
        return []

    def next_due(self) -> float:
        """Epoch time of the next tick."""
        return min((s.next_due for s in self.streams), default=float("inf"))

    def tick(self, t: float) -> list[Publication]:
        """Everything due at epoch `t`, in time order."""
        out: list[Publication] = []
        while True:
            due = [s for s in self.streams if s.next_due <= t]
            if not due:
                return out
            stream = min(due, key=lambda s: s.next_due)
            out += stream.emit(data_topic(self.prefix, self.site, self.device_id, stream.name), self.clock, self.faults, self.rng)


class BlockBuffer:
    """Serves n samples at a time from blocks that `generate(t_rel_s, block_s)` makes on demand."""

    def __init__(self, generate: Callable[[float, float], np.ndarray], rate_hz: float, block_s: float) -> None:
        self.generate, self.rate_hz, self.block_s = generate, rate_hz, block_s
        self._buffer: np.ndarray | None = None
        self._t_rel = 0.0  # time covered by the blocks made so far

    def take(self, n: int) -> np.ndarray:
        """The next n samples, (channels, n)."""
        while self._buffer is None or self._buffer.shape[1] < n:
            block = np.atleast_2d(self.generate(self._t_rel, self.block_s))
            self._t_rel += block.shape[1] / self.rate_hz
            self._buffer = block if self._buffer is None else np.concatenate([self._buffer, block], axis=1)
        out, self._buffer = self._buffer[:, :n], self._buffer[:, n:]
        return out
