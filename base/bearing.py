"""Rolling-element bearing geometry and its kinematic defect frequencies.

The four classic frequencies, as multiples of shaft speed (inner race rotating,
outer race fixed), with n balls of diameter d on pitch diameter D at contact
angle phi:

    FTF  = 1/2 (1 - d/D cos phi)                 cage (fundamental train)
    BPFO = n/2 (1 - d/D cos phi)                 ball pass, outer race
    BPFI = n/2 (1 + d/D cos phi)                 ball pass, inner race
    BSF  = D/(2d) (1 - (d/D cos phi)^2)          ball spin (one contact per turn)

A ball defect strikes both races once per spin, so its envelope spectrum often
shows 2 x BSF more clearly than BSF itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, frozen=True)
class DefectOrders:
    """Defect frequencies as multiples of shaft speed (orders)."""

    ftf: float
    bpfo: float
    bpfi: float
    bsf: float

    def as_dict(self) -> dict[str, float]:
        """The four orders keyed by name."""
        return {"ftf": self.ftf, "bpfo": self.bpfo, "bpfi": self.bpfi, "bsf": self.bsf}


@dataclass(slots=True, frozen=True)
class BearingGeometry:
    """Geometry a device declares for its bearing; lengths in mm, angle in degrees."""

    n_balls: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if int(self.n_balls) != self.n_balls or self.n_balls < 3:
            raise ValueError(f"n_balls must be an integer of at least 3, got {self.n_balls}")
        if not (self.ball_diameter_mm > 0 and self.pitch_diameter_mm > 0):
            raise ValueError("ball and pitch diameters must be positive (mm)")
        if self.ball_diameter_mm >= self.pitch_diameter_mm:
            raise ValueError(
                f"ball diameter {self.ball_diameter_mm} mm must be smaller than pitch diameter {self.pitch_diameter_mm} mm"
            )
        if not 0.0 <= self.contact_angle_deg < 90.0:
            raise ValueError(f"contact angle must be in [0, 90) degrees, got {self.contact_angle_deg}")

    def orders(self) -> DefectOrders:
        """Defect frequencies as multiples of shaft speed."""
        ratio = self.ball_diameter_mm / self.pitch_diameter_mm * math.cos(math.radians(self.contact_angle_deg))
        n = self.n_balls
        return DefectOrders(
            ftf=0.5 * (1.0 - ratio),
            bpfo=0.5 * n * (1.0 - ratio),
            bpfi=0.5 * n * (1.0 + ratio),
            bsf=self.pitch_diameter_mm / (2.0 * self.ball_diameter_mm) * (1.0 - ratio**2),
        )

    def frequencies(self, shaft_hz: float) -> dict[str, float]:
        """Defect frequencies in Hz at a shaft speed of `shaft_hz`."""
        if shaft_hz <= 0:
            raise ValueError(f"shaft speed must be positive, got {shaft_hz} Hz")
        return {k: v * shaft_hz for k, v in self.orders().as_dict().items()}


# SKF 6205-2RS JEM (CWRU drive end) and SKF 6203-2RS JEM (CWRU fan end), inch sizes converted.
SKF_6205 = BearingGeometry(9, 0.3126 * 25.4, 1.537 * 25.4, 0.0, "SKF 6205")
SKF_6203 = BearingGeometry(8, 0.2656 * 25.4, 1.122 * 25.4, 0.0, "SKF 6203")

CATALOGUE: dict[str, BearingGeometry] = {"6205": SKF_6205, "6203": SKF_6203}
_FIELD_ALIASES = {
    "balls": "n_balls", "num_balls": "n_balls", "ball_count": "n_balls", "number_of_balls": "n_balls",
    "ball_diameter": "ball_diameter_mm", "pitch_diameter": "pitch_diameter_mm", "contact_angle": "contact_angle_deg",
    "model": "name",
}


def bearing_from(value: Any) -> BearingGeometry:
    """A geometry from a `BearingGeometry`, a catalogue name ("6205", "SKF 6205") or a mapping of fields."""
    if isinstance(value, BearingGeometry):
        return value
    if value is None:
        return SKF_6205
    if isinstance(value, str):
        key = value.upper().replace("SKF", "").replace("-2RS", "").replace("JEM", "").strip()
        if key not in CATALOGUE:
            raise ValueError(f"unknown bearing {value!r}; known: {', '.join(CATALOGUE)} (or give n_balls, ball_diameter_mm, pitch_diameter_mm)")
        return CATALOGUE[key]
    if isinstance(value, Mapping):
        fields = {_FIELD_ALIASES.get(k, k): v for k, v in value.items()}
        if set(fields) <= {"name"} and fields.get("name"):
            return bearing_from(str(fields["name"]))
        try:
            return BearingGeometry(
                n_balls=int(fields["n_balls"]),
                ball_diameter_mm=float(fields["ball_diameter_mm"]),
                pitch_diameter_mm=float(fields["pitch_diameter_mm"]),
                contact_angle_deg=float(fields.get("contact_angle_deg", 0.0) or 0.0),
                name=str(fields.get("name", "")),
            )
        except KeyError as err:
            raise ValueError(f"bearing geometry lacks {err.args[0]!r}") from err
    raise TypeError(f"cannot make a bearing geometry from {type(value).__name__}")
