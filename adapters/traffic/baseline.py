"""Time-of-day baseline of a station: what flow, speed and occupancy are usual at this hour.

One bin per `bin_s` of the day (15 minutes by default), each an exponentially
weighted mean over days (a running mean for the first `memory_days` days). A bin
answers only once it has data from an earlier day, so that today's queue never
passes for "usual". Rush hour becomes usual after a day or two; an incident at
noon stays unusual. Callers skip `learn` while an incident is active so that
incidents do not teach the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_DAY = 86400.0


@dataclass(slots=True, frozen=True)
class Expected:
    """Usual flow (veh/h/ln), speed (km/h) and occupancy (%) at a time of day."""

    flow: float
    speed: float
    occupancy: float


class TimeOfDayBaseline:
    """Per-bin weighted means of (flow, speed, occupancy); see the module doc."""

    def __init__(self, interval_s: float, bin_s: float = 900.0, memory_days: float = 7.0) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        if not (bin_s > 0 and _DAY / bin_s >= 1):
            raise ValueError(f"bin_s must be positive and at most a day, got {bin_s}")
        if not memory_days > 0:
            raise ValueError(f"memory_days must be positive, got {memory_days}")
        self.bin_s = float(bin_s)
        self.memory_days = float(memory_days)
        self.n_bins = int(round(_DAY / bin_s))
        per_day = max(1.0, bin_s / interval_s)  # updates a bin gets per day
        self._alpha = 1.0 - math.exp(-1.0 / (memory_days * per_day))
        self.reset()

    def reset(self) -> None:
        """Forget everything learned."""
        self._mean = np.full((self.n_bins, 3), np.nan)
        self._days = np.zeros(self.n_bins, dtype=np.int64)  # distinct days that fed the bin
        self._last_day = np.full(self.n_bins, -1, dtype=np.int64)
        self._count = np.zeros(self.n_bins, dtype=np.int64)

    def _bin(self, t: float) -> int:
        return int((t % _DAY) // self.bin_s) % self.n_bins

    def expected(self, t: float) -> Expected | None:
        """The usual values at time t, or None while the bin has no earlier day."""
        b = self._bin(t)
        day = int(t // _DAY)
        earlier = self._days[b] - (1 if self._last_day[b] == day else 0)
        if earlier < 1:
            return None
        flow, speed, occ = self._mean[b]
        return Expected(float(flow), float(speed), float(occ))

    def learn(self, t: float, flow: float, speed: float, occupancy: float) -> None:
        """Fold one interval's measures into the bin of its time of day (NaN values are skipped)."""
        b = self._bin(t)
        day = int(t // _DAY)
        if self._last_day[b] != day:
            self._last_day[b] = day
            self._days[b] += 1
        self._count[b] += 1
        # A running mean at first, then exponentially weighted over about memory_days.
        alpha = max(self._alpha, 1.0 / self._count[b])
        for i, v in enumerate((flow, speed, occupancy)):
            if not math.isfinite(v):
                continue
            m = self._mean[b, i]
            self._mean[b, i] = v if not math.isfinite(m) else m + alpha * (v - m)
