"""Replay a recorded signal (WFDB, CSV, NPY) as a device, at real time or accelerated by the runtime's speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from base.errors import TesseraError
from firmware_sim.firmware import Firmware, SampledStream


class ReplayError(TesseraError):
    """A recording cannot be read for replay."""


def load_recording(path: str | Path, rate_hz: float | None = None, channels: list[int] | None = None) -> tuple[np.ndarray, float, list[str]]:
    """(channels, n) samples, sample rate and channel names from a .hea/.dat (WFDB), .csv or .npy file."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".hea", ".dat", ""):
            import wfdb

            record = wfdb.rdrecord(str(path.with_suffix("")))
            data, rate, names = record.p_signal.T, float(record.fs), list(record.sig_name)
        elif suffix == ".csv":
            table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
            names = list(table.dtype.names or [])
            data = np.vstack([table[n] for n in names]) if names else np.atleast_2d(np.loadtxt(path, delimiter=","))
            if names and names[0].lower() in ("t", "time", "time_s", "timestamp") and len(names) > 1:
                rate = rate_hz or 1.0 / float(np.median(np.diff(data[0])))
                data, names = data[1:], names[1:]
            else:
                rate = rate_hz or 0.0
        elif suffix == ".npy":
            data = np.atleast_2d(np.load(path, allow_pickle=False))
            names, rate = [f"ch{i}" for i in range(data.shape[0])], rate_hz or 0.0
        else:
            raise ReplayError(f"cannot replay {path}: use a WFDB record (.hea), .csv or .npy")
    except (OSError, ValueError) as err:
        raise ReplayError(f"cannot read recording {path}: {err}") from err
    if not rate or rate <= 0:
        raise ReplayError(f"{path} carries no sample rate; give rate_hz")
    if channels:
        data, names = data[channels], [names[i] for i in channels]
    return np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0), rate, names


class ReplayDevice(Firmware):
    """Streams a recording frame by frame, looping at the end when `loop` is set."""

    kind = "replay"
    model = "Tessera replay"

    def __init__(self, device_id: str, *, path: str, stream: str = "signal", rate_hz: float | None = None,
                 channels: list[int] | None = None, frame_s: float = 0.5, loop: bool = True, dtype: str = "<f4",
                 scale: float = 1.0, **kw) -> None:
        super().__init__(device_id, **kw)
        self.data, self.rate_hz, self.names = load_recording(path, rate_hz, channels)
        self.loop, self.position, self.finished = loop, 0, False
        encoding = "json" if self.rate_hz < 5 else "binary"
        self.streams = [SampledStream(stream, self.rate_hz, frame_s, self._take, encoding=encoding, dtype=dtype, scale=scale,
                                      channels=self.names)]

    def _take(self, n: int) -> np.ndarray:
        if self.position + n > self.data.shape[1]:
            if not self.loop:  # the last, partial frame is padded with NaN, then the device falls silent
                self.finished = True
                tail = self.data[:, self.position:]
                return np.concatenate([tail, np.full((tail.shape[0], n - tail.shape[1]), np.nan)], axis=1)
            self.position = 0
        out = self.data[:, self.position:self.position + n]
        self.position += n
        return out

    def next_due(self) -> float:
        """Never again once a non-looping recording is played out."""
        return float("inf") if self.finished else super().next_due()
