"""Slot extraction takes its words from Home Assistant's data for the hub's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.decide.matcher import build_args
from agent.decide.slots import SlotExtractor, vocabulary, words_to_digits
from tools.home import Home

REPO = Path(__file__).resolve().parents[1]
HOME = Home.load(REPO / "examples" / "home.yaml")


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_vocabulary_comes_from_the_installed_data(language: str) -> None:
    from home_assistant_intents import get_intents

    lists = get_intents(language)["lists"]
    vocab = vocabulary(language)
    # Every color and color-temperature name HA's lists know, and every cover class.
    assert {str(v["out"]) for v in lists["color"]["values"]} <= set(vocab.colors.values())
    assert {"on", "off", "open", "closed", "locked", "unlocked"} <= set(vocab.states.values())
    cover_classes = {d for d, c in vocab.domain_words.values() if d == "cover"}
    assert cover_classes == {"cover"} and any(c == "blind" for _, c in vocab.domain_words.values())
    assert len(vocab.numbers) > 100  # 0..100 spelled by unicode-rbnf, as hassil parses them


def test_spoken_forms_map_to_the_values_home_assistant_uses() -> None:
    en, de = vocabulary("en"), vocabulary("de")
    assert en.states["shut"] == "closed" and en.states["securely locked"] == "locked"
    assert de.states["verriegelt"] == "locked" and de.numbers["einundzwanzig"] == 21
    assert en.domain_words["shutters"] == ("cover", "shutter") and en.domain_words["lamps"] == ("light", None)
    assert en.percent_words["maximum"] == 100  # HA's brightness levels
    assert words_to_digits("set it to twenty-five") == "set it to 25 "
    assert words_to_digits("nineteen and a half degrees").startswith("19.5")
    assert words_to_digits("auf einundzwanzig grad", de.numbers).startswith("auf 21")


def test_extraction_in_english() -> None:
    slots = SlotExtractor(HOME).extract("is the garage door shut")
    assert slots.states == ["closed"]
    slots = SlotExtractor(HOME).extract("set the hallway light to three quarters")
    assert slots.percent == 75
    slots = SlotExtractor(HOME).extract("make the floor lamp cool white")
    assert slots.colors == ["cool white"]


def test_a_group_command_without_a_place_acts_in_the_speakers_area() -> None:
    extractor = SlotExtractor(HOME)
    kitchen = next(a.name for a in HOME.areas if a.id == "kitchen")
    assert build_args("HassTurnOff", extractor.extract("lights off in here"), HOME, kitchen) == {"area": kitchen, "domain": "light"}
    # Without a speaker's area it stays a question for the model; "all" means everywhere.
    assert build_args("HassTurnOff", extractor.extract("lights off in here"), HOME) is None
    assert build_args("HassTurnOff", extractor.extract("all the lights off"), HOME, kitchen) == {"domain": "light"}
    # "in here" (HA's `here` rule) names the speaker's area even after "everything".
    assert build_args("HassTurnOff", extractor.extract("everything off in here"), HOME, kitchen) == {"area": kitchen}
