"""The event watcher's queue is bounded by size as well as count: a backlog of big windows cannot hold the hub's memory."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from agent.decide.loop import Guard
from agent.ingest.ingestor import StreamKey
from agent.llm.scripted import ScriptedBackend
from agent.services import watch
from agent.services.health import Metrics
from base.settings import load_settings
from tools import ToolContext


def test_a_backlog_of_big_windows_drops_the_oldest_past_the_byte_bound(monkeypatch) -> None:
    monkeypatch.setattr(watch, "MAX_QUEUED_BYTES", 4 << 20)  # 4 MB: five 800 kB vibration windows
    settings = load_settings()
    metrics = Metrics()
    watcher = watch.EventWatcher(settings, ScriptedBackend([]), ToolContext(publish=lambda *a: None, site="plant"),
                                 Guard.from_settings(settings), metrics)  # not started: nothing drains the queue
    key = StreamKey("plant", "pump-01", "accel")
    for i in range(12):
        samples = np.full(102_400, float(i))  # 8 s at 12.8 kHz, float64: 800 kB
        watcher._enqueue(key, SimpleNamespace(samples=samples, t0=float(i), rate=12_800.0))
    assert watcher._queued_bytes <= 4 << 20
    kept = [watcher._queue.get_nowait() for _ in range(watcher._queue.qsize())]
    assert [item[2] for item in kept] == [7.0, 8.0, 9.0, 10.0, 11.0]  # the newest five, in order
    assert metrics.value("watch_windows_dropped_total") == 7
