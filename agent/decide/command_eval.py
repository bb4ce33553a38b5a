"""Score the command planner on a labelled command set: exact match, routes, latency.

Exact match means the same tool and the same arguments, as docs/home.md defines them.
`--set templates` scores sentences expanded from Home Assistant's own templates over a
generated home, spoken in one of its areas (agent/decide/conformance.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from base.errors import ConfigError
from agent.decide.planner import Plan
from agent.decide.templates import SpeakerContext

DEFAULT_SET = Path("examples/commands/home_commands.jsonl")
DEFAULT_HOME = Path(__file__).resolve().parents[2] / "examples" / "home.yaml"  # beside the source checkout that ./run installs


@dataclass(slots=True)
class Labelled:
    """One labelled utterance."""

    id: str
    utterance: str
    tool: str
    args: dict[str, Any]
    split: str
    tags: list[str] = field(default_factory=list)
    context: dict[str, Any] | None = None  # where it was spoken: {"area": ...}


@dataclass(slots=True)
class Outcome:
    """One utterance planned and scored."""

    item: Labelled
    plan: Plan

    @property
    def correct(self) -> bool:
        """Same tool and same arguments."""
        return self.plan.tool == self.item.tool and self.plan.args == self.item.args


@dataclass(slots=True)
class Report:
    """Accuracy, routes and latency of one run."""

    mode: str
    n: int
    exact: int
    routes: dict[str, int]
    p50_s: float
    p95_s: float
    by_tool: dict[str, tuple[int, int]]
    failures: list[dict[str, Any]]

    @property
    def accuracy(self) -> float:
        """Share of exact matches."""
        return self.exact / self.n if self.n else 0.0

    @property
    def escalation_rate(self) -> float:
        """Share of utterances sent to the edge (answered there or fallen back)."""
        return (self.routes.get("edge", 0) + self.routes.get("fallback", 0)) / self.n if self.n else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"mode": self.mode, "n": self.n, "exact": self.exact, "accuracy": round(self.accuracy, 4),
                "escalation_rate": round(self.escalation_rate, 4), "routes": self.routes, "p50_s": round(self.p50_s, 4),
                "p95_s": round(self.p95_s, 4), "by_tool": {k: {"correct": c, "n": n} for k, (c, n) in self.by_tool.items()}}


def load_command_set(path: Path, split: str = "all") -> list[Labelled]:
    """Read a JSONL command set; ConfigError names the line that is malformed."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"command set {path} is not readable: {err}") from err
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = Labelled(row["id"], row["utterance"], row["tool"], row.get("args", {}), row.get("split", "calibration"), row.get("tags", []))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ConfigError(f"command set {path} line {number} is not a labelled command ({err}); see examples/commands/README.md") from err
        if split in ("all", item.split):
            items.append(item)
    return items


def plan_all(items: list[Labelled], plan: Callable[..., Plan], progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Plan every utterance, in order, in its speaker's context when it has one."""
    outcomes = []
    for i, item in enumerate(items, 1):
        context = SpeakerContext(**item.context) if item.context else None
        outcomes.append(Outcome(item, plan(item.utterance, context) if context else plan(item.utterance)))
        if progress:
            progress(i, len(items))
    return outcomes


def report(mode: str, outcomes: list[Outcome]) -> Report:
    """Summarise scored outcomes."""
    latencies = sorted(o.plan.latency_s for o in outcomes) or [0.0]
    by_tool: dict[str, list[int]] = {}
    for o in outcomes:
        entry = by_tool.setdefault(o.item.tool, [0, 0])
        entry[0] += o.correct
        entry[1] += 1
    failures = [{"utterance": o.item.utterance, "expected": {"tool": o.item.tool, "args": o.item.args},
                 "got": {"tool": o.plan.tool, "args": o.plan.args}, "route": o.plan.route} for o in outcomes if not o.correct]
    return Report(mode, len(outcomes), sum(o.correct for o in outcomes), dict(Counter(o.plan.route for o in outcomes)),
                  statistics.median(latencies), latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
                  {k: (v[0], v[1]) for k, v in sorted(by_tool.items())}, failures)


def templates_as_labelled(language: str, seed: int, per_intent: int) -> tuple[Any, list[Labelled]]:
    """The template conformance set (agent/decide/conformance.py) as labelled commands, all held out."""
    from agent.decide.conformance import template_set

    home, samples = template_set(language, seed, per_intent)
    return home, [Labelled(f"t{i:04d}", s.text, s.tool, s.args, "heldout", ["template"], s.context) for i, s in enumerate(samples, 1)]


def stderr_progress(label: str) -> Callable[[int, int], None]:
    """A progress line on stderr, rewritten in place."""
    def show(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"\r{label}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
    return show


# --- `tessera eval commands` ----------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tessera eval commands`."""
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="home file (default examples/home.yaml)")
    parser.add_argument("--set", dest="command_set", type=Path, default=DEFAULT_SET,
                        help="labelled JSONL command set, or `templates`: sentences expanded from Home Assistant's templates over a generated home")
    parser.add_argument("--per-intent", type=int, default=10, help="--set templates: sentences per intent (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="--set templates: seed of the generated home and the sample (default 0)")
    parser.add_argument("--split", choices=["heldout", "calibration", "all"], default="heldout", help="which part to score (default heldout)")
    parser.add_argument("--mode", choices=["local", "edge", "cascade", "all"], default="local", help="route(s) to score (default local)")
    parser.add_argument("--no-fast-path", action="store_true", help="send every utterance to the model (to measure what the fast path pays)")
    parser.add_argument("--failures", type=int, default=10, help="how many failures to list (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Score the planner in each requested mode and print the reports."""
    from agent.decide.cascade import build_cascade
    from base.settings import load_settings
    from tools.home import Home

    settings = load_settings(args.config, profile=args.profile)
    if str(args.command_set) == "templates":
        home, items = templates_as_labelled(settings.hub.language, args.seed, args.per_intent)
    else:
        home, items = Home.load(args.home), load_command_set(args.command_set, args.split)
    modes = ["local", "edge", "cascade"] if args.mode == "all" else [args.mode]
    reports = []
    for mode in modes:
        cascade = build_cascade(settings, home, fast_path=not args.no_fast_path, mode=mode)
        reports.append(report(mode, plan_all(items, cascade.plan, stderr_progress(f"eval {mode}"))))
    if args.json:
        print(json.dumps([r.as_dict() | {"failures": r.failures[: args.failures]} for r in reports], indent=2))
        return 0
    for r in reports:
        print(f"{r.mode:8s} exact {r.exact}/{r.n} = {r.accuracy:.1%}  escalated {r.escalation_rate:.1%}  "
              f"p50 {r.p50_s * 1000:.0f} ms  p95 {r.p95_s * 1000:.0f} ms  routes {r.routes}")
        for f in r.failures[: args.failures]:
            print(f"   ✗ {f['utterance']!r}: expected {json.dumps(f['expected'])}, got {json.dumps(f['got'])} [{f['route']}]")
    return 0

