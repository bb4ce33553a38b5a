"""The escalation cascade: scripted local answers (control flow only) and the real edge server on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from agent.decide.calibration import fit_calibration
from base.settings import EdgeSettings
from agent.decide.escalation import (
    EscalationRequest,
    FixedPolicy,
    Route,
    RouteReason,
    ThresholdPolicy,
    run_with_escalation,
)
from agent.llm.base import Completion
from agent.llm.edge import EdgeBackend, EdgeFailure
from agent.llm.scripted import ScriptedBackend
from agent.decide.review import ReviewQueue
from tests.edge_server import EdgeServer

SCHEMA = {
    "type": "object",
    "properties": {"tool": {"type": "string", "enum": ["light_on", "light_off", "none"]},
                   "room": {"type": "string", "enum": ["kitchen", "bedroom", "hall"]}},
    "required": ["tool", "room"],
}
SYSTEM = "You control home lights. Answer with a JSON tool call."


def request(local_answer: dict | None = None) -> EscalationRequest:
    return EscalationRequest(kind="command", question="Turn on the kitchen light.", tokens=["<home:kitchen:light:off>"],
                             summaries=["kitchen: light off, motion 2 min ago"], local_answer=local_answer, site="home")


def policy_at(threshold_rate: float = 0.3) -> ThresholdPolicy:
    """A policy calibrated on synthetic scores where P(correct) rises with the raw confidence."""
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, 2000)
    y = (rng.uniform(size=s.size) < s).astype(int)
    return ThresholdPolicy.from_calibration(fit_calibration(s, y, "platt", target_escalation_rate=threshold_rate))


def local_completion(logprob: float) -> Completion:
    return ScriptedBackend([{"tool": "light_off", "room": "hall"}], logprob=logprob).complete([], SCHEMA)


def test_threshold_policy_routes_by_calibrated_confidence() -> None:
    policy = policy_at(0.3)
    low, high = policy.decide(0.05), policy.decide(0.95)
    assert low.route is Route.EDGE and low.reason is RouteReason.LOW_CONFIDENCE
    assert high.route is Route.LOCAL and high.reason is RouteReason.CONFIDENT
    assert low.threshold == high.threshold == policy.threshold
    assert low.confidence < policy.threshold <= high.confidence
    # Raising the escalation rate raises the threshold.
    assert ThresholdPolicy.from_calibration(policy.calibration, 0.6).threshold > policy.threshold
    assert ThresholdPolicy(threshold=0.5).decide(0.49).route is Route.EDGE  # uncalibrated: taken as is
    assert FixedPolicy(Route.LOCAL).decide(0.0).reason is RouteReason.FORCED_LOCAL


@pytest.mark.edge
def test_cascade_routes_by_threshold_with_the_real_edge(edge_server: EdgeServer, isolated_state: Path) -> None:
    edge = EdgeBackend(EdgeSettings(url=edge_server.url, api_key=SecretStr(edge_server.api_key), timeout_s=60, max_tokens=32))
    queue = ReviewQueue.for_data_dir(isolated_state)
    policy = policy_at(0.3)

    confident = local_completion(-0.01)
    outcome = run_with_escalation(confident.parsed, confident.confidence, lambda: edge.complete(request().to_messages(SYSTEM), SCHEMA).parsed,
                                  queue, policy=policy, request=request(confident.parsed))
    assert outcome.route is Route.LOCAL and outcome.answer == confident.parsed and not outcome.flagged
    assert edge.counters.calls == 0 and outcome.edge_latency_s is None

    unsure = local_completion(-3.0)
    req = request(unsure.parsed)
    outcome = run_with_escalation(unsure.parsed, unsure.confidence, lambda: edge.complete(req.to_messages(SYSTEM), SCHEMA).parsed,
                                  queue, policy=policy, request=req)
    assert outcome.route is Route.EDGE and outcome.reason is RouteReason.LOW_CONFIDENCE
    assert edge.counters.calls == 1
    assert outcome.answer is not None and outcome.answer["tool"] in SCHEMA["properties"]["tool"]["enum"]
    assert outcome.edge_latency_s is not None and outcome.edge_latency_s > 0
    assert queue.count() == 0


@pytest.mark.edge
def test_cascade_falls_back_and_queues_when_the_edge_is_gone(tmp_path: Path, isolated_state: Path) -> None:
    server = EdgeServer(tmp_path)
    edge = EdgeBackend(EdgeSettings(url=server.url, api_key=SecretStr(server.api_key), timeout_s=60, retries=2, backoff_s=0.1, max_tokens=24))
    queue = ReviewQueue.for_data_dir(isolated_state)
    unsure = local_completion(-3.0)
    req = request(unsure.parsed)

    def cascade():
        return run_with_escalation(unsure.parsed, unsure.confidence, lambda: edge.complete(req.to_messages(SYSTEM), SCHEMA).parsed,
                                   queue, policy=policy_at(0.3), request=req)

    try:
        assert cascade().route is Route.EDGE  # while the edge box is up
        server.kill()  # then it goes away, keep-alive connection and all
        edge.settings = edge.settings.model_copy(update={"timeout_s": 2.0})
        start = time.monotonic()
        outcome = cascade()
    finally:
        server.stop()
    assert time.monotonic() - start < 2.0
    assert outcome.route is Route.FALLBACK and outcome.flagged
    assert outcome.answer == unsure.parsed  # the local answer, flagged
    assert outcome.reason is RouteReason.EDGE_UNAVAILABLE and outcome.error is EdgeFailure.UNREACHABLE
    item = queue.get(outcome.review_id)
    assert item is not None and item.reason == "unreachable" and item.kind == "command"
    assert item.request["tokens"] == req.tokens and item.request["summaries"] == req.summaries
    assert item.local_answer == unsure.parsed
    assert item.threshold == pytest.approx(outcome.decision.threshold) and item.confidence < item.threshold
    # Durable: a new process sees it, and a reviewer can close it.
    queue.close()
    again = ReviewQueue.for_data_dir(isolated_state)
    assert [i.id for i in again.pending()] == [outcome.review_id]
    assert again.resolve(outcome.review_id, "correct: kitchen light on") and again.count() == 0


def test_cascade_without_an_edge_keeps_the_local_answer_and_queues(isolated_state: Path) -> None:
    queue = ReviewQueue.for_data_dir(isolated_state)
    outcome = run_with_escalation("local verdict", 0.01, None, queue, policy=ThresholdPolicy(0.5), request=request())
    assert outcome.route is Route.FALLBACK and outcome.reason is RouteReason.EDGE_NOT_CONFIGURED
    assert outcome.answer == "local verdict" and queue.count() == 1


def test_cascade_timeout_is_bounded_by_the_edge_budget(isolated_state: Path) -> None:
    from tests.edge_server import SilentServer

    silent = SilentServer()
    try:
        edge = EdgeBackend(EdgeSettings(url=silent.url, timeout_s=0.8))
        start = time.monotonic()
        outcome = run_with_escalation({"v": 1}, 0.0, lambda: edge.complete(request().to_messages(SYSTEM)), ReviewQueue.for_data_dir(isolated_state),
                                      policy=FixedPolicy(Route.EDGE), request=request())
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert outcome.route is Route.FALLBACK and outcome.error is EdgeFailure.TIMEOUT
    assert elapsed < 1.2


def test_review_queue_refuses_raw_samples(isolated_state: Path) -> None:
    queue = ReviewQueue.for_data_dir(isolated_state)
    with pytest.raises(ValueError, match="raw samples"):
        queue.enqueue("event", "timeout", {"window": list(np.arange(100.0))})
    with pytest.raises(ValueError, match="raw samples"):
        queue.enqueue("event", "timeout", {"window": np.zeros(3)})
    with pytest.raises(ValueError):
        EscalationRequest(kind="event", question="q", tokens=[b"\x00\x01"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="run of numbers"):
        EscalationRequest(kind="event", question="q", summaries=["window: " + ", ".join(f"{v:.3f}" for v in np.sin(np.arange(200)))])
    assert queue.count() == 0
    # A handful of figures in a summary is fine, however long the summary.
    EscalationRequest(kind="event", question="q", summaries=["hr 131 bpm, qrs 92 ms, 3 ectopics in 40 s; " * 20])
    queue.enqueue("event", "timeout", {"summary": "hr 131 bpm", "figures": [131, 0.82, 40]})
    assert queue.count() == 1


def test_escalated_prompt_carries_more_examples_within_the_budget() -> None:
    examples = [f"worked example {i}: " + "x" * 200 for i in range(20)]
    req = EscalationRequest(kind="command", question="q", tokens=["<t>"], summaries=["s"], examples=examples, local_answer={"a": 1})
    everything = req.to_messages("sys")[1].content
    assert all(e in everything for e in examples)
    assert everything.index("Reference:") < everything.index("A smaller model proposed")
    capped = req.to_messages("sys", max_examples=3)[1].content
    assert examples[2] in capped and examples[3] not in capped
    budget = req.to_messages("sys", context_tokens=512)[1].content
    assert examples[0] in budget and examples[-1] not in budget
    assert len(budget) <= 512 * 3 and "<t>" in budget and "s" in budget


def test_shots_become_chat_turns_most_relevant_last() -> None:
    shots = [[f"question {i}", f'{{"tool": "t{i}"}}'] for i in range(10)]
    req = EscalationRequest(kind="command", question="turn on the hall light", shots=shots, examples=["a passage"])
    messages = req.to_messages("sys", max_examples=4)
    assert [m.role for m in messages] == ["system"] + ["user", "assistant"] * 4 + ["user"]
    assert messages[-3].content == "question 0" and messages[-2].content == '{"tool": "t0"}'
    assert messages[1].content == "question 3"
    assert messages[-1].content.startswith("turn on the hall light") and "a passage" in messages[-1].content
    assert len(req.to_messages("sys", context_tokens=20)) == 2  # no room: the question alone
    with pytest.raises(ValueError):
        EscalationRequest(kind="command", question="q", shots=[["only a question"]])


def test_an_unusable_edge_answer_falls_back(isolated_state: Path) -> None:
    from agent.llm.edge import EdgeUnavailable

    def edge_call():
        raise EdgeUnavailable(EdgeFailure.BAD_RESPONSE, "edge answer did not parse")

    outcome = run_with_escalation({"tool": "none"}, 0.0, edge_call, ReviewQueue.for_data_dir(isolated_state),
                                  policy=FixedPolicy(Route.EDGE), request=request({"tool": "none"}))
    assert outcome.route is Route.FALLBACK and outcome.error is EdgeFailure.BAD_RESPONSE
    assert outcome.answer == {"tool": "none"} and outcome.review_id is not None
