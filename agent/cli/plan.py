"""`tessera plan` and `tessera calibrate`: the command planner from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.decide.command_eval import DEFAULT_HOME, DEFAULT_SET, Labelled, calibrate_planner, load_command_set, report
from agent.decide.planner import Plan
from agent.decide.templates import SpeakerContext, speaker_context
from base.errors import ConfigError


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `plan` and `calibrate`."""
    plan = commands.add_parser("plan", help="turn a command into a Home Assistant intent call (tool, arguments, confidence, route)")
    plan.add_argument("utterance", nargs="?", help="the command; omit with --jsonl to read one per line from stdin")
    plan.add_argument("--home", type=Path, default=DEFAULT_HOME, help="home file (default examples/home.yaml)")
    plan.add_argument("--mode", choices=["auto", "local", "edge", "cascade"], default="auto",
                      help="auto: cascade when edge.url and a calibration exist, else local")
    plan.add_argument("--no-fast-path", action="store_true", help="skip the deterministic matcher")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.add_argument("--jsonl", action="store_true",
                      help='read stdin, one utterance a line, as text or {"text": ..., "context": {"area": ...}}; print one JSON line each')
    plan.add_argument("--area", help="the area the command is spoken in (the speaker's context), e.g. \"Living Room\"")
    plan.set_defaults(func=cmd_plan)

    cal = commands.add_parser("calibrate", help="fit the confidence calibration on the labelled set and store the escalation threshold")
    cal.add_argument("--home", type=Path, default=DEFAULT_HOME, help="home file (default examples/home.yaml)")
    cal.add_argument("--set", dest="command_set", type=Path, default=DEFAULT_SET, help="labelled JSONL command set (its calibration split is used)")
    cal.add_argument("--templates-per-intent", type=int, default=5,
                     help="also fit on sentences expanded from Home Assistant's templates over a generated home, this many an intent (default 5; 0: none)")
    cal.add_argument("--target-rate", type=float, default=0.2, help="share of requests to escalate (default 0.2)")
    cal.add_argument("--method", choices=["isotonic", "platt"], default="isotonic")
    cal.add_argument("--json", action="store_true", help="machine-readable output")
    cal.set_defaults(func=cmd_calibrate)


def cmd_plan(args: argparse.Namespace) -> int:
    """Plan one utterance, or a stream of them with --jsonl (the model stays loaded)."""
    from agent.decide.cascade import build_cascade
    from base.settings import load_settings
    from tools.home import Home

    if not args.jsonl and not args.utterance:
        raise ConfigError("give an utterance, e.g. tessera plan \"turn off the kitchen lights\", or --jsonl to read stdin")
    settings = load_settings(args.config, profile=args.profile)
    home = Home.load(args.home)
    context = speaker_context({"area": args.area} if args.area else None, home)
    cascade = build_cascade(settings, home, fast_path=not args.no_fast_path, mode=args.mode)
    if args.jsonl:
        failed = 0
        for number, line in enumerate(sys.stdin, 1):
            if line.strip():
                # One bad line gets an error object in its place; the rest of the batch is answered.
                try:
                    text, line_context = _request(line.strip(), number, home)
                except ConfigError as err:
                    failed += 1
                    print(json.dumps({"line": number, "error": str(err)}), flush=True)
                    continue
                print(json.dumps(cascade.plan(text, line_context or context).as_json()), flush=True)
        return 1 if failed else 0
    plan = cascade.plan(args.utterance, context)
    print(json.dumps(plan.as_json(), indent=2) if args.json else describe(plan))
    return 0


def _request(line: str, number: int, home: Any) -> tuple[str, SpeakerContext | None]:
    """A --jsonl line: plain text, or {"text": ..., "context": {...}}; ConfigError names the line."""
    if not line.startswith("{"):
        return line, None
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data["text"].strip():
            raise ValueError('it needs "text", a non-empty string')
        return data["text"], speaker_context(data.get("context"), home)
    except (ValueError, ConfigError) as err:
        raise ConfigError(f'stdin line {number} is not a request ({err}); write text or {{"text": "...", "context": {{"area": "..."}}}}') from None


def reviewed_labels(data_dir: Path) -> list[Labelled]:
    """The commands operators confirmed or corrected in the review queue, as labelled utterances of this site."""
    from agent.decide.corrections import reviewed
    from agent.decide.review import ReviewQueue

    path = Path(data_dir) / "review.sqlite"
    if not path.exists():
        return []
    return [Labelled(f"review-{r.item_id}", r.text, r.tool, r.args, "calibration", ["review"])
            for r in reviewed(ReviewQueue(path), "command")]


def describe(plan: Plan) -> str:
    """One readable line for a plan."""
    line = f"{plan.tool} {json.dumps(plan.args)}  route {plan.route}  confidence {plan.raw_confidence:.2f}  {plan.latency_s * 1000:.0f} ms"
    return f"{line}\n{plan.answer}" if plan.answer else line


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Plan the set's calibration split, what operators reviewed, and template sentences locally; store P(correct) and the threshold."""
    from agent.decide.calibration import calibration_path
    from agent.decide.cascade import build_cascade
    from base.settings import load_settings
    from tools.home import Home

    settings = load_settings(args.config, profile=args.profile)
    cascade = build_cascade(settings, Home.load(args.home), mode="local")
    items = load_command_set(args.command_set, "calibration") + reviewed_labels(settings.data_dir)
    cal, outcomes = calibrate_planner(cascade.plan, cascade.setup.local, items, settings.hub.language, args.templates_per_intent,
                                      args.method, args.target_rate)
    path = cal.save(calibration_path(settings.data_dir))
    reviewed_n = sum("review" in o.item.tags for o in outcomes)
    summary = {"path": str(path), "n": cal.n, "reviewed": reviewed_n, "accuracy": round(cal.reliability.accuracy, 4), "threshold": round(cal.threshold, 4),
               "target_escalation_rate": args.target_rate, "achieved_escalation_rate": round(cal.achieved_escalation_rate, 4),
               "ece": round(cal.reliability.ece, 4), "brier": round(cal.reliability.brier, 4), "sources": sorted(cal.by_source),
               "local": report("local", outcomes).as_dict()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"calibrated on {cal.n} utterances ({reviewed_n} of them reviewed by operators; local accuracy {cal.reliability.accuracy:.1%}), "
              f"a map for each of {', '.join(sorted(cal.by_source)) or 'none (too few answers per route)'}; escalate below "
              f"P(correct) {cal.threshold:.3f}: {cal.achieved_escalation_rate:.1%} of requests (target {args.target_rate:.0%}); "
              f"ECE {cal.reliability.ece:.3f}, Brier {cal.reliability.brier:.3f}; stored in {path}")
    return 0
