"""The fast path: Home Assistant's own sentence templates, matched by hassil against this home.

`home-assistant-intents` is the community's set of sentence templates (60+ languages) and
`hassil` the matcher Home Assistant runs before any language model ("prefer handling
commands locally"). Slot lists come from the home registry the way Home Assistant builds
them: entity names and aliases carrying their domain, device class and area as match
context, areas, floors. The speaker's area fills the templates that need one ("turn on the
lights", "what is the temperature in here"). A sentence no template matches goes to the
model path; the language is `hub.language`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import logging

from base.errors import ConfigError
from tools import TOOLS
from tools.home import Home, normalize
from tools.intents import HOME_INTENTS, TargetSlots

log = logging.getLogger(__name__)

# Intents whose tool has a domain slot but whose intent already names the domain: Home Assistant
# fills `domain` in their templates, Tessera's shorter form (docs/home.md rule 2) leaves it out.
IMPLIED_DOMAIN = frozenset({"HassLightSet", "HassClimateSetTemperature", "HassClimateGetTemperature", "HassMediaPause",
                            "HassMediaUnpause", "HassSetVolume", "HassMediaNext", "HassMediaPrevious", "HassSetVolumeRelative",
                            "HassGetWeather", "HassVacuumStart", "HassVacuumReturnToBase"})
TARGET_KEYS = ("area", "floor", "domain", "device_class")
NAME_CONTEXT = ("domain", "device_class")  # what a matched name carries as context (slot_lists)


@dataclass(slots=True, frozen=True)
class SpeakerContext:
    """Where a command was spoken: the registry name of the speaker's area, and the device that heard it."""

    area: str | None = None
    device_id: str | None = None


@dataclass(slots=True)
class TemplateMatch:
    """The best template match of one sentence, in Home Assistant's slot values (docs/home.md)."""

    intent: str
    args: dict[str, Any]
    readings: int  # distinct (intent, slots) readings among the equally good matches; 1 is unambiguous
    area_from_context: bool  # the area came from the speaker, not from the words
    response: str | None = None  # the template's response: the key of Home Assistant's answer to it
    said: dict[str, Any] = field(default_factory=dict)  # each slot as said (Home Assistant's speech slots), else its value


# The latest matches, by (language, sentence, speaker's area): the hub answers a command planned on the
# fast path with the response of the template that matched it, without matching it again.
_RECENT: OrderedDict[tuple[str, str, str | None], TemplateMatch] = OrderedDict()
RECENT_MATCHES = 64


def recent_match(language: str, text: str, context: SpeakerContext | None = None) -> TemplateMatch | None:
    """The match `TemplateMatcher.match` found lately for this sentence spoken in this context, if any."""
    return _RECENT.get((language, text, context.area if context else None))


def speaker_context(data: Any, home: Home) -> SpeakerContext | None:
    """A SpeakerContext from a request's `context` object; ConfigError in one line when it is malformed."""
    if data is None:
        return None
    hint = 'context must be an object like {"area": "Living Room", "device_id": "satellite-1"}'
    if not isinstance(data, dict):
        raise ConfigError(f"{hint}; got {str(data)[:80]}")
    _note_unused_keys(set(data) - {"area", "device_id"})
    area, device = data.get("area"), data.get("device_id")
    if area is not None and not isinstance(area, str) or device is not None and not isinstance(device, str):
        raise ConfigError(f"{hint}: area and device_id are strings")
    if area is not None:
        found = home.area(area)
        if found is None:
            raise ConfigError(f"context area {area!r} is not an area of this home; use one of: {', '.join(a.name for a in home.areas)}")
        area = found.name
    elif device is not None:
        # A device that heard the command and is in the registry places the speaker in its area.
        entity = home.entity(device)
        found = home.area_of(entity) if entity else None
        area = found.name if found else None
    return SpeakerContext(area, device)


_UNUSED_KEYS_SEEN: set[str] = set()


def _note_unused_keys(keys: set[str]) -> None:
    # Home Assistant's own contexts carry more (domain, device_class, ...): accepted, ignored, logged once per key.
    new = keys - _UNUSED_KEYS_SEEN
    if new:
        _UNUSED_KEYS_SEEN.update(new)
        log.info("context keys ignored", extra={"keys": sorted(new), "used": ["area", "device_id"]})


@lru_cache(maxsize=4)
def load_language(language: str) -> Any:
    """hassil Intents of one language from home-assistant-intents; ConfigError naming the installed ones."""
    try:
        from hassil import Intents
        from home_assistant_intents import get_intents, get_languages
    except ImportError as err:
        raise ConfigError("the fast path needs hassil and home-assistant-intents: pip install -e . in the Tessera checkout") from err
    data = get_intents(language)
    if data is None:
        raise ConfigError(f"hub.language {language!r} has no sentence templates installed; use one of: {', '.join(sorted(get_languages()))}")
    return Intents.from_dict(data)


@lru_cache(maxsize=4)
def template_words(language: str) -> frozenset[str]:
    """Every literal word of a language's templates and expansion rules."""
    from hassil.expression import Group, TextChunk

    words: set[str] = set()

    def walk(expression: Any) -> None:
        if isinstance(expression, TextChunk):
            words.update(normalize(expression.text).split())
        elif isinstance(expression, Group):
            for item in expression.items:
                walk(item)

    intents = load_language(language)
    for rule in intents.expansion_rules.values():
        walk(rule.expression)
    for intent in intents.intents.values():
        for data in intent.data:
            for sentence in data.sentences:
                walk(sentence.expression)
    return frozenset(words)


def slot_lists(home: Home) -> dict[str, Any]:
    """hassil slot lists of the home: names and aliases (value: the registry name; context: domain and
    device class), areas and floors (value: the registry name)."""
    from hassil.expression import TextChunk
    from hassil.intents import TextSlotList, TextSlotValue

    names = []
    for entity in home.entities:
        # As Home Assistant does: domain and device class only; the speaker's area is the only "area" context.
        context = {"domain": entity.domain, **({"device_class": entity.device_class} if entity.device_class else {})}
        names += [TextSlotValue(TextChunk(said), entity.name, context=context) for said in _said(entity.name, entity.aliases)]
    areas = [TextSlotValue(TextChunk(said), a.name) for a in home.areas for said in _said(a.name, a.aliases)]
    floors = [TextSlotValue(TextChunk(said), f.name) for f in home.floors for said in _said(f.name, f.aliases)]
    return {"name": TextSlotList("name", names), "area": TextSlotList("area", areas), "floor": TextSlotList("floor", floors)}


def _said(name: str, aliases: list[str]) -> list[str]:
    return list(dict.fromkeys([name, *aliases]))


class TemplateMatcher:
    """Matches sentences of one language against the home's slot lists."""

    def __init__(self, home: Home, language: str = "en") -> None:
        self.home, self.language = home, language
        self.intents = load_language(language)
        self.lists = slot_lists(home)
        self._names = {n for e in home.entities for n in e.names()} | {
            normalize(n) for place in (*home.areas, *home.floors) for n in (place.name, place.id, *place.aliases)}

    def match(self, text: str, context: SpeakerContext | None = None) -> TemplateMatch | None:
        """The best match of `text` among the intents Tessera can carry out, or None."""
        from hassil import recognize_all

        intent_context = {"area": {"value": context.area, "text": context.area}} if context and context.area else None
        results = [r for r in recognize_all(text, self.intents, slot_lists=self.lists, intent_context=intent_context,
                                            language=self.language) if r.intent.name in HOME_INTENTS]
        if not results:
            return None
        # Home Assistant's own ranking: a named entity first (longest name), then hassil's (_rank).
        results.sort(key=_rank)
        best = results[0]
        readings = {_key(best.intent.name, self._args(r)) for r in results if _rank(r)[:-1] == _rank(best)[:-1]}
        area = best.entities.get("area")
        from_context = area is not None and area.text_span is None and bool(intent_context)
        said = {k: _value(e.text or e.value) for k, e in best.entities.items()}  # as Home Assistant's speech slots
        found = TemplateMatch(best.intent.name, self._args(best), len(readings), from_context, best.response, said)
        _RECENT[(self.language, text, context.area if context else None)] = found
        while len(_RECENT) > RECENT_MATCHES:
            _RECENT.popitem(last=False)
        return found

    def unknown_place(self, text: str) -> str | None:
        """The room or floor a sentence names that the home does not have ("the lights in the guest room"), or None.

        Home Assistant's second pass: templates matched with unknown values allowed. Only a
        place is taken from it; an unknown device name is too often not a device at all
        ("what's the capital of peru" fits "what's the {name}"), so that is left to the model.
        """
        from hassil import recognize_all

        for result in recognize_all(text, self.intents, slot_lists=self.lists, allow_unmatched_entities=True, language=self.language):
            unmatched = [e for e in result.unmatched_entities_list if getattr(e, "text", "") != "<missing>"]
            if not unmatched or "name" in result.entities or any(e.name not in ("area", "floor") for e in unmatched):
                continue
            said = normalize(str(getattr(unmatched[0], "text", "")))
            # An unmatched span that holds one of the home's own names, or a whole clause, is a
            # sentence the templates did not foresee ("dim the floor lamp to 20"), not an unknown room.
            # A place is named with some word the templates do not use themselves ("the temperature" is not one).
            place_like = 0 < len(said.split()) <= 3 and bool(set(said.split()) - template_words(self.language))
            if place_like and not any(f" {n} " in f" {said} " for n in self._names):
                return said
        return None

    def _args(self, result: Any) -> dict[str, Any]:
        return self.slots(result.intent.name, {k: e.value for k, e in result.entities.items()}, result.context)

    def slots(self, intent: str, values: dict[str, Any], context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Home Assistant's slot values of a match: the tool's slots as hassil gives them (the template's fixed slots among them),
        names as the registry spells them. A named target keeps the domain and device class of the entity its name matched
        (hassil's match `context`): they tell apart entities that share a name ("Phone": the battery, the charger), and an
        intent service for Home Assistant needs them."""
        model = TOOLS.get(intent).args_model
        found = {k: _value(v) for k, v in values.items()}
        if "name" in found and issubclass(model, TargetSlots):
            found["name"] = self._registry_name(found["name"])
            for key in NAME_CONTEXT:
                if (context or {}).get(key):
                    found.setdefault(key, context[key])  # type: ignore[index]
        return {k: v for k, v in found.items() if k in model.model_fields}

    def to_args(self, intent: str, slots: dict[str, Any]) -> dict[str, Any]:
        """Home Assistant's slot values in Tessera's shorter form (docs/home.md rule 2), the form the model path writes:
        a named device without the area, domain and device class, unless its name is in several areas; no domain the intent names."""
        args = dict(slots)
        if "name" in args and issubclass(TOOLS.get(intent).args_model, TargetSlots):
            same = [e for e in self.home.entities if e.name == args["name"]]
            keep_area = len({e.area for e in same}) > 1 and "area" in args
            args = {k: v for k, v in args.items() if k not in TARGET_KEYS or (k == "area" and keep_area)}
        if intent in IMPLIED_DOMAIN:
            args.pop("domain", None)
        return args

    def _registry_name(self, value: str) -> str:
        # Template sentences may carry a name as said (wildcards); the registry spells it one way.
        key = normalize(value)
        return next((e.name for e in self.home.entities if key in e.names()), value)


def _rank(result: Any) -> tuple:
    name = result.entities.get("name")
    named = name is not None and not name.is_wildcard
    wildcards = [e for e in result.entities_list if e.is_wildcard]
    # Then hassil's own ranking: fewer wildcards, more literal text, less text a wildcard swallowed
    # ("play track Yesterday": media_class track, search_query Yesterday).
    return (not named, -(len(name.text) if named else 0), len(wildcards), -result.text_chunks_matched,
            sum(len(e.text or "") for e in wildcards), result.intent.name)


def _key(intent: str, args: dict[str, Any]) -> tuple:
    return (intent, tuple(sorted((k, str(v)) for k, v in args.items())))


def _value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip()
    return value
