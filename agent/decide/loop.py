"""The agent loop: one generator of typed step records that the CLI, the demo and the tests all read."""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Event, TokenizedWindow
from agent.decide.audit import AuditLog, Decision, Source, grammar_text
from agent.llm.base import Completion, LLMBackend, Message
from agent.decide.prompts import HUB_EVENTS, EventRole, decision_schema, event_head, event_line, event_messages
from tools.base import Tool, ToolContext, ToolResult
from tools.executor import execute
from tools.guardrails import GuardrailPolicy

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Guard:
    """The only way from a decision to a tool: the guardrail policy and the audit log it writes."""

    policy: GuardrailPolicy
    audit: AuditLog

    @classmethod
    def from_settings(cls, settings: Any) -> Guard:
        """The guard of a Tessera process: its profile's policy, `<data_dir>/audit.sqlite`."""
        from agent.decide.audit import open_database

        return cls(GuardrailPolicy.from_settings(settings), AuditLog(open_database(settings)))


@dataclass(slots=True)
class Prompted:
    """The model is asked: the messages and the schema its answer must follow."""

    messages: list[Message]
    schema: dict[str, Any]


@dataclass(slots=True)
class Decided:
    """The model answered."""

    completion: Completion


@dataclass(slots=True)
class ToolCalled:
    """A tool ran with validated arguments."""

    tool: str
    args: dict[str, Any]
    result: ToolResult
    latency_s: float


class FailureReason(enum.Enum):
    """Why a step did not produce an action."""

    UNPARSEABLE = "unparseable"  # output was not the JSON the schema asks for
    UNKNOWN_TOOL = "unknown_tool"
    TOOL_FAILED = "tool_failed"
    BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(slots=True)
class Failed:
    """A mistake of the model or a tool, fed back to the loop as an observation."""

    reason: FailureReason
    detail: str


@dataclass(slots=True)
class Finished:
    """The loop is done; `total_s` covers every step."""

    acted: bool
    total_s: float
    steps: int = field(default=0)


Step = Prompted | Decided | ToolCalled | Failed | Finished


# The route of a decision the operator's review took, not a model: the audit log's route column says so.
REVIEW_ROUTE = "review"
SEVERITIES = ("info", "warning", "critical")


@dataclass(slots=True)
class Evidence:
    """What the knowledge base says about an event: prompt text, a one-line explanation, its sources, the operator's reviews."""

    knowledge: str = ""  # passages quoted as data (rag.context.knowledge_block), for the prompt
    explanation: str = ""  # a short reason a person can read, with its source, for the alert or ticket
    citations: list[str] = field(default_factory=list)
    # Reviewed events like this one (rag.examples.Example, kind "event"), closest first: worked
    # examples in the prompt, their tools offered by the grammar.
    reviewed: list[Any] = field(default_factory=list)
    # A review of this very event (same device, kind and severity): it decides, the model is not asked.
    ruling: Any = None

    @property
    def context_ids(self) -> list[str]:
        """What the audit log records as the decision's retrieved context: passages, then reviewed examples shown."""
        return [f"doc:{c}" for c in self.citations] + [e.id for e in self.reviewed]


def respond_to_event(
    backend: LLMBackend,
    tools: list[Tool],
    ctx: ToolContext,
    guard: Guard,
    device: str,
    window: TokenizedWindow,
    event: Event,
    max_attempts: int = 2,
    evidence: Evidence | None = None,
    role: EventRole = HUB_EVENTS,
) -> Iterator[Step]:
    """Observe an event (with retrieved `evidence`, quoted), let the model pick a tool, act; retry within `max_attempts`.

    An operator's review of this very event (`evidence.ruling`: same device, kind and severity)
    decides without the model: the operator has said what it calls for, and a 135M model shown
    the review may or may not follow it (8 of 8 in the measured case, 1 of 8 with the example
    placed less well). The audit then says so: route "review", the example's id in the context,
    no confidence. If the reviewed tool fails, the model decides as usual. Reviews of like
    events on other devices are worked examples, and their tools are offered by the grammar.
    """
    start = time.perf_counter()
    evidence = evidence or Evidence()
    by_name = {t.name: t for t in tools}
    ruling = evidence.ruling
    if ruling is not None and ruling.tool not in by_name:
        log.warning("a review chose a tool this service does not have; the model decides", extra={"tool": ruling.tool, "device": device})
    elif ruling is not None and (yield from _follow_review(ruling, by_name[ruling.tool], ctx, guard, device, window, event, evidence)):
        yield Finished(acted=True, total_s=time.perf_counter() - start, steps=1)
        return
    shots = [(event_line(e.text), _reviewed_answer(e)) for e in reversed(evidence.reviewed)]  # closest last, next to the event
    messages = event_messages(tools, device, window, event, evidence.knowledge, role, shots)
    schema = decision_schema(_offered(role, event, window, by_name, evidence.reviewed) or tools)
    for attempt in range(1, max_attempts + 1):
        yield Prompted(messages, schema)
        completion = backend.complete(messages, schema)
        yield Decided(completion)
        choice = completion.parsed
        if choice is None:
            yield Failed(FailureReason.UNPARSEABLE, completion.text[:200])
            continue
        tool = by_name.get(str(choice.get("tool")))
        if tool is None:
            yield Failed(FailureReason.UNKNOWN_TOOL, str(choice.get("tool")))
            continue
        args = _event_args(tool, choice, device, window, event, evidence)
        called = time.perf_counter()
        decision = Decision(Source.EVENT, event.describe(), [f"window:{device}:{window.t0:.3f}", *evidence.context_ids], completion.prompt_tokens,
                            grammar_text(schema), completion.confidence, None, completion.backend or "local",
                            model_latency_s=completion.latency_s)
        result = execute(tool, args, ctx, guard.policy, guard.audit, decision)
        yield ToolCalled(tool.name, args, result, time.perf_counter() - called)
        if result.ok:
            yield Finished(acted=True, total_s=time.perf_counter() - start, steps=attempt)
            return
        yield Failed(FailureReason.TOOL_FAILED, result.message)
        messages = [*messages, Message("assistant", completion.text), Message("user", f"<data>tool error: {result.message}</data>")]
    yield Failed(FailureReason.BUDGET_EXHAUSTED, f"no action after {max_attempts} attempts")
    yield Finished(acted=False, total_s=time.perf_counter() - start, steps=max_attempts)


def _offered(role: EventRole, event: Event, window: TokenizedWindow, by_name: dict[str, Tool], reviewed: list[Any]) -> list[Tool]:
    # The prompt shows every tool; the grammar offers the role's two for this event, when both are
    # given, and any tool an operator chose for a like event: a tool the grammar leaves out cannot be chosen.
    offered = [by_name[name] for name in role.candidates(event, window) if name in by_name]
    if len(offered) != 2:
        return []
    extra = [by_name[e.tool] for e in reviewed if e.tool in by_name]
    return list({t.name: t for t in [*offered, *extra]}.values())


def _reviewed_answer(example: Any) -> dict[str, str]:
    # The operator's severity when their arguments carry one, else the reviewed event's own.
    severity = example.args.get("severity")
    if severity not in SEVERITIES:
        severity = event_head(example.text).rpartition("(")[2].rstrip(")")
    return {"tool": example.tool, "severity": severity if severity in SEVERITIES else "warning"}


def _follow_review(ruling: Any, tool: Tool, ctx: ToolContext, guard: Guard, device: str, window: TokenizedWindow, event: Event,
                   evidence: Evidence) -> Iterator[Step]:
    """Act as the operator's review of a like event said; returns whether the tool succeeded."""
    choice = _reviewed_answer(ruling)
    yield Decided(Completion(json.dumps(choice), choice, backend=REVIEW_ROUTE))
    args = _event_args(tool, choice, device, window, event, evidence)
    if "priority" in args and ruling.args.get("priority"):  # a ticket's priority, when the operator set one
        args["priority"] = ruling.args["priority"]
    if "evidence" in args:  # whoever reads the alert or ticket sees which review decided it
        args["evidence"] = [*args["evidence"][:9], f"operator review {ruling.id}"]
    # The audit cites the example that decided, no prompt, no grammar and no model confidence: none was used.
    decision = Decision(Source.EVENT, event.describe(), [f"window:{device}:{window.t0:.3f}", ruling.id, *(f"doc:{c}" for c in evidence.citations)],
                        0, None, None, None, REVIEW_ROUTE, model_latency_s=0.0)
    called = time.perf_counter()
    result = execute(tool, args, ctx, guard.policy, guard.audit, decision)
    yield ToolCalled(tool.name, args, result, time.perf_counter() - called)
    if not result.ok:
        yield Failed(FailureReason.TOOL_FAILED, result.message)
    return result.ok


PRIORITY_BY_SEVERITY = {"info": "low", "warning": "high", "critical": "urgent"}


def _event_args(tool: Tool, choice: dict[str, Any], device: str, window: TokenizedWindow, event: Event, evidence: Evidence) -> dict[str, Any]:
    # The model chooses the tool and severity; facts come from the encoder and the knowledge base,
    # never from generated text. Each tool takes the facts its argument model has fields for.
    severity = choice.get("severity")
    facts: dict[str, Any] = {
        "device": device, "machine": device, "kind": event.kind, "summary": window.summary[:300], "severity": severity,
        "explanation": evidence.explanation,
        "evidence": [event.describe()[:200], " ".join(window.tokens)[:200], *evidence.citations][:10],
        "title": f"{event.kind.replace('_', ' ')} on {device}"[:120],
        # A ticket's priority is the encoder's judgement: the small model tends to call warnings critical.
        "priority": PRIORITY_BY_SEVERITY[event.severity.name.lower()],
        "description": f"{window.summary} {evidence.explanation}".strip()[:1000],
    }
    return {name: value for name, value in facts.items() if name in tool.args_model.model_fields}
