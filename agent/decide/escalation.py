"""When to ask the edge model, and what happens when it cannot answer.

A policy turns a confidence into a route (local or edge) with a reason. `run_with_escalation`
runs the cascade for any answer type (a tool call, an event verdict): local when confident,
the edge when not, and the local answer flagged `fallback` when the edge is unreachable, slow
or refuses us, with the request queued for a person to review. It never waits past the edge
backend's own budget (`EdgeSettings.timeout_s`).

What leaves the device is an `EscalationRequest`: the question, symbolic tokens and one-line
summaries, retrieved examples and the local answer, never raw sensor samples.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from agent.decide.calibration import Calibration
from agent.llm.base import Completion, LLMBackend, Message
from agent.llm.edge import EdgeFailure, EdgeUnavailable
from agent.decide.review import ReviewQueue, check_no_raw_samples

log = logging.getLogger(__name__)

T = TypeVar("T")


class Route(Enum):
    """Where the answer came from."""

    LOCAL = "local"
    EDGE = "edge"
    FALLBACK = "fallback"  # the local answer, because the edge could not give one


class RouteReason(Enum):
    """Why the cascade went where it went."""

    CONFIDENT = "confident"  # calibrated confidence at or above the threshold
    LOW_CONFIDENCE = "low_confidence"
    FORCED_LOCAL = "forced_local"  # a policy that never escalates (no edge on this site)
    FORCED_EDGE = "forced_edge"  # a policy that always escalates (evaluation, a strict site)
    EDGE_NOT_CONFIGURED = "edge_not_configured"
    EDGE_UNAVAILABLE = "edge_unavailable"  # see CascadeOutcome.error for the EdgeFailure


@dataclass(slots=True, frozen=True)
class RouteDecision:
    """A policy's verdict: route, reason, the threshold used and the confidence it compared."""

    route: Route
    reason: RouteReason
    threshold: float | None
    confidence: float | None = None  # calibrated, when the policy has a calibration


class EscalationPolicy(Protocol):
    """Decides local or edge from a raw confidence (the kind the calibration was fitted on)."""

    def decide(self, confidence: float, source: str | None = None) -> RouteDecision:
        """Route one answer; `source` names what produced it ("fast", "local"), for a calibration fitted per source."""
        ...


@dataclass(slots=True)
class ThresholdPolicy:
    """Escalate when the calibrated confidence is below `threshold`."""

    threshold: float
    calibration: Calibration | None = None  # None: the confidence is taken as already calibrated

    @classmethod
    def from_calibration(cls, calibration: Calibration, escalation_rate: float | None = None) -> ThresholdPolicy:
        """The policy stored by `tessera calibrate`, or one re-aimed at another escalation rate."""
        threshold = calibration.threshold if escalation_rate is None else calibration.threshold_for_escalation_rate(escalation_rate)
        return cls(threshold=threshold, calibration=calibration)

    def decide(self, confidence: float, source: str | None = None) -> RouteDecision:
        """Edge when P(correct) < threshold, else local."""
        p = float(self.calibration.predict(confidence, source)) if self.calibration is not None else float(confidence)
        if p < self.threshold:
            return RouteDecision(Route.EDGE, RouteReason.LOW_CONFIDENCE, self.threshold, p)
        return RouteDecision(Route.LOCAL, RouteReason.CONFIDENT, self.threshold, p)


@dataclass(slots=True)
class FixedPolicy:
    """Always one route: local on a site without an edge box, edge for evaluation."""

    route: Route

    def decide(self, confidence: float, source: str | None = None) -> RouteDecision:
        """The fixed route."""
        reason = RouteReason.FORCED_EDGE if self.route is Route.EDGE else RouteReason.FORCED_LOCAL
        return RouteDecision(self.route, reason, None, None)


@dataclass(slots=True)
class EscalationRequest:
    """What is sent to the edge and queued for review: tokens and summaries, never raw samples."""

    kind: str  # "command" (an utterance to act on) or "event" (a window's event to judge)
    question: str  # the utterance, or the event's one-line summary
    tokens: list[str] = field(default_factory=list)  # symbolic window tokens, e.g. "<ecg:hr:72>"
    summaries: list[str] = field(default_factory=list)  # one-line window or device summaries
    examples: list[str] = field(default_factory=list)  # retrieved reference passages
    # Worked examples as [question, answer] pairs, most relevant first; sent as chat turns,
    # the form a small model follows best.
    shots: list[list[str]] = field(default_factory=list)
    local_answer: dict[str, Any] | None = None  # what the local model proposed
    device: str | None = None
    site: str | None = None

    def __post_init__(self) -> None:
        check_no_raw_samples(asdict(self), "escalation request")
        if any(len(shot) != 2 or not all(isinstance(x, str) for x in shot) for shot in self.shots):
            raise ValueError("each shot must be a [question, answer] pair of strings")

    def as_record(self) -> dict[str, Any]:
        """JSON-ready data, as queued for review."""
        return asdict(self)

    def to_messages(self, system: str, *, max_examples: int | None = None, context_tokens: int | None = None) -> list[Message]:
        """A chat for the edge model; shots and examples past `max_examples` or the `context_tokens` budget are left out.

        Pass `EdgeSettings.max_examples` and `context_tokens`: the edge box has room for more
        worked examples than the hub's prompt, which is much of what escalation buys. Shots
        come first in the budget, then reference passages.
        """
        parts = [self.question if self.kind == "command" else f"Event: {self.question}"]
        if self.device or self.site:
            parts.append(f"Device: {self.device or '-'} at site {self.site or '-'}")
        if self.summaries:
            parts.append("Summaries:\n" + "\n".join(f"- {s}" for s in self.summaries))
        if self.tokens:
            parts.append("Tokens: " + " ".join(self.tokens))
        if self.local_answer is not None:
            parts.append("A smaller model proposed (check it; it may be wrong): " + json.dumps(self.local_answer, sort_keys=True))
        cap = len(self.shots) + len(self.examples) if max_examples is None else max_examples
        # About 4 characters a token in English: a budget, not a count; keep a quarter for the answer.
        room = (context_tokens * 3 if context_tokens is not None else 1 << 62) - len(system) - sum(len(p) for p in parts)
        shots: list[list[str]] = []
        for shot in self.shots[:cap]:
            room -= len(shot[0]) + len(shot[1]) + 16
            if room < 0:
                break
            shots.append(shot)
        examples: list[str] = []
        for example in self.examples[:cap]:
            room -= len(example) + 3
            if room < 0:
                break
            examples.append(example)
        if examples:
            parts.insert(len(parts) - (self.local_answer is not None), "Reference:\n" + "\n".join(f"- {e}" for e in examples))
        messages = [Message("system", system)]
        # The most relevant shot goes last, nearest the question.
        for question, answer in reversed(shots):
            messages += [Message("user", question), Message("assistant", answer)]
        return messages + [Message("user", "\n\n".join(parts))]


@dataclass(slots=True)
class CascadeOutcome(Generic[T]):
    """The answer the agent acts on, where it came from, and why."""

    route: Route
    answer: T
    reason: RouteReason
    decision: RouteDecision
    edge_latency_s: float | None = None
    error: EdgeFailure | None = None
    review_id: int | None = None  # set when the request was queued for review

    @property
    def flagged(self) -> bool:
        """True when the answer is the local one kept only because the edge could not answer."""
        return self.route is Route.FALLBACK


def run_with_escalation(local: T, confidence: float, edge_call: Callable[[], T] | None, review_queue: ReviewQueue | None, *,
                        policy: EscalationPolicy, request: EscalationRequest, source: str | None = None) -> CascadeOutcome[T]:
    """Route `local` by `policy`; on low confidence call `edge_call`, falling back to `local` if the edge fails.

    `edge_call` may itself raise `EdgeUnavailable(EdgeFailure.BAD_RESPONSE, ...)` when the edge's
    answer is unusable (its JSON did not parse, its tool is unknown): that falls back the same way.
    """
    decision = policy.decide(confidence, source)
    if decision.route is Route.LOCAL:
        return CascadeOutcome(Route.LOCAL, local, decision.reason, decision)
    if edge_call is None:
        review_id = _queue(review_queue, request, RouteReason.EDGE_NOT_CONFIGURED.value, decision)
        return CascadeOutcome(Route.FALLBACK, local, RouteReason.EDGE_NOT_CONFIGURED, decision, review_id=review_id)
    start = time.monotonic()
    try:
        answer = edge_call()
    except EdgeUnavailable as err:
        latency = time.monotonic() - start
        review_id = _queue(review_queue, request, err.reason.value, decision)
        log.warning("edge fallback", extra={"kind": request.kind, "edge_failure": err.reason.value, "edge_latency_s": round(latency, 3),
                                            "review_id": review_id})
        return CascadeOutcome(Route.FALLBACK, local, RouteReason.EDGE_UNAVAILABLE, decision, latency, err.reason, review_id)
    latency = time.monotonic() - start
    log.info("escalated", extra={"kind": request.kind, "edge_latency_s": round(latency, 3), "reason": decision.reason.value})
    return CascadeOutcome(Route.EDGE, answer, decision.reason, decision, latency)


def _queue(queue: ReviewQueue | None, request: EscalationRequest, reason: str, decision: RouteDecision) -> int | None:
    if queue is None:
        return None
    return queue.enqueue(request.kind, reason, request.as_record(), request.local_answer,
                         confidence=decision.confidence, threshold=decision.threshold)


class EscalatingBackend:
    """An LLM backend for event decisions: the local model first, the edge model when the local one is unsure.

    Stands wherever one backend is expected (the agent loop's event path), so the hub and the
    gateway escalate events without code of their own. The answer's `backend` field is the
    route ("local", "edge" or "fallback"), which the audit log records.
    """

    name = "cascade"

    def __init__(self, local: LLMBackend, edge: LLMBackend | None, policy: EscalationPolicy, review: ReviewQueue | None,
                 on_outcome: Callable[[CascadeOutcome[Completion]], None] | None = None) -> None:
        self.local, self.edge, self.policy, self.review, self.on_outcome = local, edge, policy, review, on_outcome

    def complete(self, messages: list[Message], schema: dict[str, Any] | None = None, max_tokens: int = 96) -> Completion:
        """The local completion, or the edge's when the policy escalates and the edge answers."""
        local = self.local.complete(messages, schema, max_tokens)
        request = EscalationRequest("event", messages[-1].content[:1000], local_answer=local.parsed)
        edge_call = (lambda: self._edge(messages, schema, max_tokens)) if self.edge is not None else None
        outcome = run_with_escalation(local, local.confidence, edge_call, self.review, policy=self.policy, request=request)
        outcome.answer.backend = outcome.route.value
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome.answer

    def warm(self, messages: list[Message], schema: dict[str, Any] | None = None) -> float | None:
        """Warm the local model's prompt cache (the edge warms itself)."""
        warm = getattr(self.local, "warm", None)
        return warm(messages, schema) if warm else None

    def _edge(self, messages: list[Message], schema: dict[str, Any] | None, max_tokens: int) -> Completion:
        answer = self.edge.complete(messages, schema, max_tokens)
        if answer.parsed is None:  # an answer the loop cannot act on is no answer: keep the local one
            from agent.llm.edge import EdgeFailure

            raise EdgeUnavailable(EdgeFailure.BAD_RESPONSE, f"edge answer is not the JSON asked for: {answer.text[:80]!r}")
        return answer
