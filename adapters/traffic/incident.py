"""Incident detection between an upstream and a downstream station, California algorithm #7 style.

An incident between two loop stations makes a queue at the upstream one (high
occupancy) and starves the downstream one (low occupancy). Payne & Tignor's
California algorithms (TSC #7, 1978) compare, per interval:

    OCCDF  = OCC_up - OCC_down            (percentage points)
    OCCRDF = OCCDF / OCC_up               (relative difference)
    DOCC   = OCC_down                     (downstream occupancy)

States: free -> tentative when OCCDF >= T1 and OCCRDF >= T2 and DOCC < T3
(the last test, #7's change, keeps recurrent queues that cover both stations
from looking like incidents) and, as in algorithm #8, no downstream interval at
or above T3 within `wave_hold_s` (a stop-and-go wave passes the downstream loop
a minute or two before the upstream one); tentative -> confirmed when
the first two tests still hold after `persist_s`; confirmed continues while
OCCRDF >= T2, else back to free. Occupancies are smoothed over `smooth_s` first,
as the algorithm was run on 1-minute occupancies. Threshold defaults sit in the
range used for 30-s to 1-min data; they are per-site settings.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class IncidentState(enum.Enum):
    """Where the algorithm stands for a station pair."""

    FREE = "free"
    TENTATIVE = "suspected"
    CONFIRMED = "confirmed"


@dataclass(slots=True, frozen=True)
class CaliforniaConfig:
    """Thresholds in occupancy percent and seconds."""

    t1_occdf_pct: float = 12.0  # T1: upstream minus downstream occupancy
    t2_occrdf: float = 0.5  # T2: that difference relative to upstream occupancy
    t3_docc_pct: float = 20.0  # T3: downstream occupancy above this is a queue there too
    persist_s: float = 60.0  # how long tentative must hold before confirmation
    smooth_s: float = 60.0  # moving-average length of the occupancies
    wave_hold_s: float = 300.0  # no new incident this long after the downstream occupancy passed T3

    def __post_init__(self) -> None:
        for name in ("t1_occdf_pct", "t2_occrdf", "t3_docc_pct", "smooth_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive, got {v}")
        if not (math.isfinite(self.wave_hold_s) and self.wave_hold_s >= 0):
            raise ValueError(f"wave_hold_s must be non-negative seconds, got {self.wave_hold_s}")
        if not (math.isfinite(self.persist_s) and self.persist_s >= 0):
            raise ValueError(f"persist_s must be non-negative seconds, got {self.persist_s}")
        if self.t2_occrdf > 1:
            raise ValueError(f"t2_occrdf is a ratio at most 1, got {self.t2_occrdf}")


@dataclass(slots=True, frozen=True)
class IncidentStep:
    """The algorithm's state after one interval and the numbers it decided on."""

    state: IncidentState
    occdf: float
    occrdf: float
    docc: float
    changed: bool


class CaliforniaDetector:
    """Stateful California #7 over one station pair, one interval at a time."""

    def __init__(self, config: CaliforniaConfig, interval_s: float) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.config = config
        self._n_smooth = max(1, int(round(config.smooth_s / interval_s)))
        self._n_persist = max(1, int(round(config.persist_s / interval_s)))
        self._n_hold = int(round(config.wave_hold_s / interval_s))
        self.reset()

    def reset(self) -> None:
        """Back to incident-free with no history."""
        self.state = IncidentState.FREE
        self._up: list[float] = []
        self._down: list[float] = []
        self._held = 0
        self._since_wave = 10**9  # intervals since the downstream station last looked queued

    def step(self, occ_up: float, occ_down: float) -> IncidentStep:
        """Advance one interval with the two stations' occupancies in percent (NaN holds the state)."""
        c = self.config
        if not (math.isfinite(occ_up) and math.isfinite(occ_down)):
            return IncidentStep(self.state, math.nan, math.nan, math.nan, False)
        self._up = (self._up + [occ_up])[-self._n_smooth:]
        self._down = (self._down + [occ_down])[-self._n_smooth:]
        up = sum(self._up) / len(self._up)
        down = sum(self._down) / len(self._down)
        occdf = up - down
        occrdf = occdf / up if up > 0 else 0.0
        pattern = occdf >= c.t1_occdf_pct and occrdf >= c.t2_occrdf
        # Compression waves travel upstream: the downstream loop sees them first. As California #8
        # does, a recent dense downstream interval holds off new incidents for a while.
        self._since_wave = 0 if occ_down >= c.t3_docc_pct else self._since_wave + 1
        before = self.state
        if self.state is IncidentState.FREE:
            if pattern and down < c.t3_docc_pct and self._since_wave > self._n_hold:
                self.state, self._held = IncidentState.TENTATIVE, 0
        elif self.state is IncidentState.TENTATIVE:
            if not pattern:
                self.state = IncidentState.FREE
            else:
                self._held += 1
                if self._held >= self._n_persist:
                    self.state = IncidentState.CONFIRMED
        elif occrdf < c.t2_occrdf:
            self.state = IncidentState.FREE
        return IncidentStep(self.state, occdf, occrdf, down, self.state is not before)
