"""Score the command planner on a labelled command set: exact match, routes, latency.

Exact match means the same tool and the same arguments, as docs/home.md defines them: Home
Assistant's slot values for the template set, Tessera's shorter form for the labelled sets.
Sets: `home` (the default, examples/commands/home_commands.jsonl), `paraphrases`
(examples/commands/paraphrases.jsonl: sentences written outside Home Assistant's templates,
kept apart from calibration), `templates` (sentences expanded from Home Assistant's own
templates over a generated home, spoken in one of its areas: agent/decide/conformance.py),
or any JSONL file in that format.

Confidence is the calibrated P(correct) when a calibration is stored, else the raw score;
the failure that matters is a wrong answer given with confidence >= 0.9.
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
from agent.decide.planner import CLARIFY, Plan
from agent.decide.templates import IMPLIED_DOMAIN, TARGET_KEYS, SpeakerContext, TemplateMatcher

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # beside the source checkout that ./run installs
DEFAULT_HOME = EXAMPLES / "home.yaml"
NAMED_SETS = {"home": EXAMPLES / "commands" / "home_commands.jsonl", "paraphrases": EXAMPLES / "commands" / "paraphrases.jsonl",
              "paraphrases_de": EXAMPLES / "commands" / "paraphrases_de.jsonl", "paraphrases_fr": EXAMPLES / "commands" / "paraphrases_fr.jsonl"}
DEFAULT_SET = NAMED_SETS["home"]
SURE = 0.9  # an answer at or above this confidence is acted on as certain
CALIBRATION_TEMPLATE_SEED = 1  # `--set templates` scores seed 0's sample and home; calibration fits on another


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
    home_assistant: bool = False  # labelled in Home Assistant's slot values (the template set), not in Tessera's shorter form


@dataclass(slots=True)
class Outcome:
    """One utterance planned and scored."""

    item: Labelled
    plan: Plan
    template_match: bool = False  # a Home Assistant template matches the sentence as said

    @property
    def correct(self) -> bool:
        """Same tool and same arguments: exactly Home Assistant's slot values for a set labelled in them, else in Tessera's shorter form."""
        if self.item.home_assistant:
            return not self.plan.failure and (self.plan.tool, self.plan.args) == (self.item.tool, self.item.args)
        return shorter_form(self.plan, self.item.args) == (self.item.tool, self.item.args)

    @property
    def confidence(self) -> float:
        """Calibrated P(correct) when the plan carries one, else its raw score."""
        return self.plan.confidence if self.plan.confidence is not None else self.plan.raw_confidence


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
    wrong_sure: int = 0  # wrong answers with confidence >= SURE
    calibrated: bool = False  # confidences are calibrated P(correct), not raw scores
    outside: tuple[int, int] = (0, 0)  # (exact, n) on sentences no template matches
    reliability: list[dict[str, float]] = field(default_factory=list)  # per confidence bin: n, mean confidence, accuracy

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
                "p95_s": round(self.p95_s, 4), "wrong_at_0.9": self.wrong_sure, "calibrated": self.calibrated,
                "outside_templates": {"exact": self.outside[0], "n": self.outside[1]}, "reliability": self.reliability,
                "by_tool": {k: {"correct": c, "n": n} for k, (c, n) in self.by_tool.items()}}


def shorter_form(plan: Plan, label: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A plan as a set labelled in Tessera's shorter form (docs/home.md rules 2 and 6) states it.

    Such a label leaves out what a name already says (its area, domain and device class) and a
    domain the intent names; Home Assistant's slot values keep them. A plan's name has resolved
    to an entity with every slot beside it (a call that does not resolve is no call), so leaving
    out the slots the label does not give names the same entities. A call understood but not
    possible ("close the kitchen windows" in a kitchen without window covers) is what those sets
    label Clarify: nothing the home has.
    """
    if plan.failure:
        return CLARIFY, {}
    args = dict(plan.args)
    implied = [k for k in TARGET_KEYS if "name" in args] + (["domain"] if plan.tool in IMPLIED_DOMAIN else [])
    for key in implied:
        if key not in label:
            args.pop(key, None)
    return plan.tool, args


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
            item = Labelled(row["id"], row["utterance"], row["tool"], row.get("args", {}), row.get("split", "calibration"), row.get("tags", []),
                            row.get("context"))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ConfigError(f"command set {path} line {number} is not a labelled command ({err}); see examples/commands/README.md") from err
        if split in ("all", item.split):
            items.append(item)
    return items


def plan_all(items: list[Labelled], plan: Callable[..., Plan], progress: Callable[[int, int], None] | None = None,
             templates: TemplateMatcher | None = None) -> list[Outcome]:
    """Plan every utterance, in order, in its speaker's context when it has one; `templates` marks template matches."""
    outcomes = []
    for i, item in enumerate(items, 1):
        context = SpeakerContext(**item.context) if item.context else None
        matched = templates is not None and templates.match(item.utterance, context) is not None
        outcomes.append(Outcome(item, plan(item.utterance, context) if context else plan(item.utterance), matched))
        if progress:
            progress(i, len(items))
    return outcomes


def reliability_bins(outcomes: list[Outcome], bins: int = 10) -> list[dict[str, float]]:
    """The reliability diagram's points: per equal-width confidence bin, its answers, mean confidence and accuracy."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [o for o in outcomes if lo <= o.confidence < hi or (b == bins - 1 and o.confidence == 1.0)]
        if inside:
            rows.append({"lo": lo, "hi": hi, "n": len(inside), "confidence": round(statistics.fmean(o.confidence for o in inside), 4),
                         "accuracy": round(sum(o.correct for o in inside) / len(inside), 4)})
    return rows


def reliability_diagram(rows: list[dict[str, float]], width: int = 40) -> list[str]:
    """The reliability diagram as text: per bin, accuracy as a bar, '|' where a calibrated bin would end (its mean confidence)."""
    lines = ["confidence    n  accuracy"]
    for r in rows:
        bar = ["#" if i < round(r["accuracy"] * width) else " " for i in range(width)]
        mark = min(width - 1, round(r["confidence"] * width))
        bar[mark] = "|"
        lines.append(f"{r['lo']:.1f}-{r['hi']:.1f} {int(r['n']):5d}  {r['accuracy']:6.1%}  {''.join(bar)}")
    return lines


def report(mode: str, outcomes: list[Outcome]) -> Report:
    """Summarise scored outcomes."""
    latencies = sorted(o.plan.latency_s for o in outcomes) or [0.0]
    by_tool: dict[str, list[int]] = {}
    for o in outcomes:
        entry = by_tool.setdefault(o.item.tool, [0, 0])
        entry[0] += o.correct
        entry[1] += 1
    failures = [{"utterance": o.item.utterance, "expected": {"tool": o.item.tool, "args": o.item.args},
                 "got": {"tool": o.plan.tool, "args": o.plan.args, **({"failure": o.plan.failure} if o.plan.failure else {})},
                 "route": o.plan.route, "confidence": round(o.confidence, 3)} for o in outcomes if not o.correct]
    outside = [o for o in outcomes if not o.template_match]
    return Report(mode, len(outcomes), sum(o.correct for o in outcomes), dict(Counter(o.plan.route for o in outcomes)),
                  statistics.median(latencies), latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
                  {k: (v[0], v[1]) for k, v in sorted(by_tool.items())}, failures,
                  wrong_sure=sum(1 for o in outcomes if not o.correct and o.confidence >= SURE),
                  calibrated=bool(outcomes) and all(o.plan.confidence is not None for o in outcomes),
                  outside=(sum(o.correct for o in outside), len(outside)), reliability=reliability_bins(outcomes))


def templates_as_labelled(language: str, seed: int, per_intent: int) -> tuple[Any, list[Labelled]]:
    """The template conformance set (agent/decide/conformance.py) as labelled commands in Home Assistant's slot values, all held out."""
    from agent.decide.conformance import template_set

    home, samples = template_set(language, seed, per_intent)
    return home, [Labelled(f"t{i:04d}", s.text, s.tool, s.slots, "heldout", ["template"], s.context, home_assistant=True)
                  for i, s in enumerate(samples, 1)]


def calibrate_planner(plan: Callable[..., Plan], local: Any, items: list[Labelled], language: str, templates_per_intent: int,
                      method: str = "isotonic", target_rate: float = 0.2) -> tuple[Any, list[Outcome]]:
    """Fit the planner's calibration, a map per route, on `items` planned by `plan` and on template sentences.

    The declines of the templates alone (no model) are fitted too, so `--mode fast` has a
    calibrated confidence. The template sentences are expanded from Home Assistant's templates over a generated home,
    another sample than `--set templates` scores (CALIBRATION_TEMPLATE_SEED), and planned by
    `local`'s backend on that home: the fast path's scores are fitted on the templates' own
    phrasing, the model's mostly on the labelled set's.
    """
    from agent.decide.calibration import fit_calibration
    from agent.decide.planner import DECLINED_SCORE, CommandPlanner

    outcomes = plan_all(items, plan, stderr_progress("calibrate"))
    # What the templates alone decline (the fast path without a model) is fitted too, at its own score.
    fast_alone = CommandPlanner(local.home, None, language=language)
    outcomes += [o for o in plan_all(items, fast_alone.plan) if o.plan.raw_confidence == DECLINED_SCORE]
    if templates_per_intent > 0:
        home, expanded = templates_as_labelled(language, CALIBRATION_TEMPLATE_SEED, templates_per_intent)
        on_generated = CommandPlanner(home, local.backend, language=language)
        outcomes += plan_all(expanded, on_generated.plan, stderr_progress("calibrate templates"))
    cal = fit_calibration([o.plan.raw_confidence for o in outcomes], [o.correct for o in outcomes], method, target_rate,  # type: ignore[arg-type]
                          model_sha256=local.backend.model.sha256, score_kind="planner_raw_confidence",
                          sources=[o.plan.route for o in outcomes])
    return cal, outcomes


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
    parser.add_argument("--set", dest="command_set", default="home",
                        help="home (default), paraphrases, paraphrases_de, paraphrases_fr, templates (expanded from Home Assistant's templates over a generated home), or a labelled JSONL file")
    parser.add_argument("--per-intent", type=int, default=10, help="--set templates: sentences per intent (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="--set templates: seed of the generated home and the sample (default 0)")
    parser.add_argument("--split", choices=["heldout", "calibration", "dev", "all"], default="heldout", help="which part to score (default heldout)")
    parser.add_argument("--mode", choices=["fast", "intent", "local", "edge", "cascade", "all"], default="local",
                        help="fast: the template fast path alone; intent: templates, then the trained intent model, no language model; "
                             "local: templates, intent model, then the language model; all: fast, intent and local, and edge and cascade when edge.url is set")
    parser.add_argument("--no-fast-path", action="store_true", help="send every utterance to the model (to measure what the fast path pays)")
    parser.add_argument("--plot", action="store_true", help="print the reliability diagram (confidence against accuracy) of each mode")
    parser.add_argument("--failures", type=int, default=10, help="how many failures to list (default 10)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def load_set(name: str, home_path: Path, split: str, language: str, seed: int, per_intent: int) -> tuple[Any, list[Labelled]]:
    """The home and the labelled items of a named set or a JSONL file."""
    from tools.home import Home

    if name == "templates":
        return templates_as_labelled(language, seed, per_intent)
    path = NAMED_SETS.get(name, Path(name))
    return Home.load(home_path), load_command_set(path, split)


def run(args: argparse.Namespace) -> int:
    """Score the planner in each requested mode and print the reports."""
    from base.settings import load_settings

    settings = load_settings(args.config, profile=args.profile)
    home, items = load_set(str(args.command_set), args.home, args.split, settings.hub.language, args.seed, args.per_intent)
    if not items:
        raise ConfigError(f"set {args.command_set} has no {args.split!r} lines; choose another --split")
    # Without an edge a cascade is the local answer, flagged below the threshold: `all` leaves it out.
    modes = [args.mode] if args.mode != "all" else ["fast", "intent", "local", *(["edge", "cascade"] if settings.edge.url else [])]
    templates = TemplateMatcher(home, settings.hub.language)
    reports = [report(mode, plan_all(items, _planner(settings, home, mode, args.no_fast_path).plan, stderr_progress(f"eval {mode}"), templates))
               for mode in modes]
    if args.json:
        print(json.dumps([r.as_dict() | {"failures": r.failures[: args.failures]} for r in reports], indent=2))
        return 0
    for r in reports:
        kind = "calibrated" if r.calibrated else "raw"
        print(f"{r.mode:8s} exact {r.exact}/{r.n} = {r.accuracy:.1%}  outside templates {r.outside[0]}/{r.outside[1]}  "
              f"wrong at {kind} confidence >= {SURE}: {r.wrong_sure}  escalated {r.escalation_rate:.1%}  "
              f"p50 {r.p50_s * 1000:.0f} ms  p95 {r.p95_s * 1000:.0f} ms  routes {r.routes}")
        if args.plot:
            print("\n".join("   " + line for line in reliability_diagram(r.reliability)))
        for f in r.failures[: args.failures]:
            print(f"   ✗ {f['utterance']!r}: expected {json.dumps(f['expected'])}, got {json.dumps(f['got'])} [{f['route']}]")
    return 0


def _planner(settings: Any, home: Any, mode: str, no_fast_path: bool) -> Any:
    """What plans in `mode`: the fast path alone needs no model; the others are the configured cascade, never queueing for review."""
    from agent.decide.cascade import build_cascade, fast_only

    if mode in ("fast", "intent"):
        return fast_only(settings, home, intent_model=mode == "intent")
    return build_cascade(settings, home, fast_path=not no_fast_path, mode=mode, review=False)
