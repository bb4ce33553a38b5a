"""ECG analysis settings in physical units, validated once and converted to samples at the internal rate."""

from __future__ import annotations

from dataclasses import dataclass

# Detection, classification and rhythm analysis all run at this rate; any input rate is
# resampled to it first, so the filters and timing constants are designed once.
INTERNAL_FS = 250.0


@dataclass(slots=True, frozen=True)
class ECGConfig:
    """Thresholds and windows of the ECG pipeline, in seconds, bpm, mV and Hz."""

    window_s: float = 10.0  # default window length an encoder is fed
    band_hz: tuple[float, float] = (6.0, 16.0)  # QRS band: Pan-Tompkins 5-15 Hz nudged up against tall T waves, low enough for wide V beats
    wide_band_hz: tuple[float, float] = (0.5, 40.0)  # morphology band (baseline and mains removed)
    integration_s: float = 0.150  # moving-window integration length
    refractory_s: float = 0.200  # no two QRS closer than this
    t_wave_s: float = 0.360  # a candidate this soon after a QRS may be a T wave
    searchback_factor: float = 1.66  # search back when RR exceeds this times the mean RR
    brady_bpm: float = 50.0
    tachy_bpm: float = 100.0
    severe_brady_bpm: float = 40.0
    severe_tachy_bpm: float = 150.0
    pause_s: float = 2.0  # an RR longer than this (and 1.5x the median) is a pause
    asystole_s: float = 4.0  # no QRS for this long in a usable signal is asystole
    premature_ratio: float = 0.87  # RR / local reference below this is premature
    wide_qrs_s: float = 0.120  # QRS duration above this is wide
    af_irregularity: float = 0.11  # median |dRR| / median RR above this is irregular (sinus arrhythmia stays below)
    af_min_beats: int = 8
    vt_min_beats: int = 5  # ventricular run this long at > tachy_bpm is VT
    min_qrs_mv: float = 0.04  # QRS-band swing below this is never a QRS (even low-voltage QRS exceed it)
    lead_off_mv: float = 0.01  # peak-to-peak below this is a flat line (lead off)
    rail_mv: tuple[float, float] | None = None  # ADC limits, for saturation

    def __post_init__(self) -> None:
        lo, hi = self.band_hz
        if not 0 < lo < hi < INTERNAL_FS / 2:
            raise ValueError(f"band_hz must satisfy 0 < low < high < {INTERNAL_FS / 2}, got {self.band_hz}")
        wlo, whi = self.wide_band_hz
        if not 0 < wlo < whi < INTERNAL_FS / 2:
            raise ValueError(f"wide_band_hz must satisfy 0 < low < high < {INTERNAL_FS / 2}, got {self.wide_band_hz}")
        if self.window_s <= 0:
            raise ValueError(f"window_s must be positive, got {self.window_s}")
        for name in ("integration_s", "refractory_s", "t_wave_s", "pause_s", "asystole_s", "wide_qrs_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.brady_bpm < self.tachy_bpm:
            raise ValueError(f"need 0 < brady_bpm < tachy_bpm, got {self.brady_bpm}, {self.tachy_bpm}")
        if self.severe_brady_bpm > self.brady_bpm or self.severe_tachy_bpm < self.tachy_bpm:
            raise ValueError("severe thresholds must lie beyond the plain brady/tachy thresholds")
        if self.asystole_s < self.pause_s:
            raise ValueError("asystole_s must be at least pause_s")
        if not 0.5 < self.premature_ratio < 1.0:
            raise ValueError(f"premature_ratio must be within 0.5..1, got {self.premature_ratio}")
        if self.searchback_factor <= 1.0:
            raise ValueError(f"searchback_factor must exceed 1, got {self.searchback_factor}")
        if self.min_qrs_mv < 0:
            raise ValueError(f"min_qrs_mv must not be negative, got {self.min_qrs_mv}")
        if self.af_min_beats < 4 or self.vt_min_beats < 3:
            raise ValueError("af_min_beats must be >= 4 and vt_min_beats >= 3")

    def samples(self, seconds: float) -> int:
        """A duration in samples at the internal rate."""
        return max(1, int(round(seconds * INTERNAL_FS)))
