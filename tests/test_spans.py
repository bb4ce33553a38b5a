"""The span tagger and the intent model's readings of arguments: what to play, what to put on a list, which way a
change goes, which kind of device is meant, and a device named by meaning. Real models (python-crfsuite, scikit-learn
over the shipped MiniLM embeddings), trained from the shipped training file and the installed templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.decide.corpora import relative_detail, target_kind
from agent.decide.intent_model import IntentModelStore, intent_model_store
from agent.decide.planner import CommandPlanner
from agent.decide.spans import Tagged, bio, span_tagger
from agent.decide.templates import SpeakerContext
from benchmarks.bench_nlu import benchmark_home
from tools.home import Home

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> IntentModelStore:
    return intent_model_store(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def planner(store: IntentModelStore) -> CommandPlanner:
    """The benchmark home (examples/home.yaml, a vacuum, weather, two to-do lists), intent model, no language model."""
    return CommandPlanner(benchmark_home(), None, intent_models=store)


def test_bio_labels_follow_the_character_spans() -> None:
    words, labels = bio("play poker face by lady gaga", [(5, 15, "track"), (19, 28, "artist")])
    assert words == ["play", "poker", "face", "by", "lady", "gaga"]
    assert labels == ["O", "B-track", "I-track", "O", "B-artist", "I-artist"]


def test_a_media_query_runs_from_the_first_span_to_the_last() -> None:
    text = "play poker face by lady gaga"
    tagged = Tagged(text, (), 1.0)
    assert tagged.media() is None
    from agent.decide.spans import Span

    both = Tagged(text, (Span("track", 5, 15, "poker face"), Span("artist", 19, 28, "lady gaga")), 0.9)
    assert both.media() == ("poker face by lady gaga", None)  # two kinds: no one media class
    one = Tagged(text, (Span("artist", 19, 28, "lady gaga"),), 0.9)
    assert one.media() == ("lady gaga", "artist")


@pytest.mark.parametrize(("sentence", "label", "words"), [
    ("i'd like to hear something by miles davis", "artist", "miles davis"),
    ("add oat milk to my groceries list", "item", "oat milk"),
    ("add oat milk to my groceries list", "list", "groceries"),
    ("please put washing powder on the shopping list", "item", "washing powder"),
])
def test_the_tagger_finds_spans_in_sentences_it_never_saw(sentence: str, label: str, words: str) -> None:
    tagged = span_tagger("en").tag(sentence)
    assert tagged.first(label) == words, tagged
    assert 0.0 < tagged.p <= 1.0


def test_a_media_request_no_template_matches_plans_with_the_tagged_query(planner: CommandPlanner) -> None:
    plan = planner.plan("i'd like to hear something by miles davis", SpeakerContext(area="Living Room"))
    assert plan.route == "intent"
    assert plan.tool == "HassMediaSearchAndPlay"
    assert plan.args["search_query"] == "miles davis" and plan.args["area"] == "Living Room"


def test_which_way_a_change_goes_comes_from_the_model_not_a_word_list(planner: CommandPlanner) -> None:
    # "blinding" is in no list of dimming words; the lamp is at 60, so the answer must be below it.
    plan = planner.plan("the floor lamp is blinding me")
    assert plan.tool == "HassLightSet", plan
    assert plan.args["name"] == "Floor Lamp" and plan.args["brightness"] < 60


def test_the_kind_of_device_meant_comes_from_the_model(planner: CommandPlanner, store: IntentModelStore) -> None:
    assert store.model.target("is it humid in the bathroom")[0] == "sensor:humidity"  # type: ignore[union-attr]
    plan = planner.plan("is it humid in the bathroom")
    assert plan.tool == "HassGetState"
    assert plan.args == {"area": "Bathroom", "domain": "sensor", "device_class": "humidity"}


def test_a_device_named_by_meaning_is_found_but_not_trusted_like_a_name(planner: CommandPlanner) -> None:
    plan = planner.plan("I could really use an espresso", SpeakerContext(area="Kitchen"))
    assert (plan.tool, plan.args) == ("HassTurnOn", {"name": "Coffee Maker"})
    assert plan.raw_confidence < 0.7  # at most the similarity: the hub asks before it acts on it
    # Nothing clearly nearest: no device is chosen by meaning.
    vague = planner.plan("turn it on")
    assert "name" not in vague.args


def test_relative_detail_and_target_kind_read_the_paraphrase_arguments() -> None:
    home = Home.load(REPO / "examples" / "home.yaml")
    # The floor lamp is at 60: 35 is down, 90 up; a number said is no relative change.
    assert relative_detail("the floor lamp's too bright", "HassLightSet", {"name": "Floor Lamp", "brightness": 35}, home) == "down"
    assert relative_detail("floor lamp brighter", "HassLightSet", {"name": "Floor Lamp", "brightness": 90}, home) == "up"
    assert relative_detail("floor lamp to 35", "HassLightSet", {"name": "Floor Lamp", "brightness": 35}, home) == ""
    assert target_kind({"area": "Kitchen", "domain": "light"}) == "light"
    assert target_kind({"area": "Bathroom", "domain": "sensor", "device_class": "humidity"}) == "sensor:humidity"
    assert target_kind({"area": "Garage"}) == "none"
    assert target_kind({"name": "Floor Lamp"}) == ""
