"""The wire format: binary and JSON frames round-trip; anything else is a WireError with a reason, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.wire import HEADER, WireError, WireErrorReason, decode_frame, encode_binary, encode_json, parse_data_topic


@pytest.mark.parametrize("dtype", ["<i2", "<f4", "<f8"])
def test_binary_round_trip(dtype: str) -> None:
    x = np.sin(np.linspace(0, 20, 500)) * 2.5
    frame = decode_frame(encode_binary(41, 1_700_000_000.25, 360.0, x, dtype, scale=0.001))
    assert (frame.seq, frame.t0, frame.rate, frame.n_samples) == (41, 1_700_000_000.25, 360.0, 500)
    tolerance = 0.0005 if dtype == "<i2" else 1e-6
    assert np.max(np.abs(frame.samples - x)) <= tolerance


def test_multichannel_and_json_round_trip() -> None:
    x = np.arange(12, dtype=float).reshape(3, 4)
    assert decode_frame(encode_binary(1, 0.0, 100.0, x)).samples.shape == (3, 4)
    frame = decode_frame(encode_json(7, 5.0, 1 / 30, np.array([1.5, np.nan, 3.0])))
    assert frame.seq == 7 and np.isnan(frame.samples[1]) and frame.samples[2] == 3.0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"TS\x01", WireErrorReason.TOO_SHORT),
        (encode_binary(1, 0.0, 10.0, np.ones(8))[:-2], WireErrorReason.LENGTH_MISMATCH),
        (encode_binary(1, 0.0, 10.0, np.ones(8)) + b"xx", WireErrorReason.LENGTH_MISMATCH),
        (b"TS\x09" + encode_binary(1, 0.0, 10.0, np.ones(8))[3:], WireErrorReason.BAD_VERSION),
        (b"\xff\xfe\x00garbage", WireErrorReason.INVALID_UTF8),
        (b"{not json", WireErrorReason.BAD_JSON),
        (json.dumps({"v": 1, "seq": -1, "t0": 0, "rate": 1, "samples": [1]}).encode(), WireErrorReason.INVALID_FIELD),
        (json.dumps({"v": 1, "seq": 1, "t0": 0, "rate": 0, "samples": [1]}).encode(), WireErrorReason.INVALID_FIELD),
        (json.dumps({"v": 1, "seq": 1, "t0": 0, "rate": 1, "samples": ["x"]}).encode(), WireErrorReason.INVALID_FIELD),
        (b"[1, 2, 3]", WireErrorReason.INVALID_FIELD),
    ],
)
def test_bad_frames_are_rejected_with_a_reason(payload: bytes, reason: WireErrorReason) -> None:
    with pytest.raises(WireError) as caught:
        decode_frame(payload)
    assert caught.value.reason is reason


def test_a_lying_sample_count_is_caught_before_allocation() -> None:
    header = HEADER.pack(b"TS", 1, 2, 1, 0, 0, 1, 2**31, 0.0, 100.0, 1.0)
    with pytest.raises(WireError) as caught:
        decode_frame(header + b"\x00" * 16)
    assert caught.value.reason is WireErrorReason.TOO_LARGE


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_never_crash_the_decoder(payload: bytes) -> None:
    try:
        frame = decode_frame(payload)
    except WireError as err:
        assert isinstance(err.reason, WireErrorReason)
    else:
        assert frame.n_samples >= 1 and frame.rate > 0


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=HEADER.size, max_size=HEADER.size + 64).map(lambda b: b"TS\x01" + b[3:]))
def test_binary_headers_with_random_fields_never_crash(payload: bytes) -> None:
    try:
        decode_frame(payload)
    except WireError:
        pass


def test_topics() -> None:
    topic = parse_data_topic("tessera/home/ecg-1/data/ecg", "tessera")
    assert (topic.site, topic.device, topic.stream) == ("home", "ecg-1", "ecg")
    for bad in ["tessera/home/ecg-1/ecg", "other/home/x/data/ecg", "tessera/home//data/ecg"]:
        with pytest.raises(WireError):
            parse_data_topic(bad, "tessera")


def test_multichannel_json_frames_and_their_checks() -> None:
    frame = decode_frame(encode_json(3, 1.7e9, 1 / 30, np.array([[12.0, 14.0], [98.5, 97.0], [7.5, np.nan]]), ["count", "speed", "occ"]))
    assert frame.samples.shape == (3, 2) and np.isnan(frame.samples[2, 1])
    for bad in [
        {"v": 1, "seq": 1, "t0": 0, "rate": 1, "samples": [[1.0], [1.0, 2.0]]},
        {"v": 1, "seq": 1, "t0": 0, "rate": 1, "samples": [[1.0, 2.0]], "ch": ["a", "b"]},
        {"v": 1, "seq": 1, "t0": 0, "rate": 1, "samples": [1.0, [2.0]]},
        {"v": 1, "seq": 1, "t0": 0, "rate": 1, "samples": [[]]},
    ]:
        with pytest.raises(WireError) as caught:
            decode_frame(json.dumps(bad).encode())
        assert caught.value.reason is WireErrorReason.INVALID_FIELD
    with pytest.raises(WireError):
        decode_frame(b'{"v": 1, "seq": 1, "t0": 0, "rate": 1, "samples": [1e999]}')


def test_rates_above_a_megahertz_are_refused_in_both_formats() -> None:
    with pytest.raises(WireError) as caught:
        decode_frame(encode_binary(0, 0.0, 2e6, np.ones(4)))
    assert caught.value.reason is WireErrorReason.BAD_HEADER
    with pytest.raises(WireError) as caught:
        decode_frame(json.dumps({"v": 1, "seq": 0, "t0": 0, "rate": 1e16, "samples": [1.0]}).encode())
    assert caught.value.reason is WireErrorReason.INVALID_FIELD
