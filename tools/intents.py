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
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from tools.base import Permission, ToolContext, ToolResult, tool
from tools.discovery import assume_state, command_message
from tools.home import Entity, Home, MatchFailedReason, MatchFailure, Target
from tools.timers import SHOPPING_LIST, Timer, board_for, lists_for


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
    """HassStartTimer: duration, optional name, and a command to run when it ends (Home Assistant's slots)."""

    hours: int | None = Field(None, ge=0, le=24)
    minutes: int | None = Field(None, ge=0, le=59 * 24)
    seconds: int | None = Field(None, ge=0, le=3600)
    name: str | None = Field(None, max_length=40)
    conversation_command: str | None = Field(None, max_length=200)


class TimerTargetSlots(BaseModel):
    """Which timer: by name, by the duration it was started with, or by area; none of them means the one running."""

    name: str | None = Field(None, max_length=40)
    area: str | None = Field(None, max_length=60)
    start_hours: int | None = Field(None, ge=0, le=24)
    start_minutes: int | None = Field(None, ge=0, le=59 * 24)
    start_seconds: int | None = Field(None, ge=0, le=3600)


class TimerChangeSlots(TimerTargetSlots):
    """HassIncreaseTimer / HassDecreaseTimer: which timer, and by how much."""

    hours: int | None = Field(None, ge=0, le=24)
    minutes: int | None = Field(None, ge=0, le=59 * 24)
    seconds: int | None = Field(None, ge=0, le=3600)


class AreaSlots(BaseModel):
    """An optional area (HassCancelAllTimers)."""

    area: str | None = Field(None, max_length=60)


class ItemSlots(BaseModel):
    """A list item, and the list's name for to-do lists (the shopping list has none)."""

    item: str = Field(min_length=1, max_length=100)
    name: str | None = Field(None, max_length=80)


class VolumeStepSlots(TargetSlots):
    """HassSetVolumeRelative: "up", "down" or a signed percent step."""

    volume_step: str | int = Field(...)


class NoSlots(BaseModel):
    """Intents without slots (time, date, nevermind)."""


class WeatherSlots(BaseModel):
    """HassGetWeather: optionally which weather entity."""

    name: str | None = Field(None, max_length=80)


class FanModeSlots(TargetSlots):
    """HassClimateSetFanMode: the thermostat's fan mode (auto, low, high, ...)."""

    fan_mode: str = Field(min_length=1, max_length=30)


class FanSpeedSlots(TargetSlots):
    """HassFanSetSpeed: fan speed in percent."""

    percentage: int = Field(ge=0, le=100)


class MediaSearchSlots(TargetSlots):
    """HassMediaSearchAndPlay: what to look for, and optionally what kind of media it is (artist, album, track, ...)."""

    search_query: str = Field(min_length=1, max_length=200)
    media_class: str | None = Field(None, max_length=30)


class BroadcastSlots(BaseModel):
    """HassBroadcast: the message every other satellite of the home says."""

    message: str = Field(min_length=1, max_length=500)


class RespondSlots(BaseModel):
    """HassRespond: a fixed answer (Home Assistant's templates give it as the response they name)."""

    response: str | None = Field(None, max_length=500)


class CleanAreaSlots(BaseModel):
    """HassVacuumCleanArea: the area to clean, and optionally which vacuum."""

    area: str = Field(min_length=1, max_length=60)
    name: str | None = Field(None, max_length=80)


def _resolve(ctx: ToolContext, slots: TargetSlots, default_domains: tuple[str, ...] = ()) -> list[Entity] | MatchFailure:
    home = ctx.home or Home()
    target = slots.target()
    if not target.domain and default_domains and not target.name:
        target.domain = list(default_domains)
    return home.resolve(target)


def _question(failure: MatchFailure) -> ToolResult:
    """The clarifying answer to a target that resolved to nothing usable."""
    return ToolResult(False, failure.question(), {"clarify": True, "reason": failure.reason.value})


def _command(ctx: ToolContext, intent: str, slots: TargetSlots, service_for: dict[str, str], data: dict[str, Any] | None = None,
             default_domains: tuple[str, ...] = ()) -> ToolResult:
    found = _resolve(ctx, slots, default_domains)
    if isinstance(found, MatchFailure):
        return _question(found)
    return _send(ctx, intent, found, service_for, data)


def _send(ctx: ToolContext, intent: str, found: list[Entity], service_for: dict[str, str], data: dict[str, Any] | None = None) -> ToolResult:
    """Publish the service call to each entity it applies to."""
    acted = []
    for entity in found:
        service = service_for.get(entity.domain, service_for.get("*", ""))
        if not service:
            continue
        topic, payload = command_message(entity, service, data or {}, ctx.topic(entity.entity_id, "set"))
        ctx.publish(topic, payload, 1, False)
        assume_state(entity, service)
        acted.append(entity.entity_id)
    if not acted:
        return ToolResult(False, f"{intent} does not apply to {', '.join(e.name for e in found)}", {"clarify": True, "reason": "domain"})
    return ToolResult(True, f"{intent}: {', '.join(acted)}", {"entities": acted})


ON = {"lock": "lock", "cover": "open_cover", "valve": "open_valve", "scene": "turn_on", "script": "turn_on", "button": "press",
      "vacuum": "start", "*": "turn_on"}
OFF = {"lock": "unlock", "cover": "close_cover", "valve": "close_valve", "vacuum": "return_to_base", "*": "turn_off"}


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
        return _question(found)
    beyond = temperature_beyond(args.temperature, found)
    if beyond:
        return ToolResult(False, beyond, {"reason": OUT_OF_RANGE})
    return _command(ctx, "HassClimateSetTemperature", args, {"climate": "set_temperature"}, {"temperature": args.temperature}, ("climate",))


OUT_OF_RANGE = "out_of_range"  # a value beyond what can be set; Home Assistant has no answer of its own for it
BOUND_ERRORS = frozenset({"less_than_equal", "greater_than_equal", "less_than", "greater_than"})
LIMIT_WORDS = {"le": "at most", "ge": "at least", "lt": "below", "gt": "above"}


def temperature_beyond(temperature: float, entities: list[Entity]) -> str | None:
    """Why a thermostat among `entities` cannot be set to `temperature` (beyond its own min_temp / max_temp), or None."""
    for entity in (e for e in entities if e.domain == "climate"):
        low, high = entity.attributes.get("min_temp", 5), entity.attributes.get("max_temp", 35)
        if not low <= temperature <= high:
            return f"{entity.name} accepts {low}–{high} degrees, not {temperature:g}"
    return None


def beyond_range(model: type[BaseModel], args: dict[str, Any], home: Home) -> str | None:
    """Why the values said cannot be set, or None: beyond what the intent accepts ("50 degrees") or beyond the target
    thermostat's own range. Other problems (a slot missing, a wrong type) are not this: None."""
    try:
        model.model_validate(args)
        bound = None
    except ValidationError as err:
        problems = err.errors()
        if not problems or any(p["type"] not in BOUND_ERRORS for p in problems):
            return None
        bound = problems[0]
    temperature = args.get("temperature")
    if isinstance(temperature, (int, float)) and issubclass(model, TargetSlots):
        found = home.resolve(model.model_construct(**args).target())
        beyond = None if isinstance(found, MatchFailure) else temperature_beyond(temperature, found)
        if beyond:
            return beyond
    if bound is None:
        return None
    limit = next((f" ({LIMIT_WORDS[k]} {v:g})" for k, v in (bound.get("ctx") or {}).items() if k in LIMIT_WORDS), "")
    return f"{bound['loc'][0]} {bound['input']} is out of range{limit}"


def _read(ctx: ToolContext, args: TargetSlots, default_domains: tuple[str, ...], describe) -> ToolResult:
    found = _resolve(ctx, args, default_domains)
    if isinstance(found, MatchFailure):
        return _question(found)
    return ToolResult(True, "; ".join(describe(e) for e in found), {"entities": [e.entity_id for e in found]})


@tool("HassClimateGetTemperature", "Tell the current temperature of a thermostat or a room.", Permission.READ)
def climate_get_temperature(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Report current temperature."""
    return _read(ctx, args, ("climate",), lambda e: f"{e.name}: {e.attributes.get('current_temperature', e.state)} degrees")


@tool("HassGetState", "Tell the state of a device or sensor (is it on, open, locked, what does it read).", Permission.READ)
def get_state(args: StateSlots, ctx: ToolContext) -> ToolResult:
    """Report state."""
    return _read(ctx, args, (), lambda e: f"{e.name} is {e.state}")


@tool("HassSetPosition", "Set the position (percent open) of a cover, blind, curtain or valve.", Permission.ACTUATE)
def set_position(args: PositionSlots, ctx: ToolContext) -> ToolResult:
    """Set cover position."""
    return _command(ctx, "HassSetPosition", args, {"cover": "set_cover_position", "valve": "set_valve_position"}, {"position": args.position},
                    ("cover", "valve"))


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


def _duration(hours: int | None, minutes: int | None, seconds: int | None) -> int:
    return (hours or 0) * 3600 + (minutes or 0) * 60 + (seconds or 0)


def _said(seconds: float) -> str:
    seconds = int(round(seconds))
    parts = [(seconds // 3600, "hour"), (seconds % 3600 // 60, "minute"), (seconds % 60, "second")]
    return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n) or "0 seconds"


def _announce(ctx: ToolContext, action: str, timer: Timer) -> None:
    ctx.publish(ctx.topic("hub", "timer"), json.dumps({"action": action, "id": timer.id, "name": timer.name, "seconds": timer.seconds}), 1, False)


@tool("HassStartTimer", "Start a timer for a duration.", Permission.READ)
def start_timer(args: TimerSlots, ctx: ToolContext) -> ToolResult:
    """Start a running timer on the hub (announced on the hub's timer topic, and again when it ends)."""
    total = _duration(args.hours, args.minutes, args.seconds)
    if total <= 0:
        return ToolResult(False, "How long should the timer run?", {"clarify": True, "reason": "duration"})
    timer = board_for(ctx.site).start(total, args.name, command=args.conversation_command)
    _announce(ctx, "start", timer)
    return ToolResult(True, f"Timer started for {_said(total)}", {"seconds": total, "timer_id": timer.id})


def _timer(ctx: ToolContext, args: TimerTargetSlots) -> Timer | ToolResult:
    """The one timer a request means, or the answer saying why there is none."""
    board = board_for(ctx.site)
    found = board.find(args.name, args.area, _duration(args.start_hours, args.start_minutes, args.start_seconds) or None)
    if not found:
        return ToolResult(False, "There is no such timer running" if board.timers else "No timers are running", {"reason": "no_timer"})
    if len(found) > 1:
        return ToolResult(False, f"{len(found)} timers are running. Which one?", {"clarify": True, "reason": "several_timers"})
    return found[0]


@tool("HassCancelTimer", "Cancel a running timer.", Permission.READ)
def cancel_timer(args: TimerTargetSlots, ctx: ToolContext) -> ToolResult:
    """Cancel one timer."""
    timer = _timer(ctx, args)
    if isinstance(timer, ToolResult):
        return timer
    board_for(ctx.site).cancel([timer])
    _announce(ctx, "cancel", timer)
    return ToolResult(True, "Timer cancelled", {"timer_id": timer.id})


@tool("HassCancelAllTimers", "Cancel every running timer (in an area, when one is named).", Permission.READ)
def cancel_all_timers(args: AreaSlots, ctx: ToolContext) -> ToolResult:
    """Cancel all timers (of an area)."""
    board = board_for(ctx.site)
    timers = [t for t in board.timers if not args.area or t.area in (None, args.area)]
    for timer in timers:
        _announce(ctx, "cancel", timer)
    count = board.cancel(timers)
    return ToolResult(True, f"{count} timer{'s' if count != 1 else ''} cancelled", {"cancelled": count, "speech": {"canceled": count}})


def _change(ctx: ToolContext, args: TimerChangeSlots, sign: int) -> ToolResult:
    timer = _timer(ctx, args)
    if isinstance(timer, ToolResult):
        return timer
    step = _duration(args.hours, args.minutes, args.seconds)
    if step <= 0:
        return ToolResult(False, "By how much?", {"clarify": True, "reason": "duration"})
    board = board_for(ctx.site)
    board.add(timer, sign * step)
    return ToolResult(True, f"Timer {'increased' if sign > 0 else 'decreased'} by {_said(step)}; {_said(timer.left(board.clock()))} left",
                      {"timer_id": timer.id, "seconds_left": round(timer.left(board.clock()))})


@tool("HassIncreaseTimer", "Add time to a running timer.", Permission.READ)
def increase_timer(args: TimerChangeSlots, ctx: ToolContext) -> ToolResult:
    """Add time to a timer."""
    return _change(ctx, args, 1)


@tool("HassDecreaseTimer", "Take time off a running timer.", Permission.READ)
def decrease_timer(args: TimerChangeSlots, ctx: ToolContext) -> ToolResult:
    """Take time off a timer."""
    return _change(ctx, args, -1)


@tool("HassPauseTimer", "Pause a running timer.", Permission.READ)
def pause_timer(args: TimerTargetSlots, ctx: ToolContext) -> ToolResult:
    """Pause a timer."""
    timer = _timer(ctx, args)
    if isinstance(timer, ToolResult):
        return timer
    done = board_for(ctx.site).pause(timer)
    return ToolResult(done, "Timer paused" if done else "The timer is already paused", {"timer_id": timer.id})


@tool("HassUnpauseTimer", "Resume a paused timer.", Permission.READ)
def unpause_timer(args: TimerTargetSlots, ctx: ToolContext) -> ToolResult:
    """Resume a timer."""
    timer = _timer(ctx, args)
    if isinstance(timer, ToolResult):
        return timer
    done = board_for(ctx.site).unpause(timer)
    return ToolResult(done, "Timer resumed" if done else "The timer is not paused", {"timer_id": timer.id})


@tool("HassTimerStatus", "Tell how much time the running timers have left.", Permission.READ)
def timer_status(args: TimerTargetSlots, ctx: ToolContext) -> ToolResult:
    """Report the timers' time left."""
    board = board_for(ctx.site)
    found = board.find(args.name, args.area, _duration(args.start_hours, args.start_minutes, args.start_seconds) or None)
    if not found:
        return ToolResult(True, "No timers are running", {"timers": []})
    now = board.clock()
    lines = [f"{t.name + ' timer' if t.name else 'timer'}: {_said(t.left(now))} left{' (paused)' if t.paused_left is not None else ''}" for t in found]
    return ToolResult(True, "; ".join(lines), {"timers": [{"id": t.id, "name": t.name, "seconds_left": round(t.left(now))} for t in found],
                                               "speech": {"timers": [_timer_info(t, now) for t in found]}})


def _timer_info(timer: Timer, now: float) -> dict[str, Any]:
    """A timer as Home Assistant's timer status response reads it: time left, and a rounded form to say."""
    left = round(timer.left(now))
    hours, rest = divmod(left, 3600)
    minutes, seconds = divmod(rest, 60)
    # Said less precisely as it gets longer: no seconds past an hour, seconds to the nearest 5 past a minute.
    rounded_seconds = 0 if hours else (min(55, 5 * round(seconds / 5)) if minutes else seconds)
    return {"id": timer.id, "name": timer.name, "is_active": timer.paused_left is None, "total_seconds_left": left,
            "hours_left": hours, "minutes_left": minutes, "seconds_left": seconds,
            "rounded_hours_left": hours, "rounded_minutes_left": minutes, "rounded_seconds_left": rounded_seconds}


# --- lists ------------------------------------------------------------------------------

def _list_name(ctx: ToolContext, name: str | None) -> str | ToolResult:
    if name is None:
        return SHOPPING_LIST
    # A to-do list is an entity of the home (domain todo), as in Home Assistant.
    found = (ctx.home or Home()).resolve(Target(name=name, domain=["todo"]))
    if isinstance(found, MatchFailure):
        return ToolResult(False, f"There is no list called {name}", {"clarify": True, "reason": "name"})
    return found[0].name


@tool("HassShoppingListAddItem", "Add an item to the shopping list.", Permission.READ)
def shopping_list_add(args: ItemSlots, ctx: ToolContext) -> ToolResult:
    """Add to the shopping list."""
    lists_for(ctx.site).add(SHOPPING_LIST, args.item)
    return ToolResult(True, f"Added {args.item}", {"list": SHOPPING_LIST, "item": args.item})


@tool("HassShoppingListCompleteItem", "Check an item off the shopping list.", Permission.READ)
def shopping_list_complete(args: ItemSlots, ctx: ToolContext) -> ToolResult:
    """Complete a shopping-list item."""
    done = lists_for(ctx.site).complete(SHOPPING_LIST, args.item)
    return ToolResult(done, f"Checked off {args.item}" if done else f"{args.item} is not on the shopping list", {"list": SHOPPING_LIST})


@tool("HassListAddItem", "Add an item to a to-do list.", Permission.READ)
def list_add(args: ItemSlots, ctx: ToolContext) -> ToolResult:
    """Add to a to-do list."""
    name = _list_name(ctx, args.name)
    if isinstance(name, ToolResult):
        return name
    lists_for(ctx.site).add(name, args.item)
    return ToolResult(True, f"Added {args.item} to {name}", {"list": name, "item": args.item})


@tool("HassListCompleteItem", "Check an item off a to-do list.", Permission.READ)
def list_complete(args: ItemSlots, ctx: ToolContext) -> ToolResult:
    """Complete a to-do item."""
    name = _list_name(ctx, args.name)
    if isinstance(name, ToolResult):
        return name
    done = lists_for(ctx.site).complete(name, args.item)
    return ToolResult(done, f"Checked off {args.item}" if done else f"{args.item} is not on {name}", {"list": name})


@tool("HassListRemoveItem", "Remove an item from a to-do list.", Permission.READ)
def list_remove(args: ItemSlots, ctx: ToolContext) -> ToolResult:
    """Remove a to-do item."""
    name = _list_name(ctx, args.name)
    if isinstance(name, ToolResult):
        return name
    done = lists_for(ctx.site).remove(name, args.item)
    return ToolResult(done, f"Removed {args.item}" if done else f"{args.item} is not on {name}", {"list": name})


class ListReadSlots(BaseModel):
    """HassShoppingListLastItems: which list to read (the shopping list when none is named)."""

    name: str | None = Field(None, max_length=80)


# Home Assistant core's shopping_list integration answers "what is on my shopping list" with this intent; the
# sentence templates package has none, so only the intent model reaches it. Tessera reads to-do lists with it too.
@tool("HassShoppingListLastItems", "Read out what is on the shopping list or a to-do list.", Permission.READ)
def list_items(args: ListReadSlots, ctx: ToolContext) -> ToolResult:
    """The open items of a list, newest first."""
    name = _list_name(ctx, args.name)
    if isinstance(name, ToolResult):
        return name
    items = lists_for(ctx.site).items(name)[::-1]
    said = f"{name} has {', '.join(items[:5])}" + (f" and {len(items) - 5} more" if len(items) > 5 else "") if items else f"{name} is empty"
    return ToolResult(True, said, {"list": name, "items": items})


# --- media, vacuum, time, weather, nevermind ---------------------------------------------

@tool("HassMediaNext", "Skip to the next track on a TV or speaker.", Permission.ACTUATE)
def media_next(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Next track."""
    return _command(ctx, "HassMediaNext", args, {"media_player": "media_next_track"}, default_domains=("media_player",))


@tool("HassMediaPrevious", "Go back to the previous track on a TV or speaker.", Permission.ACTUATE)
def media_previous(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Previous track."""
    return _command(ctx, "HassMediaPrevious", args, {"media_player": "media_previous_track"}, default_domains=("media_player",))


@tool("HassSetVolumeRelative", "Turn the volume of a TV or speaker up or down a step.", Permission.ACTUATE)
def set_volume_relative(args: VolumeStepSlots, ctx: ToolContext) -> ToolResult:
    """Volume up / down from the registry's current level (10 % a step, as Home Assistant's volume_up does by default)."""
    found = _resolve(ctx, args, ("media_player",))
    if isinstance(found, MatchFailure):
        return _question(found)
    step = {"up": 10, "down": -10}.get(str(args.volume_step), None)
    step = int(args.volume_step) if step is None and str(args.volume_step).lstrip("-").isdigit() else step
    if step is None:
        return ToolResult(False, f"volume step {args.volume_step!r} is not up, down or a number")
    current = next((float(e.attributes["volume_level"]) for e in found if "volume_level" in e.attributes), 50.0)
    level = int(max(0, min(100, current + step)))
    return _command(ctx, "HassSetVolumeRelative", args, {"media_player": "volume_set"}, {"volume_level": level / 100}, ("media_player",))


@tool("HassMediaPlayerMute", "Mute a TV or speaker.", Permission.ACTUATE)
def media_mute(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Mute."""
    return _command(ctx, "HassMediaPlayerMute", args, {"media_player": "volume_mute"}, {"is_volume_muted": True}, ("media_player",))


@tool("HassMediaPlayerUnmute", "Unmute a TV or speaker.", Permission.ACTUATE)
def media_unmute(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Unmute."""
    return _command(ctx, "HassMediaPlayerUnmute", args, {"media_player": "volume_mute"}, {"is_volume_muted": False}, ("media_player",))


@tool("HassVacuumStart", "Start a robot vacuum cleaning.", Permission.ACTUATE)
def vacuum_start(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Start the vacuum."""
    return _command(ctx, "HassVacuumStart", args, {"vacuum": "start"}, default_domains=("vacuum",))


@tool("HassVacuumReturnToBase", "Send a robot vacuum back to its dock.", Permission.ACTUATE)
def vacuum_return(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Dock the vacuum."""
    return _command(ctx, "HassVacuumReturnToBase", args, {"vacuum": "return_to_base"}, default_domains=("vacuum",))


@tool("HassVacuumCleanArea", "Send a robot vacuum to clean an area.", Permission.ACTUATE)
def vacuum_clean_area(args: CleanAreaSlots, ctx: ToolContext) -> ToolResult:
    """Clean one area: the named vacuum, else the home's only one, else the one in (or on the floor of) that area."""
    home = ctx.home or Home()
    area = home.area(args.area)
    if area is None:
        return _question(MatchFailure(MatchFailedReason.AREA, args.area))
    found = home.resolve(Target(name=args.name, domain=["vacuum"]))
    if isinstance(found, MatchFailure):
        return _question(found)
    if len(found) > 1:
        on_floor = {a.id for a in home.areas if a.floor == area.floor}
        found = [e for e in found if e.area == area.id] or [e for e in found if area.floor and e.area in on_floor] or found
    if len(found) > 1:
        return ToolResult(False, f"Which vacuum should clean the {area.name}: {', '.join(e.name for e in found)}?", {"clarify": True, "reason": "several_vacuums"})
    return _send(ctx, "HassVacuumCleanArea", found, {"vacuum": "clean_area"}, {"area": area.name, "area_id": area.id})


@tool("HassFanSetSpeed", "Set the speed (percent) of a fan.", Permission.ACTUATE)
def fan_set_speed(args: FanSpeedSlots, ctx: ToolContext) -> ToolResult:
    """Set fan speed."""
    return _command(ctx, "HassFanSetSpeed", args, {"fan": "set_percentage"}, {"percentage": args.percentage}, ("fan",))


@tool("HassClimateSetFanMode", "Set the fan mode of a thermostat.", Permission.ACTUATE)
def climate_set_fan_mode(args: FanModeSlots, ctx: ToolContext) -> ToolResult:
    """Set a thermostat's fan mode, one of its `fan_modes` when it lists them."""
    found = _resolve(ctx, args, ("climate",))
    if isinstance(found, MatchFailure):
        return _question(found)
    for entity in found:
        modes = entity.attributes.get("fan_modes")
        if modes and args.fan_mode not in modes:
            return ToolResult(False, f"{entity.name} has no fan mode {args.fan_mode}; it has {', '.join(map(str, modes))}", {"reason": "fan_mode"})
    return _send(ctx, "HassClimateSetFanMode", found, {"climate": "set_fan_mode"}, {"fan_mode": args.fan_mode})


@tool("HassLawnMowerStartMowing", "Start a lawn mower mowing.", Permission.ACTUATE)
def lawn_mower_start(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Start mowing."""
    return _command(ctx, "HassLawnMowerStartMowing", args, {"lawn_mower": "start_mowing"}, default_domains=("lawn_mower",))


@tool("HassLawnMowerDock", "Send a lawn mower back to its dock.", Permission.ACTUATE)
def lawn_mower_dock(args: TargetSlots, ctx: ToolContext) -> ToolResult:
    """Dock the mower."""
    return _command(ctx, "HassLawnMowerDock", args, {"lawn_mower": "dock"}, default_domains=("lawn_mower",))


@tool("HassMediaSearchAndPlay", "Find music or video by name and play it on a TV or speaker.", Permission.ACTUATE)
def media_search_and_play(args: MediaSearchSlots, ctx: ToolContext) -> ToolResult:
    """Play what was asked for: the player is told to play it, and the registry shows it playing."""
    found = _resolve(ctx, args, ("media_player",))
    if isinstance(found, MatchFailure):
        return _question(found)
    players = [e for e in found if e.domain == "media_player"][:1]  # one player plays it, as in Home Assistant
    media = {"media_content_id": args.search_query, "media_content_type": args.media_class or "music"}
    result = _send(ctx, "HassMediaSearchAndPlay", players or found, {"media_player": "play_media"}, {"search_query": args.search_query,
                   **({"media_class": args.media_class} if args.media_class else {}), **media})
    if result.ok:
        for player in players:
            player.state = "playing"
            player.attributes.update(media_title=args.search_query, media_content_id=args.search_query,
                                     media_content_type=media["media_content_type"])
        result.data["speech"] = {"media": {"title": args.search_query, "media_class": args.media_class}}
    return result


@tool("HassBroadcast", "Say a message on every other satellite of the home.", Permission.NOTIFY)
def broadcast(args: BroadcastSlots, ctx: ToolContext) -> ToolResult:
    """Announce a message on the hub's broadcast topic, for every satellite but the one that heard it."""
    satellites = [e.entity_id for e in (ctx.home or Home()).entities if e.domain == "assist_satellite" and e.entity_id != ctx.device_id]
    ctx.publish(ctx.topic("hub", "broadcast"), json.dumps({"message": args.message, "satellites": satellites, "exclude": ctx.device_id}), 1, False)
    return ToolResult(True, f"Announced: {args.message}", {"satellites": satellites})


@tool("HassRespond", "Answer with a fixed sentence.", Permission.READ)
def respond(args: RespondSlots, ctx: ToolContext) -> ToolResult:
    """Nothing to do but answer."""
    return ToolResult(True, args.response or "", {})


@tool("HassGetCurrentTime", "Tell the time.", Permission.READ)
def current_time(args: NoSlots, ctx: ToolContext) -> ToolResult:
    """The hub's local time."""
    now = datetime.fromtimestamp(ctx.clock())
    return ToolResult(True, f"It is {now:%H:%M}", {"time": now.strftime("%H:%M:%S"), "speech": {"time": now.time()}})


@tool("HassGetCurrentDate", "Tell today's date.", Permission.READ)
def current_date(args: NoSlots, ctx: ToolContext) -> ToolResult:
    """The hub's local date."""
    today = datetime.fromtimestamp(ctx.clock()).date()
    return ToolResult(True, f"Today is {today:%A %d %B %Y}", {"date": today.isoformat(), "speech": {"date": today}})


@tool("HassGetWeather", "Tell the weather from the home's weather entity.", Permission.READ)
def get_weather(args: WeatherSlots, ctx: ToolContext) -> ToolResult:
    """The condition and temperature a weather entity reports."""
    found = (ctx.home or Home()).resolve(Target(name=args.name, domain=["weather"]))
    if isinstance(found, MatchFailure):
        return ToolResult(False, "This home has no weather entity" if not args.name else found.question(), {"reason": found.reason.value})
    entity = found[0]
    temperature = entity.attributes.get("temperature")
    unit = entity.attributes.get("temperature_unit", "°C")
    said = f"{entity.state}, {temperature:g} {unit}" if isinstance(temperature, (int, float)) else entity.state
    return ToolResult(True, f"{entity.name}: {said}", {"entities": [entity.entity_id], "condition": entity.state, "temperature": temperature})


@tool("HassNevermind", "Do nothing: the person changed their mind.", Permission.READ)
def nevermind(args: NoSlots, ctx: ToolContext) -> ToolResult:
    """Nothing to do."""
    return ToolResult(True, "", {})


# The intents the model path offers the model (a short list a 135M model can choose from)...
MODEL_INTENTS = (
    "HassTurnOn", "HassTurnOff", "HassToggle", "HassLightSet", "HassClimateSetTemperature", "HassClimateGetTemperature",
    "HassGetState", "HassSetPosition", "HassMediaPause", "HassMediaUnpause", "HassSetVolume", "HassStartTimer", "HassCancelTimer",
)
# ...then those it offers only when the words give evidence for them (a timer word; a word that only that intent's
# templates say, such as "skip" or "mute"), with arguments built from the slots as for the first ones...
MODEL_EVIDENCE_INTENTS = (
    "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus", "HassCancelAllTimers",
    "HassMediaNext", "HassMediaPrevious", "HassMediaPlayerMute", "HassMediaPlayerUnmute",
)
# ...and every intent the hub carries out, which the template fast path can also reach.
HOME_INTENTS = MODEL_INTENTS + (
    "HassCancelAllTimers", "HassIncreaseTimer", "HassDecreaseTimer", "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus",
    "HassMediaNext", "HassMediaPrevious", "HassSetVolumeRelative", "HassMediaPlayerMute", "HassMediaPlayerUnmute",
    "HassShoppingListAddItem", "HassShoppingListCompleteItem", "HassListAddItem", "HassListCompleteItem",
    "HassGetCurrentTime", "HassGetCurrentDate", "HassGetWeather", "HassVacuumStart", "HassVacuumReturnToBase", "HassNevermind",
    "HassBroadcast", "HassRespond", "HassClimateSetFanMode", "HassFanSetSpeed", "HassLawnMowerStartMowing", "HassLawnMowerDock",
    "HassMediaSearchAndPlay", "HassListRemoveItem", "HassVacuumCleanArea", "HassShoppingListLastItems",
)
