"""Windowing by sequence number: overlap, gaps filled with NaN, duplicates dropped and counted."""

from __future__ import annotations

import numpy as np

from agent.wire import Frame
from agent.windowing import StreamWindower


def frames(n: int, rate: float = 100.0, size: int = 50) -> list[Frame]:
    return [Frame(seq=i, t0=1000.0 + i * size / rate, rate=rate, samples=np.arange(i * size, (i + 1) * size, dtype=float)) for i in range(n)]


def test_overlapping_windows_are_contiguous() -> None:
    w = StreamWindower(window_s=2.0, hop_s=1.0)
    out = [win for f in frames(10) for win in w.push(f)]  # 5 s of data
    assert len(out) == 4
    assert out[0].samples[0] == 0 and out[1].samples[0] == 100 and out[0].samples.size == 200
    assert np.all(np.diff(out[0].samples) == 1)
    assert out[1].t0 == 1001.0 and w.counters.windows == 4


def test_gap_becomes_nan_and_is_counted() -> None:
    w = StreamWindower(window_s=2.0, hop_s=2.0)
    fs = frames(8)
    out = [win for f in fs[:3] + fs[5:] for win in w.push(f)]
    assert w.counters.gaps == 1 and w.counters.missing_frames == 2
    joined = np.concatenate([o.samples for o in out])
    assert np.isnan(joined[150:250]).all() and joined[250] == 250


def test_duplicates_and_out_of_order_frames_are_dropped() -> None:
    w = StreamWindower(window_s=1.0, hop_s=1.0)
    fs = frames(4)
    for f in [fs[0], fs[1], fs[1], fs[0], fs[2], fs[3]]:
        w.push(f)
    assert w.counters.duplicates == 2 and w.counters.samples == 200 and w.counters.windows == 2
