"""Vibration encoder: ISO 10816/20816 severity, shaft-order faults and bearing envelope analysis.

`make_encoder("vibration", sample_rate, rpm=..., bearing=..., machine_class=...)` builds one;
the token vocabulary is `vib-3` (see vocab.py and docs/adapters/vibration.md).
"""

from __future__ import annotations

from adapters import ENCODERS
from base.bearing import SKF_6203, SKF_6205, BearingGeometry, DefectOrders, bearing_from
from adapters.vibration.encoder import VibrationConfig, VibrationEncoder, VibrationSpectra, encode_vibration, factory

if "vibration" not in ENCODERS:
    ENCODERS.register("vibration", factory, aliases=("vib", "accel", "accelerometer", "acceleration"))

__all__ = [
    "SKF_6203",
    "SKF_6205",
    "BearingGeometry",
    "DefectOrders",
    "VibrationConfig",
    "VibrationEncoder",
    "VibrationSpectra",
    "bearing_from",
    "encode_vibration",
    "factory",
]
