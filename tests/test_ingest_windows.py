"""Ingest's window buffer after a long gap: the same windows as always, and the buffer back to its size."""

from __future__ import annotations

import numpy as np

from agent.ingest.windowing import StreamWindower

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
