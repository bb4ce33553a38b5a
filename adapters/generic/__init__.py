"""Generic scalar encoder: Chronos-style tokens and a streaming anomaly detector for any sensor.

Registered as modality `generic`, with aliases for the usual scalar sensors.
"""

from __future__ import annotations

from adapters import ENCODERS
from adapters.generic.detector import AnomalyDetector, DetectorConfig
from adapters.generic.encoder import VOCAB_VERSION, GenericConfig, GenericEncoder, make_generic_encoder
from adapters.generic.tokenizer import MeanScaleTokenizer, TokenizerConfig

ENCODERS.register(
    "generic",
    make_generic_encoder,
    aliases=("scalar", "temperature", "humidity", "current", "voltage", "power", "pressure", "flow_rate", "level", "battery", "speed"),
)

__all__ = ["VOCAB_VERSION", "AnomalyDetector", "DetectorConfig", "GenericConfig", "GenericEncoder",
           "MeanScaleTokenizer", "TokenizerConfig", "make_generic_encoder"]
