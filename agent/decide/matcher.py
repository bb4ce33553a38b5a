"""The deterministic fast path: intent from command words, arguments from extracted slots.

Home Assistant answers exact phrasings with its own matcher before any LLM; Tessera
does the same. `detect_intent` recognises the intent from verbs and question words
when they are unambiguous; `build_args` turns slots into Home Assistant slot values
following docs/home.md. Both return None when unsure, and the planner asks the model.
"""

from __future__ import annotations

import re
from typing import Any

from agent.decide.slots import WORD_NUMBERS, Mention, Slots
from tools.home import Entity, Home, MatchFailure, Target

QUESTION_STARTS = ("is", "are", "did", "does", "do", "was", "what", "whats", "how", "which", "who", "has", "have", "tell", "check", "any")
# Requests phrased as questions are commands: "can you lock the door".
POLITE_PREFIXES = ("can you", "could you", "would you", "will you", "is it possible to", "i want you to", "id like you to", "please")
FILLERS = ("hey", "ok", "okay", "so", "um", "uh", "well", "right")
OFF_WORDS = ("off", "close", "closed", "shut", "unlock", "kill", "deactivate", "disable", "cut", "lower the", "douse", "pull down",
             "roll down", "stop", "power down", "unplug")
ON_WORDS = ("on", "open", "lock", "activate", "enable", "power up", "start", "raise the", "fire up", "pull up", "roll up", "going")
MEDIA_PAUSE = ("pause", "stop the music", "stop playing", "hold the")
MEDIA_RESUME = ("resume", "unpause", "continue", "keep playing", "play", "carry on")
VOLUME_WORDS = ("volume", "louder", "quieter", "softer", "turn it up", "turn it down", "cant hear", "too loud")
WARMER = ("warmer", "heat up", "turn up the heat", "turn the heat up", "hotter", "too cold", "freezing", "chilly", "up one", "up a degree",
          "bump up", "up a notch")
COOLER = ("cooler", "colder", "turn down the heat", "turn the heat down", "too hot", "too warm", "down one", "down a degree", "down a notch")
BRIGHTER = ("brighter", "brighten", "more light")
DIMMER = ("dim", "dimmer", "darker", "too bright", "less light")
# Indirect wording that means switching lights: "it's too dark in the kitchen".
LIGHTS_ON = ("too dark", "cant see", "lights up")
LIGHTS_OFF = ("make it dark", "lights out")
# A state asked about in the words of the action that causes it: "did I lock the front door".
STATE_FROM_VERB = {"lock": "locked", "unlock": "unlocked", "close": "closed", "shut": "closed", "running": "on", "leave on": "on"}
TIMER_NOT_NAMES = ("a", "an", "the", "my", "new", "quick", "short", "long", "minute", "minutes", "hour", "second", "seconds", "set",
                   "start", "cancel", "stop", "that", "this")
TIMER_UNITS = {"hour": 3600, "hours": 3600, "minute": 60, "minutes": 60, "min": 60, "mins": 60, "second": 1, "seconds": 1, "secs": 1}


def is_question(s: Slots) -> bool:
    """A question about state rather than a command (a polite request is a command)."""
    words = [w for w in s.words if w not in FILLERS] if s.words and s.words[0] in FILLERS else s.words
    text = " ".join(words)
    if not words or any(text.startswith(p + " ") for p in POLITE_PREFIXES):
        return False
    return words[0] in QUESTION_STARTS or s.raw.rstrip().endswith("?")


def _turned(s: Slots, direction: str) -> bool:
    # "turn up the tv", "turn the heating up", "turn the music down"
    return bool(re.search(rf"\bturn (?:\w+ ){{0,3}}?{direction}\b", s.text))


def unknown_place(s: Slots) -> bool:
    """The words name a room or floor that is not in the registry ("the guest room", "the second floor")."""
    return (s.has("room", "floor") and not (s.areas or s.floors)) or s.has("in here", "this room")


def detect_intent(s: Slots) -> str | None:
    """The intent the command words name, or None when they do not settle it."""
    domains = {d for d, _ in s.domains} | {m.obj.domain for m in s.entities}
    if s.has("timer", "wake me in", "countdown"):
        return "HassCancelTimer" if s.has("cancel", "stop", "delete", "remove", "kill", "end") else "HassStartTimer"
    if is_question(s):
        named_sensor = any(m.obj.domain != "climate" for m in s.entities if not m.generic)
        if not named_sensor and (s.has("temperature", "how warm", "how cold", "how hot", "degrees", "is it warm", "is it cold") or (domains == {"climate"} and not s.states)):
            return "HassClimateGetTemperature"
        return "HassGetState"
    turned_up, turned_down = _turned(s, "up"), _turned(s, "down")
    if "climate" in domains and (turned_up or turned_down) and not s.numbers:
        return "HassClimateSetTemperature"
    if (s.has(*VOLUME_WORDS) and ("media_player" in domains or not domains)) or ("media_player" in domains and (turned_up or turned_down)):
        return "HassSetVolume"
    if s.has(*LIGHTS_ON, *LIGHTS_OFF) and domains <= {"light"}:
        return "HassTurnOn" if s.has(*LIGHTS_ON) else "HassTurnOff"
    media_words = s.has(*MEDIA_PAUSE, *MEDIA_RESUME) and domains <= {"media_player"}
    if "media_player" in domains or media_words or s.has("music", "show", "movie", "song", "podcast"):
        if s.has(*MEDIA_PAUSE):
            return "HassMediaPause"
        if s.has(*MEDIA_RESUME):
            return "HassMediaUnpause"
    climate_words = "climate" in domains or s.has("temperature", "degrees", "thermostat", "heating")
    if s.has(*WARMER, *COOLER) or (climate_words and _temperature_value(s) is not None):
        return "HassClimateSetTemperature"
    if s.has("toggle", "flip"):
        return "HassToggle"
    light_number = "light" in domains and s.has("to", "at") and [n for n in s.numbers if 0 <= n <= 100]
    if ("light" in domains or not domains) and (s.colors or s.has("brightness", *BRIGHTER, *DIMMER) or light_number
                                                or (s.percent is not None and "cover" not in domains)):
        return "HassLightSet"
    if "cover" in domains and (s.percent is not None or s.numbers):
        return "HassSetPosition"
    if s.has(*OFF_WORDS):
        return "HassTurnOff"
    if s.has(*ON_WORDS):
        return "HassTurnOn"
    return None


def build_args(intent: str, s: Slots, home: Home) -> dict[str, Any] | None:
    """Home Assistant slot values for `intent` from the slots, or None when a required value is missing."""
    if intent == "HassStartTimer":
        return _timer_args(s)
    if intent == "HassCancelTimer":
        return {k: v for k, v in (_timer_args(s) or {}).items() if k == "name"}
    args = target_args(s, intent)
    if args is None:
        return None
    values = _intent_values(intent, s, home, args)
    return None if values is None else {**args, **values}


def target_args(s: Slots, intent: str) -> dict[str, Any] | None:
    """name, or area / floor plus domain and device class, as docs/home.md prescribes."""
    group_words = s.has("all", "every", "everything")
    named = [m for m in s.entities if not (m.generic and (group_words or s.floors or _outside_area(m, s)))]
    if named:
        return _named(named, s)
    args: dict[str, Any] = {}
    if s.areas:
        args["area"] = s.areas[0].obj.name
    elif s.floors:
        args["floor"] = s.floors[0].obj.name
    domain, device_class = _group_domain(s, intent)
    if domain is None and intent in ("HassTurnOn", "HassTurnOff") and s.has(*LIGHTS_ON, *LIGHTS_OFF):
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


IMPLIED_DOMAIN = ("HassLightSet", "HassClimateSetTemperature", "HassClimateGetTemperature", "HassMediaPause", "HassMediaUnpause", "HassSetVolume")


def _intent_values(intent: str, s: Slots, home: Home, target: dict[str, Any]) -> dict[str, Any] | None:
    if intent == "HassLightSet":
        return _light_values(s, home, target)
    if intent == "HassClimateSetTemperature":
        relative = s.has(*WARMER, *COOLER) or _turned(s, "up") or _turned(s, "down")
        value = _relative_temperature(s, home, target) if relative else _temperature_value(s)
        return None if value is None else {"temperature": _number(value)}
    if intent == "HassSetPosition":
        value = s.percent if s.percent is not None else (s.numbers[0] if s.numbers else None)
        return None if value is None else {"position": int(value)}
    if intent == "HassSetVolume":
        value = s.percent if s.percent is not None else (s.numbers[0] if s.numbers else _relative(s, home, target, "volume_level", 10, scale=100))
        return None if value is None else {"volume_level": int(value)}
    if intent == "HassGetState":
        states = [st for st in s.states if not (st in ("on", "off") and _verb_particle(s, st))]
        states += [state for verb, state in STATE_FROM_VERB.items() if s.has(verb)]
        return {"state": states[0]} if states else {}
    return {}


def _light_values(s: Slots, home: Home, target: dict[str, Any]) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    if s.percent is not None:
        values["brightness"] = int(s.percent)
    elif [n for n in s.numbers if 0 <= n <= 100] and s.has("brightness", "to", "at"):
        values["brightness"] = int([n for n in s.numbers if 0 <= n <= 100][0])
    elif s.has(*BRIGHTER, *DIMMER):
        step = 25 if s.has(*BRIGHTER) else -25
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


def _relative_temperature(s: Slots, home: Home, target: dict[str, Any]) -> float | None:
    step = 2 if s.has("much", "lot", "a lot", "way") else 1
    step = step if s.has(*WARMER) or _turned(s, "up") else -step
    current = _attribute(home, target, "temperature", domain="climate")
    return None if current is None else float(current) + step


def _relative(s: Slots, home: Home, target: dict[str, Any], attribute: str, step: int, scale: int = 1) -> float | None:
    direction = -1 if s.has("quieter", "softer", "turn it down", "too loud", "lower") or _turned(s, "down") else 1
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


def _timer_args(s: Slots) -> dict[str, Any] | None:
    args: dict[str, Any] = {}
    words = "|".join(sorted(WORD_NUMBERS, key=len, reverse=True))
    for value, unit in re.findall(rf"(\d+|half an|an|a|{words}) (hours?|minutes?|mins?|seconds?|secs?)\b", s.text):
        amount = {"an": 1, "a": 1, "half an": 0.5}.get(value) or WORD_NUMBERS.get(value) or float(value)
        key = {3600: "hours", 60: "minutes", 1: "seconds"}[TIMER_UNITS[unit]]
        if amount == 0.5 and key == "hours":
            key, amount = "minutes", 30
        args[key] = int(amount)
    if s.has("and a half") and "hours" in args:
        args["minutes"] = args.get("minutes", 0) + 30
    named = re.search(r"(\w+) timer", s.text) or re.search(r"timer (?:for|on) (?:the|my) (\w+)", s.text)
    if named and named.group(1) not in TIMER_NOT_NAMES and not named.group(1).isdigit() and named.group(1) not in WORD_NUMBERS:
        args["name"] = named.group(1)
    return args or None


def _verb_particle(s: Slots, word: str) -> bool:
    return s.has(f"turn {word}", f"switch {word}", f"turned {word}", f"switched {word}")


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
