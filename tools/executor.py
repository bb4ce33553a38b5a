"""The one path from a decision to a tool: validate, check the guardrails, run, audit.

Whatever the model (or a prompt injected into its context) asks for, nothing runs unless the
policy allows it here; a dangerous action runs only with `confirmed=True`, which the caller
sets after a person said yes, never from model output. Every call leaves one audit record.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError

from base.errors import TesseraError, first_problem
from base.registry import UnknownNameError
from tools.base import TOOLS, AuditLog, Tool, ToolContext, ToolResult
from tools.guardrails import GuardrailPolicy, Outcome, Reason

log = logging.getLogger(__name__)


def execute(
    tool: Tool | str,
    raw_args: dict[str, Any],
    ctx: ToolContext,
    policy: GuardrailPolicy,
    audit: AuditLog,
    decision: Any | None = None,
    confirmed: bool = False,
) -> ToolResult:
    """Run `tool` on `raw_args` if the policy allows; the result says `denied` / `needs_confirmation` otherwise."""
    start = time.perf_counter()
    name = tool if isinstance(tool, str) else tool.name
    raw_args = dict(raw_args or {})

    def done(result: ToolResult, outcome: Outcome, reason: Reason, entities: tuple[str, ...] = ()) -> ToolResult:
        record_id = audit.record(
            decision, tool=name, arguments=raw_args, entities=entities, verdict=outcome, verdict_reason=reason,
            confirmed=confirmed, ok=result.ok, message=result.message,
            latency_s=time.perf_counter() - start + (getattr(decision, "model_latency_s", None) or 0.0),  # decision to result
        )
        result.data.setdefault("decision_id", record_id)
        return result

    if isinstance(tool, str):
        try:
            tool = TOOLS.get(tool)
        except UnknownNameError as err:
            return done(ToolResult(False, str(err), {"denied": True, "reason": Reason.UNKNOWN_TOOL.value}), Outcome.DENY, Reason.UNKNOWN_TOOL)
    try:
        args = tool.validate(raw_args)
    except ValidationError as err:
        where, problem = first_problem(err)
        result = ToolResult(False, f"invalid arguments for {name}: {where}: {problem}", {"denied": True, "reason": Reason.INVALID_ARGUMENTS.value, "field": where})
        return done(result, Outcome.DENY, Reason.INVALID_ARGUMENTS)

    verdict = policy.check(tool, args, ctx, confirmed=confirmed)
    if verdict.outcome is Outcome.DENY:
        data: dict[str, Any] = {"denied": True, "reason": verdict.reason.value}
        if verdict.retry_after_s is not None:
            data["retry_after_s"] = round(verdict.retry_after_s, 1)
        log.info("denied tool=%s reason=%s", name, verdict.reason.value)
        return done(ToolResult(False, verdict.message, data), verdict.outcome, verdict.reason, verdict.entities)
    if verdict.outcome is Outcome.CONFIRM:
        data = {"needs_confirmation": True, "reason": verdict.reason.value, "tool": name, "args": args.model_dump(exclude_none=True), "entities": list(verdict.entities)}
        log.info("confirmation needed tool=%s entities=%s", name, ",".join(verdict.entities))
        return done(ToolResult(False, verdict.message, data), verdict.outcome, verdict.reason, verdict.entities)

    try:
        result = tool.func(args, ctx)
    except TesseraError as err:
        # Something outside Tessera failed (the broker is down): the caller hears why, nothing crashes.
        return done(ToolResult(False, str(err), {"reason": "unavailable"}), verdict.outcome, verdict.reason, verdict.entities)
    except Exception as err:
        # A bug in a tool propagates, but the decision that reached it is still on record.
        done(ToolResult(False, f"{name} raised {type(err).__name__}"), verdict.outcome, verdict.reason, verdict.entities)
        raise
    return done(result, verdict.outcome, verdict.reason, verdict.entities)
