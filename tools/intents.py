"""Home control as Home Assistant intents: same intent names, same slot names, same slot values.

Slots name the target the way Home Assistant does (name / area / floor / domain /
device_class) plus the intent's values (brightness in %, color name, temperature in
the home's unit, position in %, volume in %). Targets are resolved against the home
registry; an unresolvable target is a failed result carrying a clarifying question.
Commands go out over MQTT, QoS 1: to the entity's own command topic in Home Assistant's
payload conventions when it was learnt from discovery, else to `<prefix>/<site>/<entity_id>/set`
as JSON (tools/discovery.py).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from tools.base import Permission, ToolContext, ToolResult, tool
from tools.discovery import command_message
from tools.home import Entity, Home, MatchFailure, Target


class TargetSlots(BaseModel):
    """The slots every targeting intent shares."""

    name: str | None = Field(None, max_length=80)
    area: str | None = Field(None, max_length=60)
    floor: str | None = Field(None, max_length=60)
    domain: str | None = Field(None, max_length=30)
    device_class: str | None = Field(None, max_length=30)

    def target(self) -> Target:
        """The registry target these slots describe."""
        return Target(self.name, self.area, self.floor, [self.domain] if self.domain else [], [self.device_class] if self.device_class else [])


class LightSetSlots(TargetSlots):
    """HassLightSet: brightness in percent and/or a color name."""

    brightness: int | None = Field(None, ge=0, le=100)
    color: str | None = Field(None, max_length=30)


class TemperatureSlots(TargetSlots):
    """HassClimateSetTemperature: the target temperature."""

    temperature: float = Field(ge=5, le=35)  # °C; a thermostat is never set to 90


class PositionSlots(TargetSlots):
    """HassSetPosition: 0 (closed) to 100 (open)."""

    position: int = Field(ge=0, le=100)


class StateSlots(TargetSlots):
    """HassGetState: optionally ask whether the target is in a given state."""

    state: str | None = Field(None, max_length=30)


class VolumeSlots(TargetSlots):
    """HassSetVolume: volume in percent."""

    volume_level: int = Field(ge=0, le=100)


class TimerSlots(BaseModel):
    """HassStartTimer: duration and optional name."""

    hours: int | None = Field(None, ge=0, le=24)
    minutes: int | None = Field(None, ge=0, le=59 * 24)
    seconds: int | None = Field(None, ge=0, le=3600)
    name: str | None = Field(None, max_length=40)


def _resolve(ctx: ToolContext, slots: TargetSlots, default_domains: tuple[str, ...] = ()) -> list[Entity] | MatchFailure:
    home = ctx.home or Home()
    target = slots.target()
    if not target.domain and default_domains and not target.name:
        target.domain = list(default_domains)
    return home.resolve(target)


def _command(ctx: ToolContext, intent: str, slots: TargetSlots, service_for: dict[str, str], data: dict[str, Any] | None = None,
             default_domains: tuple[str, ...] = ()) -> ToolResult:
    found = _resolve(ctx, slots, default_domains)
    if isinstance(found, MatchFailure):
        return ToolResult(False, found.question(), {"clarify": True, "reason": found.reason.value})
    acted = []
    for entity in found:
        service = service_for.get(entity.domain, service_for.get("*", ""))
        if not service:
            continue
        topic, payload = command_message(entity, service, data or {}, ctx.topic(entity.entity_id, "set"))
        ctx.publish(topic, payload, 1, False)
        acted.append(entity.entity_id)
    if not acted:
        return ToolResult(False, f"{intent} does not apply to {', '.join(e.name for e in found)}", {"clarify": True, "reason": "domain"})
    return ToolResult(True, f"{intent}: {', '.join(acted)}", {"entities": acted})


ON = {"lock": "lock", "cover": "open_cover", "*": "turn_on"}
OFF = {"lock": "unlock", "cover": "close_cover", "*": "turn_off"}


@tool("HassTurnOn", "Turn on a device, or lock a lock, or open a cover.", Permission.ACTUATE)
def turn_on(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Turn on / lock / open the target."""
    return _command(ctx, "HassTurnOn", args, ON, default_domains=("light", "switch", "fan"))


@tool("HassTurnOff", "Turn off a device, or unlock a lock, or close a cover.", Permission.ACTUATE)
def turn_off(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Turn off / unlock / close the target."""
    return _command(ctx, "HassTurnOff", args, OFF, default_domains=("light", "switch", "fan"))


@tool("HassToggle", "Toggle a device on or off.", Permission.ACTUATE)
def toggle(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Toggle the target."""
    return _command(ctx, "HassToggle", args, {"light": "toggle", "switch": "toggle", "fan": "toggle", "media_player": "toggle"})


@tool("HassLightSet", "Set the brightness (percent) or color of lights.", Permission.ACTUATE)
def light_set(args: LightSetSlots, ctx: ToolContext) -> ToolResult:
    """Set brightness and/or color."""
    data = {k: v for k, v in (("brightness_pct", args.brightness), ("color_name", args.color)) if v is not None}
    return _command(ctx, "HassLightSet", args, {"light": "turn_on"}, data, default_domains=("light",))


@tool("HassClimateSetTemperature", "Set the target temperature of a thermostat.", Permission.ACTUATE)
def climate_set_temperature(args: TemperatureSlots, ctx: ToolContext) -> ToolResult:
    """Set a thermostat, within its own min/max."""
    found = _resolve(ctx, args, ("climate",))
    if isinstance(found, MatchFailure):
        return ToolResult(False, found.question(), {"clarify": True, "reason": found.reason.value})
    for entity in found:
        low, high = entity.attributes.get("min_temp", 5), entity.attributes.get("max_temp", 35)
        if not low <= args.temperature <= high:
            return ToolResult(False, f"{entity.name} accepts {low}–{high} degrees, not {args.temperature:g}")
    return _command(ctx, "HassClimateSetTemperature", args, {"climate": "set_temperature"}, {"temperature": args.temperature}, ("climate",))


def _read(ctx: ToolContext, args: TargetSlots, default_domains: tuple[str, ...], describe) -> ToolResult:
    found = _resolve(ctx, args, default_domains)
    if isinstance(found, MatchFailure):
        return ToolResult(False, found.question(), {"clarify": True, "reason": found.reason.value})
    return ToolResult(True, "; ".join(describe(e) for e in found), {"entities": [e.entity_id for e in found]})


@tool("HassClimateGetTemperature", "Tell the current temperature of a thermostat or a room.", Permission.READ)
def climate_get_temperature(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Report current temperature."""
    return _read(ctx, args, ("climate",), lambda e: f"{e.name}: {e.attributes.get('current_temperature', e.state)} degrees")


@tool("HassGetState", "Tell the state of a device or sensor (is it on, open, locked, what does it read).", Permission.READ)
def get_state(args: StateSlots, ctx: ToolContext) -> ToolResult:
    """Report state."""
    return _read(ctx, args, (), lambda e: f"{e.name} is {e.state}")


@tool("HassSetPosition", "Set the position (percent open) of a cover, blind or curtain.", Permission.ACTUATE)
def set_position(args: PositionSlots, ctx: ToolContext) -> ToolResult:
    """Set cover position."""
    return _command(ctx, "HassSetPosition", args, {"cover": "set_cover_position"}, {"position": args.position}, ("cover",))


@tool("HassMediaPause", "Pause media playing on a TV or speaker.", Permission.ACTUATE)
def media_pause(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Pause media."""
    return _command(ctx, "HassMediaPause", args, {"media_player": "media_pause"}, default_domains=("media_player",))


@tool("HassMediaUnpause", "Resume paused media on a TV or speaker.", Permission.ACTUATE)
def media_unpause(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Resume media."""
    return _command(ctx, "HassMediaUnpause", args, {"media_player": "media_play"}, default_domains=("media_player",))


@tool("HassSetVolume", "Set the volume (percent) of a TV or speaker.", Permission.ACTUATE)
def set_volume(args: VolumeSlots, ctx: ToolContext) -> ToolResult:
    """Set volume."""
    return _command(ctx, "HassSetVolume", args, {"media_player": "volume_set"}, {"volume_level": args.volume_level / 100}, ("media_player",))


@tool("HassStartTimer", "Start a timer for a duration.", Permission.READ)
def start_timer(args: TimerSlots, ctx: ToolContext) -> ToolResult:
    """Start a timer (announced on the hub's timer topic)."""
    total = (args.hours or 0) * 3600 + (args.minutes or 0) * 60 + (args.seconds or 0)
    if total <= 0:
        return ToolResult(False, "How long should the timer run?", {"clarify": True, "reason": "duration"})
    ctx.publish(ctx.topic("hub", "timer"), json.dumps({"action": "start", "seconds": total, "name": args.name}), 1, False)
    return ToolResult(True, f"timer started for {total} s", {"seconds": total})


@tool("HassCancelTimer", "Cancel a running timer.", Permission.READ)
def cancel_timer(args: TimerSlots, ctx: ToolContext) -> ToolResult:
    """Cancel a timer."""
    ctx.publish(ctx.topic("hub", "timer"), json.dumps({"action": "cancel", "name": args.name}), 1, False)
    return ToolResult(True, "timer cancelled")


HOME_INTENTS = (
    "HassTurnOn", "HassTurnOff", "HassToggle", "HassLightSet", "HassClimateSetTemperature", "HassClimateGetTemperature",
    "HassGetState", "HassSetPosition", "HassMediaPause", "HassMediaUnpause", "HassSetVolume", "HassStartTimer", "HassCancelTimer",
)
