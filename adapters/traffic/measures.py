"""Traffic-flow measures from loop-detector aggregates: flow, density and HCM level of service.

Units: counts are vehicles per interval over all lanes of a station; speed is km/h
(time-mean speed as loops report it); occupancy is percent of the interval a loop
is covered. Flow is veh/h/lane. Density is veh/km/lane: flow / speed where the
speed is usable (fundamental relation q = k v), otherwise from occupancy,
k = 10 * occupancy% / L_eff with L_eff the effective vehicle-plus-loop length in m.

Level of service follows the Highway Capacity Manual (HCM 6th ed., Exhibit 12-15,
basic freeway segments), density thresholds in passenger cars per mile per lane:
A <= 11, B <= 18, C <= 26, D <= 35, E <= 45, F above 45. Loops count vehicles,
not passenger-car equivalents; with few heavy vehicles the difference is small and
we do not correct for it.
"""

from __future__ import annotations

import numpy as np

KM_PER_MILE = 1.609344
# (letter, upper bound of density in pc/mi/ln), HCM 6th ed. Exhibit 12-15.
HCM_LOS_DENSITY_PC_MI_LN: tuple[tuple[str, float], ...] = (
    ("A", 11.0), ("B", 18.0), ("C", 26.0), ("D", 35.0), ("E", 45.0),
)
LOS_LETTERS = "ABCDEF"
MIN_SPEED_FOR_DENSITY_KMH = 5.0  # below this, q/v is unstable: use occupancy instead


def flow_per_lane(count: np.ndarray | float, interval_s: float, lanes: int) -> np.ndarray:
    """Flow in veh/h/lane from a count per interval over all lanes."""
    if interval_s <= 0 or lanes < 1:
        raise ValueError(f"interval_s must be positive and lanes at least 1, got {interval_s}, {lanes}")
    return np.asarray(count, dtype=np.float64) * (3600.0 / interval_s) / lanes


def density_from_occupancy(occupancy_pct: np.ndarray | float, effective_length_m: float) -> np.ndarray:
    """Density in veh/km/lane from occupancy in percent: k = 10 * occ / L_eff."""
    if effective_length_m <= 0:
        raise ValueError(f"effective_length_m must be positive, got {effective_length_m}")
    return np.asarray(occupancy_pct, dtype=np.float64) * 10.0 / effective_length_m


def density(flow_vphpl: np.ndarray | float, speed_kmh: np.ndarray | float,
            occupancy_pct: np.ndarray | float | None = None, effective_length_m: float = 6.5) -> np.ndarray:
    """Density in veh/km/lane: flow / speed, or from occupancy where the speed is missing or near zero."""
    q = np.asarray(flow_vphpl, dtype=np.float64)
    v = np.asarray(speed_kmh, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(np.isfinite(v) & (v >= MIN_SPEED_FOR_DENSITY_KMH), q / v, np.nan)
    if occupancy_pct is not None:
        k = np.where(np.isfinite(k), k, density_from_occupancy(occupancy_pct, effective_length_m))
    return k


def level_of_service(density_veh_km_ln: float) -> str:
    """HCM level of service A-F for a density in veh/km/lane; '?' when the density is unknown."""
    if not np.isfinite(density_veh_km_ln):
        return "?"
    per_mile = float(density_veh_km_ln) * KM_PER_MILE
    for letter, upper in HCM_LOS_DENSITY_PC_MI_LN:
        if per_mile <= upper:
            return letter
    return "F"
