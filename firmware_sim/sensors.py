"""Streaming sensor devices: ECG patch, vibration node, traffic loop detector, generic scalar sensor.

Signals come from firmware_sim.signals (ecg, vibration, traffic, scalar); these classes add what
firmware adds: rates, batching into frames, int16 scaling, a battery, metadata, scheduled faults.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np

from firmware_sim.faults import FaultKind
from firmware_sim.firmware import BlockBuffer, Firmware, SampledStream
from firmware_sim.signals import scalar as scalar_signal
from firmware_sim.signals import traffic as traffic_signal
from firmware_sim.signals.ecg import synthesize_ecg
from firmware_sim.signals.vibration import MachineState
from firmware_sim.signals.vibration import simulate as simulate_vibration

ECG_BLOCK_S = 10.0
VIBRATION_BLOCK_S = 2.0
SLOW_BLOCK_S = 3600.0


class EcgPatchDevice(Firmware):
    """A wearable ECG patch: 250 or 360 Hz, one or two leads in int16 microvolts, a draining battery."""

    kind = "ecg_patch"
    model = "Tessera sim ECG patch"

    def __init__(self, device_id: str, *, rate_hz: float = 250.0, leads: int = 1, hr_bpm: float = 72.0, frame_s: float = 0.5,
                 battery_pct: float = 100.0, drain_pct_per_h: float = 2.0, battery_period_s: float = 60.0, **kw) -> None:
        super().__init__(device_id, **kw)
        if rate_hz not in (250.0, 360.0) or leads not in (1, 2):
            raise ValueError(f"ECG patch samples at 250 or 360 Hz with 1 or 2 leads, got {rate_hz} Hz, {leads} leads")
        self.rate_hz, self.leads, self.hr_bpm = rate_hz, leads, hr_bpm
        self.battery_pct, self.drain_pct_per_s = battery_pct, drain_pct_per_h / 3600.0
        self._first_r = 0.4
        self._ecg = BlockBuffer(self._generate, rate_hz, ECG_BLOCK_S)
        self.streams = [
            SampledStream("ecg", rate_hz, frame_s, self._ecg.take, dtype="<i2", scale=0.001, unit="mV",
                          channels=["lead_I", "lead_II"][:leads]),
            SampledStream("battery", 1.0 / battery_period_s, battery_period_s, self._battery, encoding="json", unit="%"),
        ]

    def _generate(self, t_rel: float, block_s: float) -> np.ndarray:
        episode = self.faults.active(FaultKind.ARRHYTHMIA, self.booted_at + t_rel)
        params = dict(episode.params) if episode else {}
        hr = float(params.pop("hr_bpm", self.hr_bpm))
        options = {k: params[k] for k in ("af", "v_fraction", "s_fraction", "pauses") if k in params}
        ecg = synthesize_ecg(block_s, self.rate_hz, hr, rng=self.rng, start_s=self._first_r, snr_db=30.0, baseline_mv=0.05, **options)
        last_r = ecg.r_peaks[-1] / self.rate_hz if ecg.r_peaks.size else self._first_r
        self._first_r = max(0.05, last_r + 60.0 / hr - block_s)  # beat timing continues across blocks
        if self.leads == 1:
            return ecg.signal
        lead_ii = 1.3 * ecg.signal + self.rng.normal(0, 0.01, ecg.signal.size)  # lead II sees a taller R wave
        return np.vstack([ecg.signal, lead_ii])

    def _battery(self, n: int) -> np.ndarray:
        self.battery_pct = max(0.0, self.battery_pct - self.drain_pct_per_s * n / self.streams[1].rate_hz)
        return np.full(n, round(self.battery_pct, 1))


class VibrationNode(Firmware):
    """An accelerometer on a machine: 12.8 kHz acceleration in g (int16), shaft speed, bearing geometry in meta."""

    kind = "vibration_node"
    model = "Tessera sim vibration node"

    def __init__(self, device_id: str, *, rate_hz: float = 12800.0, frame_s: float = 0.1, rpm: float = 1797.0,
                 speed_period_s: float = 10.0, range_g: float = 16.0, **kw) -> None:
        super().__init__(device_id, **kw)
        self.rate_hz, self.rpm = rate_hz, rpm
        self.state = MachineState(rpm=rpm, resonance_hz=min(3000.0, 0.3 * rate_hz), second_resonance_hz=min(1800.0, 0.2 * rate_hz))
        self._accel = BlockBuffer(self._generate, rate_hz, VIBRATION_BLOCK_S)
        self.streams = [
            SampledStream("accel", rate_hz, frame_s, self._accel.take, dtype="<i2", scale=range_g / 32767, unit="g"),
            SampledStream("speed", 1.0 / speed_period_s, speed_period_s, self._speed, encoding="json", unit="rpm"),
        ]

    def metadata(self) -> dict:
        """Meta with the shaft speed and the bearing geometry an encoder needs for defect frequencies."""
        return {**super().metadata(), "rpm": self.rpm, "bearing": asdict(self.state.bearing)}

    def _generate(self, t_rel: float, block_s: float) -> np.ndarray:
        t = self.booted_at + t_rel
        defect = self.faults.active(FaultKind.BEARING_DEFECT, t)
        state = self.state
        if defect:
            grown = (t - self.faults.origin - defect.at_s) * float(defect.params.get("growth_per_s", 0.0))
            state = replace(state, fault=defect.params.get("fault", "outer_race"),
                            severity=float(defect.params.get("severity", 0.3)) + grown,
                            growth_per_s=float(defect.params.get("growth_per_s", 0.0)))
        return simulate_vibration(block_s, self.rate_hz, state, self.rng).signal_g

    def _speed(self, n: int) -> np.ndarray:
        return self.rpm * (1 + self.state.speed_wander * self.rng.standard_normal(n))


class TrafficLoop(Firmware):
    """A loop-detector station: count, speed (km/h) and occupancy (%) per 20-60 s interval, as JSON."""

    kind = "traffic_loop"
    model = "Tessera sim loop detector"

    def __init__(self, device_id: str, *, interval_s: float = 30.0, station: str = "upstream", lanes: int = 3, **kw) -> None:
        super().__init__(device_id, **kw)
        if not 20.0 <= interval_s <= 60.0 or station not in ("upstream", "downstream"):
            raise ValueError(f"loop detectors aggregate over 20-60 s at an upstream or downstream station, got {interval_s} s, {station!r}")
        self.interval_s, self.station, self.lanes = interval_s, station, lanes
        self._data = BlockBuffer(self._generate, 1.0 / interval_s, SLOW_BLOCK_S)
        self.streams = [SampledStream("loop", 1.0 / interval_s, interval_s, self._data.take, encoding="json",
                                      channels=["count", "speed_kmh", "occupancy_pct"])]

    def metadata(self) -> dict:
        """Meta with the lane count (flow per lane) and which station of the pair this loop is."""
        return {**super().metadata(), "lanes": self.lanes, "station": self.station}

    def _generate(self, t_rel: float, block_s: float) -> np.ndarray:
        t0 = self.booted_at + t_rel
        incidents = [traffic_signal.Incident(self.faults.origin + f.at_s, f.duration_s, float(f.params.get("capacity_fraction", 0.4)))
                     for f in self.faults.of_kind(FaultKind.TRAFFIC_INCIDENT)]
        profile = traffic_signal.TrafficProfile(lanes=self.lanes, interval_s=self.interval_s)
        rec = traffic_signal.simulate(block_s, t0, incidents=incidents, profile=profile, seed=int(self.rng.integers(2**31)))
        return rec.upstream if self.station == "upstream" else rec.downstream


class ScalarSensor(Firmware):
    """A generic scalar sensor (temperature, current, pressure): one reading per period, batched per frame."""

    kind = "scalar"
    model = "Tessera sim scalar sensor"

    def __init__(self, device_id: str, *, sensor: str = "temperature", period_s: float = 10.0, batch: int = 1, **kw) -> None:
        super().__init__(device_id, **kw)
        if sensor not in scalar_signal.PROFILES:
            raise ValueError(f"unknown sensor {sensor!r}; valid: {', '.join(scalar_signal.PROFILES)}")
        self.sensor, self.period_s = sensor, period_s
        self._data = BlockBuffer(self._generate, 1.0 / period_s, max(SLOW_BLOCK_S, 10 * period_s))
        self.streams = [SampledStream(sensor, 1.0 / period_s, period_s * batch, self._data.take, encoding="json",
                                      unit=scalar_signal.PROFILES[sensor].unit)]

    def _generate(self, t_rel: float, block_s: float) -> np.ndarray:
        rec = scalar_signal.simulate(self.sensor, block_s, self.period_s, self.booted_at + t_rel, seed=int(self.rng.integers(2**31)))
        return np.round(rec.values, 3)
