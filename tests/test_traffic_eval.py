"""`tessera eval traffic` and the compression-wave hold of the incident logic."""

from __future__ import annotations

import json

import pytest

from adapters.traffic import CaliforniaConfig, CaliforniaDetector, IncidentState
from evaluation.traffic import evaluate
from agent.cli import main


def _wave(det: CaliforniaDetector) -> list[IncidentState]:
    """A stop-and-go wave: 90 s dense at the downstream loop, then 90 s dense at the upstream one."""
    states = []
    for up, down in [(12, 12)] * 4 + [(12, 50)] * 3 + [(12, 12)] + [(50, 12)] * 3 + [(12, 12)] * 4:
        states.append(det.step(float(up), float(down)).state)
    return states


def test_compression_wave_is_held_off_but_would_fool_plain_occupancy_difference() -> None:
    held = _wave(CaliforniaDetector(CaliforniaConfig(), 30.0))
    assert all(s is IncidentState.FREE for s in held)
    plain = _wave(CaliforniaDetector(CaliforniaConfig(wave_hold_s=0.0), 30.0))
    assert IncidentState.CONFIRMED in plain


def test_simulated_incidents_detected_without_false_alarms() -> None:
    r = evaluate(n_incidents=5, seed=3)
    # Stated: every incident whose queue reaches the upstream loop is confirmed, none in rush hours or waves.
    assert r["detected"] >= r["detectable"] >= 4
    assert r["false_alarms"] == 0
    assert r["mttd_after_queue_s"] <= 150


def test_eval_traffic_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "traffic", "--incidents", "2", "--seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["incidents"] == 2 and out["days"] == pytest.approx(3.0)
    assert main(["eval", "traffic", "--incidents", "0"]) == 1
    assert "tessera: error:" in capsys.readouterr().err
