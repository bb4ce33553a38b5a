"""Per-stream windowing: frames in, overlapping fixed-length windows out.

Sequence numbers tell what the network did: a jump is a gap (filled with NaN so
the encoder sees it and emits a quality token); a repeat is a duplicate (QoS 1
redelivery) and a late frame whose slot was already filled is out of order; both
are dropped and counted. A big step back with a later timestamp is a device
reboot and restarts the stream. Memory is bounded: the buffer never holds more
than one window plus one frame, per channel.

Frames are converted into the window buffer a hop at a time, not one by one: ingest keeps a
frame's raw view over its (immutable) payload until the window it completes is due, then casts
and scales all of them in one numpy call each. Per frame that leaves a list append, where it
was three numpy calls and 10 kB written while paho's own work keeps the caches cold.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from base.wire import Frame

MAX_GAP_S = 30.0  # a longer silence restarts the stream instead of filling it with NaN
REORDER_SPAN = 1024  # a step back of more frames than this is a reboot, not a late frame
MAX_WINDOW_SAMPLES = 1 << 21  # per stream, all channels: a window is cut shorter rather than take more (16 MB)
LATE_MEMORY = 256  # how many missing sequence numbers are remembered to tell late from duplicate


@dataclass(slots=True)
class Window:
    """A window ready to encode: (n,) for one channel, (channels, n) for more."""

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
    out_of_order: int = 0
    restarts: int = 0


class StreamWindower:
    """Cuts one stream into windows of `window_s` every `hop_s`.

    copy=False hands out windows as read-only views into the buffer, valid until the next
    push(): no allocation per window, for consumers that encode a window at once (ingest does).
    """

    def __init__(self, window_s: float, hop_s: float, *, copy: bool = True, totals: object | None = None) -> None:
        if window_s <= 0 or hop_s <= 0 or hop_s > window_s:
            raise ValueError(f"need 0 < hop_s <= window_s, got window_s={window_s}, hop_s={hop_s}")
        self.window_s, self.hop_s, self.copy = window_s, hop_s, copy
        self.counters = StreamCounters()
        # Totals over many streams (ingest's counters): gaps, missing frames, duplicates and late
        # frames are added there too, where they happen, so the hot path keeps no bookkeeping.
        self._totals = totals
        self._rate = 0.0
        self._channels = 0
        self._next_seq: int | None = None
        # Preallocated and filled in place: concatenating per frame would copy a whole window
        # (800 kB at 12.8 kHz) for every 0.1 s frame. Unconsumed samples live in [_start, _n)
        # and are moved to the front only when the end is reached, about once per window.
        self._buf = np.empty((1, 0))
        self._width = 0  # self._buf.shape[1], read once per frame
        self._start = 0
        self._n = 0
        self._buffer_t0 = 0.0
        self._missing: deque[int] = deque(maxlen=LATE_MEMORY)
        self._frame_n = 0
        self._n_window = self._n_hop = 1
        # Taken but not yet in the buffer: raw (channels, m) views, all of one scale, in order.
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._scale: float | None = None

    @property
    def next_seq(self) -> int | None:
        """The sequence number expected next (None before the first frame)."""
        return self._next_seq

    def push(self, frame: Frame) -> list[Window]:
        """Add a frame; return the windows it completes (possibly none). Its samples are copied at once."""
        samples = frame.samples
        windows = self.push_samples(frame.seq, frame.t0, frame.rate, samples[None, :] if samples.ndim == 1 else samples, None)
        self._flush()  # the caller may reuse its array: only push_samples' callers promise not to
        return [] if windows is None else windows

    def push_samples(self, seq: int, t0: float, rate: float, raw: np.ndarray, scale: float | None) -> list[Window] | None:
        """Add a frame's samples, (channels, n), as raw x scale (scale None: as they are); the windows it completes.

        None when the frame is a duplicate or arrives too late to use (counted, nothing stored).
        `raw` is kept, unconverted, until a window is due, so it must not change afterwards (a view
        over the message's bytes, as ingest passes, never does); then every frame held is cast and
        scaled straight into the window buffer.
        """
        counters = self.counters
        counters.frames += 1
        channels, m = raw.shape
        # One comparison chain for the common case: the next frame of an unchanged stream.
        if seq != self._next_seq or rate != self._rate or channels != self._channels:
            if not self._irregular(seq, t0, rate, channels, m):
                return None
        if scale != self._scale:
            self._flush()  # the frames held so far are converted with their own scale
            self._scale = scale
        self._pending.append(raw)
        pending = self._pending_n = self._pending_n + m
        self._next_seq = seq + 1
        self._frame_n = m
        counters.samples += m
        if self._n - self._start + pending < self._n_window:
            return []
        self._flush()
        return self._cut()

    def _flush(self) -> None:
        """Convert the frames held into the buffer: one cast and one multiply for all of them."""
        k = self._pending_n
        if not k:
            return
        n = self._n
        if n + k > self._width:
            n = self._make_room(k)
        dest = self._buf[:, n : n + k]
        pending = self._pending
        if len(pending) == 1:
            dest[...] = pending[0]
        else:
            np.concatenate(pending, axis=1, out=dest)  # casts as it copies (int16 to float64 is exact)
        if self._scale is not None:
            dest *= self._scale
        self._n = n + k
        pending.clear()
        self._pending_n = 0

    def _irregular(self, seq: int, t0: float, rate: float, channels: int, m: int) -> bool:
        """A frame that is not simply the next one: whether to store it (gaps filled, restarts done); False for a duplicate or late frame."""
        next_seq = self._next_seq
        if next_seq is not None and seq < next_seq:
            if next_seq - seq <= REORDER_SPAN or t0 <= self._buffer_end():
                late = seq in self._missing
                if late:
                    self._missing.remove(seq)
                    self.counters.out_of_order += 1
                else:
                    self.counters.duplicates += 1
                if self._totals is not None:
                    if late:
                        self._totals.out_of_order += 1
                    else:
                        self._totals.duplicates += 1
                return False
            self._restart(t0, rate, channels)  # the device rebooted and counts from 0 again
        elif next_seq is None or rate != self._rate or channels != self._channels:
            self._restart(t0, rate, channels)
        else:
            self._fill_gap(seq, t0, m)  # seq > next_seq
        return True

    def _make_room(self, m: int) -> int:
        held = self._n - self._start
        # Two windows and a frame; more only while a gap's NaN and the frame after it must fit at
        # once (windows are views), and back to that size at the next move, so a stream that had
        # a long gap does not keep a buffer several windows long.
        size = max(2 * self._n_window + self._frame_n, held + m)
        target = self._buf if size <= self._width <= size + (size >> 2) else np.empty((self._channels, size))
        target[:, :held] = self._buf[:, self._start : self._n]  # numpy buffers overlapping ranges
        self._buf, self._width, self._start, self._n = target, size, 0, held
        return held

    def _append_nan(self, missing: int, then: int) -> None:
        """`missing` NaN samples, in place, with room for the `then` samples of the frame after them."""
        self._flush()  # the samples before the gap go first
        n = self._n
        if n + missing + then > self._width:
            n = self._make_room(missing + then)
        self._buf[:, n : n + missing] = np.nan
        self._n = n + missing

    def _buffer_end(self) -> float:
        return self._buffer_t0 + (self._n - self._start + self._pending_n) / self._rate if self._rate else 0.0

    def _restart(self, t0: float, rate: float, channels: int) -> None:
        if self._next_seq is not None:
            self.counters.restarts += 1
        self._rate, self._channels = rate, channels
        # A slow stream (one reading a minute) still gets windows: at least one sample each.
        self._n_window = min(MAX_WINDOW_SAMPLES // channels, max(1, int(round(self.window_s * self._rate))))
        self._n_hop = min(self._n_window, max(1, int(round(self.hop_s * self._rate))))
        self._buf = np.empty((channels, 0))
        self._width = self._start = self._n = 0
        self._pending.clear()  # like the buffer's, a restarted stream's unfinished window is dropped
        self._pending_n = 0
        self._buffer_t0 = t0
        self._missing.clear()

    def _fill_gap(self, seq: int, t0: float, m: int) -> None:
        self.counters.gaps += 1
        first_missing = self._next_seq or 0
        self.counters.missing_frames += seq - first_missing
        if self._totals is not None:
            self._totals.gaps += 1
            self._totals.missing_frames += seq - first_missing
        self._missing.extend(range(first_missing, min(seq, first_missing + LATE_MEMORY)))
        # Count missing samples from sequence numbers, not timestamps: device clocks drift.
        missing = (seq - first_missing) * self._frame_n
        if missing > MAX_GAP_S * self._rate or missing * self._channels > MAX_WINDOW_SAMPLES:
            self._restart(t0, self._rate, self._channels)
            self.counters.restarts -= 1  # a long gap, already counted as a gap
        elif missing:
            self._append_nan(missing, m)

    def _cut(self) -> list[Window]:
        n_window, n_hop = self._n_window, self._n_hop
        if self._n - self._start < n_window:
            return []
        windows = []
        while self._n - self._start >= n_window:
            chunk = self._buf[:, self._start : self._start + n_window]
            if self.copy:
                chunk = chunk.copy()
            else:
                chunk = chunk.view()
                chunk.flags.writeable = False  # a view into the buffer: the consumer must not write
            windows.append(Window(chunk[0] if self._channels == 1 else chunk, self._buffer_t0, self._rate))
            self._start += n_hop
            self._buffer_t0 += n_hop / self._rate
        self.counters.windows += len(windows)
        return windows
