"""The agent loop: one generator of typed step records that the CLI, the demo and the tests all read."""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Event, TokenizedWindow
from agent.audit import AuditLog, Decision, Source
from agent.llm.base import Completion, LLMBackend, Message
from agent.prompts import decision_schema, event_messages
from tools.base import Tool, ToolContext, ToolResult
from tools.executor import execute
from tools.guardrails import GuardrailPolicy


@dataclass(slots=True)
class Guard:
    """The only way from a decision to a tool: the guardrail policy and the audit log it writes."""

    policy: GuardrailPolicy
    audit: AuditLog

    @classmethod
    def from_settings(cls, settings: Any) -> Guard:
        """The guard of a Tessera process: its profile's policy, `<data_dir>/audit.sqlite`."""
        from agent.audit import open_database

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


def respond_to_event(
    backend: LLMBackend,
    tools: list[Tool],
    ctx: ToolContext,
    guard: Guard,
    device: str,
    window: TokenizedWindow,
    event: Event,
    max_attempts: int = 2,
    knowledge: str = "",
) -> Iterator[Step]:
    """Observe an event (with retrieved `knowledge`, quoted), let the model pick a tool, act; retry within `max_attempts`."""
    start = time.perf_counter()
    by_name = {t.name: t for t in tools}
    messages = event_messages(tools, device, window, event, knowledge)
    schema = decision_schema(tools)
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
        args = _event_args(tool, choice, device, window, event)
        called = time.perf_counter()
        decision = Decision(Source.EVENT, event.describe(), [f"window:{device}:{window.t0:.3f}"], completion.prompt_tokens,
                            json.dumps(schema, sort_keys=True), completion.confidence, None, completion.backend or "local")
        result = execute(tool, args, ctx, guard.policy, guard.audit, decision)
        yield ToolCalled(tool.name, args, result, time.perf_counter() - called)
        if result.ok:
            yield Finished(acted=True, total_s=time.perf_counter() - start, steps=attempt)
            return
        yield Failed(FailureReason.TOOL_FAILED, result.message)
        messages = [*messages, Message("assistant", completion.text), Message("user", f"<data>tool error: {result.message}</data>")]
    yield Failed(FailureReason.BUDGET_EXHAUSTED, f"no action after {max_attempts} attempts")
    yield Finished(acted=False, total_s=time.perf_counter() - start, steps=max_attempts)


def _event_args(tool: Tool, choice: dict[str, Any], device: str, window: TokenizedWindow, event: Event) -> dict[str, Any]:
    # The model chooses the tool and severity; facts come from the encoder, never from generated text.
    args: dict[str, Any] = {"device": device, "kind": event.kind, "summary": window.summary}
    if "severity" in tool.args_model.model_fields:
        args["severity"] = choice.get("severity")
    return args
