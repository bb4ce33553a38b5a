"""Flow, density and HCM level of service arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.traffic.measures import (KM_PER_MILE, density, density_from_occupancy, flow_per_lane,
                                       level_of_service)


def test_flow_per_lane_from_counts() -> None:
    # 50 vehicles in 30 s over 3 lanes = 6000 veh/h = 2000 veh/h/lane.
    assert flow_per_lane(50, 30.0, 3) == pytest.approx(2000.0)
    assert np.allclose(flow_per_lane(np.array([0, 10]), 60.0, 2), [0.0, 300.0])


def test_density_is_flow_over_speed_else_occupancy() -> None:
    assert density(1800.0, 90.0) == pytest.approx(20.0)
    # Stopped traffic: speed below 5 km/h falls back to occupancy, 10 * 52% / 6.5 m = 80 veh/km/ln.
    assert density(100.0, 2.0, 52.0, 6.5) == pytest.approx(80.0)
    assert density(100.0, np.nan, 13.0, 6.5) == pytest.approx(20.0)
    assert density_from_occupancy(26.0, 6.5) == pytest.approx(40.0)


# HCM 6th ed. Exhibit 12-15 boundaries in pc/mi/ln, tested just either side of each.
@pytest.mark.parametrize("per_mile,letter", [
    (0.0, "A"), (11.0, "A"), (11.01, "B"), (18.0, "B"), (18.01, "C"), (26.0, "C"), (26.01, "D"),
    (35.0, "D"), (35.01, "E"), (45.0, "E"), (45.01, "F"), (120.0, "F"),
])
def test_level_of_service_thresholds(per_mile: float, letter: str) -> None:
    assert level_of_service(per_mile / KM_PER_MILE) == letter


def test_unknown_density_has_no_level() -> None:
    assert level_of_service(math.nan) == "?"


@pytest.mark.parametrize("call", [lambda: flow_per_lane(1, 0.0, 3), lambda: flow_per_lane(1, 30.0, 0),
                                  lambda: density_from_occupancy(10.0, 0.0)])
def test_bad_arguments_raise(call) -> None:
    with pytest.raises(ValueError):
        call()
