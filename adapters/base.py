"""The encoder protocol: a window of raw signal in, a few tokens out.

Every modality (ECG, vibration, traffic, any scalar) implements `Encoder`.
Encoders are pure numpy/scipy: no I/O, no LLM, no clock. Quality problems of a
window (NaN, gaps, flat line, saturation, too few samples) become tokens and a
quality score, never exceptions: a sensor glitch must not stop a hub.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


class Severity(enum.IntEnum):
    """How urgently an event wants attention; ordered so max() picks the worst."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(slots=True, frozen=True)
class Event:
    """Something an encoder noticed in a window, with the numbers behind it."""

    kind: str  # e.g. "tachycardia", "bearing_outer_race", "incident"
    severity: Severity
    t: float  # seconds since the epoch (t0 of the window plus offset)
    evidence: dict[str, float | int | str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a prompt or a log: kind, severity and evidence."""
        facts = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        return f"{self.kind} ({self.severity.name.lower()}){': ' + facts if facts else ''}"


@dataclass(slots=True)
class TokenizedWindow:
    """What an encoder returns for one window.

    tokens:    symbolic tokens from the encoder's versioned vocabulary, e.g. `<ecg:hr:72>`.
    codes:     int32 array of quantized ids (the same information, for models and storage).
    embedding: float32 array of the encoder's fixed `embedding_dim`, for similarity search.
    events:    anomalies found in the window, each with a severity.
    summary:   one line for the LLM prompt, within the encoder's stated token budget.
    quality:   0..1 signal-quality index of the window (1 = clean).
    """

    modality: str
    vocab_version: str
    t0: float
    duration_s: float
    tokens: list[str]
    codes: np.ndarray
    embedding: np.ndarray
    events: list[Event]
    summary: str
    quality: float
    features: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Encoder(Protocol):
    """Maps a window of samples at `sample_rate` Hz to a `TokenizedWindow`."""

    name: str
    vocab_version: str
    sample_rate: float
    window_s: float
    embedding_dim: int

    def encode(self, samples: np.ndarray, t0: float) -> TokenizedWindow:
        """Encode one window; `samples` is 1-D (or 2-D channels x samples where the modality allows)."""
        ...

    def reset(self) -> None:
        """Forget any state carried between windows (baselines, last beat)."""
        ...

    # An encoder may also set `incremental = True`: it learns baselines from the stream, so
    # callers feed it each sample once (only the new part of overlapping windows).


def _fmt(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
