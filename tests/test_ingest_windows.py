"""Ingest's window buffer after a long gap: the same windows as always, and the buffer back to its size."""

from __future__ import annotations

import numpy as np

from agent.ingest.windowing import StreamWindower
from base.wire import Frame

RATE, SIZE = 100.0, 10  # 0.1 s frames


def push(w: StreamWindower, seq: int) -> list:
    samples = np.arange(seq * SIZE, (seq + 1) * SIZE, dtype=np.int16)[None, :]
    out = w.push_samples(seq, 1000.0 + seq * SIZE / RATE, RATE, samples, 0.5)
    return [] if out is None else [(win.t0, win.samples.copy()) for win in out]


def test_long_gap_windows_and_buffer_size() -> None:
    w = StreamWindower(8.0, 2.0, copy=False)
    windows = [win for seq in range(200) for win in push(w, seq)]
    standard = w._buf.shape[1]
    assert standard == 2 * 800 + SIZE
    gap = push(w, 200 + 250)  # 25 s lost: the NaN and the frame after it must fit at once
    assert w._buf.shape[1] > standard
    assert w.counters.gaps == 1 and w.counters.missing_frames == 250
    # Every window of the gap is there, NaN where frames were lost, real samples where they were not.
    assert len(gap) == 12 and all(b[0] - a[0] == 2.0 for a, b in zip(gap, gap[1:]))
    t_first_lost = 1000.0 + 200 * SIZE / RATE
    for t0, samples in gap:
        times = t0 + np.arange(samples.size) / RATE
        lost = (times >= t_first_lost - 1e-9) & (times < t_first_lost + 25.0 - 1e-9)
        assert np.isnan(samples[lost]).all() and not np.isnan(samples[~lost]).any()
    # At the buffer's next move it returns to two windows and a frame.
    after = [win for seq in range(451, 700) for win in push(w, seq)]
    assert w._buf.shape[1] == standard
    assert len(windows) + len(gap) + len(after) == w.counters.windows
    assert np.array_equal(after[-1][1], 0.5 * np.arange(700 * SIZE - 800, 700 * SIZE))


def test_frames_held_before_conversion_keep_their_own_scale_and_gaps() -> None:
    """Frames wait, unconverted, for their window: a scale change and a gap among them land exactly."""
    w = StreamWindower(1.0, 0.5, copy=False)  # 100-sample windows every 50 samples
    scale_of = lambda seq: 0.5 if (seq // 7) % 2 == 0 else 0.25  # noqa: E731
    lost = {15, 16, 31}
    got = []
    for seq in range(60):
        if seq in lost:
            continue
        samples = np.arange(seq * SIZE, (seq + 1) * SIZE, dtype=np.int16)[None, :]
        out = w.push_samples(seq, 1000.0 + seq * SIZE / RATE, RATE, samples, scale_of(seq))
        got += [(win.t0, win.samples.copy()) for win in out]
    expected = np.concatenate([np.full(SIZE, np.nan) if seq in lost else scale_of(seq) * np.arange(seq * SIZE, (seq + 1) * SIZE)
                               for seq in range(60)])
    assert len(got) == (60 * SIZE - 100) // 50 + 1 == w.counters.windows
    for k, (t0, samples) in enumerate(got):
        assert t0 == 1000.0 + k * 0.5
        assert np.array_equal(samples, expected[50 * k : 50 * k + 100], equal_nan=True)
    assert w.counters.gaps == 2 and w.counters.missing_frames == 3


def test_push_copies_the_callers_samples_at_once() -> None:
    """push() takes a Frame whose array the caller may reuse: its samples are in the buffer before it returns."""
    w = StreamWindower(1.0, 1.0)
    reused = np.empty(SIZE)
    windows = []
    for seq in range(10):
        reused[:] = seq
        windows += w.push(Frame(seq, 1000.0 + seq * SIZE / RATE, RATE, reused))
    assert len(windows) == 1
    assert np.array_equal(windows[0].samples, np.repeat(np.arange(10.0), SIZE))
