"""Property-based fuzzing of both payload formats through a real broker into a running ingest.

Whatever arrives, ingest keeps going; every message it refuses lands on the dead-letter topic
with the reason the wire format gives, and valid frames are still accepted afterwards.
"""

from __future__ import annotations

import itertools
import json
import queue
import struct
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.ingest.broker import EmbeddedBroker
from agent.ingest.ingestor import Ingestor
from base.mqtt import close, connect
from base.wire import HEADER, WireError, decode_frame, encode_binary, encode_json
from tests.ingest_support import settings_for, wait_until

pytestmark = pytest.mark.broker

MAX_FRAME_BYTES = 4096

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
json_frames = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 1, 1, 2, "1", None]), "seq": st.one_of(st.integers(-3, 2**33), st.text(max_size=3)),
     "t0": st.one_of(st.floats(), st.integers()), "rate": st.one_of(st.floats(), st.integers(-2, 1000)),
     "samples": st.one_of(st.lists(st.one_of(st.floats(), st.none(), st.integers()), max_size=6),
                          st.lists(st.lists(st.floats(-10, 10), min_size=1, max_size=3), max_size=3), json_values)},
    optional={"ch": st.lists(st.text(max_size=4), max_size=3)},
).map(lambda d: json.dumps(d).encode())


@st.composite
def binary_frames(draw: st.DrawFn) -> bytes:
    """A binary frame with header fields drawn at random, then perhaps cut short, padded or corrupted."""
    n = draw(st.integers(0, 40))
    channels = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([1, 2, 3, 0, 9]))
    header = HEADER.pack(b"TS", draw(st.sampled_from([1, 1, 2])), dtype, channels, 0, 0, draw(st.integers(0, 2**32 - 1)), n,
                         draw(st.floats(width=64)), draw(st.floats(width=32)), draw(st.floats(width=32)))
    size = {1: 2, 2: 4, 3: 8}.get(dtype, 2) * n * max(channels, 1)
    body = draw(st.binary(min_size=size, max_size=size)) if size <= 512 else b"\0" * size
    payload = header + body
    cut = draw(st.sampled_from(["none", "none", "truncate", "extend", "flip"]))
    if cut == "truncate":
        payload = payload[: draw(st.integers(0, len(payload)))]
    elif cut == "extend":
        payload += draw(st.binary(min_size=1, max_size=16))
    elif cut == "flip" and payload:
        i = draw(st.integers(0, len(payload) - 1))
        payload = payload[:i] + bytes([payload[i] ^ 0xFF]) + payload[i + 1:]
    return payload


valid = st.builds(lambda seq, n: encode_binary(seq, 1.7e9, 100.0, np.arange(n, dtype=float)), st.integers(0, 50), st.integers(1, 20)) | \
    st.builds(lambda seq: encode_json(seq, 1.7e9, 1.0, np.array([1.0, float("nan")])), st.integers(0, 50))
payloads = st.one_of(json_frames, binary_frames(), st.binary(max_size=64), valid,
                     st.text(max_size=20).map(str.encode), st.just(b"\xff" * (MAX_FRAME_BYTES + 1)))
topics = st.sampled_from(["ok", "ok", "ok", "ok", "unknown_device", "bad_topic"])


def expected_reason(kind: str, payload: bytes) -> str | None:
    """What the wire format says about a message: the dead-letter reason, or None for a valid frame."""
    if kind == "bad_topic":
        return "bad_topic"
    if kind == "unknown_device":
        return "unknown_device"
    if len(payload) > MAX_FRAME_BYTES:
        return "oversized"
    try:
        decode_frame(payload)
    except WireError as err:
        return err.reason.value
    return None


def test_fuzzed_payloads_never_stop_ingest_and_all_bad_ones_are_dead_lettered(broker: EmbeddedBroker) -> None:
    cfg = settings_for(broker.url, devices=["dev-*"], max_frame_bytes=MAX_FRAME_BYTES)
    ingestor = Ingestor(cfg).start()
    letters: queue.Queue = queue.Queue()
    watcher = connect(cfg.mqtt, "dead-letter-watcher")
    watcher.on_message = lambda _c, _u, msg: letters.put(json.loads(msg.payload))
    watcher.subscribe(ingestor.dead_letters_topic, qos=1)
    publisher = connect(cfg.mqtt, "fuzz-publisher")
    examples = itertools.count()
    wait_until(lambda: False, 0.3)  # let the subscriptions settle

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(topics, payloads), min_size=1, max_size=12))
    def check(messages: list[tuple[str, bytes]]) -> None:
        k = next(examples)
        received_before = ingestor.counters.received
        expected = Counter()
        for i, (kind, payload) in enumerate(messages):
            topic = {"ok": f"tessera/fuzz/dev-{k}/data/s{i % 3}", "unknown_device": f"tessera/fuzz/intruder-{k}/data/s",
                     "bad_topic": f"tessera/fuzz/dev-{k}/data/s/extra"}[kind]
            publisher.publish(topic, payload, qos=1).wait_for_publish(5)
            reason = expected_reason(kind, payload)
            if reason:
                expected[reason] += 1
        assert wait_until(lambda: ingestor.counters.received - received_before == len(messages), 10)
        got = Counter()
        assert wait_until(lambda: _drain(letters, got) >= sum(expected.values()), 10)
        assert got == expected
        assert ingestor.counters.internal_errors == 0

    try:
        check()
        accepted = ingestor.counters.accepted
        publisher.publish("tessera/fuzz/dev-final/data/ecg", encode_binary(0, 1.7e9, 250.0, np.ones(50)), qos=1)
        assert wait_until(lambda: ingestor.counters.accepted == accepted + 1, 5)
        c = ingestor.counters
        assert c.received == c.accepted + c.dead_lettered + c.duplicates + c.out_of_order
        assert c.dead_lettered > 20 and c.accepted >= 1  # hypothesis decides the mix; the final valid frame is one
    finally:
        ingestor.stop()
        close(watcher)
        close(publisher)


def _drain(letters: queue.Queue, got: Counter) -> int:
    while not letters.empty():
        letter = letters.get()
        got[letter["reason"]] += 1
        assert letter["topic"] and "payload_b64" in letter
    return sum(got.values())


def test_dead_letter_carries_reason_topic_and_payload_head(broker: EmbeddedBroker) -> None:
    cfg = settings_for(broker.url)
    ingestor = Ingestor(cfg).start()
    letters: queue.Queue = queue.Queue()
    watcher = connect(cfg.mqtt, "dl-watcher")
    watcher.on_message = lambda _c, _u, msg: letters.put(json.loads(msg.payload))
    watcher.subscribe(ingestor.dead_letters_topic, qos=1)
    wait_until(lambda: False, 0.3)
    lying = HEADER.pack(b"TS", 1, 2, 1, 0, 0, 5, 1000, 1.7e9, 100.0, 1.0) + struct.pack("<4f", 1, 2, 3, 4)
    pub = connect(cfg.mqtt, "dl-pub")
    pub.publish("tessera/site/dev-1/data/accel", lying, qos=1)
    pub.publish("tessera/site/dev-1/data/temp", b'{"v": 1, "seq": "x"}', qos=1)
    try:
        first, second = letters.get(timeout=5), letters.get(timeout=5)
        assert first["reason"] == "length_mismatch" and first["topic"] == "tessera/site/dev-1/data/accel"
        assert first["size"] == len(lying) and "4032" in first["detail"]
        assert second["reason"] == "invalid_field" and "seq" in second["detail"]
        assert ingestor.counters.rejected == {"length_mismatch": 1, "invalid_field": 1}
    finally:
        ingestor.stop()
        close(watcher)
        close(pub)
