"""The edge path: latency through a loopback llama_cpp.server, the cost of self-consistency, fallback times,
and whether escalating (more examples, a vote) pays on the home-command examples with the same small model."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pydantic import SecretStr

from base.settings import EdgeSettings, LlmSettings
from agent.decide.escalation import EscalationRequest
from agent.llm.base import Message
from agent.llm.edge import EdgeBackend, EdgeUnavailable
from agent.llm.local import LlamaCppBackend
from benchmarks.common import Measurement
from tests.edge_server import EdgeServer, SilentServer, free_port

EXAMPLES = Path(__file__).resolve().parents[1] / "rag" / "seed" / "examples.jsonl"
SYSTEM = "You map a home command or a sensor event to the one tool that answers it. Answer with JSON only."
LOCAL_EXAMPLES = 2  # what fits a hub's prompt next to tools and readings
EDGE_EXAMPLES = 12


def run(quick: bool) -> list[Measurement]:
    """Start a loopback edge server with the default model and measure the edge path against in-process llama.cpp."""
    # Home commands (utterance) and sensor events (event), each with the tool that answers it.
    items = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    for item in items:
        item["text"] = item.get("utterance") or item["event"]
    tools = sorted({item["tool"] for item in items})
    schema = {"type": "object", "properties": {"tool": {"type": "string", "enum": tools}}, "required": ["tool"]}
    cases = items[:: 3] if quick else items
    with tempfile.TemporaryDirectory() as tmp:
        server = EdgeServer(Path(tmp))
        try:
            return _measure(server, items, cases, schema, quick)
        finally:
            server.stop()


def _measure(server: EdgeServer, items: list[dict], cases: list[dict], schema: dict, quick: bool) -> list[Measurement]:
    base = dict(url=server.url, api_key=SecretStr(server.api_key), timeout_s=120.0, max_tokens=24)
    single = EdgeBackend(EdgeSettings(**base))
    vote = EdgeBackend(EdgeSettings(**base, samples=3, temperature=0.7))
    local = LlamaCppBackend(LlmSettings(n_threads=1))  # one thread, as the server runs
    ranked = _neighbours(items)
    names = ("local", "edge", "edge_vote")
    lat: dict[str, list[float]] = {k: [] for k in names}
    hits: dict[str, list[bool]] = {k: [] for k in names}
    local_conf: list[float] = []
    local_min: list[float] = []
    for case in cases:
        # Retrieved worked examples, nearest first, never the case itself (leave-one-out).
        near = [items[j] for j in ranked[items.index(case)]]
        shots = [[o["text"], json.dumps({"tool": o["tool"]})] for o in near]
        local_msgs = EscalationRequest(kind="command", question=case["text"], shots=shots[:LOCAL_EXAMPLES]).to_messages(SYSTEM)
        edge_msgs = EscalationRequest(kind="command", question=case["text"], shots=shots).to_messages(SYSTEM, max_examples=EDGE_EXAMPLES)
        for name, backend, msgs in (("local", local, local_msgs), ("edge", single, edge_msgs), ("edge_vote", vote, edge_msgs)):
            out = backend.complete(msgs, schema)
            lat[name].append(out.latency_s)
            hits[name].append((out.parsed or {}).get("tool") == case["tool"])
            if name == "local":
                local_conf.append(out.confidence)
                local_min.append(min(out.token_logprobs, default=0.0))
    n = len(cases)
    med = {k: statistics.median(v) for k, v in lat.items()}
    acc = {k: sum(v) / n for k, v in hits.items()}
    refused, silent = _fallback_times()
    detail = f"{n} commands and events from rag/seed/examples.jsonl, MiniLM-retrieved shots, leave-one-out, SmolLM2-135M on both sides, 1 thread each"
    return [
        Measurement("edge.latency_s", med["edge"], "s", f"median one-sample schema completion over loopback HTTP, {EDGE_EXAMPLES} shots, {n} calls"),
        Measurement("edge.local_latency_s", med["local"], "s", f"median in-process llama.cpp, {LOCAL_EXAMPLES} shots, same cases"),
        Measurement("edge.vote_latency_s", med["edge_vote"], "s", "median vote of 3 (3 requests: llama.cpp ignores n), right after the one-sample call, prompt cached"),
        # The vote runs on a prompt the server has just cached, so it shows what each extra sample
        # costs (generation only); a vote on a fresh prompt pays the prompt once, then 2 extra samples.
        Measurement("edge.self_consistency_cost_x", (med["edge"] + 2 * med["edge_vote"] / 3) / med["edge"], "x",
                    "estimated vote of 3 on a fresh prompt / one sample: (single + 2 x cached-vote/3) / single"),
        Measurement("edge.accuracy_local", acc["local"], "share", f"tool right, {LOCAL_EXAMPLES} shots, greedy; {detail}"),
        Measurement("edge.accuracy_edge", acc["edge"], "share", f"tool right, {EDGE_EXAMPLES} shots, greedy; {detail}"),
        Measurement("edge.accuracy_edge_vote", acc["edge_vote"], "share", f"tool right, {EDGE_EXAMPLES} shots, vote of 3 at T=0.7; {detail}"),
        Measurement("edge.local_confidence_auroc", _auroc(local_conf, hits["local"]), "AUROC",
                    "does the local geometric-mean token probability rank right answers above wrong ones (0.5 = no)"),
        Measurement("edge.local_min_logprob_auroc", _auroc(local_min, hits["local"]), "AUROC",
                    "the same for the least likely generated token's log-probability"),
        Measurement("edge.cascade_accuracy_30pct", _cascade(local_conf, hits["local"], hits["edge_vote"], 0.3), "share",
                    "local answer unless its confidence is in the lowest 30%, then the edge vote's answer"),
        Measurement("edge.fallback_refused_s", refused, "s", "nobody listening, retries=2, backoff 0.05 s: time to EdgeUnavailable"),
        Measurement("edge.fallback_silent_s", silent, "s", "server accepts and never answers, timeout_s=1.0: time to EdgeUnavailable"),
    ]


def _neighbours(items: list[dict]) -> list[list[int]]:
    """For each item, the indices of the others by MiniLM cosine similarity, nearest first."""
    from rag.embedding import get_embedder

    with tempfile.TemporaryDirectory() as cache:
        vectors = get_embedder(Path(cache)).embed([it["text"] for it in items])
    sims = vectors @ vectors.T
    return [[int(j) for j in np.argsort(-sims[i]) if j != i] for i in range(len(items))]


def _auroc(scores: list[float], hits: list[bool]) -> float:
    """Probability that a right answer scores above a wrong one (ties count half)."""
    pos = [s for s, h in zip(scores, hits) if h]
    neg = [s for s, h in zip(scores, hits) if not h]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _cascade(conf: list[float], local_hits: list[bool], edge_hits: list[bool], rate: float) -> float:
    """Accuracy when the lowest-confidence `rate` of cases take the edge's answer."""
    k = round(rate * len(conf))
    escalated = set(sorted(range(len(conf)), key=lambda i: conf[i])[:k])
    return sum(edge_hits[i] if i in escalated else local_hits[i] for i in range(len(conf))) / max(len(conf), 1)


def _fallback_times() -> tuple[float, float]:
    msgs = [Message("user", "hi")]
    refused = EdgeBackend(EdgeSettings(url=f"http://127.0.0.1:{free_port()}/v1", retries=2, backoff_s=0.05, timeout_s=5))
    start = time.monotonic()
    try:
        refused.complete(msgs)
    except EdgeUnavailable:
        pass
    t_refused = time.monotonic() - start
    silent = SilentServer()
    try:
        backend = EdgeBackend(EdgeSettings(url=silent.url, timeout_s=1.0))
        start = time.monotonic()
        try:
            backend.complete(msgs)
        except EdgeUnavailable:
            pass
        t_silent = time.monotonic() - start
    finally:
        silent.close()
    return t_refused, t_silent
