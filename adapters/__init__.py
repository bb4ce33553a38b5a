"""Sensor-to-token encoders. `make_encoder(modality, sample_rate)` builds the one a stream declares.

Each modality registers a factory `(sample_rate: float, **options) -> Encoder` in
`ENCODERS`; modules register themselves on import, listed in `_MODALITY_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from adapters.base import Encoder, Event, Severity, TokenizedWindow
from base.registry import Registry, UnknownNameError

EncoderFactory = Callable[..., Encoder]
ENCODERS: Registry[EncoderFactory] = Registry("encoder")

# Modules that register an encoder factory when imported.
_MODALITY_MODULES = ("adapters.ecg", "adapters.traffic", "adapters.generic", "adapters.vibration")


def _load_all() -> None:
    for module in _MODALITY_MODULES:
        importlib.import_module(module)


def make_encoder(modality: str, sample_rate: float, **options: Any) -> Encoder:
    """A fresh encoder for a stream of `modality` sampled at `sample_rate` Hz."""
    _load_all()
    return ENCODERS.get(modality)(sample_rate=sample_rate, **options)


def modalities() -> list[str]:
    """Names of all registered modalities."""
    _load_all()
    return ENCODERS.names()


__all__ = ["ENCODERS", "Encoder", "Event", "Severity", "TokenizedWindow", "UnknownNameError", "make_encoder", "modalities"]
