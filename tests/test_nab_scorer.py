"""The NAB scorer on a case worked out by hand, and the rolling 3-sigma baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.nab import PROFILES, normalise, probationary_rows, rolling_three_sigma, scaled_sigmoid, score_file

STANDARD, LOW_FP, LOW_FN = PROFILES


def test_scaled_sigmoid_values() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.986614
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(3.5) == -1.0
    assert probationary_rows(100) == 15 and probationary_rows(10_000) == 750


def test_hand_computed_case() -> None:
    # 100 rows, probationary 15. Windows rows 40..59 (width 20) and 80..89.
    # Detections: 5 (probationary: dropped), 20 (FP before any window: -1 x fp weight),
    # 40 (TP at the window's start: 1), 50 (second in the window: ignored),
    # 69 (FP after the first window: sigma((69-59)/19) = -0.86573 x fp weight). 80..89 missed: -fn weight.
    dets = [5, 20, 40, 50, 69]
    fp_after = 2 / (1 + math.exp(5 * 10 / 19)) - 1
    assert fp_after == pytest.approx(-0.86573, abs=1e-5)
    r = score_file(100, [(40, 59), (80, 89)], dets, STANDARD)
    assert (r.tp, r.fp, r.fn) == (1, 2, 1)
    assert r.score == pytest.approx(1 - 0.11 + 0.11 * fp_after - 1)  # -0.20523
    assert (r.null, r.perfect) == (-2.0, 2.0)
    assert normalise(r.score, r.null, r.perfect) == pytest.approx(44.869, abs=1e-3)
    assert score_file(100, [(40, 59), (80, 89)], dets, LOW_FP).score == pytest.approx(1 - 0.22 + 0.22 * fp_after - 1)
    fn = score_file(100, [(40, 59), (80, 89)], dets, LOW_FN)
    assert normalise(fn.score, fn.null, fn.perfect) == pytest.approx(100 * (1 - 0.11 + 0.11 * fp_after - 2 + 4) / 6)


def test_late_detection_is_worth_little() -> None:
    # At the window's last row: sigma(-1/20) / sigma(-1) = 0.12605.
    r = score_file(100, [(40, 59)], [59], STANDARD)
    assert r.score == pytest.approx((2 / (1 + math.exp(-0.25)) - 1) / scaled_sigmoid(-1.0))
    assert r.score == pytest.approx(0.12605, abs=1e-5)
    assert score_file(100, [(40, 59)], [], STANDARD).score == -1.0


def test_three_sigma_flags_a_spike_once_per_refractory_period() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 2000)
    x[1500:1503] = 20.0  # three samples in a row: one alarm within the refractory hour
    rows = rolling_three_sigma(x, 60.0, window_s=86400.0, refractory_s=3600.0)
    assert 1500 in rows
    assert not any(1500 < r < 1560 for r in rows)
