"""The paraphrase sets (examples/commands/paraphrases.jsonl, _de, _fr) are valid against the example home.

Each set holds home commands phrased the way people talk rather than the way Home
Assistant's sentence templates are written, labelled before anything was tuned on
them (examples/commands/PARAPHRASES.md): English, German and French, all against the
same home and its English registry names. Every label must be something Tessera's
intent tools accept and can carry out on examples/home.yaml, with the slot values
docs/home.md prescribes; the helpers of tests/test_command_set.py are reused, so
all the sets are checked the same way. Every test runs once per set.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

import tools
from tests.test_command_set import (
    COMMANDS, HOME, NO_ARGS_TOOLS, TAGS, TIMER_TOOLS, assert_slot_conventions, assert_target_resolves, assert_valid_call,
    home, line_id, target_of,
)
from tools.home import MatchFailure, Target, normalize
from tools.timers import ListStore, TimerBoard, board_for, install

SETS_DIR = HOME.parent / "commands"
KEYS = {"id", "utterance", "tool", "args", "tags", "split"}
PARAPHRASE_TAGS = TAGS | {"context"}
MEDIA_TOOLS = {"HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious", "HassSetVolume"}
# The intents this set uses beyond the command set's, with the domains they fall back to (tools/intents.py).

# Why each Clarify line is Clarify, checked against the registry below (the speaker's area, where the
# line has one, is part of the reason):
#   ("unknown", phrase): the device words name no entity (by name or alias), area or floor;
#   ("unknown_place", phrase): the room named is not in the home;
#   ("no_match", Target): what the words say resolves to nothing (no thermostat in the Kitchen);
#   ("ambiguous", Target): the words fit entities of one domain in several areas, and no room is said or known;
#   ("several", word): the word is part of the names of several entities in several areas; in the German and
#     French sets ("several", spoken, registry_word): the spoken word is in the line, the registry word it
#     translates is part of the names of several entities in several areas;
#   ("no_target", None): nothing is named at all;
#   ("no_attribute", Target, attribute): the target lacks the attribute a relative request needs.
CLARIFY_EN = {
    "I'm freezing": ("ambiguous", Target(domain=["climate"])),
    "make it warmer": ("ambiguous", Target(domain=["climate"])),
    "shut that fan up": ("ambiguous", Target(domain=["fan"])),
    "it's too loud": ("ambiguous", Target(domain=["media_player"])),
    "pause it": ("ambiguous", Target(domain=["media_player"])),
    "bit brighter please": ("ambiguous", Target(domain=["light"])),
    "let me in": ("ambiguous", Target(domain=["lock"])),
    "switch the lamp off": ("several", "lamp"),
    "the ceiling light, on please": ("several", "ceiling light"),
    "the speaker's way too loud": ("several", "speaker"),
    "fire up the jacuzzi": ("unknown", "jacuzzi"),
    "start the washing machine": ("unknown", "washing machine"),
    "open the cat flap": ("unknown", "cat flap"),
    "is the cellar door locked": ("unknown", "cellar door"),
    "pop the electric blanket on": ("unknown", "electric blanket"),
    "is the pool heater on": ("unknown", "pool heater"),
    "get the hot water on for a bath": ("unknown", "hot water"),
    "preheat the oven to 180": ("unknown", "oven"),
    "open the side gate for the postman": ("unknown", "side gate"),
    "get the hoover going in the lounge": ("unknown", "hoover"),
    "the conservatory's too dark": ("unknown_place", "conservatory"),
    "get the lights going in the loft": ("unknown_place", "loft"),
    "lights on in the utility room": ("unknown_place", "utility room"),
    "garden lights on please": ("unknown_place", "garden"),
    "get a fan going downstairs": ("no_match", Target(floor="downstairs", domain=["fan"])),
    "warmer in here please": ("no_match", Target(area="Kitchen", domain=["climate"])),
    "bit cold in here": ("no_match", Target(area="Dining Room", domain=["climate"])),
    "the music's too quiet in here": ("no_match", Target(area="Bathroom", domain=["media_player"])),
    "lock the door in here": ("no_match", Target(area="Office", domain=["lock"])),
    "towel rail a bit warmer": ("no_attribute", Target(name="towel rail"), "temperature"),
    "make the christmas tree brighter": ("no_attribute", Target(name="christmas tree"), "brightness"),
    "lock it": ("no_target", None),
    "turn that thing off": ("no_target", None),
    "can you dim it": ("no_target", None),
}


CLARIFY_DE = {
    "mir ist kalt": ("ambiguous", Target(domain=["climate"])),
    "mach's heller": ("no_target", None),
    "schließ die Tür ab": ("ambiguous", Target(domain=["lock"])),
    "mach die Lampe aus": ("several", "lampe", "lamp"),
    "mach mal die Waschmaschine an": ("unknown", "waschmaschine"),
    "im Keller ist es zu dunkel": ("unknown_place", "keller"),
    "Licht im Gästezimmer an": ("unknown_place", "gästezimmer"),
    "mach es hier wärmer": ("no_match", Target(area="Kitchen", domain=["climate"])),
    "Handtuchheizung etwas wärmer": ("no_attribute", Target(name="towel rail"), "temperature"),
}
CLARIFY_FR = {
    "j'ai froid": ("ambiguous", Target(domain=["climate"])),
    "tu peux baisser la lumière": ("ambiguous", Target(domain=["light"])),
    "verrouille la porte": ("ambiguous", Target(domain=["lock"])),
    "éteins la lampe": ("several", "lampe", "lamp"),
    "lance le lave-vaisselle": ("unknown", "lave-vaisselle"),
    "il fait trop sombre dans la cave": ("unknown_place", "cave"),
    "allume la lumière dans la chambre d'amis": ("unknown_place", "chambre d'amis"),
    "réchauffe un peu ici": ("no_match", Target(area="Kitchen", domain=["climate"])),
    "éteins ce truc": ("no_target", None),
    "sèche-serviettes un peu plus chaud": ("no_attribute", Target(name="towel rail"), "temperature"),
}


@dataclass(frozen=True)
class ParaphraseSet:
    """One language's paraphrase set and what its checks need to know about the language."""

    language: str
    path: Path
    prefix: str  # ids are prefix + four digits
    min_lines: int
    here: str  # the words for "in here": a line that says them needs a speaker's area
    clarify: dict = field(hash=False)

    def lines(self) -> list[dict]:
        return _lines(self.path)


SETS = {
    "en": ParaphraseSet("en", SETS_DIR / "paraphrases.jsonl", "p", 420, "in here", CLARIFY_EN),
    "de": ParaphraseSet("de", SETS_DIR / "paraphrases_de.jsonl", "pd", 110, "hier", CLARIFY_DE),
    "fr": ParaphraseSet("fr", SETS_DIR / "paraphrases_fr.jsonl", "pf", 110, "ici", CLARIFY_FR),
}


@pytest.fixture(params=sorted(SETS), ids=sorted(SETS))
def pset(request) -> ParaphraseSet:
    return SETS[request.param]


@lru_cache(maxsize=None)
def _lines(path: Path) -> list[dict]:
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert raw.strip(), f"{path.name} line {number} is blank"
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError as err:
            pytest.fail(f"{path.name} line {number} is not JSON: {err}")
    return out


def category(line: dict) -> str:
    """The mix category of a line (PARAPHRASES.md: the mix); relative wording counts in its intent's category."""
    tool, tags = line["tool"], set(line["tags"])
    if tool == "Clarify":
        return "clarify"
    if tool == "OutOfScope":
        return "out_of_scope"
    if tool in TIMER_TOOLS:
        return "timer"
    if tool in ("HassClimateSetTemperature", "HassClimateGetTemperature"):
        return "climate"
    if tool == "HassGetState":
        return "state"
    if tool in MEDIA_TOOLS:
        return "media"
    if tool == "HassLightSet":
        return "light_set"
    if tool == "HassSetPosition" or "cover" in tags:
        return "cover"
    return "on_off"


# --- every line -----------------------------------------------------------------------------


def test_lines_have_the_format(pset):
    assert len(pset.lines()) >= pset.min_lines
    areas = {a.name for a in home().areas}
    for number, line in enumerate(pset.lines(), 1):
        assert KEYS <= set(line) <= KEYS | {"context"}, f"{line_id(line)}: keys {sorted(line)}"
        assert line["id"] == f"{pset.prefix}{number:04d}", f"line {number}: id {line['id']} out of sequence"
        assert isinstance(line["utterance"], str) and line["utterance"].strip() == line["utterance"] and line["utterance"]
        assert isinstance(line["args"], dict), line_id(line)
        assert isinstance(line["tags"], list) and line["tags"], f"{line_id(line)}: no tags"
        assert len(set(line["tags"])) == len(line["tags"]), f"{line_id(line)}: repeated tag"
        assert set(line["tags"]) <= PARAPHRASE_TAGS, f"{line_id(line)}: unknown tags {set(line['tags']) - PARAPHRASE_TAGS}"
        assert ("context" in line) == ("context" in line["tags"]), f"{line_id(line)}: the context tag goes with a context"
        if "context" in line:
            assert set(line["context"]) == {"area"}, line_id(line)
            assert line["context"]["area"] in areas, f"{line_id(line)}: context area {line['context']['area']!r} is not a registry area name"


def test_split_is_every_third_line(pset):
    for line in pset.lines():
        expected = "heldout" if int(line["id"][len(pset.prefix):]) % 3 == 0 else "dev"
        assert line["split"] == expected, line_id(line)


def test_utterances_are_unique_and_new(pset):
    seen: dict[str, str] = {}
    for line in pset.lines():
        key = normalize(line["utterance"])
        assert key not in seen, f"{line_id(line)} repeats {seen[key]}"
        seen[key] = line["id"]
    command_set = {normalize(json.loads(raw)["utterance"]) for raw in COMMANDS.read_text(encoding="utf-8").splitlines()}
    repeated = [line_id(line) for line in pset.lines() if normalize(line["utterance"]) in command_set]
    assert not repeated, f"lines of home_commands.jsonl: {repeated}"


def test_tools_are_registered_and_args_validate(pset):
    for line in pset.lines():
        assert_valid_call(line)


def test_slot_values_follow_the_conventions(pset):
    h = home()
    for line in pset.lines():
        assert_slot_conventions(line, h)


def test_targets_resolve_to_entities(pset):
    h = home()
    for line in pset.lines():
        assert_target_resolves(line, h)


def test_every_labelled_call_succeeds_on_the_example_home(pset):
    h = home().model_copy(deep=True)  # a command leaves its device in the state it sets: the shared home stays as written
    ctx = tools.ToolContext(publish=lambda *a: None, site="home", home=h)
    for line in pset.lines():
        if line["tool"] in NO_ARGS_TOOLS:
            continue
        # Timers really run: each line starts from one timer running, named as the line names it (paused to be resumed).
        install("home", TimerBoard(), ListStore())
        if line["tool"] in TIMER_TOOLS - {"HassStartTimer"}:
            timer = board_for("home").start(300, line["args"].get("name"))
            if line["tool"] == "HassUnpauseTimer":
                board_for("home").pause(timer)
        result = tools.TOOLS.get(line["tool"])(line["args"], ctx)
        assert result.ok, f"{line_id(line)}: {result.message}"


def test_relative_values_are_computed_from_the_registry(pset):
    """docs/home.md rule 7: the registry's value one step up or down (clamped); two degrees for "a lot"."""
    h = home()
    for line in pset.lines():
        if "relative" not in line["tags"] or line["tool"] == "Clarify":
            continue
        where, args = line_id(line), line["args"]
        entities = h.resolve(target_of(line))
        assert not isinstance(entities, MatchFailure), where
        if line["tool"] == "HassClimateSetTemperature":
            bases, key, steps, low, high = {e.attributes["temperature"] for e in entities}, "temperature", (1, 2), 7, 30
        elif line["tool"] == "HassLightSet":
            bases, key, steps, low, high = {e.attributes.get("brightness", 0) if e.state == "on" else 0 for e in entities}, "brightness", (25,), 0, 100
        elif line["tool"] == "HassSetVolume":
            bases, key, steps, low, high = {e.attributes["volume_level"] for e in entities}, "volume_level", (10,), 0, 100
        else:
            pytest.fail(f"{where}: relative wording on {line['tool']}")
        assert len(bases) == 1, f"{where}: the targets disagree"
        base = bases.pop()
        allowed = {min(high, max(low, base + sign * step)) for step in steps for sign in (1, -1)}
        assert args[key] in allowed, f"{where}: {args[key]} is not {base} a step up or down"


def test_clarify_lines_really_need_a_question(pset):
    h = home()
    known = set()
    for e in h.entities:
        known.update(e.names())
    for a in h.areas:
        known.update(normalize(n) for n in (a.name, a.id, *a.aliases))
    for f in h.floors:
        known.update(normalize(n) for n in (f.name, f.id, *f.aliases))
    clarify = [line for line in pset.lines() if line["tool"] == "Clarify"]
    assert {line["utterance"] for line in clarify} == set(pset.clarify), "every Clarify line has its reason written down, and only those"
    for line in clarify:
        kind, what, *rest = pset.clarify[line["utterance"]]
        where = line_id(line)
        spoken_in = line.get("context", {}).get("area")
        if kind in ("unknown", "unknown_place"):
            assert what in line["utterance"].lower(), where
            assert normalize(what) not in known, f"{where}: {what!r} is in the registry"
            assert all(normalize(what) not in k and k not in normalize(what).split() for k in known), \
                f"{where}: {what!r} is close to a registry name"
            if kind == "unknown_place":
                assert h.area(what) is None and h.floor(what) is None, where
        elif kind == "no_match":
            assert what.area == spoken_in or (what.area is None and spoken_in is None), f"{where}: the reason's area is the speaker's"
            assert isinstance(h.resolve(what), MatchFailure), f"{where}: resolves"
        elif kind == "ambiguous":
            assert spoken_in is None, f"{where}: a speaker's area would settle it"
            found = h.resolve(what)
            assert not isinstance(found, MatchFailure) and len({e.area for e in found}) > 1, f"{where}: not ambiguous"
        elif kind == "several":
            assert spoken_in is None and what in line["utterance"].lower(), where
            word = rest[0] if rest else what  # the registry word a translated word stands for
            found = [e for e in h.entities if any(f" {word} " in f" {n} " for n in e.names())]
            assert len({e.area for e in found}) > 1, f"{where}: {word!r} is in one area only"
        elif kind == "no_target":
            assert spoken_in is None and isinstance(h.resolve(Target()), MatchFailure), where
        elif kind == "no_attribute":
            found = h.resolve(what)
            assert isinstance(found, MatchFailure) or all(rest[0] not in e.attributes for e in found), where
        else:
            pytest.fail(f"{where}: unknown reason {kind}")


def test_out_of_scope_lines_name_nothing_in_the_home(pset):
    names = set()
    for e in home().entities:
        names.update(e.names())
    for line in pset.lines():
        if line["tool"] == "OutOfScope":
            text = f" {normalize(line['utterance'])} "
            hits = [n for n in names if f" {n} " in text]
            assert not hits, f"{line_id(line)} names {hits}"


def test_here_needs_a_speaker(pset):
    """'In here' ('hier', 'ici') names a room only when the line says where it was spoken."""
    for line in pset.lines():
        if f" {pset.here} " in f" {normalize(line['utterance'])} ":
            assert "context" in line or line["tool"] == "Clarify", line_id(line)


def test_tools_are_consistent_with_tags(pset):
    for line in pset.lines():
        tags, tool, args, where = set(line["tags"]), line["tool"], line["args"], line_id(line)
        assert ("out_of_scope" in tags) == (tool == "OutOfScope"), where
        assert ("timer" in tags) == (tool in TIMER_TOOLS), where
        if tags & {"unknown_device", "ambiguous"}:
            assert tool == "Clarify", where
        if tool == "Clarify":
            assert tags & {"unknown_device", "ambiguous", "relative"}, where
            continue
        if tool in ("HassGetState", "HassClimateGetTemperature"):
            assert "state_question" in tags, where
        if tool in ("HassClimateSetTemperature", "HassClimateGetTemperature"):
            assert "climate" in tags, where
        if tool in MEDIA_TOOLS:
            assert "media" in tags, where
        if tool == "HassSetPosition":
            assert "cover" in tags, where
        if "name" in tags or "alias" in tags:
            assert "name" in args, where
        if "group" in tags:
            assert "name" not in args and set(args) & {"area", "floor", "domain"}, where
        if "floor" in tags:
            assert "floor" in args, where
        if "brightness" in tags:
            assert "brightness" in args, where
        if "color" in tags:
            assert "color" in args, where


# --- the set as a whole ----------------------------------------------------------------------


def test_the_mix(pset):
    """PARAPHRASES.md: roughly 35/12/10/10/8/8/5/6/6 percent, every category in both splits."""
    counts = Counter(category(line) for line in pset.lines())
    total = len(pset.lines())
    wanted = {"on_off": 0.35, "light_set": 0.12, "climate": 0.10, "state": 0.10, "cover": 0.08, "media": 0.08,
              "timer": 0.05, "clarify": 0.06, "out_of_scope": 0.06}
    assert set(counts) == set(wanted)
    for key, target in wanted.items():
        assert target * 0.6 <= counts[key] / total <= target * 1.4, f"{key}: {counts[key]} of {total}"
        held = sum(1 for line in pset.lines() if category(line) == key and line["split"] == "heldout")
        assert 0 < held < counts[key], f"{key}: {held} of {counts[key]} held out"
    share = sum("context" in line for line in pset.lines()) / total
    assert 0.18 <= share <= 0.32, f"{share:.0%} of the lines say where they were spoken"
