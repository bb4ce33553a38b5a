"""Per-device flood limit: a device that sends far more than its own clock allows is cut back, alone.

A token bucket per device, counted against the device's own time rather than the arrival time:
each message costs one token; a frame that moves its stream forward on the device clock earns
`factor` tokens for a whole frame's worth of new time (proportionally less for less). So

- a device sending at its own rate earns `factor` times what it spends and never runs dry;
- a backlog the broker replays after a Tessera restart passes at any speed, because its frames
  still move forward in device time (a limit by arrival rate would drop it);
- copies of a frame (a retry loop gone wrong) and frames that overlap the time already covered
  earn nothing: past the burst they are dropped, counted, acknowledged (so the broker does not
  send them again) and reported as a quality event;
- a frame covering less time than the stream's frames do (tiny frames at a high rate) earns in
  proportion to the time it covers.

The device's clock is trusted for its pace: a simulator at 10x or a recording replayed fast is
a device whose clock runs fast, and passes. A clock that runs ahead of Tessera's is not capped,
because such a cap starves every accelerated simulation after a few minutes (the soak showed
it); a device publishing new frames faster than it can sample is the broker's per-client rate
limit to stop (docs/wire.md, "Past one box"). The limit never touches other devices' streams,
and it costs a few attribute reads per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RESYNC_S = 60.0  # a stream clock that jumps back by more than this was set back (NTP): follow it, once a minute at most


@dataclass(slots=True)
class QualityEvent:
    """Something wrong with what a device sends, raised at most once per `every_s` per device and reason."""

    site: str
    device: str
    reason: str  # "flood" (beyond the device's budget) or "oversized" (beyond ingest.max_frame_bytes)
    dropped: int  # messages dropped for this reason since the device's previous event
    total: int  # all dropped for this reason since start
    detail: str
    at: float  # epoch seconds

    def as_dict(self) -> dict:
        """JSON-ready."""
        return {"site": self.site, "device": self.device, "reason": self.reason, "dropped": self.dropped,
                "total": self.total, "detail": self.detail, "at": self.at}


@dataclass(slots=True)
class DeviceFlow:
    """One device's budget and what was dropped from it."""

    site: str
    device: str
    tokens: float
    dead_letter_tokens: float
    dead_letter_at: float = 0.0
    flood_dropped: int = 0
    oversized: int = 0
    unreported: dict[str, int] = field(default_factory=dict)
    reported_at: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class StreamClock:
    """Where one stream stands on its device's clock."""

    device: DeviceFlow
    t_end: float = -math.inf  # device time the stream has covered so far
    frame_s: float = 0.0  # the stream's frame length, from its first frame
    resync_at: float = -math.inf


class FloodLimiter:
    """Budgets per device; `admit()` per frame, `refuse()` for what a device sent wrong."""

    def __init__(self, *, factor: float = 4.0, burst: float = 200.0, event_every_s: float = 60.0,
                 dead_letters_per_min: float = 60.0, max_devices: int = 10_000) -> None:
        if factor <= 1.0 or burst < 1.0 or event_every_s <= 0 or dead_letters_per_min < 0:
            raise ValueError(f"flood limit needs factor > 1, burst >= 1, event_every_s > 0, dead_letters_per_min >= 0, "
                             f"got {factor}, {burst}, {event_every_s}, {dead_letters_per_min}")
        self.factor, self.burst, self.event_every_s = factor, burst, event_every_s
        self.dead_letters_per_min = dead_letters_per_min
        self.max_devices = max_devices
        self.devices: dict[tuple[str, str], DeviceFlow] = {}
        self._anonymous = DeviceFlow("", "", burst, dead_letters_per_min)  # refused messages without a device id

    def flow(self, site: str, device: str) -> DeviceFlow:
        """The budget of a device (one shared budget for devices past `max_devices`)."""
        flow = self.devices.get((site, device))
        if flow is None:
            if len(self.devices) >= self.max_devices:
                return self._anonymous
            flow = self.devices[(site, device)] = DeviceFlow(site, device, self.burst, self.dead_letters_per_min)
        return flow

    def anonymous(self) -> DeviceFlow:
        """The budget for messages that name no usable device (a bad topic)."""
        return self._anonymous

    def admit(self, clock: StreamClock, t0: float, duration_s: float, now: float) -> bool:
        """Whether a frame of `duration_s` from device time `t0` may pass; `now` is Tessera's epoch time."""
        end = t0 + duration_s
        flow = clock.device
        if end > clock.t_end:
            advance = end - clock.t_end
            if clock.frame_s == 0.0:
                clock.frame_s, clock.t_end = duration_s, end  # the first frame: the bucket starts full
            else:
                earned = self.factor if advance >= clock.frame_s else self.factor * advance / clock.frame_s
                tokens = flow.tokens + earned
                flow.tokens = tokens if tokens < self.burst else self.burst
                clock.t_end = end
        elif end < clock.t_end - RESYNC_S and now - clock.resync_at > RESYNC_S:
            clock.t_end, clock.resync_at = end, now  # the device clock was set back: follow it
        if flow.tokens >= 1.0:
            flow.tokens -= 1.0
            return True
        flow.flood_dropped += 1
        return False

    def refuse(self, flow: DeviceFlow, reason: str, now: float, detail: str = "") -> QualityEvent | None:
        """Count a message dropped for `reason` (flood counts itself in admit); the quality event when one is due."""
        if reason == "oversized":
            flow.oversized += 1
        flow.unreported[reason] = flow.unreported.get(reason, 0) + 1
        if now - flow.reported_at.get(reason, -math.inf) < self.event_every_s:
            return None
        dropped, flow.unreported[reason] = flow.unreported[reason], 0
        flow.reported_at[reason] = now
        total = flow.flood_dropped if reason == "flood" else flow.oversized
        return QualityEvent(flow.site, flow.device, reason, dropped, total, detail, now)

    def dead_letter_allowed(self, flow: DeviceFlow, now: float) -> bool:
        """Whether a refused message of this device may still go to the dead-letter topic (a per-minute budget)."""
        refill = (now - flow.dead_letter_at) * self.dead_letters_per_min / 60.0
        flow.dead_letter_at = now
        flow.dead_letter_tokens = min(self.dead_letters_per_min, flow.dead_letter_tokens + refill)
        if flow.dead_letter_tokens >= 1.0:
            flow.dead_letter_tokens -= 1.0
            return True
        return False

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Devices that had messages dropped: {"site/device": {"flood": n, "oversized": n}}."""
        return {f"{f.site}/{f.device}": {"flood": f.flood_dropped, "oversized": f.oversized}
                for f in [*self.devices.values(), self._anonymous] if f.flood_dropped or f.oversized}
