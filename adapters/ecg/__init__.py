"""ECG encoder: QRS detection, beat classes, rate, HRV and rhythm flags as tokens.

Registers the `ecg` modality (aliases `ekg`, `ecg_lead`) in `adapters.ENCODERS`.
"""

from __future__ import annotations

from typing import Any

from adapters import ENCODERS
from adapters.ecg.analysis import ECGAnalysis, analyze_ecg
from adapters.ecg.config import INTERNAL_FS, ECGConfig
from adapters.ecg.encoder import ECGEncoder
from adapters.ecg.vocab import SUMMARY_TOKEN_BUDGET, VOCAB_VERSION, VOCABULARY


def make_ecg_encoder(sample_rate: float, **options: Any) -> ECGEncoder:
    """A fresh ECG encoder for a stream at `sample_rate` Hz; options are ECGConfig fields."""
    return ECGEncoder(sample_rate, **options)


ENCODERS.register("ecg", make_ecg_encoder, aliases=("ekg", "ecg_lead"))

__all__ = ["ECGAnalysis", "ECGConfig", "ECGEncoder", "INTERNAL_FS", "SUMMARY_TOKEN_BUDGET", "VOCABULARY", "VOCAB_VERSION", "analyze_ecg", "make_ecg_encoder"]
