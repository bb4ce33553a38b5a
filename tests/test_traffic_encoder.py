"""Traffic encoder on simulated two-station loop data: incidents found, rush hour left alone."""

from __future__ import annotations

import numpy as np
import pytest

from adapters import make_encoder, modalities
from adapters.base import Severity
from adapters.traffic import VOCAB, CaliforniaConfig, CaliforniaDetector, IncidentState
from firmware_sim.signals.traffic import Incident, simulate

DAY = 86400.0
T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight
INTERVAL = 30.0
WINDOW = 10  # intervals: 5-minute windows


def _run(rec, encoder=None, layout: str = "two"):
    enc = encoder or make_encoder("traffic", 1 / INTERVAL)
    x = rec.stacked() if layout == "two" else rec.upstream
    return enc, [enc.encode(x[:, s:s + WINDOW], float(rec.t[s])) for s in range(0, x.shape[1], WINDOW)]


@pytest.fixture(scope="module")
def three_days():
    """Two days to learn, then a third with rush hours and a 30-minute incident at 12:30."""
    incident = Incident(T0 + 2 * DAY + 12.5 * 3600, 1800.0)
    return simulate(3 * DAY, T0, incidents=[incident], seed=1), incident


def test_registry_knows_traffic() -> None:
    assert "traffic" in modalities()
    assert make_encoder("loop_detector", 1 / 20).sample_rate == pytest.approx(0.05)


def test_incident_confirmed_within_two_minutes_of_the_queue(three_days) -> None:
    rec, incident = three_days
    _, windows = _run(rec)
    events = [e for w in windows for e in w.events]
    found = [e for e in events if e.kind == "incident"]
    assert len(found) == 1
    # Stated: confirmed within 2 minutes of the queue reaching the upstream loop (1 minute of smoothing,
    # 1 of persistence), and within 12 minutes of the capacity drop (the queue's travel, ~8 min here).
    arrival = rec.t[(rec.t >= incident.start) & (rec.upstream[2] > 30.0)][0]
    assert 0 <= found[0].t - arrival <= 120, found[0].t - arrival
    assert 0 <= found[0].t - incident.start <= 720
    assert found[0].severity is Severity.CRITICAL
    assert found[0].evidence["occdf_pct"] > 12
    cleared = [e for e in events if e.kind == "incident_cleared"]
    assert cleared and cleared[0].t > found[0].t
    during = next(w for w in windows if w.t0 >= found[0].t + 300)
    assert "<traffic:incident:confirmed>" in during.tokens
    assert "<traffic:los:F>" in during.tokens and "<traffic:congestion:nonrecurrent>" in during.tokens


def test_rush_hour_alone_raises_nothing(three_days) -> None:
    rec, incident = three_days
    _, windows = _run(rec)
    day3 = [w for w in windows if w.t0 >= T0 + 2 * DAY]
    outside = [e for w in day3 for e in w.events if not incident.start <= e.t <= incident.start + 3600]
    assert outside == [], [(e.kind, e.t) for e in outside]
    rush = [w for w in day3 if T0 + 2 * DAY + 17 * 3600 <= w.t0 < T0 + 2 * DAY + 18 * 3600]
    assert any("<traffic:congestion:recurrent>" in w.tokens for w in rush)
    # No incident token at any rush hour, the first (baseline-less) day included.
    assert not any(t.startswith("<traffic:incident") for w in windows
                   if not incident.start <= w.t0 <= incident.start + 3600 for t in w.tokens)


def test_single_station_suspects_nonrecurrent_congestion(three_days) -> None:
    rec, incident = three_days
    _, windows = _run(rec, layout="one")
    onsets = [e for w in windows for e in w.events if e.kind == "congestion_onset" and e.severity is Severity.WARNING]
    assert len(onsets) == 1 and 0 <= onsets[0].t - incident.start <= 1200
    hit = next(w for w in windows if w.t0 >= onsets[0].t)
    assert "<traffic:incident:suspected>" in hit.tokens


def test_codes_embedding_and_summary() -> None:
    rec = simulate(3600.0, T0 + 8 * 3600, seed=2)
    _, windows = _run(rec)
    for w in windows:
        assert [VOCAB[c] for c in w.codes] == w.tokens
        assert w.embedding.shape == (16,) and np.all(np.isfinite(w.embedding))
        assert len(w.summary) <= 160 and w.summary.startswith("traffic LOS")
        assert w.vocab_version == "traffic-1"


def test_california_ignores_queues_over_both_stations() -> None:
    det = CaliforniaDetector(CaliforniaConfig(), 30.0)
    for _ in range(10):  # a recurrent queue covering both loops: DOCC above T3
        assert det.step(45.0, 30.0).state is IncidentState.FREE
    det.reset()
    states = [det.step(45.0, 5.0).state for _ in range(5)]
    assert states[0] is IncidentState.TENTATIVE and states[-1] is IncidentState.CONFIRMED
    det.step(10.0, 9.0)  # 1-minute smoothing: the second clear interval ends it
    assert det.step(10.0, 9.0).state is IncidentState.FREE


@pytest.mark.parametrize("samples,token", [
    (np.full((3, 10), np.nan), "<traffic:quality:short>"),
    (np.zeros((3, 0)), "<traffic:quality:short>"),
    (np.array([[5.0], [90.0], [8.0]]), "<traffic:quality:short>"),
    (np.vstack([np.where(np.arange(10) % 3 == 0, np.nan, 20.0 + np.arange(10)), np.full(10, 95.0),
                np.full(10, 9.0)]), "<traffic:quality:gaps>"),
    (np.vstack([np.arange(10.0) + 20, np.full(10, 80.0), np.full(10, 100.0)]), "<traffic:quality:saturated>"),
    (np.arange(10.0) + 5, "<traffic:quality:ok>"),
])
def test_bad_windows_give_quality_tokens(samples: np.ndarray, token: str) -> None:
    out = make_encoder("traffic", 1 / 30).encode(samples, T0)
    assert token in out.tokens
    assert out.embedding.shape == (16,)


def test_bad_shapes_and_config_raise() -> None:
    enc = make_encoder("traffic", 1 / 30)
    with pytest.raises(ValueError):
        enc.encode(np.zeros((4, 10)), T0)
    with pytest.raises(ValueError):
        make_encoder("traffic", 1.0)  # 1-s aggregates are not loop-detector intervals
    with pytest.raises(ValueError):
        make_encoder("traffic", 1 / 30, congested_speed_ratio=1.5)
    with pytest.raises(ValueError):
        make_encoder("traffic", 1 / 30, t2_occrdf=2.0)
    with pytest.raises(TypeError):
        make_encoder("traffic", 1 / 30, colour="red")


@pytest.mark.parametrize("interval_s", [20.0, 60.0])
def test_any_aggregation_interval_from_20_to_60_s(interval_s: float) -> None:
    from firmware_sim.signals.traffic import TrafficProfile

    incident = Incident(T0 + DAY + 12.5 * 3600, 1800.0)
    rec = simulate(2 * DAY, T0, incidents=[incident], seed=4, profile=TrafficProfile(interval_s=interval_s))
    enc = make_encoder("traffic", 1 / interval_s)
    n = int(300 / interval_s)
    x = rec.stacked()
    events = [e for s in range(0, x.shape[1], n) for e in enc.encode(x[:, s:s + n], float(rec.t[s])).events]
    found = [e for e in events if e.kind == "incident"]
    assert len(found) == 1 and 0 <= found[0].t - incident.start <= 720
    assert all(e.severity is not Severity.CRITICAL for e in events if e.kind != "incident")


def test_generic_detector_on_speed_finds_a_frozen_loop() -> None:
    # Opt-in: the generic streaming detector on the station's speed. A loop that reports one speed for
    # two hours on the third day is a stuck sensor, said in a technician's words.
    from adapters.generic import DetectorConfig

    rec = simulate(3 * DAY, T0, seed=1)
    x = rec.upstream.copy()
    start = T0 + 2 * DAY + 10 * 3600
    x[1, (rec.t >= start) & (rec.t < start + 7200)] = 87.0
    enc = make_encoder("traffic", 1 / INTERVAL, scalar_detector=DetectorConfig())
    events = [e for s in range(0, x.shape[1], WINDOW) for e in enc.encode(x[:, s:s + WINDOW], float(rec.t[s])).events]
    stuck = [e for e in events if e.kind == "speed_stuck"]
    assert len(stuck) == 1 and 0 <= stuck[0].t - start <= 1800, [(e.kind, e.t - start) for e in events]
    assert str(stuck[0].evidence["said"]).startswith("speed 87 km/h, usual "), stuck[0].evidence
    # Off by default: the encoder's own events only.
    _, windows = _run(rec, layout="one")
    assert not any(e.kind.startswith("speed_") for w in windows for e in w.events)
