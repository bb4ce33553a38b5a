"""Chronos-style tokenizer: round trip within half a bin, clipping, PAD for missing samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.generic.tokenizer import EOS_ID, PAD_ID, MeanScaleTokenizer, TokenizerConfig


@pytest.mark.parametrize("n_bins,limit", [(4094, 15.0), (510, 10.0), (62, 5.0)])
@pytest.mark.parametrize("offset,spread", [(0.0, 1.0), (20.0, 3.0), (-1e4, 50.0), (1e-3, 1e-4)])
def test_round_trip_within_half_a_bin(n_bins: int, limit: float, offset: float, spread: float) -> None:
    tok = MeanScaleTokenizer(TokenizerConfig(n_bins=n_bins, limit=limit))
    x = offset + spread * np.random.default_rng(1).standard_normal(200)
    out = tok.encode(x)
    back = tok.decode(out.codes, out.scale)
    assert out.clipped == 0
    assert np.max(np.abs(back - x)) <= tok.bin_width * out.scale / 2 + 1e-12
    assert out.codes.dtype == np.int32
    assert out.codes.min() >= 2 and out.codes.max() < tok.config.vocab_size


@pytest.mark.parametrize("value", [100.0, -100.0, 1e9])
def test_values_beyond_the_range_are_clipped_to_the_edge(value: float) -> None:
    tok = MeanScaleTokenizer(TokenizerConfig(n_bins=100, limit=5.0))
    x = np.ones(50)
    x[10] = value
    out = tok.encode(x, scale=1.0)
    assert out.clipped == 1
    back = tok.decode(out.codes, out.scale)
    assert back[10] == pytest.approx(np.sign(value) * 5.0)
    assert np.allclose(back[np.arange(50) != 10], 1.0, atol=tok.bin_width / 2)


def test_nan_becomes_pad_and_decodes_to_nan() -> None:
    tok = MeanScaleTokenizer()
    x = np.array([1.0, np.nan, 2.0, np.inf])
    out = tok.encode(x)
    assert out.codes[1] == PAD_ID and out.codes[3] == PAD_ID
    back = tok.decode(np.array([out.codes[0], PAD_ID, EOS_ID]), out.scale)
    assert np.isfinite(back[0]) and np.isnan(back[1]) and np.isnan(back[2])
    assert out.scale == pytest.approx(1.5)


def test_all_zero_and_empty_windows_have_a_unit_scale() -> None:
    tok = MeanScaleTokenizer()
    assert tok.encode(np.zeros(10)).scale == 1.0
    assert tok.encode(np.array([])).codes.size == 0


@pytest.mark.parametrize("kwargs", [{"n_bins": 1}, {"limit": 0.0}, {"limit": float("nan")}])
def test_bad_config_raises(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TokenizerConfig(**kwargs)


def test_bad_codes_and_scale_raise() -> None:
    tok = MeanScaleTokenizer(TokenizerConfig(n_bins=10))
    with pytest.raises(ValueError):
        tok.decode(np.array([12]), 1.0)
    with pytest.raises(ValueError):
        tok.encode(np.ones(3), scale=0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=64))
def test_round_trip_property(values: list[float]) -> None:
    tok = MeanScaleTokenizer(TokenizerConfig(n_bins=1022, limit=15.0))
    x = np.array(values)
    out = tok.encode(x)
    back = tok.decode(out.codes, out.scale)
    lim = tok.config.limit * out.scale
    # Inside the range: within half a bin; outside: clipped to the edge.
    expected = np.clip(x, -lim, lim)
    assert np.all(np.abs(back - expected) <= tok.bin_width * out.scale / 2 * (1 + 1e-9) + 1e-12)
