"""What every simulated device does like firmware: status with last will, sequence numbers, real-time pacing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import numpy as np

from base.settings import MqttSettings
from base.mqtt import connect
from base.wire import data_topic, encode_binary

log = logging.getLogger(__name__)


class StreamingDevice:
    """Publishes frames of one stream, paced to real time (or faster with `speed`)."""

    def __init__(self, mqtt: MqttSettings, device_id: str, stream: str, rate_hz: float, frame_s: float, speed: float = 1.0) -> None:
        if rate_hz <= 0 or frame_s <= 0 or speed <= 0:
            raise ValueError(f"rate_hz, frame_s and speed must be positive, got {rate_hz}, {frame_s}, {speed}")
        self.mqtt, self.device_id, self.stream = mqtt, device_id, stream
        self.rate_hz, self.frame_s, self.speed = rate_hz, frame_s, speed
        self.frames_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def status_topic(self) -> str:
        """Retained online/offline status (offline is the last will)."""
        return f"{self.mqtt.topic_prefix}/{self.mqtt.site}/{self.device_id}/status"

    def samples(self) -> Iterator[np.ndarray]:
        """Successive blocks of samples; subclasses generate their signal here."""
        raise NotImplementedError

    def start(self) -> StreamingDevice:
        """Connect and publish in a background thread until `stop()`."""
        client = connect(self.mqtt, client_id=f"sim-{self.device_id}", will=(self.status_topic, "offline"))
        client.publish(self.status_topic, "online", qos=1, retain=True)
        self._thread = threading.Thread(target=self._run, args=(client,), name=f"sim-{self.device_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing and disconnect cleanly (status goes offline)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self, client) -> None:
        topic = data_topic(self.mqtt.topic_prefix, self.mqtt.site, self.device_id, self.stream)
        per_frame = int(round(self.rate_hz * self.frame_s))
        start_wall = time.time()
        pending = np.zeros(0)
        seq = 0
        try:
            for block in self.samples():
                pending = np.concatenate([pending, block])
                while pending.size >= per_frame:
                    t0 = start_wall + seq * self.frame_s  # device clock: when the first sample was taken
                    due = start_wall + (seq + 1) * self.frame_s / self.speed
                    if self._stop.wait(max(0.0, due - time.time())):
                        return
                    client.publish(topic, encode_binary(seq, t0, self.rate_hz, pending[:per_frame], "<i2", 0.001), qos=1)
                    pending = pending[per_frame:]
                    seq += 1
                    self.frames_sent = seq
        finally:
            client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(timeout=2)
            client.disconnect()
            client.loop_stop()
