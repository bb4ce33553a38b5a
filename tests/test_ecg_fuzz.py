"""Whatever a device sends, the ECG encoder answers with tokens from its vocabulary and never raises."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.ecg import ECGEncoder
from adapters.ecg.vocab import SUMMARY_MAX_CHARS, TOKEN_IDS
from firmware_sim.signals.ecg import synthesize_ecg

_BASE = synthesize_ecg(8, 250, 80, rng=np.random.default_rng(0), v_fraction=0.1).signal


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=0, max_value=_BASE.size),
    scale=st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]),
    nan_every=st.integers(min_value=0, max_value=50),
    spikes=st.lists(st.tuples(st.integers(0, _BASE.size - 1), st.sampled_from([np.inf, -np.inf, np.nan, 1e9, -1e9])), max_size=5),
    rate=st.sampled_from([50.0, 128.0, 250.0, 360.0, 1000.0]),
)
def test_encoder_never_raises_and_stays_in_vocabulary(n: int, scale: float, nan_every: int, spikes: list, rate: float) -> None:
    x = _BASE[:n] * scale
    if nan_every and x.size:
        x[::nan_every] = np.nan
    for idx, value in spikes:
        if idx < x.size:
            x[idx] = value
    w = ECGEncoder(rate).encode(x, 0.0)
    assert w.tokens and all(t in TOKEN_IDS for t in w.tokens)
    assert w.tokens[0].startswith("<ecg:quality:")
    assert np.all(np.isfinite(w.embedding)) and 0.0 <= w.quality <= 1.0
    assert len(w.summary) <= SUMMARY_MAX_CHARS
    assert all(np.isfinite(v) for v in w.features.values())
