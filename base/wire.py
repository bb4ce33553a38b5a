"""Tessera's wire format, version 1: topics, and sample frames as compact binary or JSON.

Topics (see docs/wire.md):
    <prefix>/<site>/<device>/data/<stream>   sample frames, QoS 1
    <prefix>/<site>/<device>/status          retained "online"/"offline" (last will)
    <prefix>/<site>/<device>/meta            retained JSON: kind, streams, rates, geometry
    <prefix>/<site>/<device>/state           retained JSON state of a smart-home device
    <prefix>/<site>/<device>/set             commands to a smart-home device
    <prefix>/<site>/<device>/alert           alerts Tessera raises about the device
    <prefix>/_deadletter                     frames Tessera refused, with the reason

Binary frame: a 32-byte little-endian header, then samples (channel-major).
    magic "TS" | version u8 | dtype u8 | channels u8 | flags u8 | reserved u16 |
    seq u32 | n_samples u32 (per channel) | t0 f64 (epoch s) | rate f32 (Hz) | scale f32
Physical value = raw * scale (scale is 1.0 for float dtypes).
JSON frame (low-rate streams): {"v": 1, "seq": 7, "t0": 1700000000.0, "rate": 1.0, "samples": [...]};
several channels as "samples": [[...], [...]] (channel-major, equal lengths) with optional "ch" names.
"""

from __future__ import annotations

import enum
import json
import math
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from base.errors import first_problem

WIRE_VERSION = 1
MAGIC = b"TS"
HEADER = struct.Struct("<2sBBBBHIIdff")
HEADER_SIZE = HEADER.size  # 32
MAX_SAMPLES = 1 << 20  # per frame, all channels: bounds memory for one message
MAX_CHANNELS = 16
MAX_RATE_HZ = 1_000_000.0  # above any sensor Tessera serves; bounds what a window can cost
DTYPES: dict[int, np.dtype] = {1: np.dtype("<i2"), 2: np.dtype("<f4"), 3: np.dtype("<f8")}
DTYPE_CODES = {dt: code for code, dt in DTYPES.items()}


class WireErrorReason(enum.Enum):
    """Why a frame was rejected; each rejected frame goes to the dead-letter topic with its reason."""

    TOO_SHORT = "too_short"
    BAD_MAGIC = "bad_magic"
    BAD_VERSION = "bad_version"
    BAD_DTYPE = "bad_dtype"
    BAD_HEADER = "bad_header"
    LENGTH_MISMATCH = "length_mismatch"
    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    BAD_JSON = "bad_json"
    INVALID_FIELD = "invalid_field"
    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"  # payload bytes above ingest.max_frame_bytes, refused before decoding
    UNKNOWN_DEVICE = "unknown_device"  # device id not allowed by ingest.devices
    TOO_MANY_STREAMS = "too_many_streams"  # ingest.max_streams reached: memory bound


class WireError(ValueError):
    """A frame or topic that does not follow the wire format."""

    def __init__(self, reason: WireErrorReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Frame:
    """Decoded samples: shape (n_samples,) for one channel, (channels, n_samples) for more."""

    seq: int
    t0: float
    rate: float
    samples: np.ndarray

    @property
    def n_samples(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[-1])

    @property
    def duration_s(self) -> float:
        """Time covered by the frame."""
        return self.n_samples / self.rate


class JsonFrame(BaseModel):
    """The JSON form of a frame, for low-rate streams."""

    v: Literal[1]
    seq: int = Field(ge=0, lt=2**32)
    t0: float = Field(allow_inf_nan=False)
    rate: float = Field(gt=0, le=MAX_RATE_HZ, allow_inf_nan=False)
    samples: list[float | None] | list[list[float | None]] = Field(min_length=1, max_length=MAX_SAMPLES)
    ch: list[str] | None = Field(None, max_length=MAX_CHANNELS)

    @model_validator(mode="after")
    def _rectangular(self) -> JsonFrame:
        rows = self.samples
        if rows and isinstance(rows[0], list):
            if len(rows) > MAX_CHANNELS or len({len(r) for r in rows}) != 1 or not rows[0]:
                raise ValueError(f"channels must be 1..{MAX_CHANNELS} non-empty rows of equal length")
            if sum(len(r) for r in rows) > MAX_SAMPLES:
                raise ValueError(f"more than {MAX_SAMPLES} samples")
        if self.ch is not None and len(self.ch) != (len(rows) if rows and isinstance(rows[0], list) else 1):
            raise ValueError("ch must name every channel")
        return self


def encode_binary(seq: int, t0: float, rate: float, samples: np.ndarray, dtype: str = "<f4", scale: float = 1.0) -> bytes:
    """A binary frame; int16 samples are stored as round(value / scale)."""
    arr = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    dt = np.dtype(dtype)
    if dt not in DTYPE_CODES:
        raise ValueError(f"dtype {dtype} not in the wire format; use <i2, <f4 or <f8")
    raw = np.clip(np.round(arr / scale), -32768, 32767).astype(dt) if dt.kind == "i" else arr.astype(dt)
    header = HEADER.pack(MAGIC, WIRE_VERSION, DTYPE_CODES[dt], arr.shape[0], 0, 0, seq & 0xFFFFFFFF, arr.shape[1], t0, rate, scale if dt.kind == "i" else 1.0)
    return header + raw.tobytes()


def encode_json(seq: int, t0: float, rate: float, samples: np.ndarray, channels: list[str] | None = None) -> bytes:
    """A JSON frame (NaN becomes null); a 2-D array (channels, n) becomes rows, named by `channels`."""
    arr = np.asarray(samples, dtype=np.float64)
    rows = [[None if not math.isfinite(v) else float(v) for v in row] for row in np.atleast_2d(arr)]
    body: dict[str, object] = {"v": WIRE_VERSION, "seq": seq, "t0": t0, "rate": rate, "samples": rows if arr.ndim == 2 else rows[0]}
    if channels:
        body["ch"] = list(channels)
    return json.dumps(body).encode()


def decode_frame(payload: bytes) -> Frame:
    """Decode a binary or JSON frame; raises WireError with the reason."""
    if payload.startswith(MAGIC):
        return _decode_binary(payload)
    return _decode_json(payload)


_INF = math.inf


def read_binary(payload: bytes) -> tuple[int, float, float, np.ndarray, float | None]:
    """Check a binary frame and return (seq, t0, rate, raw, scale) without converting a sample.

    `raw` is a read-only (channels, n) view of the payload in its wire dtype; physical values are
    raw x scale for int16 (scale None for float dtypes: raw is physical). Ingest scales straight
    into its window buffer, so a 12.8 kHz frame is converted once and never copied in between.
    Raises WireError with the reason.
    """
    # Chained comparisons instead of math.isfinite calls: this runs for every 12.8 kHz frame.
    size = len(payload)
    if size < HEADER_SIZE:
        raise WireError(WireErrorReason.TOO_SHORT, f"{size} bytes, header needs {HEADER.size}")
    _magic, version, dtype_code, channels, _flags, _res, seq, n, t0, rate, scale = HEADER.unpack_from(payload)
    if version != WIRE_VERSION:
        raise WireError(WireErrorReason.BAD_VERSION, f"version {version}, this Tessera reads {WIRE_VERSION}")
    dt = DTYPES.get(dtype_code)
    if dt is None:
        raise WireError(WireErrorReason.BAD_DTYPE, f"dtype code {dtype_code}")
    if not (1 <= channels <= MAX_CHANNELS and 0 < rate <= MAX_RATE_HZ and -_INF < t0 < _INF and -_INF < scale < _INF and scale != 0):
        raise WireError(WireErrorReason.BAD_HEADER, f"channels={channels} rate={rate} t0={t0} scale={scale}")
    if n == 0 or n * channels > MAX_SAMPLES:
        raise WireError(WireErrorReason.TOO_LARGE if n else WireErrorReason.BAD_HEADER, f"{n} samples x {channels} channels")
    if size != HEADER_SIZE + n * channels * dt.itemsize:
        raise WireError(WireErrorReason.LENGTH_MISMATCH, f"header says {HEADER_SIZE + n * channels * dt.itemsize} bytes, frame has {size}")
    # np.ndarray over the buffer: half the cost of np.frombuffer, and already shaped channel-major.
    return seq, t0, rate, np.ndarray((channels, n), dt, payload, HEADER_SIZE), scale if dtype_code == 1 else None


def _decode_binary(payload: bytes) -> Frame:
    seq, t0, rate, raw, scale = read_binary(payload)
    samples = raw.astype(np.float64) if scale is None else np.multiply(raw, scale, dtype=np.float64)
    return Frame(seq, t0, float(rate), samples[0] if samples.shape[0] == 1 else samples)


def _decode_json(payload: bytes) -> Frame:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WireError(WireErrorReason.INVALID_UTF8, str(err)) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise WireError(WireErrorReason.BAD_JSON, str(err)[:200]) from None
    try:
        frame = JsonFrame.model_validate(data)
    except ValidationError as err:
        where, problem = first_problem(err)
        raise WireError(WireErrorReason.INVALID_FIELD, f"{where or 'frame'}: {problem}") from None
    samples = np.array(frame.samples, dtype=np.float64)  # None becomes NaN
    if samples.ndim == 2 and samples.shape[0] == 1:
        samples = samples[0]
    if not np.isfinite(samples[~np.isnan(samples)]).all():
        raise WireError(WireErrorReason.INVALID_FIELD, "samples: infinite value")
    return Frame(seq=frame.seq, t0=frame.t0, rate=frame.rate, samples=samples)


@dataclass(slots=True, frozen=True)
class DataTopic:
    """The parts of a data topic."""

    site: str
    device: str
    stream: str


def device_topic(prefix: str, site: str, device: str, leaf: str) -> str:
    """A per-device topic: leaf is status, meta, state, set or alert."""
    return f"{prefix}/{site}/{device}/{leaf}"


def dead_letter_topic(prefix: str) -> str:
    """Where refused frames go, with their reason."""
    return f"{prefix}/_deadletter"


def data_topic(prefix: str, site: str, device: str, stream: str) -> str:
    """The topic a device publishes a stream's frames on."""
    return f"{prefix}/{site}/{device}/data/{stream}"


def parse_data_topic(topic: str, prefix: str) -> DataTopic:
    """Split `<prefix>/<site>/<device>/data/<stream>`; raises WireError otherwise."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != prefix or parts[3] != "data" or not all(parts):
        raise WireError(WireErrorReason.BAD_TOPIC, f"{topic!r} is not {prefix}/<site>/<device>/data/<stream>")
    return DataTopic(site=parts[1], device=parts[2], stream=parts[4])
