"""A wearable ECG patch: one lead at 250 Hz in int16 microvolts, with a heart-rate schedule."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from base.settings import MqttSettings
from firmware_sim.device import StreamingDevice
from firmware_sim.signals.ecg import synthesize_ecg

BLOCK_S = 30.0  # synthesize this much at a time; a block boundary may clip one wave


class EcgPatch(StreamingDevice):
    """Streams synthetic ECG; `schedule` is [(from_s, hr_bpm), ...] sorted by time."""

    def __init__(self, mqtt: MqttSettings, device_id: str, schedule: list[tuple[float, float]], rate_hz: float = 250.0,
                 frame_s: float = 0.5, seed: int = 0, speed: float = 1.0) -> None:
        super().__init__(mqtt, device_id, "ecg", rate_hz, frame_s, speed)
        if not schedule or schedule[0][0] != 0:
            raise ValueError("schedule must start at 0 s, e.g. [(0, 72), (12, 135)]")
        self.schedule = sorted(schedule)
        self.rng = np.random.default_rng(seed)

    def hr_at(self, t_s: float) -> float:
        """The scheduled heart rate at `t_s` seconds after start."""
        return [hr for start, hr in self.schedule if start <= t_s][-1]

    def samples(self) -> Iterator[np.ndarray]:
        """Blocks of ECG in mV, each at one scheduled rate, continuous in beat timing."""
        t = 0.0
        first_r = 0.4
        while True:
            changes = [start for start, _ in self.schedule if start > t]
            length = min(BLOCK_S, (changes[0] - t) if changes else BLOCK_S)
            ecg = synthesize_ecg(length, self.rate_hz, self.hr_at(t), rng=self.rng, start_s=first_r, snr_db=30.0)
            last_r_s = ecg.r_peaks[-1] / self.rate_hz if ecg.r_peaks.size else first_r
            first_r = max(0.05, last_r_s + 60.0 / self.hr_at(t + length) - length)
            yield ecg.signal
            t += length
