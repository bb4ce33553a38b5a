"""The command agent: accuracy fast path / local / edge / cascade, latency, prefix-cache speed-up, overhead over bare llama.cpp.

Everything is measured side by side in one run on the held-out fifth of the labelled
command set; the edge is a real llama_cpp.server on loopback serving the same SmolLM2-135M
(the only instruction-tuned GGUF installable offline here), given what an edge box has more
of: more worked examples and self-consistency over 3 samples. The calibration is the one
`tessera calibrate` fits: a map per route, on the command set's calibration part and on
template sentences over a generated home. bench_commands measures the paraphrase set.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.decide.cascade import CascadeSetup, CommandCascade
from agent.decide.command_eval import NAMED_SETS, SURE, calibrate_planner, load_command_set, plan_all, report
from base.settings import EdgeSettings, LlmSettings
from agent.decide.escalation import FixedPolicy, Route, ThresholdPolicy
from agent.llm.local import LlamaCppBackend
from agent.decide.planner import TOOL_TOKENS, CommandPlanner
from benchmarks.common import Measurement
from tools.home import Home

REPO = Path(__file__).resolve().parents[1]
TARGET_ESCALATION = 0.2


def run(quick: bool) -> list[Measurement]:
    """Run every agent measurement."""
    home = Home.load(REPO / "examples" / "home.yaml")
    heldout = load_command_set(NAMED_SETS["home"], "heldout")
    calibration_items = load_command_set(NAMED_SETS["home"], "calibration")
    if quick:
        heldout, calibration_items = heldout[:30], calibration_items[:60]
    backend = LlamaCppBackend(LlmSettings())
    local = CommandPlanner(home, backend)
    rows: list[Measurement] = []
    local_report = report("local", plan_all(heldout, local.plan))
    model_only = CommandPlanner(home, backend, fast_path=False)
    model_report = report("model-only", plan_all(heldout, model_only.plan))
    rows += accuracy_rows("local", local_report) + accuracy_rows("local_model_only", model_report)
    rows += _cache_rows(model_only, backend)
    rows += _edge_rows(home, local, calibration_items, heldout, quick)
    return rows


def accuracy_rows(name: str, r) -> list[Measurement]:
    """Exact match, p50/p95 latency and the share wrong at confidence >= SURE of one report (`name` under agent. unless dotted)."""
    prefix = name if "." in name else f"agent.{name}"
    return [
        Measurement(f"{prefix}.exact_match", r.accuracy, "ratio", f"held-out {r.n} utterances, tool + arguments exact; routes {r.routes}"),
        Measurement(f"{prefix}.p50_s", r.p50_s, "s", "planner latency per utterance, median"),
        Measurement(f"{prefix}.p95_s", r.p95_s, "s", "planner latency per utterance, 95th percentile"),
        Measurement(f"{prefix}.wrong_at_0.9", r.wrong_sure / max(r.n, 1), "ratio",
                    f"{r.wrong_sure} of {r.n} answers wrong at {'calibrated' if r.calibrated else 'raw'} confidence >= {SURE}"),
    ]


def _cache_rows(planner: CommandPlanner, backend: LlamaCppBackend) -> list[Measurement]:
    utterances = ["power the bedroom fan", "lights in the lounge at forty", "open the office shade", "pause the kitchen speaker",
                  "set the bedroom to 19", "is the garage door open", "turn off the porch light", "kindly bring the office shade down",
                  "kitchen speaker louder", "bedroom lamp warm", "the hall please", "shed light", "tv off now"]
    cold, warm, bare, full = [], [], [], []
    for u in utterances:
        messages = planner.messages(u)
        backend._llm.reset()
        cold.append(backend.warm(messages))  # prompt evaluation + 1 token: time to first token
        warm.append(backend.warm(planner.messages(u + " please")))
        schema = planner.tool_schema(planner.extractor.extract(u))
        grammar = backend.grammar_for(schema)
        backend.warm(planner.messages(u + " now"))  # both timed calls below start from the same cache state
        start = time.perf_counter()
        backend._llm.create_chat_completion(messages=[{"role": m.role, "content": m.content} for m in messages], grammar=grammar,
                                            max_tokens=TOOL_TOKENS, temperature=0.0)
        bare.append(time.perf_counter() - start)
        backend.warm(planner.messages(u + " now"))
        start = time.perf_counter()  # the agent's way to the same model call: extraction, prompt, schema, logprobs
        slots = planner.extractor.extract(u)
        backend.complete(planner.messages(u), planner.tool_schema(slots), max_tokens=TOOL_TOKENS)
        full.append(time.perf_counter() - start)
    ratio = statistics.median(cold) / statistics.median(warm)
    overhead = statistics.median(full) / statistics.median(bare) - 1
    return [
        Measurement("agent.ttft_cold_s", statistics.median(cold), "s", f"time to first token, empty KV cache, median of {len(cold)}"),
        Measurement("agent.ttft_warm_s", statistics.median(warm), "s", "same static prefix cached, only the tail differs"),
        Measurement("agent.ttft_speedup", ratio, "x", "cold / warm time to first token, side by side"),
        Measurement("agent.overhead_vs_bare", overhead, "ratio", f"extraction, prompt and schema building, grammar cache, log-probabilities, over a bare create_chat_completion with the same prompt and grammar (median of {len(bare)})"),
    ]


def _edge_rows(home: Home, local: CommandPlanner, calibration_items, heldout, quick: bool) -> list[Measurement]:
    from agent.llm.edge import EdgeBackend

    cal, _ = calibrate_planner(local.plan, local, calibration_items, "en", 2 if quick else 5, "isotonic", TARGET_ESCALATION)
    with edge_server() as edge_settings, EdgeBackend(edge_settings) as edge_backend:
        edge = CommandPlanner(home, edge_backend, fast_path=False, n_examples=edge_settings.max_examples)
        edge_only = CommandCascade(CascadeSetup(local, edge, FixedPolicy(Route.EDGE), None, None))
        edge_report = report("edge", plan_all(heldout, edge_only.plan))
        cascade = CommandCascade(CascadeSetup(local, edge, ThresholdPolicy.from_calibration(cal), None, cal))
        cascade_report = report("cascade", plan_all(heldout, cascade.plan))
    return [
        *accuracy_rows("edge", edge_report),
        *accuracy_rows("cascade", cascade_report),
        Measurement("agent.decide.cascade.escalation_rate", cascade_report.escalation_rate, "ratio", f"threshold {cal.threshold:.3f} fitted for {TARGET_ESCALATION:.0%} on the calibration sentences"),
        Measurement("agent.cascade_vs_edge", cascade_report.accuracy / max(edge_report.accuracy, 1e-9), "ratio", "cascade accuracy / edge-only accuracy, same held-out set"),
        Measurement("agent.decide.calibration.ece", cal.reliability.ece, "ratio",
                    f"isotonic per route ({', '.join(sorted(cal.by_source))}) on {cal.n} calibration sentences; Brier {cal.reliability.brier:.3f}"),
    ]


@contextmanager
def edge_server() -> Iterator[EdgeSettings]:
    """A real llama_cpp.server on loopback serving the local model, as the edge: 8 worked examples, a vote of 3."""
    from tests.edge_server import EdgeServer

    with tempfile.TemporaryDirectory() as tmp:
        server = EdgeServer(Path(tmp))
        try:
            yield EdgeSettings(url=server.url, api_key=server.api_key, timeout_s=60, samples=3, max_examples=8)
        finally:
            server.stop()
