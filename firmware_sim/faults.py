"""Faults a scenario can schedule on a device, by time since the scenario started.

Signal faults change what a model generates (arrhythmia, bearing_defect, traffic_incident);
stream faults change what the firmware sends whatever the signal (dropout: frames lost on the
device, their sequence numbers skipped; stuck: the value freezes; noise_burst: heavy noise;
flood: every frame is sent `factor` times, as a retry loop gone wrong would).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FaultKind(enum.Enum):
    """What can go wrong."""

    ARRHYTHMIA = "arrhythmia"  # params: hr_bpm, af, v_fraction, s_fraction
    BEARING_DEFECT = "bearing_defect"  # params: fault (outer_race...), severity, growth_per_s
    TRAFFIC_INCIDENT = "traffic_incident"  # params: capacity_fraction
    DROPOUT = "dropout"
    STUCK = "stuck"
    NOISE_BURST = "noise_burst"  # params: sigma (signal units) or factor (x the frame's std)
    FLOOD = "flood"  # params: factor


@dataclass(slots=True, frozen=True)
class Fault:
    """One scheduled fault: active from `at_s` for `duration_s` seconds of scenario time."""

    kind: FaultKind
    at_s: float
    duration_s: float
    params: dict = field(default_factory=dict)

    def active(self, t_rel: float) -> bool:
        """Whether the fault is on at `t_rel` seconds after the scenario start."""
        return self.at_s <= t_rel < self.at_s + self.duration_s


class FaultSchedule:
    """The faults of one device; times are relative to `origin` (scenario start, epoch s)."""

    def __init__(self, faults: list[Fault] | None = None, origin: float = 0.0) -> None:
        self.faults = sorted(faults or [], key=lambda f: f.at_s)
        self.origin = origin

    def inject(self, fault: Fault) -> None:
        """Schedule one more fault while the device runs (`at_s` still relative to `origin`)."""
        self.faults = sorted([*self.faults, fault], key=lambda f: f.at_s)  # one reference swap: the device thread sees old or new

    def active(self, kind: FaultKind, t: float) -> Fault | None:
        """The fault of `kind` active at epoch time `t`, if any."""
        rel = t - self.origin
        return next((f for f in self.faults if f.kind is kind and f.active(rel)), None)

    def of_kind(self, kind: FaultKind) -> list[Fault]:
        """All faults of `kind`, in time order."""
        return [f for f in self.faults if f.kind is kind]
