"""Sensor and industrial tools: read a stream, search the knowledge base, open a ticket, acknowledge, stop a machine, report.

What these tools return from streams and documents is data for the model, never
instructions; the executor's guardrails decide what may run, whatever that data says.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

from pydantic import BaseModel, Field

from adapters.base import TokenizedWindow
from tools.base import Permission, ToolContext, ToolResult, tool

log = logging.getLogger(__name__)

DEVICE = r"^[A-Za-z0-9_.-]+$"


class StreamArgs(BaseModel):
    """Which device's stream to read, and how much of it."""

    device: str = Field(min_length=1, max_length=64, pattern=DEVICE)
    tokens: int = Field(16, ge=1, le=128)  # newest tokens of the latest window
    windows: int = Field(1, ge=1, le=8)  # how many recent summaries


def _recent_windows(ctx: ToolContext, device: str, n: int) -> list[TokenizedWindow] | ToolResult:
    # The newest windows of a device, or the failed result that says why there are none.
    if ctx.streams is None:
        return ToolResult(False, "no live streams are attached to this Tessera (ingest is not running)", {"reason": "not_configured"})
    recent = ctx.streams.recent(device, n)
    if not recent:
        known = ctx.streams.devices()
        hint = f"; streams: {', '.join(known[:10])}" if known else ""
        return ToolResult(False, f"no stream from device {device}{hint}", {"reason": "unknown_device"})
    return recent


@tool("read_stream", "Read the latest tokens and one-line summary of a device's sensor stream.", Permission.READ)
def read_stream(args: StreamArgs, ctx: ToolContext) -> ToolResult:
    """Latest window of a device: summary, newest tokens, events, quality and age."""
    recent = _recent_windows(ctx, args.device, args.windows)
    if isinstance(recent, ToolResult):
        return recent
    latest = recent[-1]
    age = max(0.0, ctx.clock() - (latest.t0 + latest.duration_s))
    data = {
        "device": args.device,
        "modality": latest.modality,
        "t0": latest.t0,
        "age_s": round(age, 1),
        "quality": round(float(latest.quality), 3),
        "summary": latest.summary,
        "tokens": latest.tokens[-args.tokens :],
        "events": [e.describe() for e in latest.events],
        "summaries": [w.summary for w in recent],
    }
    return ToolResult(True, f"{args.device} ({latest.modality}, {age:.0f} s ago): {latest.summary}", data)


class KnowledgeArgs(BaseModel):
    """A question for the local knowledge base, optionally narrowed to a device or site."""

    query: str = Field(min_length=2, max_length=300)
    k: int = Field(3, ge=1, le=10)
    device: str | None = Field(None, max_length=64, pattern=DEVICE)
    site: str | None = Field(None, max_length=64, pattern=DEVICE)


@tool("search_knowledge", "Search manuals, maintenance notes and past episodes for passages relevant to a question.", Permission.READ)
def search_knowledge(args: KnowledgeArgs, ctx: ToolContext) -> ToolResult:
    """Passages from rag/ with their sources, quoted as data."""
    if ctx.knowledge is None:
        return ToolResult(
            False,
            "the knowledge store is not configured: set rag.path (or rag.server_url) in the config and fill it with `tessera rag ingest --seed`",
            {"reason": "not_configured"},
        )
    from rag.context import knowledge_block
    from rag.errors import RagError
    from rag.store import Filter

    where = Filter(site=args.site, device=args.device) if (args.site or args.device) else None
    try:
        hits = ctx.knowledge.search(args.query, k=args.k, where=where)
    except RagError as err:
        return ToolResult(False, f"knowledge store unavailable: {err}", {"reason": "unavailable"})
    if not hits:
        return ToolResult(True, "no passages found (is the store empty? `tessera rag ingest --seed`)", {"hits": []})
    found = [{"id": h.id, "citation": h.citation, "score": round(h.score, 3), "text": h.text[:600]} for h in hits]
    return ToolResult(True, knowledge_block(hits), {"hits": found, "context_ids": [h.id for h in hits]})


class TicketArgs(BaseModel):
    """A maintenance ticket for one device."""

    device: str = Field(min_length=1, max_length=64, pattern=DEVICE)
    title: str = Field(min_length=3, max_length=120)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    description: str = Field("", max_length=1000)
    evidence: list[str] = Field(default_factory=list, max_length=10)  # event descriptions, citations, context ids


@tool("open_ticket", "Open a maintenance ticket for a device, with the evidence that motivates it.", Permission.NOTIFY)
def open_ticket(args: TicketArgs, ctx: ToolContext) -> ToolResult:
    """Store the ticket and publish it, QoS 1, on <prefix>/<site>/tickets."""
    if ctx.tickets is None:
        return ToolResult(False, "tickets are not configured on this Tessera (no audit database attached)", {"reason": "not_configured"})
    evidence = [e[:200] for e in args.evidence]
    latest = ctx.streams.latest(args.device) if ctx.streams is not None else None
    if latest is not None:
        # Facts from the encoder travel with the ticket, whatever the model wrote.
        evidence.append(f"stream @{latest.t0:.0f}: {latest.summary}")
        evidence.extend(f"event: {e.describe()}" for e in latest.events)
    ticket = ctx.tickets.open(ctx.clock(), ctx.site, args.device, args.title, args.priority, args.description, evidence)
    topic = ctx.topic("tickets")
    payload = {"id": ticket.id, "ts": ticket.ts, "site": ctx.site, "device": args.device, "title": args.title,
               "priority": args.priority, "description": args.description, "evidence": evidence, "status": ticket.status}
    ctx.forward(topic, json.dumps(payload))
    log.info("ticket %d opened for %s", ticket.id, args.device)
    return ToolResult(True, f"ticket {ticket.id} opened for {args.device} ({args.priority})", {"ticket": ticket.id, "topic": topic})


class AckArgs(BaseModel):
    """An event a person has seen and handled."""

    device: str = Field(min_length=1, max_length=64, pattern=DEVICE)
    kind: str = Field(min_length=1, max_length=48)
    event_t: float | None = None  # the event's time, when several of a kind are open
    note: str = Field("", max_length=300)


@tool("acknowledge_event", "Acknowledge an event on a device so it stops being raised as new.", Permission.NOTIFY)
def acknowledge_event(args: AckArgs, ctx: ToolContext) -> ToolResult:
    """Publish the acknowledgement, QoS 1, on <prefix>/<site>/<device>/ack and keep it if tickets are stored."""
    ts = ctx.clock()
    ack_id = ctx.tickets.acknowledge(ts, ctx.site, args.device, args.kind, args.event_t, args.note) if ctx.tickets is not None else None
    topic = ctx.topic(args.device, "ack")
    ctx.forward(topic, json.dumps({"device": args.device, "kind": args.kind, "event_t": args.event_t, "note": args.note, "ts": ts}))
    return ToolResult(True, f"{args.kind} on {args.device} acknowledged", {"topic": topic, "ack": ack_id})


class StopArgs(BaseModel):
    """A machine to stop, and why."""

    machine: str = Field(min_length=1, max_length=64, pattern=DEVICE)
    reason: str = Field(min_length=3, max_length=200)


@tool("stop_machine", "Stop a machine (motor, pump, conveyor). Always asks a person to confirm first.", Permission.ACTUATE)
def stop_machine(args: StopArgs, ctx: ToolContext) -> ToolResult:
    """Publish a stop command, QoS 1, on <prefix>/<site>/<machine>/set."""
    topic = ctx.topic(args.machine, "set")
    ctx.publish(topic, json.dumps({"service": "stop", "reason": args.reason, "ts": ctx.clock()}), 1, False)
    log.warning("stop sent to %s", args.machine)
    return ToolResult(True, f"stop sent to {args.machine}", {"topic": topic})


class ReportArgs(BaseModel):
    """Which device to report on, over how many recent windows."""

    device: str = Field(min_length=1, max_length=64, pattern=DEVICE)
    windows: int = Field(4, ge=1, le=8)


@tool("render_report", "Write a short report of a device's recent windows and events, and send it upstream.", Permission.NOTIFY)
def render_report(args: ReportArgs, ctx: ToolContext) -> ToolResult:
    """A Markdown report from the encoder's own summaries and events, published QoS 1 on <prefix>/<site>/reports."""
    recent = _recent_windows(ctx, args.device, args.windows)
    if isinstance(recent, ToolResult):
        return recent
    lines = [f"# {args.device}: {recent[-1].modality} report", "",
             f"{len(recent)} window(s), quality {min(w.quality for w in recent):.2f}–{max(w.quality for w in recent):.2f}", ""]
    for w in recent:
        lines.append(f"- t0 {w.t0:.0f}: {w.summary}")
        lines.extend(f"  - event: {e.describe()}" for e in w.events)
    markdown = "\n".join(lines) + "\n"
    topic = ctx.topic("reports")
    ctx.forward(topic, json.dumps({"device": args.device, "ts": ctx.clock(), "markdown": markdown}))
    return ToolResult(True, f"report on {args.device} sent on {topic}", {"topic": topic, "markdown": markdown})
