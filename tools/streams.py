"""The latest tokenized windows of each device's stream, in memory, for tools that read them.

Ingest writes, the agent reads, from different threads; each device keeps only its last
few windows and the number of devices is bounded, so a misbehaving fleet cannot grow it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque

from adapters.base import TokenizedWindow

log = logging.getLogger(__name__)


class StreamStore:
    """Per device, the last `max_windows` windows; at most `max_devices` devices (least recently updated dropped)."""

    def __init__(self, max_windows: int = 8, max_devices: int = 10000) -> None:
        if max_windows < 1 or max_devices < 1:
            raise ValueError("max_windows and max_devices must be at least 1")
        self.max_windows = max_windows
        self.max_devices = max_devices
        self._windows: OrderedDict[str, deque[TokenizedWindow]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, device: str, window: TokenizedWindow) -> None:
        """Add the newest window of a device."""
        with self._lock:
            windows = self._windows.pop(device, None)
            if windows is None:
                windows = deque(maxlen=self.max_windows)
            windows.append(window)
            self._windows[device] = windows
            while len(self._windows) > self.max_devices:
                dropped, _ = self._windows.popitem(last=False)
                log.warning("stream store full: dropped device %s", dropped)

    def latest(self, device: str) -> TokenizedWindow | None:
        """The newest window of a device, or None if it has none."""
        with self._lock:
            windows = self._windows.get(device)
            return windows[-1] if windows else None

    def recent(self, device: str, n: int = 1) -> list[TokenizedWindow]:
        """Up to `n` newest windows of a device, oldest first."""
        with self._lock:
            windows = list(self._windows.get(device, ()))
        return windows[-n:] if n > 0 else []

    def devices(self) -> list[str]:
        """Devices with at least one window, sorted."""
        with self._lock:
            return sorted(self._windows)
