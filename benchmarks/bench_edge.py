"""The edge path: latency through a loopback llama_cpp.server, the cost of self-consistency, fallback times,
and whether escalating (more examples, a vote) pays on the home-command examples with the same small model."""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from agent.config import EdgeSettings, LlmSettings
from agent.escalation import EscalationRequest
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
    right = {"local": 0, "edge": 0, "edge_vote": 0}
    lat = {"local": [], "edge": [], "edge_vote": []}
    for i, case in enumerate(cases):
        others = [it for it in items if it is not case]  # leave-one-out: the case never sees itself
        local_msgs = _messages(case, others[i % len(others):][:LOCAL_EXAMPLES] or others[:LOCAL_EXAMPLES])
        req = EscalationRequest(kind="command", question=case["text"],
                                examples=[f'"{o["text"]}" -> {o["tool"]}' for o in _spread(others, EDGE_EXAMPLES)])
        edge_msgs = req.to_messages(SYSTEM)
        for name, backend, msgs in (("local", local, local_msgs), ("edge", single, edge_msgs), ("edge_vote", vote, edge_msgs)):
            out = backend.complete(msgs, schema)
            lat[name].append(out.latency_s)
            right[name] += int((out.parsed or {}).get("tool") == case["tool"])
    n = len(cases)
    med = {k: statistics.median(v) for k, v in lat.items()}
    refused, silent = _fallback_times()
    detail = f"{n} commands and events from rag/seed/examples.jsonl, leave-one-out, SmolLM2-135M on both sides, 1 thread each"
    return [
        Measurement("edge.latency_s", med["edge"], "s", f"median one-sample schema completion over loopback HTTP, {EDGE_EXAMPLES} examples, {n} calls"),
        Measurement("edge.local_latency_s", med["local"], "s", f"median in-process llama.cpp, {LOCAL_EXAMPLES} examples, same cases"),
        Measurement("edge.self_consistency_cost_x", med["edge_vote"] / med["edge"], "x", "3 samples / 1 sample, median latency (llama.cpp server ignores n: 3 requests)"),
        Measurement("edge.accuracy_local", right["local"] / n, "share", f"intent right, {LOCAL_EXAMPLES} examples, greedy; {detail}"),
        Measurement("edge.accuracy_edge", right["edge"] / n, "share", f"intent right, {EDGE_EXAMPLES} examples, greedy; {detail}"),
        Measurement("edge.accuracy_edge_vote", right["edge_vote"] / n, "share", f"intent right, {EDGE_EXAMPLES} examples, vote of 3 at T=0.7; {detail}"),
        Measurement("edge.fallback_refused_s", refused, "s", "nobody listening, retries=2, backoff 0.05 s: time to EdgeUnavailable"),
        Measurement("edge.fallback_silent_s", silent, "s", "server accepts and never answers, timeout_s=1.0: time to EdgeUnavailable"),
    ]


def _messages(case: dict, shots: list[dict]) -> list[Message]:
    msgs = [Message("system", SYSTEM)]
    for shot in shots:
        msgs += [Message("user", shot["text"]), Message("assistant", json.dumps({"tool": shot["tool"]}))]
    return msgs + [Message("user", case["text"])]


def _spread(items: list[dict], k: int) -> list[dict]:
    """Up to k examples covering every intent before repeating one."""
    by_tool: dict[str, list[dict]] = {}
    for item in items:
        by_tool.setdefault(item["tool"], []).append(item)
    out: list[dict] = []
    while len(out) < k and any(by_tool.values()):
        for group in by_tool.values():
            if group and len(out) < k:
                out.append(group.pop(0))
    return out


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
