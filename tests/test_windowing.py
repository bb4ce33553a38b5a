"""Windowing by sequence number: overlap, gaps filled with NaN, duplicates dropped and counted."""

from __future__ import annotations

import numpy as np

from base.wire import Frame
from agent.ingest.windowing import StreamWindower


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


def test_late_frame_is_out_of_order_and_a_repeat_is_a_duplicate() -> None:
    w = StreamWindower(window_s=1.0, hop_s=1.0)
    fs = frames(6)
    for f in [fs[0], fs[1], fs[3], fs[2], fs[3], fs[4]]:
        w.push(f)
    c = w.counters
    assert (c.gaps, c.missing_frames, c.out_of_order, c.duplicates) == (1, 1, 1, 1)


def test_device_reboot_restarts_the_stream() -> None:
    w = StreamWindower(window_s=1.0, hop_s=1.0)
    for f in frames(2000, size=1, rate=1000.0):
        w.push(f)
    rebooted = Frame(seq=0, t0=1000.0 + 5000, rate=1000.0, samples=np.zeros(50))
    w.push(rebooted)
    assert w.counters.restarts == 1 and w.next_seq == 1 and w.counters.duplicates == 0


def test_multichannel_windows_keep_channels_and_slow_streams_still_window() -> None:
    w = StreamWindower(window_s=4.0, hop_s=2.0)
    out = []
    for i in range(4):
        out += w.push(Frame(seq=i, t0=1000.0 + i * 2, rate=1.0, samples=np.array([[i, i + 0.5], [10 * i, 10 * i + 5]], dtype=float)))
    assert out[0].samples.shape == (2, 4) and out[1].samples[0, 0] == 1.0
    slow = StreamWindower(window_s=8.0, hop_s=2.0)
    assert len(slow.push(Frame(seq=0, t0=0.0, rate=1 / 60, samples=np.array([21.5])))) == 1


def test_clock_drift_does_not_break_a_gap_fill() -> None:
    w = StreamWindower(window_s=10.0, hop_s=10.0)
    fs = frames(6)
    drifted = [Frame(f.seq, f.t0 * (1 - 50e-6), f.rate, f.samples) for f in fs]  # a slow device clock
    out = [win for f in drifted[:2] + drifted[3:] for win in w.push(f)]
    assert w.counters.restarts == 0 and w.counters.missing_frames == 1 and not out


def test_views_match_copies_and_are_read_only() -> None:
    copies, views = StreamWindower(2.0, 0.5), StreamWindower(2.0, 0.5, copy=False)
    for f in frames(40):
        expected = copies.push(f)
        got = views.push(f)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert np.array_equal(e.samples, g.samples) and e.t0 == g.t0 and not g.samples.flags.writeable
