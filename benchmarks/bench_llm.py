"""The default local model: load time, prompt and generation speed, and the demo's decision latency."""

from __future__ import annotations

import statistics
import time

import numpy as np

from adapters.base import Event, Severity, TokenizedWindow
from base.settings import LlmSettings
from agent.llm.local import LlamaCppBackend
from agent.decide.prompts import decision_schema, event_messages
from benchmarks.common import Measurement
from tools import TOOLS

PROMPT_TOKENS = 512
GENERATED_TOKENS = 64


def run(quick: bool) -> list[Measurement]:
    """Measure with the default model on all cores of this machine."""
    repeats = 3 if quick else 7
    loads = []
    for _ in range(2 if quick else 3):
        start = time.perf_counter()
        backend = LlamaCppBackend(LlmSettings())
        loads.append(time.perf_counter() - start)
    llm = backend._llm
    prompt = _prompt_tokens(backend)
    pp, gen = [], []
    for _ in range(repeats):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        pp.append(len(prompt) / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(GENERATED_TOKENS):
            llm.eval([llm.sample(temp=0.0)])
        gen.append(GENERATED_TOKENS / (time.perf_counter() - start))
    cold, warm = _decision_latency(backend, repeats)
    n_prompt = _decision_prompt_tokens(backend)
    return [
        Measurement("llm.load_s", statistics.median(loads), "s", f"median of {len(loads)} loads incl. sha256 check, {backend.model.path.name}"),
        Measurement("llm.prompt_tokens_per_s", statistics.median(pp), "tok/s", f"median of {repeats}, {len(prompt)}-token prompt, empty cache"),
        Measurement("llm.generation_tokens_per_s", statistics.median(gen), "tok/s", f"median of {repeats}, {GENERATED_TOKENS} tokens greedy"),
        Measurement("llm.decision_cold_s", statistics.median(cold), "s", f"demo tool call, {n_prompt}-token prompt, cache reset before each of {repeats}"),
        Measurement("llm.decision_warm_s", statistics.median(warm), "s", f"demo tool call, same static prefix cached, median of {repeats}"),
        Measurement("llm.warm_speedup", statistics.median(cold) / statistics.median(warm), "x", "cold / warm decision latency, measured side by side"),
    ]


def _prompt_tokens(backend: LlamaCppBackend) -> list[int]:
    text = " ".join(f"sensor {i} reads {i * 7 % 100} units;" for i in range(400))
    return backend.tokenize(text)[:PROMPT_TOKENS]


def _demo_call(hr: int) -> tuple[list, dict]:
    tools = [TOOLS.get("raise_alert"), TOOLS.get("log_observation")]
    window = TokenizedWindow("ecg", "1", 0.0, 8.0, [f"<ecg:hr:{hr}>", "<ecg:rhythm:tachy>"], np.array([hr]), np.zeros(4, np.float32), [], f"HR {hr} bpm", 1.0)
    event = Event("tachycardia", Severity.WARNING, 8.0, {"hr_bpm": float(hr)})
    return event_messages(tools, "ecg-patch-1", window, event), decision_schema(tools)


def _decision_prompt_tokens(backend: LlamaCppBackend) -> int:
    messages, schema = _demo_call(130)
    return backend.complete(messages, schema).prompt_tokens


def _decision_latency(backend: LlamaCppBackend, repeats: int) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for i in range(repeats):
        messages, schema = _demo_call(120 + i)  # the volatile tail differs each call, as in the demo
        backend._llm.reset()
        cold.append(backend.complete(messages, schema).latency_s)
        messages, schema = _demo_call(140 + i)
        warm.append(backend.complete(messages, schema).latency_s)
    return cold, warm
