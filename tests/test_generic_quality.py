"""Bad windows give quality tokens, never exceptions."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import make_encoder

T0 = 1_700_000_000.0


@pytest.mark.parametrize("samples,token", [
    (np.full(60, np.nan), "<gen:quality:short>"),
    (np.array([]), "<gen:quality:short>"),
    (np.array([1.0, 2.0]), "<gen:quality:short>"),
    (np.full(60, 3.3), "<gen:quality:flat>"),
    (np.where(np.arange(60) % 2 == 0, np.nan, np.arange(60.0)), "<gen:quality:gaps>"),
])
def test_bad_windows_give_quality_tokens(samples: np.ndarray, token: str) -> None:
    enc = make_encoder("scalar", 1.0)
    out = enc.encode(samples, T0)
    assert token in out.tokens
    assert out.quality < 1.0
    assert out.embedding.shape == (16,) and np.all(np.isfinite(out.embedding))
    assert out.codes.size == samples.size
    assert out.summary


def test_saturation_is_flagged_with_a_rail() -> None:
    enc = make_encoder("pressure", 1.0, rail=(0.0, 10.0))
    x = np.clip(np.linspace(5, 15, 60), 0, 10)
    assert "<gen:quality:saturated>" in enc.encode(x, T0).tokens


def test_clean_window_is_ok() -> None:
    out = make_encoder("temperature", 1.0).encode(20 + np.sin(np.arange(60) / 5), T0)
    assert out.tokens[0] == "<gen:quality:ok>" and out.quality == 1.0
    assert out.vocab_version == "gen-2" and out.modality == "generic"
