"""Reviews that teach: verdicts are checked, kept with the item, read back, and given to a running planner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.decide.command_eval import DEFAULT_HOME
from agent.decide.corrections import ReviewError, review, reviewed, teach
from agent.decide.planner import CommandPlanner
from agent.decide.review import ReviewQueue
from tools.home import Home

UTTERANCE = "make the den cosy"


def queued(tmp_path: Path) -> tuple[ReviewQueue, int]:
    queue = ReviewQueue(tmp_path / "review.sqlite")
    item = queue.enqueue("command", "low_confidence", {"question": UTTERANCE}, {"tool": "HassTurnOff", "args": {"name": "Den Lamp"}},
                         confidence=0.31, threshold=0.6)
    return queue, item


@pytest.mark.parametrize(("verdict", "tool", "args", "message"), [
    ("maybe", None, None, "verdict must be one of confirm, correct"),
    ("correct", None, None, "needs the right tool"),
    ("correct", "HassMakeCoffee", {}, "unknown tool 'HassMakeCoffee'"),
    ("correct", "HassLightSet", {"brightness": 250}, "arguments for HassLightSet are not valid: brightness"),
    ("correct", "OutOfScope", {"name": "x"}, "OutOfScope takes no arguments"),
])
def test_a_bad_verdict_is_refused_in_one_line_and_the_item_stays_pending(tmp_path: Path, verdict, tool, args, message) -> None:
    queue, item = queued(tmp_path)
    with pytest.raises(ReviewError, match=message) as err:
        review(queue, item, verdict, tool, args)
    assert "\n" not in str(err.value)
    assert [i.id for i in queue.pending()] == [item]


def test_a_correction_is_kept_once_and_read_back_as_a_label(tmp_path: Path) -> None:
    queue, item = queued(tmp_path)
    done = review(queue, item, "correct", "HassLightSet", {"area": "Living Room", "brightness": 30})
    assert (done.tool, done.args, done.local_was_right) == ("HassLightSet", {"area": "Living Room", "brightness": 30}, False)
    with pytest.raises(ReviewError, match="already reviewed"):
        review(queue, item, "confirm")
    with pytest.raises(ReviewError, match="no review item 99"):
        review(queue, 99, "confirm")
    # A note resolved by hand (`tessera review resolve`) is no verdict: it is not read back as a label.
    other = queue.enqueue("command", "low_confidence", {"question": "what is love"}, {"tool": "OutOfScope", "args": {}})
    queue.resolve(other, "looked at it, fine")
    labels = reviewed(ReviewQueue(tmp_path / "review.sqlite"), "command")  # from disk, as at the next start
    assert [(r.text, r.tool, r.args) for r in labels] == [(UTTERANCE, "HassLightSet", {"area": "Living Room", "brightness": 30})]
    assert json.loads(queue.get(item).resolution)["verdict"] == "correct"


def test_a_command_can_be_corrected_to_the_planners_own_answers(tmp_path: Path) -> None:
    queue, item = queued(tmp_path)
    assert review(queue, item, "correct", "OutOfScope", {}).tool == "OutOfScope"  # "not for a hub", no tool


def test_a_confirmation_keeps_the_local_answer(tmp_path: Path) -> None:
    queue, item = queued(tmp_path)
    done = review(queue, item, "confirm")
    assert (done.tool, done.args, done.local_was_right) == ("HassTurnOff", {"name": "Den Lamp"}, True)


def test_a_taught_planner_shows_the_correction_first_for_that_utterance(tmp_path: Path) -> None:
    queue, item = queued(tmp_path)
    planner = CommandPlanner(Home.load(DEFAULT_HOME), None)
    before = planner.examples.similar(UTTERANCE, 3)
    assert all(e.utterance != UTTERANCE for e in before)
    assert teach(planner, review(queue, item, "correct", "HassLightSet", {"area": "Living Room", "brightness": 30}))
    closest = planner.examples.similar(UTTERANCE, 3)[-1]  # most similar last: next to the question in the prompt
    assert (closest.utterance, closest.tool, closest.args) == (UTTERANCE, "HassLightSet", {"area": "Living Room", "brightness": 30})
    # Taught twice, the newest answer wins and the index holds one copy.
    other = queue.enqueue("command", "low_confidence", {"question": UTTERANCE}, {"tool": "HassTurnOff", "args": {}})
    teach(planner, review(queue, other, "correct", "HassTurnOn", {"area": "Living Room"}))
    same = [e for e in planner.examples.examples if e.utterance == UTTERANCE]
    assert [(e.tool, e.args) for e in same] == [("HassTurnOn", {"area": "Living Room"})]


def test_the_next_calibration_reads_the_reviewed_commands_as_labels(tmp_path: Path) -> None:
    from agent.cli.plan import reviewed_labels

    assert reviewed_labels(tmp_path) == []  # no queue yet: nothing, and no file created
    assert not (tmp_path / "review.sqlite").exists()
    queue, item = queued(tmp_path)
    review(queue, item, "correct", "HassTurnOn", {"area": "Living Room", "domain": "light"})
    [label] = reviewed_labels(tmp_path)
    assert (label.utterance, label.tool, label.args, label.split, label.tags) == (
        UTTERANCE, "HassTurnOn", {"area": "Living Room", "domain": "light"}, "calibration", ["review"])


@pytest.mark.model
def test_the_hub_flags_and_queues_an_unsure_command_when_no_edge_is_configured(isolated_state: Path) -> None:
    from agent.decide.calibration import calibration_path, fit_calibration
    from agent.decide.cascade import build_cascade
    from agent.llm.models import resolve_model
    from base.settings import LlmSettings, load_settings

    settings = load_settings(profile="hub")
    # A calibration under which only near-certain answers are trusted (the fast path's 1.0 is; a model answer is not).
    scores = [0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.0]
    cal = fit_calibration(scores, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1], target_escalation_rate=0.8,
                          model_sha256=resolve_model(LlmSettings()).sha256, score_kind="planner_raw_confidence")
    cal.save(calibration_path(settings.data_dir))
    home = Home.load(DEFAULT_HOME)
    assert build_cascade(settings, home, mode="auto").setup.review is None  # `tessera plan`: no edge, nothing queued
    hub = build_cascade(settings, home, mode="auto", review_unsure=True)
    plan = hub.plan("it is a bit gloomy over by the desk")  # no template says this: the model answers, unsure
    assert plan.route == "fallback"  # carried out locally, flagged
    [item] = ReviewQueue.for_data_dir(settings.data_dir).pending()
    assert (item.kind, item.reason, item.request["question"]) == ("command", "edge_not_configured", "it is a bit gloomy over by the desk")
    assert item.local_answer == {"tool": plan.tool, "args": plan.args}
    assert hub.plan("turn on the desk lamp").route == "fast"  # a template match is trusted: nothing more queued
    assert len(ReviewQueue.for_data_dir(settings.data_dir).pending()) == 1
