"""Arguments for the model path: Home Assistant slot values from the extracted slots.

The fast path is Home Assistant's own template matcher (agent/decide/templates.py). When no
template matches, the model chooses the intent under a grammar, and `build_args` fills its
slots from what slot extraction found, following docs/home.md: the 135M model picks among a
few tools well but cannot be trusted to spell names or compute values. What remains here is
what the templates cannot express: relative wording turned into a value from the registry
state (docs/home.md rule 7), and target rules for the words slot extraction found. It returns
None when a value is missing, and the planner asks the model for the arguments.
"""

from __future__ import annotations

import re
from typing import Any

from agent.decide.slots import Mention, Slots
from agent.decide.spans import LIST_INTENTS, SHOPPING_LIST_INTENTS, Tagged
from tools.home import Entity, Home, MatchFailure, Target

# Stay: relative wording, which docs/home.md rule 7 turns into a value from the registry state; HA's
# templates and lists have no relative temperature, brightness or volume wording (English only).
WARMER = ("warmer", "heat up", "turn up the heat", "turn the heat up", "hotter", "too cold", "freezing", "chilly", "up one", "up a degree",
          "bump up", "up a notch")
COOLER = ("cooler", "colder", "turn down the heat", "turn the heat down", "too hot", "too warm", "down one", "down a degree", "down a notch")
BRIGHTER = ("brighter", "brighten", "more light")
DIMMER = ("dim", "dimmer", "darker", "too bright", "less light")
# Stay: indirect wording that means switching lights ("it's too dark in the kitchen"); no HA template says it.
LIGHTS_ON = ("too dark", "cant see", "lights up")
LIGHTS_OFF = ("make it dark", "lights out")
# Stays: a state asked about in the words of the action that causes it ("did I lock the front door");
# HA's state lists hold the states' own words only.
STATE_FROM_VERB = {"lock": "locked", "unlock": "unlocked", "close": "closed", "running": "on", "leave on": "on"}
# Stay: HA's templates take a timer's name and units only inside whole sentences (no list of them),
# so the model path reads "pizza timer" / "10 minutes" itself.
TIMER_NOT_NAMES = ("a", "an", "the", "my", "new", "quick", "short", "long", "minute", "minutes", "hour", "second", "seconds", "set",
                   "start", "cancel", "stop", "that", "this")
TIMER_UNITS = {"hour": 3600, "hours": 3600, "minute": 60, "minutes": 60, "min": 60, "mins": 60, "second": 1, "seconds": 1, "sec": 1, "secs": 1}
UNIT_PATTERN = "(?:" + "|".join(sorted(TIMER_UNITS, key=len, reverse=True)) + ")"


def _turned(s: Slots, direction: str) -> bool:
    # "turn up the tv", "turn the heating up", "turn the music down"
    return bool(re.search(rf"\bturn (?:\w+ ){{0,3}}?{direction}\b", s.text))


def build_args(intent: str, s: Slots, home: Home, speaker_area: str | None = None, detail: str = "", implied: str = "") -> dict[str, Any] | None:
    """Home Assistant slot values for `intent` from the slots, or None when a required value is missing.

    `speaker_area` is the registry name of the area the command was spoken in, when known: as in Home
    Assistant, a group command that names no area or floor ("lights off in here") acts there. `detail` is
    which way a relative change goes ("up", "down") and `implied` the kind of device meant when the words name
    none ("light", "sensor:temperature", "none" for the whole room), when the intent model is sure of them.
    """
    if intent == "HassStartTimer":
        return _timer_args(s)
    if intent in WHICH_TIMER:
        return _which_timer(s, change=False)
    if intent in ("HassIncreaseTimer", "HassDecreaseTimer"):
        return _which_timer(s, change=True)
    if intent == "HassCancelAllTimers":
        return {"area": s.areas[0].obj.name} if s.areas else {}
    if intent in NO_SLOTS:
        return {}
    if intent == "HassSetVolumeRelative" and detail:
        args = target_args(s, intent, speaker_area, implied)
        return None if args is None else {**args, "volume_step": detail}
    if intent in FREE_TEXT_SLOTS:
        return None  # a list item or a media query is a span of the words: `span_args`, else the model writes it
    args = target_args(s, intent, speaker_area, implied)
    if args is None:
        return None
    values = _intent_values(intent, s, home, args, detail)
    return None if values is None else {**args, **values}


def span_args(intent: str, tagged: Tagged, s: Slots, speaker_area: str | None = None) -> dict[str, Any] | None:
    """Home Assistant slot values for a list or media intent from the span tagger's spans, or None when one is missing."""
    if intent in LIST_INTENTS or intent in SHOPPING_LIST_INTENTS:
        item = tagged.first("item")
        if not item:
            return None
        todo = [m.obj.name for m in s.entities if m.obj.domain == "todo"]
        # The list is one of the home's to-do lists when the words name one; else the shopping list, as in Home Assistant.
        return {"item": item, **({"name": todo[0]} if todo and intent in LIST_INTENTS else {})}
    if intent == "HassMediaSearchAndPlay":
        media, target = tagged.media(), target_args(s, intent, speaker_area)
        if media is None or target is None:
            return None
        query, media_class = media
        return {**target, "search_query": query, **({"media_class": media_class} if media_class else {})}
    return None


def target_args(s: Slots, intent: str, speaker_area: str | None = None, implied: str = "") -> dict[str, Any] | None:
    """name, or area / floor plus domain and device class, as docs/home.md prescribes; `implied` is the kind of
    device the intent model reads in a sentence that names none ("it's gloomy in here": light)."""
    group_words = s.has("all", "every", "everything")
    named = [m for m in s.entities if not (m.generic and (group_words or s.floors or _outside_area(m, s)))]
    if named:
        return _named(named, s)
    args: dict[str, Any] = {}
    if s.areas:
        args["area"] = s.areas[0].obj.name
    elif s.floors:
        args["floor"] = s.floors[0].obj.name
    elif speaker_area and (not group_words or s.has(*s.vocabulary.here)):
        args["area"] = speaker_area
    domain, device_class = _group_domain(s, intent)
    if domain is None and implied and intent not in IMPLIED_DOMAIN:
        kind, _, device_class = implied.partition(":")  # learned from real requests; "none": the whole room
        domain, device_class = (None, None) if kind == "none" else (kind, device_class or None)
    elif domain is None and intent in ("HassTurnOn", "HassTurnOff") and s.has(*LIGHTS_ON, *LIGHTS_OFF):
        domain = "light"
    if domain is None and intent in ("HassTurnOn", "HassTurnOff") and s.has("open", "close", "shut") and not s.has("everything"):
        domain = "cover"  # "open the garage": the area's covers
    if domain is None and intent == "HassGetState" and s.has("locked", "unlocked"):
        domain = "lock"  # "is the house locked"
    if domain:
        args["domain"] = domain
    if device_class:
        args["device_class"] = device_class
    if not (args.keys() & {"area", "floor"}) and not group_words and intent != "HassGetState":
        return None  # "turn on the fan": which one? No room is known for the speaker.
    return args or None


def _named(named: list[Mention], s: Slots) -> dict[str, Any]:
    entity: Entity = named[0].obj  # type: ignore[assignment]
    args: dict[str, Any] = {"name": entity.name}
    same_name = [m for m in named if m.obj is not entity and m.obj.name == entity.name]
    if same_name and s.areas:
        args["area"] = s.areas[0].obj.name
    return args


def _outside_area(mention: Mention, s: Slots) -> bool:
    # "the blinds in the office": a generic alias of a device that is not in the named area means the area's devices.
    return bool(s.areas) and all(getattr(mention.obj, "area", None) != a.obj.id for a in s.areas)


def _group_domain(s: Slots, intent: str) -> tuple[str | None, str | None]:
    if not s.domains or intent in IMPLIED_DOMAIN:
        return None, None  # the intent already says which domain
    return s.domains[0]


IMPLIED_DOMAIN = ("HassLightSet", "HassClimateSetTemperature", "HassClimateGetTemperature", "HassMediaPause", "HassMediaUnpause", "HassSetVolume",
                  "HassMediaNext", "HassMediaPrevious", "HassMediaPlayerMute", "HassMediaPlayerUnmute")
# Intents that take nothing from the words (the weather: the home's one weather entity; a list: the shopping list).
NO_SLOTS = ("HassGetCurrentTime", "HassGetCurrentDate", "HassGetWeather", "HassNevermind", "HassShoppingListLastItems")
# Intents whose slots are free text or a direction the slots do not carry: the span tagger (`span_args`) or the intent
# model's detail gives them where it can, else the model writes them under the tool's schema.
FREE_TEXT_SLOTS = ("HassShoppingListAddItem", "HassShoppingListCompleteItem", "HassListAddItem", "HassListCompleteItem", "HassListRemoveItem",
                   "HassMediaSearchAndPlay", "HassBroadcast", "HassSetVolumeRelative", "HassClimateSetFanMode", "HassFanSetSpeed",
                   "HassVacuumCleanArea", "HassRespond")
# Intents about one running timer, found by name or by the duration it was started with ("the 10 minute timer").
WHICH_TIMER = ("HassCancelTimer", "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus")


def _intent_values(intent: str, s: Slots, home: Home, target: dict[str, Any], detail: str = "") -> dict[str, Any] | None:
    if intent == "HassLightSet":
        return _light_values(s, home, target, detail)
    if intent == "HassClimateSetTemperature":
        said_relative = s.has(*WARMER, *COOLER) or _turned(s, "up") or _turned(s, "down")
        value = None if said_relative else _temperature_value(s)
        if value is None and (said_relative or detail):  # "it's a bit parky in here": the intent model says up
            value = _relative_temperature(s, home, target, detail)
        return None if value is None else {"temperature": _number(value)}
    if intent == "HassSetPosition":
        value = s.percent if s.percent is not None else (s.numbers[0] if s.numbers else None)
        return None if value is None else {"position": int(value)}
    if intent == "HassSetVolume":
        value = s.percent if s.percent is not None else (s.numbers[0] if s.numbers else _relative(s, home, target, "volume_level", 10, detail))
        return None if value is None else {"volume_level": int(value)}
    if intent == "HassGetState":
        states = [st for st in s.states if not (st in ("on", "off") and _verb_particle(s, st))]
        states += [state for verb, state in STATE_FROM_VERB.items() if s.has(verb)]
        return {"state": states[0]} if states else {}
    return {}


def _light_values(s: Slots, home: Home, target: dict[str, Any], detail: str = "") -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    if s.percent is not None:
        values["brightness"] = int(s.percent)
    elif [n for n in s.numbers if 0 <= n <= 100] and s.has("brightness", "to", "at"):
        values["brightness"] = int([n for n in s.numbers if 0 <= n <= 100][0])
    elif s.has(*BRIGHTER, *DIMMER) or (detail and not s.colors):
        # The intent model says which way when it is sure (learned from real requests: "it's a bit gloomy" is up), else the words.
        brighter = detail == "up" if detail else s.has(*BRIGHTER)
        step = 25 if brighter else -25
        current = _attribute(home, target, "brightness", default_when_off=0)
        if current is None:
            return None
        values["brightness"] = max(0, min(100, int(current) + step))
    if s.colors:
        values["color"] = s.colors[0]
    return values or None


def _temperature_value(s: Slots) -> float | None:
    numbers = [n for n in s.numbers if 5 <= n <= 35 and n != s.percent]
    return numbers[0] if numbers else None


def _relative_temperature(s: Slots, home: Home, target: dict[str, Any], detail: str = "") -> float | None:
    step = 2 if s.has("much", "lot", "a lot", "way", "couple") else 1
    warmer = detail == "up" if detail else s.has(*WARMER) or _turned(s, "up")
    step = step if warmer else -step
    current = _attribute(home, target, "temperature", domain="climate")
    return None if current is None else float(current) + step


def _relative(s: Slots, home: Home, target: dict[str, Any], attribute: str, step: int, detail: str = "") -> float | None:
    # The intent model says which way when it is sure ("the tv is deafening": down), else the words.
    down = detail == "down" if detail else s.has("quieter", "softer", "turn it down", "too loud", "lower") or _turned(s, "down")
    direction = -1 if down else 1
    current = _attribute(home, target, attribute)
    return None if current is None else max(0, min(100, float(current) + direction * step))


def _attribute(home: Home, target: dict[str, Any], attribute: str, domain: str | None = None, default_when_off: float | None = None) -> float | None:
    found = home.resolve(Target(target.get("name"), target.get("area"), target.get("floor"), [domain] if domain else ([target["domain"]] if "domain" in target else [])))
    if isinstance(found, MatchFailure):
        return None
    values = []
    for entity in found:
        if attribute in entity.attributes:
            values.append(float(entity.attributes[attribute]))
        elif default_when_off is not None and entity.state == "off" and entity.domain == "light":
            values.append(default_when_off)
    return values[0] if values else None


def _which_timer(s: Slots, change: bool) -> dict[str, Any] | None:
    """A timer's name and the duration it was started with (Home Assistant's start_hours / start_minutes /
    start_seconds); with `change`, the time to add or take off too: a duration that does not name the timer."""
    duration = rf"(?:\d+|{_number_words_pattern(s)}) {UNIT_PATTERN}"
    # As HA's templates say it: "the 10 minute timer", "the timer for 10 minutes" name the timer; "add 5 minutes" is the change.
    naming = re.findall(rf"{duration} timer|timer for {duration}", s.text)
    rest = re.sub(rf"{duration} timer|timer for {duration}", " timer ", s.text)
    start = {f"start_{k}": v for k, v in _durations(" ".join(naming), s).items()}
    args = {**({"name": name} if (name := _timer_name(s)) else {}), **start}
    if s.areas:  # "the timer in the kitchen", "the kitchen timer": HA reads the area, not a name
        args["area"] = s.areas[0].obj.name
        if name and name in s.areas[0].text.split():
            del args["name"]
    if not change:
        return args
    amount = _durations(rest, s)
    return {**args, **amount} if amount else None


def _durations(text: str, s: Slots) -> dict[str, int]:
    args: dict[str, int] = {}
    numbers = s.vocabulary.numbers
    for value, unit in re.findall(rf"(\d+|half an|an|a|{_number_words_pattern(s)}) ({UNIT_PATTERN})\b", text):
        amount = {"an": 1, "a": 1, "half an": 0.5}.get(value) or numbers.get(value) or float(value)
        key = {3600: "hours", 60: "minutes", 1: "seconds"}[TIMER_UNITS[unit]]
        if amount == 0.5 and key == "hours":
            key, amount = "minutes", 30
        args[key] = int(amount)
    if " and a half" in f" {text} " and "hours" in args:
        args["minutes"] = args.get("minutes", 0) + 30
    return args


def _number_words_pattern(s: Slots) -> str:
    # Longest first, so "twenty five" is read whole rather than as "twenty".
    return "|".join(sorted(map(re.escape, s.vocabulary.numbers), key=len, reverse=True))


def _timer_name(s: Slots) -> str | None:
    named = re.search(r"(\w+) timer", s.text) or re.search(r"timer (?:for|on) (?:the|my) (\w+)", s.text)
    if named and named.group(1) not in TIMER_NOT_NAMES and not named.group(1).isdigit() and named.group(1) not in s.vocabulary.number_words:
        return named.group(1)
    return None


def _timer_args(s: Slots) -> dict[str, Any] | None:
    args: dict[str, Any] = dict(_durations(s.text, s))
    if name := _timer_name(s):
        args["name"] = name
    return args or None


def _verb_particle(s: Slots, word: str) -> bool:
    return s.has(f"turn {word}", f"switch {word}", f"turned {word}", f"switched {word}")


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
