"""Home commands outside Home Assistant's templates: templates alone, intent model, language model alone, local (templates,
intent model, then the language model), cascade, side by side in one run.

The set is the held-out third of examples/commands/paraphrases.jsonl: sentences written
before any tuning, phrased the way people talk rather than the way the templates do, and
kept apart from calibration. The calibration is the one `tessera calibrate` fits (a map per
route, on the command set's calibration part and on template sentences over a generated
home); the edge is bench_agent's: a real llama_cpp.server on loopback serving the same
SmolLM2-135M, with more worked examples and a vote of 3.

Reported per route: exact tool + arguments, p50/p95 latency, the share of answers wrong at
calibrated confidence >= 0.9 (the failure that matters), and the same on the sentences no
template matches (what the model path adds).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from agent.decide.cascade import CascadeSetup, CommandCascade
from agent.decide.command_eval import NAMED_SETS, Report, calibrate_planner, load_command_set, plan_all, report
from agent.decide.escalation import FixedPolicy, Route, ThresholdPolicy
from agent.decide.intent_model import intent_model_store
from agent.decide.planner import CommandPlanner
from agent.decide.templates import TemplateMatcher
from agent.llm.local import LlamaCppBackend
from base.settings import LlmSettings
from benchmarks.bench_agent import TARGET_ESCALATION, accuracy_rows, edge_server
from benchmarks.common import Measurement
from tools.home import Home

REPO = Path(__file__).resolve().parents[1]


def run(quick: bool) -> list[Measurement]:
    """Plan the paraphrases' held-out third four ways and report each."""
    from agent.llm.edge import EdgeBackend

    home = Home.load(REPO / "examples" / "home.yaml")
    paraphrases = load_command_set(NAMED_SETS["paraphrases"], "heldout")
    calibration_items = load_command_set(NAMED_SETS["home"], "calibration")
    if quick:
        paraphrases, calibration_items = paraphrases[:30], calibration_items[:60]
    backend = LlamaCppBackend(LlmSettings())
    models = intent_model_store(Path(tempfile.mkdtemp(prefix="tessera-bench-commands-")))
    local = CommandPlanner(home, backend, intent_models=models)
    cal, _ = calibrate_planner(local.plan, local, calibration_items, "en", 2 if quick else 5, "isotonic", TARGET_ESCALATION)
    templates = TemplateMatcher(home)

    def scored(name: str, planner: CommandPlanner, edge: CommandPlanner | None = None) -> Report:
        policy = ThresholdPolicy.from_calibration(cal) if edge else FixedPolicy(Route.LOCAL)
        return report(name, plan_all(paraphrases, CommandCascade(CascadeSetup(planner, edge, policy, None, cal)).plan, templates=templates))

    reports = [scored("fast", CommandPlanner(home, None)), scored("intent", CommandPlanner(home, None, intent_models=models)),
               scored("model", CommandPlanner(home, backend, fast_path=False)), scored("local", local)]
    with edge_server() as edge_settings, EdgeBackend(edge_settings) as edge_backend:
        reports.append(scored("cascade", local, CommandPlanner(home, edge_backend, fast_path=False, n_examples=edge_settings.max_examples)))
    return [row for r in reports for row in _rows(r)]


def _rows(r: Report) -> list[Measurement]:
    outside_exact, outside_n = r.outside
    return [
        *accuracy_rows(f"commands.paraphrases.{r.mode}", r),
        Measurement(f"commands.paraphrases.{r.mode}.outside_templates", outside_exact / max(outside_n, 1), "ratio",
                    f"{outside_exact} of {outside_n} sentences no template matches, exact; escalated {r.escalation_rate:.1%}"),
    ]
