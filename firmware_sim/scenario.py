"""Scenarios in YAML: a site, its devices (kind, count, parameters) and faults over time.

    site: plant-7
    duration_s: 600          # default run length (the CLI can override)
    speed: 1.0               # simulated seconds per wall second
    seed: 1
    devices:
      - kind: vibration_node
        id: "pump-{i:02d}"   # formatted with i = 0..count-1
        count: 4
        params: {rate_hz: 12800, rpm: 1780}
        clock: {drift_ppm: 40, offset_s: 0.2}   # optional; drift_ppm may be a [low, high] range
    faults:
      - kind: bearing_defect
        devices: "pump-01"   # fnmatch pattern over device ids
        at_s: 60
        duration_s: 300
        params: {fault: outer_race, severity: 0.2, growth_per_s: 0.005}
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from base.errors import TesseraError, first_problem, read_yaml
from firmware_sim import home, sensors
from firmware_sim.faults import Fault, FaultKind, FaultSchedule
from firmware_sim.firmware import DeviceClock, Firmware
from firmware_sim.replay import ReplayDevice

DEVICE_KINDS: dict[str, type[Firmware]] = {
    "ecg_patch": sensors.EcgPatchDevice,
    "vibration_node": sensors.VibrationNode,
    "traffic_loop": sensors.TrafficLoop,
    "scalar": sensors.ScalarSensor,
    "light": home.Light,
    "switch": home.Switch,
    "thermostat": home.Thermostat,
    "cover": home.Cover,
    "lock": home.Lock,
    "motion_sensor": home.MotionSensor,
    "temperature_sensor": home.TemperatureSensor,
    "replay": ReplayDevice,
}


class ScenarioError(TesseraError):
    """A scenario file that cannot be run."""


class ClockSpec(BaseModel):
    """Device clock error: drift in ppm (or a [low, high] range drawn per device) and a fixed offset."""

    drift_ppm: float | tuple[float, float] = 0.0
    offset_s: float | tuple[float, float] = 0.0


class DeviceSpec(BaseModel):
    """A group of identical devices."""

    kind: str
    id: str
    count: int = Field(1, ge=1, le=100_000)
    params: dict[str, Any] = Field(default_factory=dict)
    clock: ClockSpec = ClockSpec()


class FaultSpec(BaseModel):
    """A fault on the devices whose ids match `devices`."""

    kind: FaultKind
    devices: str = "*"
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    params: dict[str, Any] = Field(default_factory=dict)


class Scenario(BaseModel):
    """A whole simulated site."""

    site: str = "home"
    prefix: str = "tessera"
    duration_s: float | None = Field(None, gt=0)
    speed: float = Field(1.0, gt=0, le=1000)
    seed: int = 0
    devices: list[DeviceSpec]
    faults: list[FaultSpec] = Field(default_factory=list)
    base_dir: Path | None = None  # where relative replay paths start: the scenario file's folder

    def device_ids(self) -> list[str]:
        """Every device id, in order."""
        return [_format_id(spec.id, i) for spec in self.devices for i in range(spec.count)]

    def build(self) -> list[Firmware]:
        """Instantiate every device with its faults and clock; ScenarioError on bad kinds or parameters."""
        rng = np.random.default_rng(self.seed)
        ids = self.device_ids()
        if len(set(ids)) != len(ids):
            raise ScenarioError("device ids repeat; give groups with count > 1 an id pattern such as 'pump-{i:02d}'")
        out: list[Firmware] = []
        for spec in self.devices:
            cls = DEVICE_KINDS.get(spec.kind)
            if cls is None:
                raise ScenarioError(f"unknown device kind {spec.kind!r}; valid: {', '.join(DEVICE_KINDS)}")
            for i in range(spec.count):
                device_id = _format_id(spec.id, i)
                faults = [Fault(f.kind, f.at_s, f.duration_s, f.params) for f in self.faults if fnmatch.fnmatchcase(device_id, f.devices)]
                clock = DeviceClock(drift_ppm=_draw(spec.clock.drift_ppm, rng), offset_s=_draw(spec.clock.offset_s, rng))
                params = dict(spec.params)
                if "path" in params and self.base_dir and not Path(params["path"]).is_absolute():
                    params["path"] = str(self.base_dir / params["path"])
                try:
                    out.append(cls(device_id, site=self.site, prefix=self.prefix, seed=int(rng.integers(2**31)), clock=clock,
                                   faults=FaultSchedule(faults), **params))
                except (TypeError, ValueError) as err:
                    raise ScenarioError(f"device {device_id} ({spec.kind}): {err}") from err
        return out


def _format_id(pattern: str, i: int) -> str:
    try:
        return pattern.format(i=i)
    except (KeyError, IndexError, ValueError) as err:
        raise ScenarioError(f"device id pattern {pattern!r} is not a format with {{i}}: {err}") from err


def _draw(value: float | tuple[float, float], rng: np.random.Generator) -> float:
    return float(rng.uniform(*value)) if isinstance(value, tuple) else float(value)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    data = read_yaml(path, "scenario file", "", ScenarioError)
    try:
        if isinstance(data, dict):
            data.setdefault("base_dir", str(path.resolve().parent))
        return Scenario.model_validate(data)
    except ValidationError as err:
        where, problem = first_problem(err)
        raise ScenarioError(f"scenario {path}: {where}: {problem}") from err
