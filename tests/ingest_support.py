"""Helpers shared by the ingest and simulator tests: settings for a private broker, collectors, waiting."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

from base.settings import IngestSettings, MqttSettings, TesseraSettings
from agent.ingest.ingestor import FrameHeader, StreamKey


def settings_for(url: str, **ingest: object) -> TesseraSettings:
    """Tessera settings against a test broker, with fast reconnects."""
    mqtt = MqttSettings(url=url, reconnect_min_s=0.1, reconnect_max_s=1.0, keepalive_s=5)
    return TesseraSettings(mqtt=mqtt, ingest=IngestSettings(**ingest))


class SeqCollector:
    """An ingest on_frame hook: the accepted sequence numbers per (device, stream), in arrival order."""

    def __init__(self) -> None:
        self.seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.lock = threading.Lock()

    def __call__(self, key: StreamKey, frame: FrameHeader) -> None:
        with self.lock:
            self.seqs[(key.device, key.stream)].append(frame.seq)

    def total(self) -> int:
        """Frames collected over all streams."""
        with self.lock:
            return sum(len(v) for v in self.seqs.values())


def wait_until(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.05) -> bool:
    """Poll `predicate` until it holds or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()
