"""Bearing kinematics and ISO 10816 zones of the vibration encoder, against published values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapters.base import Severity
from adapters.vibration import severity as iso
from base.bearing import SKF_6203, SKF_6205, BearingGeometry, bearing_from


@pytest.mark.parametrize(
    ("name", "published"),
    [("bpfo", 3.5848), ("bpfi", 5.4152), ("bsf", 2.3567), ("ftf", 0.3983)],
)
def test_6205_defect_orders_match_published(name: str, published: float) -> None:
    # SKF / CWRU published multiples of shaft speed for the 6205-2RS JEM.
    assert getattr(SKF_6205.orders(), name) == pytest.approx(published, abs=2e-3)


def test_6203_defect_orders_match_published() -> None:
    o = SKF_6203.orders()
    assert (o.bpfi, o.bpfo, o.ftf, o.bsf) == pytest.approx((4.9469, 3.0530, 0.3817, 1.9940), abs=2e-3)


def test_frequencies_scale_with_speed_and_obey_kinematics() -> None:
    f = SKF_6205.frequencies(1797 / 60)
    assert f["bpfo"] == pytest.approx(107.36, abs=0.1)
    assert f["bpfi"] == pytest.approx(162.19, abs=0.1)
    # BPFO + BPFI = n x shaft and BPFO = n x FTF, whatever the geometry.
    assert f["bpfo"] + f["bpfi"] == pytest.approx(9 * 1797 / 60)
    assert f["bpfo"] == pytest.approx(9 * f["ftf"])


def test_contact_angle_moves_frequencies_towards_the_mean() -> None:
    flat = BearingGeometry(12, 10.0, 50.0, 0.0).orders()
    angled = BearingGeometry(12, 10.0, 50.0, 40.0).orders()
    assert flat.bpfo < angled.bpfo < 6 < angled.bpfi < flat.bpfi


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_balls": 2, "ball_diameter_mm": 5, "pitch_diameter_mm": 30},
        {"n_balls": 9, "ball_diameter_mm": 0, "pitch_diameter_mm": 30},
        {"n_balls": 9, "ball_diameter_mm": 40, "pitch_diameter_mm": 30},
        {"n_balls": 9, "ball_diameter_mm": 5, "pitch_diameter_mm": 30, "contact_angle_deg": 95},
    ],
)
def test_bad_geometry_raises(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BearingGeometry(**kwargs)


def test_bearing_from_names_and_mappings() -> None:
    assert bearing_from("SKF 6205") is SKF_6205
    assert bearing_from("6203-2RS") is SKF_6203
    custom = bearing_from({"n_balls": 8, "ball_diameter_mm": 6.0, "pitch_diameter_mm": 30.0})
    assert custom.n_balls == 8
    with pytest.raises(ValueError):
        bearing_from("7309")


@pytest.mark.parametrize(
    ("machine", "velocity", "expected"),
    [
        ("I", 0.5, "A"), ("I", 0.71, "B"), ("I", 2.0, "C"), ("I", 4.5, "D"),
        ("II", 1.0, "A"), ("II", 2.8, "C"), ("II", 7.0, "C"), ("II", 7.1, "D"),
        ("III", 4.4, "B"), ("IV", 17.9, "C"),
        ("group2-rigid", 1.3, "A"), ("group2-rigid", 4.6, "D"), ("group1-flexible", 10.9, "C"),
    ],
)
def test_iso_zones(machine: str, velocity: float, expected: str) -> None:
    assert iso.zone(velocity, machine) == expected


def test_zone_severity_and_class_names() -> None:
    assert iso.zone_severity("D") is Severity.CRITICAL
    assert iso.zone_severity("C") is Severity.WARNING
    assert iso.zone_severity("B") is None
    assert iso.machine_class("class 2") == "II"
    with pytest.raises(ValueError):
        iso.machine_class("V")


def test_velocity_from_acceleration_of_a_known_tone() -> None:
    # 4.5 mm/s RMS at 50 Hz is a peak acceleration of 4.5e-3 * sqrt(2) * 2 pi 50 m/s^2.
    fs, n = 12000.0, 12000
    t = np.arange(n) / fs
    accel_g = 4.5e-3 * math.sqrt(2) * 2 * math.pi * 50 / iso.G * np.sin(2 * np.pi * 50 * t)
    # A 2 kHz tone lies outside 10-1000 Hz and must not count.
    accel_g += 0.5 * np.sin(2 * np.pi * 2000 * t)
    v = iso.rms_velocity_mm_s(np.fft.rfft(accel_g), n, fs)
    assert v == pytest.approx(4.5, rel=0.01)
