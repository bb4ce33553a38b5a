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


def test_typos_keep_their_first_letter_and_one_closest_word() -> None:
    extractor = SlotExtractor(HOME)
    # "movers" is as near "covers" as a typo would be, but a typo keeps its first letter: no cover is named.
    slots = extractor.extract("unlock everything downstairs, movers are coming")
    assert "covers" not in slots.words and slots.domains == [("lock", None)]  # "unlock": HA's lock templates' verb
    assert build_args("HassTurnOff", slots, HOME) == {"floor": "Ground Floor", "domain": "lock"}
    # "heading" is as near "heating" as "reading": not a typo of either.
    assert "heading" in extractor.extract("I'm heading out, lock up").words
    assert extractor.extract("bathrom lights off").words[0] == "bathroom"


def test_a_common_word_is_corrected_only_into_a_name_of_the_home() -> None:
    extractor = SlotExtractor(HOME)
    assert [m.obj.name for m in extractor.extract("porch lite off").entities] == ["Porch Light"]
    assert [m.obj.name for m in extractor.extract("garage dor open").entities] == ["Garage Door"]
    assert "lite" in extractor.extract("turn the lite on").words  # no name to complete: left as said


def test_the_last_of_two_domain_words_names_the_domain() -> None:
    slots = SlotExtractor(HOME).extract("open all the window coverings upstairs")
    assert slots.domains == [("cover", None)]
    assert build_args("HassTurnOn", slots, HOME) == {"floor": "First Floor", "domain": "cover"}


def test_a_word_of_a_sensor_class_stem_names_the_class() -> None:
    slots = SlotExtractor(HOME).extract("how humid is it in the bathrom")
    assert slots.domains == [("sensor", "humidity")]
    assert build_args("HassGetState", slots, HOME) == {"area": "Bathroom", "domain": "sensor", "device_class": "humidity"}
    assert SlotExtractor(HOME).extract("I can barely hear the tv").domains == [("media_player", None)]


def test_words_only_one_intents_templates_say() -> None:
    words = vocabulary("en").intent_words
    assert {"skip", "next"} <= words["HassMediaNext"] and "previous" in words["HassMediaPrevious"]
    assert "again" not in words["HassMediaPrevious"]  # optional in its templates: no evidence
    assert words["HassMediaPlayerMute"] == {"mute"}


@pytest.mark.parametrize("intent, utterance, area, args", [
    ("HassDecreaseTimer", "knock 2 minutes off the rice timer", None, {"name": "rice", "minutes": 2}),
    ("HassIncreaseTimer", "add 5 minutes to the 10 minute timer", None, {"start_minutes": 10, "minutes": 5}),
    ("HassIncreaseTimer", "give the timer some more time", None, None),  # by how much: not said
    ("HassPauseTimer", "hold the pasta timer", None, {"name": "pasta"}),
    ("HassPauseTimer", "pause the kitchen timer", None, {"area": "Kitchen"}),  # an area, as HA's templates read it
    ("HassUnpauseTimer", "carry on with the timer", None, {}),
    ("HassTimerStatus", "how long is left on the timer for 5 minutes", None, {"start_minutes": 5}),
    ("HassCancelTimer", "stop the pasta timer", None, {"name": "pasta"}),
    ("HassCancelAllTimers", "get rid of all the timers", None, {}),
    ("HassMediaNext", "skip this song on the kitchen speaker", None, {"name": "Kitchen Speaker"}),
    ("HassMediaPrevious", "go back one", "Kitchen", {"area": "Kitchen"}),
    ("HassMediaPlayerMute", "mute the music in the kitchen", None, {"area": "Kitchen"}),
    ("HassStartTimer", "pause it for a sec", None, {"seconds": 1}),
])
def test_arguments_of_the_intents_offered_on_evidence(intent: str, utterance: str, area: str | None, args: dict | None) -> None:
    assert build_args(intent, SlotExtractor(HOME).extract(utterance), HOME, area) == args
