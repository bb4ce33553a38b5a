"""Notification tools: raise an alert over MQTT, or log an observation without notifying anyone."""

from __future__ import annotations

import json
import logging
from typing import Literal

from pydantic import BaseModel, Field

from tools.base import Permission, ToolContext, ToolResult, tool

log = logging.getLogger(__name__)

AlertSeverity = Literal["info", "warning", "critical"]


class AlertArgs(BaseModel):
    """An alert about one device's stream."""

    device: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    severity: AlertSeverity
    kind: str = Field(min_length=1, max_length=48)
    summary: str = Field(max_length=300)
    explanation: str = Field("", max_length=600)  # why it matters, with its source in the knowledge base
    evidence: list[str] = Field(default_factory=list, max_length=10)  # the event, its tokens, citations


@tool("raise_alert", "Notify the caregiver or operator about an event on a device, at a severity.", Permission.NOTIFY)
def raise_alert(args: AlertArgs, ctx: ToolContext) -> ToolResult:
    """Publish the alert, QoS 1, on <prefix>/<site>/<device>/alert."""
    topic = ctx.topic(args.device, "alert")
    payload = {"device": args.device, "severity": args.severity, "kind": args.kind, "summary": args.summary,
               "explanation": args.explanation, "evidence": [e[:200] for e in args.evidence], "ts": ctx.clock()}
    ctx.forward(topic, json.dumps(payload))
    return ToolResult(True, f"alert sent on {topic}", {"topic": topic})


class ObservationArgs(BaseModel):
    """A note that an event was seen and judged not worth a notification."""

    device: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str = Field(min_length=1, max_length=48)
    summary: str = Field(max_length=300)


@tool("log_observation", "Record an event in the log without notifying anyone.", Permission.READ)
def log_observation(args: ObservationArgs, ctx: ToolContext) -> ToolResult:
    """Write the observation to the structured log."""
    log.info("observation", extra={"device": args.device, "kind": args.kind, "summary": args.summary})
    return ToolResult(True, f"observation logged for {args.device}")
