"""The command cascade with a real edge server: confident plans stay local, doubtful ones escalate, a dead edge falls back."""

from __future__ import annotations

from pathlib import Path

from base.net import free_port
from agent.decide.cascade import CascadeSetup, CommandCascade
from base.settings import EdgeSettings
from agent.decide.escalation import ThresholdPolicy
from agent.llm.edge import EdgeBackend
from agent.decide.planner import CommandPlanner
from agent.decide.review import ReviewQueue
from tools.home import Home

HOME = Home.load(Path(__file__).resolve().parents[1] / "examples" / "home.yaml")


def cascade(edge_url: str, api_key: str, review: ReviewQueue) -> CommandCascade:
    local = CommandPlanner(HOME, backend=None)  # the fast path alone: raw confidence 1.0 for a call, 0.0 for what it declines
    edge = CommandPlanner(HOME, EdgeBackend(EdgeSettings(url=edge_url, api_key=api_key, timeout_s=30)), fast_path=False)
    return CommandCascade(CascadeSetup(local, edge, ThresholdPolicy(threshold=0.9), review, None))


def test_confident_plans_stay_and_doubtful_ones_escalate(edge_server, tmp_path: Path) -> None:
    review = ReviewQueue(tmp_path / "review.sqlite")
    c = cascade(edge_server.url, edge_server.api_key, review)
    sure = c.plan("turn off the kitchen lights")
    assert (sure.route, sure.tool) == ("fast", "HassTurnOff")
    doubtful = c.plan("kindly bring the office shade down")  # the rules do not settle it: the edge model is asked
    assert doubtful.route == "edge" and doubtful.completion is not None and doubtful.completion.backend == "edge"
    assert review.count() == 0


def test_a_dead_edge_keeps_the_local_plan_flagged_and_queued(tmp_path: Path) -> None:
    review = ReviewQueue(tmp_path / "review.sqlite")
    c = cascade(f"http://127.0.0.1:{free_port()}/v1", "k", review)
    plan = c.plan("kindly bring the office shade down")
    assert plan.route == "fallback" and plan.tool == "Clarify"
    item = review.pending()[0]
    assert item.kind == "command" and item.request["question"] == "kindly bring the office shade down"


def test_each_answer_is_reported_with_its_own_routes_calibrated_confidence() -> None:
    """A template match and a model's answer with the same raw score are not equally sure; an edge answer is a model's."""
    from agent.decide.calibration import fit_calibration
    from agent.decide.escalation import FixedPolicy, Route

    scores = [1.0] * 40 + [0.5] * 40 + [0.9] * 40
    correct = [1] * 40 + [0] * 40 + [1, 0] * 20
    cal = fit_calibration(scores, correct, sources=["fast"] * 80 + ["local"] * 40)
    c = CommandCascade(CascadeSetup(CommandPlanner(HOME, backend=None), None, FixedPolicy(Route.LOCAL), None, cal))
    assert c.calibrated(1.0, "fast") > 0.95
    assert c.calibrated(0.9, "local") < 0.6
    assert c.calibrated(1.0, "edge") == c.calibrated(1.0, "local")  # no edge map: the model's, not the pooled
    plan = c.plan("turn off the kitchen lights")
    assert plan.route == "fast" and plan.confidence == c.calibrated(1.0, "fast")
    assert plan.as_json()["calibrated"] is True
