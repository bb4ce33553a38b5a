"""Calibration on synthetic scores of known truth: monotone isotonic, Platt recovers a logistic, thresholds, storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.decide.calibration import (
    CalibrationError,
    calibration_path,
    expected_calibration_error,
    fit_calibration,
    isotonic_fit,
    load_calibration,
)

SHA = "ab" * 32


def logistic_set(n: int = 4000, a: float = 8.0, b: float = -4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores uniform in 0..1, correct with probability sigmoid(a * s + b)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1, n)
    return s, (rng.uniform(size=n) < 1 / (1 + np.exp(-(a * s + b)))).astype(int)


def test_isotonic_is_monotone_and_fits_known_steps() -> None:
    s, y = logistic_set()
    cal = fit_calibration(s, y, "isotonic")
    grid = np.linspace(-0.5, 1.5, 2001)
    p = cal.predict(grid)
    assert np.all(np.diff(p) >= -1e-12)
    assert np.all((p >= 0) & (p <= 1))
    # Close to the true curve in the middle, where data is dense.
    truth = 1 / (1 + np.exp(-(8 * grid - 4)))
    mid = (grid > 0.2) & (grid < 0.8)
    assert np.max(np.abs(p[mid] - truth[mid])) < 0.12
    assert cal.reliability.ece < 0.02 and cal.reliability.brier < cal.reliability.brier_raw


def test_pool_adjacent_violators_by_hand() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    kx, ky = isotonic_fit(x, y)
    # 2 and 3 violate order and pool to 0.5; ties in x are merged before pooling.
    assert np.interp(x, kx, ky).tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    kx, ky = isotonic_fit(np.array([1.0, 1.0, 2.0]), np.array([1.0, 0.0, 1.0]))
    assert np.interp([1.0, 2.0], kx, ky).tolist() == [0.5, 1.0]


def test_platt_recovers_a_known_logistic() -> None:
    s, y = logistic_set(n=20000, a=8.0, b=-4.0, seed=1)
    cal = fit_calibration(s, y, "platt")
    assert cal.params["a"] == pytest.approx(8.0, rel=0.1)
    assert cal.params["b"] == pytest.approx(-4.0, rel=0.1)
    assert cal.predict(0.5) == pytest.approx(0.5, abs=0.03)


def test_platt_on_log_probability_scores() -> None:
    # Raw scores need not be probabilities: mean token log-probabilities work the same way.
    rng = np.random.default_rng(2)
    s = rng.uniform(-3, 0, 5000)
    y = (rng.uniform(size=s.size) < 1 / (1 + np.exp(-(2.0 * s + 3.0)))).astype(int)
    cal = fit_calibration(s, y, "platt", score_kind="mean_logprob")
    assert cal.params["a"] == pytest.approx(2.0, rel=0.15)
    assert cal.params["b"] == pytest.approx(3.0, rel=0.15)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_threshold_gives_the_target_escalation_rate(method: str, rate: float) -> None:
    s, y = logistic_set(seed=3)
    cal = fit_calibration(s, y, method, target_escalation_rate=rate)
    assert abs(cal.achieved_escalation_rate - rate) < 0.03
    assert cal.escalation_rate(cal.threshold) == pytest.approx(cal.achieved_escalation_rate)
    # On fresh data of the same kind the share escalated stays near the target.
    s2, _ = logistic_set(seed=4)
    fresh = float(np.mean(np.asarray(cal.predict(s2)) < cal.threshold))
    assert abs(fresh - rate) < 0.05
    # Re-aiming later needs no refit.
    assert cal.escalation_rate(cal.threshold_for_escalation_rate(0.3)) == pytest.approx(0.3, abs=0.03)


def test_extreme_rates() -> None:
    s, y = logistic_set(n=500)
    assert fit_calibration(s, y, "platt", target_escalation_rate=0.0).achieved_escalation_rate == 0.0
    assert fit_calibration(s, y, "platt", target_escalation_rate=1.0).achieved_escalation_rate == 1.0


def test_ece_of_a_perfect_and_a_bad_calibration() -> None:
    rng = np.random.default_rng(5)
    conf = rng.uniform(size=50000)
    y = (rng.uniform(size=conf.size) < conf).astype(float)
    assert expected_calibration_error(conf, y) < 0.01
    assert expected_calibration_error(np.full(conf.size, 0.99), y) == pytest.approx(0.49, abs=0.01)


def test_save_load_round_trip(isolated_state: Path) -> None:
    s, y = logistic_set(n=300)
    cal = fit_calibration(s, y, "isotonic", target_escalation_rate=0.25, model_sha256=SHA)
    path = cal.save(calibration_path(isolated_state))
    assert path == isolated_state / "calibration.json"
    back = load_calibration(path, model_sha256=SHA)
    assert back == cal
    grid = np.linspace(0, 1, 101)
    assert np.array_equal(back.predict(grid), cal.predict(grid))
    assert json.loads(path.read_text())["version"] == 1


def test_refuses_a_calibration_for_another_model(isolated_state: Path) -> None:
    s, y = logistic_set(n=300)
    path = fit_calibration(s, y, "platt", model_sha256=SHA).save(calibration_path(isolated_state))
    with pytest.raises(CalibrationError, match="another|not the loaded model"):
        load_calibration(path, model_sha256="cd" * 32)
    load_calibration(path)  # no model given: the caller takes responsibility


def test_refuses_missing_corrupt_and_future_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="tessera calibrate"):
        load_calibration(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationError):
        load_calibration(bad)
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(CalibrationError, match="version"):
        load_calibration(bad)


@pytest.mark.parametrize(
    "scores, correct, method",
    [([0.5], [1], "isotonic"), ([0.1, 0.2], [1], "platt"), ([0.1, float("nan")], [1, 0], "platt"),
     ([0.1, 0.2], [1, 2], "isotonic"), ([0.1, 0.2], [1, 0], "svm")],
)
def test_bad_fitting_input_is_refused(scores, correct, method) -> None:
    with pytest.raises(CalibrationError):
        fit_calibration(scores, correct, method)


def test_each_source_gets_its_own_map_and_a_small_source_shares_the_pooled_one(tmp_path: Path) -> None:
    # The fast path's 1.0 is nearly always right; the model's 0.99 is right half the time. One pooled
    # map would call the model's 0.99 near-certain; a map per source does not.
    rng = np.random.default_rng(3)
    fast = np.ones(300)
    fast_ok = (rng.uniform(size=300) < 0.99).astype(int)
    model = rng.uniform(0.9, 1.0, 300)
    model_ok = (rng.uniform(size=300) < 0.5).astype(int)
    rare = np.full(5, 0.95)
    scores = np.concatenate([fast, model, rare])
    ok = np.concatenate([fast_ok, model_ok, np.ones(5, int)])
    sources = ["fast"] * 300 + ["local"] * 300 + ["edge"] * 5
    cal = fit_calibration(scores, ok, "isotonic", 0.3, sources=sources)
    assert sorted(cal.by_source) == ["fast", "local"]  # 5 edge answers are too few for a map of their own
    assert cal.predict(1.0, "fast") > 0.95
    assert cal.predict(0.99, "local") < 0.75
    assert cal.predict(0.95, "edge") == cal.predict(0.95)  # the pooled map
    # The threshold is chosen on each answer's own map, and survives storage.
    back = load_calibration(cal.save(tmp_path / "c.json"))
    assert back.by_source == cal.by_source and back.escalation_rate(cal.threshold) == pytest.approx(cal.achieved_escalation_rate)
    assert cal.escalation_rate(cal.threshold) == pytest.approx(cal.achieved_escalation_rate)
    with pytest.raises(CalibrationError, match="sources"):
        fit_calibration(scores, ok, sources=sources[:-1])


def test_a_calibration_stored_before_maps_per_source_still_loads(tmp_path: Path) -> None:
    s, y = logistic_set(n=200)
    path = fit_calibration(s, y, "isotonic").save(tmp_path / "old.json")
    data = json.loads(path.read_text())
    del data["by_source"], data["sources"]
    path.write_text(json.dumps(data))
    old = load_calibration(path)
    assert old.by_source == {} and old.predict(0.7, "local") == old.predict(0.7)
