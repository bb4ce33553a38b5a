"""`tessera edge check` (is the configured edge model usable?) and `tessera review` (the fallback queue)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

PROBE_SCHEMA = {
    "type": "object",
    "properties": {"tool": {"type": "string", "enum": ["HassTurnOn", "HassTurnOff", "HassGetState"]},
                   "area": {"type": "string"}},
    "required": ["tool", "area"],
}


def cmd_edge_check(args: argparse.Namespace) -> int:
    """Send one schema-constrained request to the edge and report latency, JSON validity and log-probabilities."""
    from base.settings import load_settings
    from agent.llm.base import Message
    from agent.llm.edge import EdgeBackend, EdgeUnavailable

    settings = load_settings(args.config, profile=args.profile)
    edge_settings = settings.edge if args.samples is None else settings.edge.model_copy(update={"samples": args.samples})
    messages = [Message("system", "Map the command to a Home Assistant intent. Answer with JSON only."),
                Message("user", "turn off the kitchen lights")]
    report: dict[str, Any] = {"url": edge_settings.url, "model": edge_settings.model, "response_format": edge_settings.response_format,
                              "samples": edge_settings.samples, "timeout_s": edge_settings.timeout_s}
    with EdgeBackend(edge_settings) as edge:
        start = time.monotonic()
        try:
            out = edge.complete(messages, PROBE_SCHEMA, max_tokens=48)
        except EdgeUnavailable as err:
            report.update(ok=False, reason=err.reason.value, detail=err.detail, attempts=err.attempts, elapsed_s=round(time.monotonic() - start, 3))
            _print(report, args.json)
            return 1
    valid = out.parsed is not None and out.parsed.get("tool") in PROBE_SCHEMA["properties"]["tool"]["enum"] and "area" in out.parsed
    report.update(ok=valid, latency_s=round(out.latency_s, 3), attempts=out.attempts, schema_valid=valid, answer=out.parsed,
                  logprobs=bool(out.token_logprobs), confidence=round(out.confidence, 4), agreement=out.agreement,
                  completion_tokens=out.completion_tokens)
    if not valid:
        report["detail"] = f"answer is not valid against the schema: {out.text[:120]!r}; try edge.response_format json_schema or json_object"
    _print(report, args.json)
    return 0 if valid else 1


def cmd_review_list(args: argparse.Namespace) -> int:
    """List requests waiting for review."""
    from base.settings import load_settings
    from agent.decide.review import ReviewQueue

    queue = ReviewQueue.for_data_dir(load_settings(args.config, profile=args.profile).data_dir)
    items = queue.pending(limit=args.limit)
    if args.json:
        print(json.dumps([_item_dict(i) for i in items], indent=2))
        return 0
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.created_at))
        print(f"{item.id:>5}  {when}  {item.kind:<8} {item.reason:<20} {item.request.get('question', '')[:60]}  -> {json.dumps(item.local_answer)[:60]}")
    if not items:
        print("review queue is empty")
    return 0


def cmd_review_resolve(args: argparse.Namespace) -> int:
    """Mark one queued request reviewed."""
    from base.settings import load_settings
    from base.errors import TesseraError
    from agent.decide.review import ReviewQueue

    queue = ReviewQueue.for_data_dir(load_settings(args.config, profile=args.profile).data_dir)
    if not queue.resolve(args.id, " ".join(args.note)):
        raise TesseraError(f"no pending review item {args.id}; list them with `tessera review list`")
    print(f"resolved {args.id}")
    return 0


def add_commands(subparsers: Any) -> None:
    """Add the `edge` and `review` command groups."""
    edge = subparsers.add_parser("edge", help="the edge model (OpenAI-compatible endpoint)").add_subparsers(dest="edge_command", required=True)
    check = edge.add_parser("check", help="send one schema-constrained request; report latency, validity, log-probabilities")
    check.add_argument("--samples", type=int, default=None, help="override edge.samples (self-consistency votes)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_edge_check)

    review = subparsers.add_parser("review", help="answers kept local because the edge failed").add_subparsers(dest="review_command", required=True)
    listing = review.add_parser("list", help="pending items, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_review_list)
    resolve = review.add_parser("resolve", help="mark an item reviewed")
    resolve.add_argument("id", type=int)
    resolve.add_argument("note", nargs="+", help="what the reviewer concluded")
    resolve.set_defaults(func=cmd_review_resolve)


def _item_dict(item: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(item)


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    if report.get("ok"):
        print(f"edge ok: {report['url']} answered in {report['latency_s']} s, schema-valid JSON, "
              f"log-probabilities {'yes' if report['logprobs'] else 'no'}, confidence {report['confidence']}")
    else:
        print(f"edge NOT ok: {report['url']}: {report.get('reason', 'invalid answer')}: {report.get('detail', '')}")
