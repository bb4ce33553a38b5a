"""Real people's requests (the held-aside fifth of HWU64 and Snips): templates alone, intent model, local, side by side.

Every sentence of the seeded held-aside fifth (agent/decide/corpora.py; never trained on) is planned
on the example home plus a robot vacuum, a weather entity and two to-do lists, spoken in the living
room (as a satellite there would send it). Scored on the tool alone, as the corpora give no slot
values for this home:
- hub requests (every corpus intent mapped to a hub intent): the planned tool is the mapped one (strict), or one
  Home Assistant itself gives for such a sentence (`corpora.ALSO_RIGHT`: "add eggs to my shopping list" is
  HassShoppingListAddItem);
- requests not for the hub: the share that would actuate anything (a tool that changes the home, a
  target that resolves, at calibrated P(correct) >= hub.act_threshold), and the share that picked such
  a tool at all;
- answers wrong at calibrated confidence >= 0.9, the share that needed the language model, p50/p95.
Every route plans every sentence (`--quick`: a seeded 8 of each request group); the language model is asked only
where the intent model is unsure or cannot fill an argument (about one sentence in twenty), so the local route
takes minutes, not hours.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import defaultdict
import tempfile
from pathlib import Path

import yaml

from agent.decide.calibration import Calibration, load_calibration
from agent.decide.cascade import SHIPPED_CALIBRATION
from agent.decide.corpora import OUT_OF_SCOPE, SHARED_NLU, Request, read_corpora
from agent.decide.intent_model import intent_model_store
from agent.decide.planner import CommandPlanner, Plan
from agent.decide.templates import SpeakerContext
from base.settings import HubSettings
from benchmarks.common import Measurement
from tools import TOOLS
from tools.base import Permission
from tools.home import Home

REPO = Path(__file__).resolve().parents[1]
SPEAKER = SpeakerContext(area="Living Room")
QUICK_PER_GROUP = 8  # sentences a request group with --quick
EXTRA_ENTITIES = [
    {"entity_id": "vacuum.robot", "name": "Robot Vacuum", "aliases": ["roomba", "hoover"], "area": "living_room", "state": "docked"},
    {"entity_id": "weather.home", "name": "Home Forecast", "state": "cloudy", "attributes": {"temperature": 9.5}},
    {"entity_id": "todo.chores", "name": "Chores", "state": "0"},
    {"entity_id": "todo.groceries", "name": "Groceries", "state": "0"},
]


def benchmark_home() -> Home:
    """examples/home.yaml plus a robot vacuum, a weather entity and two to-do lists."""
    data = yaml.safe_load((REPO / "examples" / "home.yaml").read_text(encoding="utf-8"))
    data["entities"] += EXTRA_ENTITIES
    return Home.model_validate(data)


def run(quick: bool) -> list[Measurement]:
    """Plan the held-aside fifth three ways and report each route."""
    from agent.llm.local import LlamaCppBackend
    from base.settings import LlmSettings

    if not SHARED_NLU.is_dir():
        return [Measurement("nlu.skipped", 0, "", f"corpora not found at {SHARED_NLU}")]
    home = benchmark_home()
    requests = [r for r in read_corpora() if r.split == "held_aside"]
    rng = random.Random(0)
    rng.shuffle(requests)
    if quick:
        requests = _per_group(requests, QUICK_PER_GROUP)
    store = intent_model_store(Path(tempfile.mkdtemp(prefix="tessera-bench-nlu-")))
    calibration = load_calibration(SHIPPED_CALIBRATION) if SHIPPED_CALIBRATION.exists() else None
    routes = [("templates", CommandPlanner(home, None), requests),
              ("intent", CommandPlanner(home, None, intent_models=store), requests),
              ("local", CommandPlanner(home, LlamaCppBackend(LlmSettings()), intent_models=store), requests)]
    rows = []
    for name, planner, items in routes:
        outcomes = [(r, *_timed(planner, r.text)) for r in items]
        rows += _rows(name, outcomes, calibration)
    return rows


def _per_group(requests: list[Request], n: int) -> list[Request]:
    kept: dict[str, list[Request]] = defaultdict(list)
    for r in requests:
        if len(kept[r.corpus_intent]) < n:
            kept[r.corpus_intent].append(r)
    return [r for group in kept.values() for r in group]


def _timed(planner: CommandPlanner, text: str) -> tuple[Plan, float]:
    start = time.perf_counter()
    plan = planner.plan(text, SPEAKER)
    return plan, time.perf_counter() - start


def _confidence(plan: Plan, calibration: Calibration | None) -> float:
    if calibration is None:
        return plan.raw_confidence
    source = plan.route if plan.route in calibration.by_source else "local"
    return float(calibration.predict(plan.raw_confidence, source))


def _changes_home(plan: Plan) -> bool:
    return plan.tool in TOOLS and TOOLS.get(plan.tool).permission is not Permission.READ


def _rows(route: str, outcomes: list[tuple[Request, Plan, float]], calibration: Calibration | None) -> list[Measurement]:
    act_at = HubSettings().act_threshold
    hub = [(r, p) for r, p, _ in outcomes if r.intent != OUT_OF_SCOPE]
    other = [(r, p) for r, p, _ in outcomes if r.intent == OUT_OF_SCOPE]
    strict = sum(p.tool == r.intent for r, p in hub)
    right = sum(r.right(p.tool) for r, p in hub)
    picked = sum(_changes_home(p) for _, p in other)
    acts = sum(_changes_home(p) and _confidence(p, calibration) >= act_at for _, p in other)
    wrong_sure = sum(not r.right(p.tool) and _confidence(p, calibration) >= 0.9 for r, p, _ in outcomes)
    with_model = [s for _, p, s in outcomes if p.completion is not None]
    without = sorted(s for _, p, s in outcomes if p.completion is None) or [0.0]
    latencies = sorted(s for *_, s in outcomes)
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, p in hub:
        groups[r.corpus_intent][0] += r.right(p.tool)
        groups[r.corpus_intent][1] += 1
    name = f"nlu.held_aside.{route}"
    kind = "calibrated" if calibration is not None else "raw"
    return [
        Measurement(f"{name}.hub_tool_right", right / max(len(hub), 1), "ratio",
                    f"{right} of {len(hub)} hub requests get a right tool; {strict} ({strict / max(len(hub), 1):.1%}) the mapped one",
                    extra={k: f"{v[0]}/{v[1]}" for k, v in sorted(groups.items())}),
        Measurement(f"{name}.not_for_hub_actuates", acts / max(len(other), 1), "ratio",
                    f"{acts} of {len(other)} requests not for the hub would actuate (tool changes the home, {kind} P >= {act_at}); "
                    f"{picked} picked such a tool at all"),
        Measurement(f"{name}.wrong_sure", wrong_sure / max(len(outcomes), 1), "ratio", f"{wrong_sure} of {len(outcomes)} wrong at {kind} confidence >= 0.9"),
        Measurement(f"{name}.needs_language_model", len(with_model) / max(len(outcomes), 1), "ratio", f"{len(with_model)} of {len(outcomes)}"),
        Measurement(f"{name}.p50_without_model", statistics.median(without), "s", f"{len(without)} answers that did not need the language model"),
        Measurement(f"{name}.p50", statistics.median(latencies), "s", f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.3f} s"),
    ]

