"""The labelled home command set (examples/commands/home_commands.jsonl) is valid against the example home.

Every label must be something Tessera's intent tools accept and can carry out on
examples/home.yaml, spelled the way docs/home.md says Home Assistant would spell it;
every Clarify label must really be unresolvable or ambiguous; the split, tags and mix
must be what examples/commands/README.md promises.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

import tools
from tools.home import Home, MatchFailure, Target, normalize
from tools.intents import HOME_INTENTS, TargetSlots
from tools.timers import ListStore, TimerBoard, board_for, install

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ROOT / "examples" / "commands" / "home_commands.jsonl"
HOME = ROOT / "examples" / "home.yaml"

KEYS = {"id", "utterance", "tool", "args", "tags", "split"}
NO_ARGS_TOOLS = {"Clarify", "OutOfScope"}
TAGS = {
    "name", "alias", "group", "floor", "brightness", "color", "climate", "cover", "lock", "media", "timer",
    "state_question", "relative", "typo", "polite", "indirect", "unknown_device", "ambiguous", "out_of_scope",
    "multi_word_order", "casual",
}
# The domains each intent falls back to when the slots name no domain and no device (tools/intents.py).
DEFAULT_DOMAINS = {
    "HassTurnOn": ("light", "switch", "fan"), "HassTurnOff": ("light", "switch", "fan"), "HassLightSet": ("light",),
    "HassClimateSetTemperature": ("climate",), "HassClimateGetTemperature": ("climate",), "HassSetPosition": ("cover",),
    "HassMediaPause": ("media_player",), "HassMediaUnpause": ("media_player",), "HassSetVolume": ("media_player",),
    "HassMediaNext": ("media_player",), "HassMediaPrevious": ("media_player",),
}
TARGET_KEYS = ("name", "area", "floor", "domain", "device_class")
PERCENT_KEYS = ("brightness", "position", "volume_level")
# Which way relative wording goes (docs/home.md rule 7), and "a lot" for the two-degree step.
DOWN_WORDS = re.compile(r"\b(cooler|down|dim|dimmer|quieter|too loud|too hot)\b")
UP_WORDS = re.compile(r"\b(warmer|up|chilly|freezing|brighter|brighten|louder|can't hear)\b")
BIG_WORDS = re.compile(r"\b(a lot|much)\b")

# Why each Clarify line is Clarify, worked out by hand and checked against the registry below.
#   ("unknown", phrase): the device words name no entity (by name or alias), area or floor;
#   ("unknown_place", phrase): the room or floor named is not in the home;
#   ("no_match", Target): what the words say resolves to nothing (no fan downstairs, no thermostat in the kitchen);
#   ("ambiguous", Target): what the words can mean resolves to several entities in several areas;
#   ("no_target", None): nothing is named at all;
#   ("no_attribute", Target, attribute): the target exists but lacks the attribute a relative request needs.
CLARIFY = {
    "turn on the dishwasher": ("unknown", "dishwasher"),
    "open the skylight": ("unknown", "skylight"),
    "start the robot vacuum": ("unknown", "robot vacuum"),
    "lock the patio door": ("unknown", "patio door"),
    "turn on the sprinklers": ("unknown", "sprinklers"),
    "set the hot tub to 38 degrees": ("unknown", "hot tub"),
    "open the front gate": ("unknown", "front gate"),
    "turn on the air conditioner": ("unknown", "air conditioner"),
    "switch the kettle on": ("unknown", "kettle"),
    "turn off the basement lights": ("unknown_place", "basement"),
    "switch on the lights in the guest room": ("unknown_place", "guest room"),
    "turn off the lights in the attic": ("unknown_place", "attic"),
    "turn on the lights on the second floor": ("unknown_place", "second floor"),
    "lock the shed": ("unknown_place", "shed"),
    "switch off all fans downstairs": ("no_match", Target(floor="downstairs", domain=["fan"])),
    "make the kitchen warmer": ("no_match", Target(area="Kitchen", domain=["climate"])),
    "lock the door": ("ambiguous", Target(domain=["lock"])),
    "unlock the door": ("ambiguous", Target(domain=["lock"])),
    "turn on the fan": ("ambiguous", Target(domain=["fan"])),
    "turn off the light": ("ambiguous", Target(domain=["light"])),
    "turn the lights off in here": ("ambiguous", Target(domain=["light"])),  # "here" is no room the hub knows
    "set the temperature to 20": ("ambiguous", Target(domain=["climate"])),
    "what's the temperature": ("ambiguous", Target(domain=["climate"])),
    "turn the towel rail up a bit": ("no_attribute", Target(name="towel rail"), "temperature"),
    "turn it off": ("no_target", None),
    "make it brighter": ("no_target", None),
    "turn it up": ("no_target", None),
}


@lru_cache(maxsize=1)
def home() -> Home:
    return Home.load(HOME)


@lru_cache(maxsize=1)
def lines() -> list[dict]:
    out = []
    for number, raw in enumerate(COMMANDS.read_text(encoding="utf-8").splitlines(), 1):
        assert raw.strip(), f"line {number} is blank"
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError as err:
            pytest.fail(f"line {number} is not JSON: {err}")
    return out


def line_id(line: dict) -> str:
    return f"{line.get('id')} {line.get('utterance')!r}"


def target_of(line: dict) -> Target:
    """The target the args name, with the intent's default domains as the tool applies them."""
    slots = TargetSlots.model_validate({k: v for k, v in line["args"].items() if k in TARGET_KEYS})
    target = slots.target()
    if not target.domain and not target.name and line["tool"] in DEFAULT_DOMAINS:
        target.domain = list(DEFAULT_DOMAINS[line["tool"]])
    return target


def has_target(tool_name: str) -> bool:
    return tool_name in HOME_INTENTS and issubclass(tools.TOOLS.get(tool_name).args_model, TargetSlots)


def category(line: dict) -> str:
    """The mix category of a line (README: the mix)."""
    tool, tags = line["tool"], set(line["tags"])
    if tool == "Clarify":
        return "clarify"
    if tool == "OutOfScope":
        return "out_of_scope"
    if "relative" in tags:
        return "relative"
    if tool in ("HassStartTimer", "HassCancelTimer"):
        return "timer"
    if tool in ("HassClimateSetTemperature", "HassClimateGetTemperature"):
        return "climate"
    if tool == "HassGetState":
        return "state"
    if tool in ("HassMediaPause", "HassMediaUnpause", "HassSetVolume"):
        return "media"
    if tool == "HassLightSet":
        return "light_set"
    if tool == "HassSetPosition" or "cover" in tags:
        return "cover"
    return "on_off"


# --- the home the set is written against ---------------------------------------------------


def test_home_is_big_enough():
    h = home()
    assert len(h.entities) >= 30 and len(h.areas) >= 8 and len(h.floors) >= 2


# --- every line -----------------------------------------------------------------------------


def test_lines_have_the_format():
    assert len(lines()) >= 450
    for number, line in enumerate(lines(), 1):
        assert set(line) == KEYS, f"{line_id(line)}: keys {sorted(line)}"
        assert line["id"] == f"c{number:04d}", f"line {number}: id {line['id']} out of sequence"
        assert isinstance(line["utterance"], str) and line["utterance"].strip() == line["utterance"] and line["utterance"]
        assert isinstance(line["args"], dict), line_id(line)
        assert isinstance(line["tags"], list) and line["tags"], f"{line_id(line)}: no tags"
        assert len(set(line["tags"])) == len(line["tags"]), f"{line_id(line)}: repeated tag"
        assert set(line["tags"]) <= TAGS, f"{line_id(line)}: unknown tags {set(line['tags']) - TAGS}"
        assert line["split"] in ("calibration", "heldout"), line_id(line)


TIMER_TOOLS = {"HassStartTimer", "HassCancelTimer", "HassCancelAllTimers", "HassPauseTimer", "HassUnpauseTimer",
               "HassTimerStatus", "HassIncreaseTimer", "HassDecreaseTimer"}
# Intents without a domain slot: the target is a name or an area, the domain is the intent's own.
NO_DOMAIN_SLOT = {"HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious", "HassSetVolume", "HassLightSet",
                  "HassClimateSetTemperature", "HassClimateGetTemperature"}


def assert_valid_call(line: dict) -> None:
    """The line's tool is a home intent (or Clarify / OutOfScope, without arguments) and its arguments validate."""
    name = line["tool"]
    if name in NO_ARGS_TOOLS:
        assert line["args"] == {}, f"{line_id(line)}: {name} carries no arguments"
        return
    assert name in HOME_INTENTS, f"{line_id(line)}: {name} is not a home intent"
    tool = tools.TOOLS.get(name)
    fields = set(tool.args_model.model_fields)
    assert set(line["args"]) <= fields, f"{line_id(line)}: {set(line['args']) - fields} are not slots of {name}"
    assert all(v is not None for v in line["args"].values()), f"{line_id(line)}: null slot"
    tool.validate(line["args"])  # raises on a bad value


def assert_slot_conventions(line: dict, h: Home) -> None:
    """The slot values follow docs/home.md's conventions against home `h`."""
    args, tool, where = line["args"], line["tool"], line_id(line)
    if "name" in args and has_target(tool):
        assert args["name"] in {e.name for e in h.entities}, f"{where}: name {args['name']!r} is not a registry name"
        # rule 2: a named device needs nothing else (no name repeats across areas in this home)
        assert not set(args) & {"area", "floor", "domain", "device_class"}, f"{where}: name plus other target slots"
    if "area" in args:
        assert args["area"] in {a.name for a in h.areas}, f"{where}: area {args['area']!r} is not a registry area name"
    if "floor" in args:
        assert args["floor"] in {f.name for f in h.floors}, f"{where}: floor {args['floor']!r} is not a registry floor name"
    if "domain" in args:
        assert args["domain"] in h.domains(), f"{where}: domain {args['domain']!r}"
    if "device_class" in args:
        assert args["device_class"] in {e.device_class for e in h.entities if e.device_class}, f"{where}: device_class {args['device_class']!r}"
        assert "domain" in args, f"{where}: a device class goes with its domain"
    for key in PERCENT_KEYS + ("hours", "minutes", "seconds"):
        if key in args:
            assert type(args[key]) is int, f"{where}: {key} must be an integer"
    if "temperature" in args:
        assert type(args["temperature"]) in (int, float), f"{where}: temperature must be a number"
    if "color" in args:
        assert args["color"] == args["color"].lower().strip() and re.fullmatch(r"[a-z]+( [a-z]+)?", args["color"]), where
    if "state" in args:
        assert args["state"] == args["state"].lower(), where
    if tool == "HassLightSet":
        assert "brightness" in args or "color" in args, f"{where}: light set without a value"
    if tool in NO_DOMAIN_SLOT:
        assert "domain" not in args and "device_class" not in args, f"{where}: {tool} has no domain slot"
    if tool == "HassStartTimer":
        assert any(k in args for k in ("hours", "minutes", "seconds")), f"{where}: a timer needs a duration"
    if tool in TIMER_TOOLS and "name" in args:
        assert args["name"] == args["name"].lower(), f"{where}: timer names are lower case"


def test_tools_are_registered_and_args_validate():
    for line in lines():
        assert_valid_call(line)


def test_slot_values_follow_the_conventions():
    h = home()
    for line in lines():
        assert_slot_conventions(line, h)


def assert_target_resolves(line: dict, h: Home) -> None:
    """A line that acts on a target names entities of home `h`."""
    if not has_target(line["tool"]):
        return
    found = h.resolve(target_of(line))
    assert not isinstance(found, MatchFailure), f"{line_id(line)}: {found.question() if isinstance(found, MatchFailure) else ''}"
    assert found, line_id(line)


def test_targets_resolve_to_entities():
    h = home()
    for line in lines():
        assert_target_resolves(line, h)


def test_every_labelled_call_succeeds_on_the_example_home():
    h = home().model_copy(deep=True)  # a command leaves its device in the state it sets: the shared home stays as written
    sent: list[tuple] = []
    ctx = tools.ToolContext(publish=lambda *a: sent.append(a), site="home", home=h)
    for line in lines():
        if line["tool"] in NO_ARGS_TOOLS:
            continue
        # Timers really run now: each line starts from one timer running (named as the line names it).
        install("home", TimerBoard(), ListStore())
        board_for("home").start(300, line["args"].get("name") if line["tool"] == "HassCancelTimer" else None)
        result = tools.TOOLS.get(line["tool"])(line["args"], ctx)
        assert result.ok, f"{line_id(line)}: {result.message}"


def test_relative_values_are_computed_from_the_registry():
    h = home()
    for line in lines():
        if "relative" not in line["tags"] or line["tool"] == "Clarify":
            continue
        where = line_id(line)
        text = line["utterance"].lower()
        down, up = bool(DOWN_WORDS.search(text)), bool(UP_WORDS.search(text))
        assert down != up, f"{where}: no single direction in the words"
        sign = -1 if down else 1
        entities = h.resolve(target_of(line))
        assert not isinstance(entities, MatchFailure), where
        args = line["args"]
        if line["tool"] == "HassClimateSetTemperature":
            bases = {e.attributes["temperature"] for e in entities}
            assert len(bases) == 1, f"{where}: the thermostats disagree"
            step = 2 if BIG_WORDS.search(text) else 1
            assert args["temperature"] == bases.pop() + sign * step, where
        elif line["tool"] == "HassLightSet":
            bases = {e.attributes.get("brightness", 0) if e.state == "on" else 0 for e in entities}
            assert len(bases) == 1, f"{where}: the lights disagree"
            assert args["brightness"] == min(100, max(0, bases.pop() + sign * 25)), where
        elif line["tool"] == "HassSetVolume":
            bases = {e.attributes["volume_level"] for e in entities}
            assert len(bases) == 1, f"{where}: the players disagree"
            assert args["volume_level"] == min(100, max(0, bases.pop() + sign * 10)), where
        else:
            pytest.fail(f"{where}: relative wording on {line['tool']}")


def test_clarify_lines_really_need_a_question():
    h = home()
    known = set()
    for e in h.entities:
        known.update(e.names())
    for a in h.areas:
        known.update(normalize(n) for n in (a.name, a.id, *a.aliases))
    for f in h.floors:
        known.update(normalize(n) for n in (f.name, f.id, *f.aliases))
    clarify = [line for line in lines() if line["tool"] == "Clarify"]
    assert {line["utterance"] for line in clarify} == set(CLARIFY), "every Clarify line has its reason written down, and only those"
    for line in clarify:
        kind, what, *rest = CLARIFY[line["utterance"]]
        where = line_id(line)
        if kind in ("unknown", "unknown_place"):
            assert what in line["utterance"].lower(), where
            assert normalize(what) not in known, f"{where}: {what!r} is in the registry"
            assert all(normalize(what) not in normalize(k) and normalize(k) not in normalize(what).split() for k in known), \
                f"{where}: {what!r} is close to a registry name"
            if kind == "unknown":
                assert isinstance(h.resolve(Target(name=what)), MatchFailure), where
            else:
                assert h.area(what) is None and h.floor(what) is None, where
                assert isinstance(h.resolve(Target(area=what)), MatchFailure), where
                assert isinstance(h.resolve(Target(floor=what)), MatchFailure), where
        elif kind == "no_match":
            assert isinstance(h.resolve(what), MatchFailure), f"{where}: resolves"
        elif kind == "no_target":
            assert isinstance(h.resolve(Target()), MatchFailure), where
        elif kind == "ambiguous":
            found = h.resolve(what)
            assert not isinstance(found, MatchFailure) and len({e.area for e in found}) > 1, f"{where}: not ambiguous"
        elif kind == "no_attribute":
            found = h.resolve(what)
            assert isinstance(found, MatchFailure) or all(rest[0] not in e.attributes for e in found), where
        else:
            pytest.fail(f"{where}: unknown reason {kind}")


def test_out_of_scope_lines_name_nothing_in_the_home():
    h = home()
    names = set()
    for e in h.entities:
        names.update(e.names())
    for line in lines():
        if line["tool"] == "OutOfScope":
            text = f" {normalize(line['utterance'])} "
            hits = [n for n in names if f" {n} " in text]
            assert not hits, f"{line_id(line)} names {hits}"


# --- the set as a whole ----------------------------------------------------------------------


def test_ids_and_utterances_are_unique():
    ids = [line["id"] for line in lines()]
    assert len(ids) == len(set(ids))
    seen: dict[str, str] = {}
    for line in lines():
        key = normalize(line["utterance"])
        assert key not in seen, f"{line_id(line)} repeats {seen[key]}"
        seen[key] = line["id"]


def test_every_fifth_line_is_held_out():
    for line in lines():
        expected = "heldout" if int(line["id"][1:]) % 5 == 0 else "calibration"
        assert line["split"] == expected, line_id(line)
    share = sum(line["split"] == "heldout" for line in lines()) / len(lines())
    assert abs(share - 0.20) <= 0.01


def test_every_tag_is_in_both_splits():
    by_split = {"calibration": Counter(), "heldout": Counter()}
    for line in lines():
        by_split[line["split"]].update(line["tags"])
    for tag in TAGS:
        assert by_split["calibration"][tag] and by_split["heldout"][tag], f"tag {tag} missing from a split"
        total = by_split["calibration"][tag] + by_split["heldout"][tag]
        if total >= 10:  # stratified: every common tag is held out near one in five
            assert 0.12 <= by_split["heldout"][tag] / total <= 0.28, f"tag {tag}: {by_split['heldout'][tag]} of {total} held out"
    tools_all = Counter(line["tool"] for line in lines())
    tools_held = Counter(line["tool"] for line in lines() if line["split"] == "heldout")
    for name, total in tools_all.items():
        assert tools_held[name], f"no held-out line for {name}"
        if total >= 10:
            assert 0.12 <= tools_held[name] / total <= 0.28, f"{name}: {tools_held[name]} of {total} held out"


def test_tools_are_consistent_with_tags():
    for line in lines():
        tags, tool = set(line["tags"]), line["tool"]
        where = line_id(line)
        assert ("out_of_scope" in tags) == (tool == "OutOfScope"), where
        if tags & {"unknown_device", "ambiguous"}:
            assert tool == "Clarify", where
        if tool == "Clarify":
            assert tags & {"unknown_device", "ambiguous", "relative"}, where
        if tool == "HassGetState" or tool == "HassClimateGetTemperature":
            assert "state_question" in tags, where
        if tool in ("HassStartTimer", "HassCancelTimer"):
            assert "timer" in tags, where
        if "name" in tags or "alias" in tags:
            assert "name" in line["args"], where
        if "group" in tags and tool != "Clarify":
            assert "name" not in line["args"] and (set(line["args"]) & {"area", "floor", "domain"}), where
        if "floor" in tags and tool != "Clarify":
            assert "floor" in line["args"], where


def test_the_mix():
    counts = Counter(category(line) for line in lines())
    total = len(lines())
    share = {k: v / total for k, v in counts.items()}
    # README: roughly 35/12/10/10/8/4/10/6/5/5 percent; each category present, none far off.
    wanted = {"on_off": 0.35, "light_set": 0.12, "climate": 0.10, "cover": 0.10, "media": 0.08, "timer": 0.04,
              "state": 0.10, "relative": 0.06, "clarify": 0.05, "out_of_scope": 0.05}
    for key, target in wanted.items():
        assert counts[key] >= 10, f"{key}: {counts[key]}"
        assert target * 0.5 <= share[key] <= target * 1.6, f"{key}: {share[key]:.1%} of the set"
    tags = Counter(t for line in lines() for t in line["tags"])
    assert tags["typo"] / total >= 0.10, f"typos: {tags['typo']}"


def test_home_assistants_slot_values_score_against_labels_in_the_shorter_form():
    from agent.decide.command_eval import Labelled, Outcome
    from agent.decide.planner import Plan

    def plan(tool, args, failure=""):
        return Plan("u", tool, args, "fast", 1.0, 0.0, failure=failure)

    shorter = Labelled("a", "u", "HassTurnOn", {"name": "Garage Door"}, "heldout")
    ha = Labelled("b", "u", "HassTurnOn", {"name": "Garage Door", "domain": "cover", "device_class": "garage"}, "heldout", home_assistant=True)
    said = plan("HassTurnOn", {"name": "Garage Door", "domain": "cover", "device_class": "garage"})
    # What a resolved name implies is left out where a shorter label does not give it; an HA label takes it exactly.
    assert Outcome(shorter, said).correct and Outcome(ha, said).correct
    assert not Outcome(ha, plan("HassTurnOn", {"name": "Garage Door"})).correct
    assert not Outcome(shorter, plan("HassTurnOff", said.args)).correct
    # A group keeps its domain: only a name implies one.
    group = Labelled("c", "u", "HassTurnOff", {"area": "Kitchen", "domain": "light"}, "heldout")
    assert not Outcome(group, plan("HassTurnOff", {"area": "Kitchen"})).correct
    assert Outcome(Labelled("d", "u", "HassLightSet", {"area": "Kitchen", "brightness": 50}, "heldout"),
                   plan("HassLightSet", {"area": "Kitchen", "domain": "light", "brightness": 50})).correct  # the intent names it
    # Understood but not possible is what a shorter label calls Clarify; against an HA label it is not the call.
    cannot = plan("HassTurnOff", {"area": "Kitchen", "domain": "cover", "device_class": "window"}, "no_domain_in_area")
    assert Outcome(Labelled("e", "u", "Clarify", {}, "heldout"), cannot).correct
    assert not Outcome(Labelled("f", "u", "HassTurnOff", cannot.args, "heldout", home_assistant=True), cannot).correct
