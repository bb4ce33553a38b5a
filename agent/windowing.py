"""Per-stream windowing: frames in, overlapping fixed-length windows out.

Sequence numbers tell what the network did: a jump is a gap (filled with NaN so
the encoder sees it and emits a quality token), a repeat or a step back is a
duplicate or out-of-order frame and is dropped and counted. Memory is bounded:
the buffer never holds more than one window plus one frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.wire import Frame

MAX_GAP_S = 30.0  # a longer silence restarts the stream instead of filling it with NaN


@dataclass(slots=True)
class Window:
    """A window ready to encode."""

    samples: np.ndarray
    t0: float
    rate: float


@dataclass(slots=True)
class StreamCounters:
    """What happened on one stream so far."""

    frames: int = 0
    samples: int = 0
    windows: int = 0
    gaps: int = 0
    missing_frames: int = 0
    duplicates: int = 0
    restarts: int = 0


class StreamWindower:
    """Cuts one single-channel stream into windows of `window_s` every `hop_s`."""

    def __init__(self, window_s: float, hop_s: float) -> None:
        if window_s <= 0 or hop_s <= 0:
            raise ValueError(f"window_s and hop_s must be positive, got {window_s}, {hop_s}")
        self.window_s, self.hop_s = window_s, hop_s
        self.counters = StreamCounters()
        self._rate = 0.0
        self._next_seq: int | None = None
        self._buffer = np.zeros(0)
        self._buffer_t0 = 0.0

    def push(self, frame: Frame) -> list[Window]:
        """Add a frame; return the windows it completes (possibly none)."""
        self.counters.frames += 1
        if self._next_seq is not None and frame.seq < self._next_seq:
            self.counters.duplicates += 1
            return []
        samples = np.asarray(frame.samples, dtype=np.float64).ravel()
        if self._next_seq is None or frame.rate != self._rate:
            self._restart(frame)
        elif frame.seq > self._next_seq:
            self._fill_gap(frame)
        self._buffer = np.concatenate([self._buffer, samples])
        self._next_seq = frame.seq + 1
        self.counters.samples += samples.size
        return self._cut()

    def _restart(self, frame: Frame) -> None:
        if self._next_seq is not None:
            self.counters.restarts += 1
        self._rate = frame.rate
        self._buffer = np.zeros(0)
        self._buffer_t0 = frame.t0

    def _fill_gap(self, frame: Frame) -> None:
        self.counters.gaps += 1
        self.counters.missing_frames += frame.seq - (self._next_seq or 0)
        buffer_end = self._buffer_t0 + self._buffer.size / self._rate
        missing = int(round((frame.t0 - buffer_end) * self._rate))
        if missing > MAX_GAP_S * self._rate or missing < 0:
            self._restart(frame)
        elif missing:
            self._buffer = np.concatenate([self._buffer, np.full(missing, np.nan)])

    def _cut(self) -> list[Window]:
        n_window = int(round(self.window_s * self._rate))
        n_hop = max(1, int(round(self.hop_s * self._rate)))
        windows = []
        while self._buffer.size >= n_window:
            windows.append(Window(self._buffer[:n_window].copy(), self._buffer_t0, self._rate))
            self._buffer = self._buffer[n_hop:]
            self._buffer_t0 += n_hop / self._rate
        self.counters.windows += len(windows)
        return windows
