"""The template conformance set: sentences expanded from Home Assistant's own templates, labelled as they were made.

Each sentence is one random expansion of one template of an intent Tessera carries out, with
slot values drawn from a generated home (names unlike examples/home.yaml) and a speaker's area
for the templates that need one. The label is what the expansion put in, as Home Assistant's
slot values: the values chosen for its lists plus the template's fixed slots, and for a name
the domain and device class of the entity chosen for it. Planning the sentence on the fast path and
comparing tool and arguments shows whether Tessera understands what Home Assistant would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from agent.decide.templates import TemplateMatcher
from tools import TOOLS
from tools.guardrails import DEFAULT_DOMAINS
from tools.home import Home, MatchFailure
from tools.intents import HOME_INTENTS, TargetSlots

# Pools the generated home draws from; none is a name in examples/home.yaml.
AREA_NAMES = ["Study", "Pantry", "Sunroom", "Workshop", "Loft", "Den", "Laundry Room", "Playroom", "Guest Room", "Cellar", "Library", "Gym"]
FLOOR_NAMES = [("Basement", -1), ("Main Floor", 0), ("Top Floor", 1)]
THINGS = {  # domain -> (thing, device_class)
    "light": [("Pendant", None), ("Sconce", None), ("Desk Light", None), ("Strip Lights", None), ("Spotlight", None)],
    "switch": [("Coffee Maker", "outlet"), ("Fountain Pump", None), ("Dehumidifier Plug", "outlet")],
    "fan": [("Tower Fan", None), ("Ceiling Fan", None)],
    "cover": [("Roller Blind", "blind"), ("Drapes", "curtain"), ("Skylight", "window"), ("Shutter", "shutter"), ("Carport Door", "garage")],
    "lock": [("Side Gate Lock", None), ("Cabinet Lock", None)],
    "climate": [("Radiator", None), ("Heat Pump", None)],
    "media_player": [("Soundbar", "speaker"), ("Projector", "tv"), ("Radio", "speaker")],
    "valve": [("Water Main", "water"), ("Irrigation Valve", "water")],
    "vacuum": [("Robot Mop", None)],
    "sensor": [("Thermometer", "temperature"), ("Air Sensor", "humidity")],
    "binary_sensor": [("Window Contact", "window"), ("Presence Sensor", "motion")],
}
WILDCARDS = ["pizza", "oat milk", "laundry", "tea", "pasta", "batteries", "eggs", "bread"]


@dataclass(slots=True)
class Sample:
    """One expanded sentence and its label."""

    text: str
    tool: str
    args: dict[str, Any]  # in Tessera's shorter form (docs/home.md rule 2), as the model path writes it: worked examples
    context: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, Any] = field(default_factory=dict)  # Home Assistant's slot values: what the fast path answers, and is scored on


def generated_home(seed: int = 0) -> Home:
    """A home of random rooms and devices: three floors, eight areas, two to four devices a room, a weather entity, a to-do list
    and a lawn mower."""
    rng = random.Random(seed)
    floors = [{"id": f"f{level + 1}", "name": name, "level": level} for name, level in FLOOR_NAMES]
    areas, entities = [], [{"entity_id": "weather.home", "name": "Forecast Home", "state": "sunny", "attributes": {"temperature": 18.5}},
                           {"entity_id": "todo.chores", "name": "Chores", "state": "0"},
                           {"entity_id": "lawn_mower.meadow", "name": "Meadow Mower", "state": "docked"}]
    for i, name in enumerate(rng.sample(AREA_NAMES, 8)):
        area_id = name.lower().replace(" ", "_")
        areas.append({"id": area_id, "name": name, "floor": floors[i % 3]["id"]})
        for domain in rng.sample(sorted(THINGS), rng.randint(2, 4)):
            thing, device_class = rng.choice(THINGS[domain])
            entity = {"entity_id": f"{domain}.{area_id}_{thing.lower().replace(' ', '_')}", "name": f"{name} {thing}", "area": area_id,
                      "device_class": device_class, "state": "off", "attributes": {}}
            if domain == "climate":
                entity["attributes"] = {"temperature": 20, "current_temperature": 19.5, "min_temp": 5, "max_temp": 35, "fan_mode": "auto"}
            if domain == "media_player":
                entity["attributes"] = {"volume_level": 30}
            entities.append(entity)
    return Home.model_validate({"name": f"Generated {seed}", "floors": floors, "areas": areas, "entities": entities})


class TemplateSampler:
    """Random expansions of a language's templates over one home."""

    def __init__(self, matcher: TemplateMatcher, seed: int = 0, home_assistant: bool = False, wildcards: list[str] | None = None) -> None:
        # home_assistant: a sentence is kept only when its target resolves as Home Assistant's slots say it (an area said
        # beside a name too), as the conformance set needs; else as the shorter form says it, which keeps the model's
        # worked examples as they were drawn before the fast path kept Home Assistant's slots.
        self.matcher, self.rng, self.home_assistant = matcher, random.Random(seed), home_assistant
        self.wildcards = wildcards or WILDCARDS  # what a list item or a search query is filled with
        self.lists = {**matcher.intents.slot_lists, **matcher.lists}

    def samples(self, per_intent: int, area: str | None, intents: tuple[str, ...] = HOME_INTENTS, tries: int = 40) -> list[Sample]:
        """Up to `per_intent` distinct sentences for each intent, spoken in `area` (None: only templates that need no area)."""
        out: list[Sample] = []
        for name in intents:
            intent = self.matcher.intents.intents.get(name)
            if intent is None:
                continue
            seen: set[str] = set()
            for _ in range(per_intent * tries):
                if len(seen) >= per_intent:
                    break
                sample = self._one(name, self.rng.choice(intent.data), area)
                if sample is not None and sample.text not in seen:
                    seen.add(sample.text)
                    out.append(sample)
        return out

    def _one(self, intent: str, data: Any, area: str) -> Sample | None:
        sentence = self.rng.choice(data.sentences)
        values: dict[str, Any] = {}
        context: dict[str, Any] = {}  # each chosen list value's context; a name's gives its domain and device class
        rules = {**self.matcher.intents.expansion_rules, **data.expansion_rules}
        lists = {**self.lists, **data.slot_lists}
        try:
            text = " ".join(self._expand(sentence.expression, rules, lists, values, context, data).split())
        except _Skip:
            return None
        if not self._context_ok(data, context):
            return None
        for key, value in (data.requires_context or {}).items():
            if isinstance(value, dict) and value.get("slot") and key == "area" and "area" not in values:
                if area is None:
                    return None
                values["area"] = area
        slots = self.matcher.slots(intent, {**(data.slots or {}), **values}, context)
        args = self.matcher.to_args(intent, slots)
        sensible = self._sensible(intent, slots if self.home_assistant else args)
        return Sample(text, intent, args, {"area": area} if area else {}, slots) if sensible else None

    def _sensible(self, intent: str, args: dict[str, Any]) -> bool:
        # Only what this home can carry out: values the intent accepts (°C, not 85 °F; a timer under a day)
        # and targets that exist here ("the blinds in the gym" where the gym has blinds), resolved as the tool
        # resolves them: "set the playroom to 21" means the playroom's thermostats, not anything in the playroom.
        try:
            valid = TOOLS.get(intent).args_model.model_validate(args)
        except ValueError:
            return False
        if not isinstance(valid, TargetSlots):
            return True
        target = valid.target()
        if not (target.name or target.domain) and DEFAULT_DOMAINS.get(intent):
            target.domain = list(DEFAULT_DOMAINS[intent])
        return not isinstance(self.matcher.home.resolve(target), MatchFailure)

    def _context_ok(self, data: Any, context: dict[str, Any]) -> bool:
        for key, wanted in (data.requires_context or {}).items():
            if isinstance(wanted, dict):
                continue  # the speaker's area, given
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if context.get(key) not in allowed:
                return False
        for key, unwanted in (data.excludes_context or {}).items():
            if context.get(key) in (unwanted if isinstance(unwanted, list) else [unwanted]):
                return False
        return True

    def _expand(self, expression: Any, rules: dict, lists: dict, values: dict, context: dict, data: Any) -> str:
        from hassil.expression import Alternative, ListReference, Permutation, RuleReference, Sequence, TextChunk

        def expand(e: Any) -> str:
            return self._expand(e, rules, lists, values, context, data)

        if isinstance(expression, TextChunk):
            return expression.original_text
        if isinstance(expression, Alternative):
            return expand(self.rng.choice(expression.items))
        if isinstance(expression, Permutation):
            items = list(expression.items)
            self.rng.shuffle(items)
            return " ".join(expand(i) for i in items)
        if isinstance(expression, Sequence):
            return "".join(expand(i) for i in expression.items)
        if isinstance(expression, RuleReference):
            return expand(rules[expression.rule_name].expression)
        if isinstance(expression, ListReference):
            return self._list_value(expression, lists, values, context, data)
        raise _Skip

    def _list_value(self, ref: Any, lists: dict, values: dict, context: dict, data: Any) -> str:
        from hassil.intents import RangeSlotList, TextSlotList, WildcardSlotList

        slot_list = lists.get(ref.list_name)
        if isinstance(slot_list, WildcardSlotList):
            word = self.rng.choice(self.wildcards)
            values[ref.slot_name] = word
            return word
        if isinstance(slot_list, RangeSlotList):
            number = self.rng.randrange(slot_list.start, slot_list.stop + 1, slot_list.step)
            values[ref.slot_name] = number * slot_list.multiplier if slot_list.multiplier else number
            return str(number)
        if not isinstance(slot_list, TextSlotList) or not slot_list.values or ref.slot_name in values:
            raise _Skip  # a slot said twice, or a list this home has nothing in
        choices = [v for v in slot_list.values if _fits(v.context, data.requires_context)]
        if not choices:
            raise _Skip
        value = self.rng.choice(choices)
        values[ref.slot_name] = value.value_out if value.value_out is not None else _text(value.text_in)
        context.update(value.context or {})
        return " ".join(sample_text(value.text_in, self.rng).split())


def _fits(value_context: dict | None, required: dict | None) -> bool:
    for key, wanted in (required or {}).items():
        if isinstance(wanted, dict) or not value_context or key not in value_context:
            continue
        if value_context[key] not in (wanted if isinstance(wanted, list) else [wanted]):
            return False
    return True


def _text(expression: Any) -> str:
    return getattr(expression, "text", "") or ""


def sample_text(expression: Any, rng: random.Random) -> str:
    """One random text of a list value's own template ("tv|television")."""
    from hassil.expression import Alternative, Group, TextChunk

    if isinstance(expression, TextChunk):
        return expression.original_text
    if isinstance(expression, Alternative):
        return sample_text(rng.choice(expression.items), rng)
    if isinstance(expression, Group):
        return "".join(sample_text(i, rng) for i in expression.items)
    return ""


class _Skip(Exception):
    """This expansion cannot be labelled (an unsupported part); another is drawn."""


def template_set(language: str = "en", seed: int = 0, per_intent: int = 10, home: Home | None = None) -> tuple[Home, list[Sample]]:
    """The generated home and its labelled sentences: `per_intent` for each intent, spoken in one of its areas."""
    home = home or generated_home(seed)
    matcher = TemplateMatcher(home, language)
    area = random.Random(seed).choice(home.areas).name
    return home, TemplateSampler(matcher, seed, home_assistant=True).samples(per_intent, area)
