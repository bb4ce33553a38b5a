"""The on-device backend: llama.cpp in process, output constrained by a grammar from a JSON schema."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import numpy as np

from base.settings import LlmSettings
from base.errors import ModelError
from agent.llm.base import Completion, Message
from agent.llm.models import ModelFile, resolve_model

log = logging.getLogger(__name__)


class LogprobRecorder:
    """A llama.cpp logits processor that records the log-probability of each sampled token.

    `logits_all=True` would keep logits for every prompt token (costly with a 49k
    vocabulary); instead each step keeps its own log-softmax, and the next step,
    whose input ends with the token just sampled, reads that token's value.
    Probabilities are the model's own, before the grammar masks tokens out.
    """

    def __init__(self) -> None:
        self.logprobs: list[float] = []
        self._previous: np.ndarray | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self._previous is not None:
            self.logprobs.append(float(self._previous[int(input_ids[-1])]))
        top = float(scores.max())
        self._previous = scores - (top + np.log(np.exp(scores - top).sum()))
        return scores


class LlamaCppBackend:
    """Runs a GGUF model with llama-cpp-python; grammars are compiled once per schema."""

    name = "local"

    def __init__(self, settings: LlmSettings) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelError("llama-cpp-python is not installed; run ./run setup, which builds it with CPU flags safe for this machine") from err
        self.settings = settings
        self.model: ModelFile = resolve_model(settings)
        start = time.perf_counter()
        try:
            self._llm = Llama(
                model_path=str(self.model.path),
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads or os.cpu_count() or 1,
                seed=settings.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as err:
            raise ModelError(f"llama.cpp could not load {self.model.path}: {err}; check that it is a complete GGUF model") from err
        self.load_s = time.perf_counter() - start
        self._grammars: dict[str, Any] = {}
        self._lock = threading.Lock()  # a llama.cpp context serves one request at a time
        log.info("model loaded", extra={"model": str(self.model.path), "load_s": round(self.load_s, 3)})

    def grammar_for(self, schema: dict[str, Any]) -> Any:
        """The compiled llama.cpp grammar for `schema`, built on first use.

        Properties are generated in the order the schema declares them (llama.cpp
        would sort them by name): the tool name comes before its arguments.
        """
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            gbnf = json_schema_to_gbnf(json.dumps(schema), prop_order=property_order(schema))
            self._grammars[key] = LlamaGrammar.from_string(gbnf, verbose=False)
        return self._grammars[key]

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` under this model's vocabulary."""
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes, for context budgets."""
        return len(self.tokenize(text))

    def warm(self, messages: list[Message], schema: dict[str, Any] | None = None) -> float:
        """Compile the schema's grammar and evaluate a prompt so its static prefix sits in the KV cache; returns seconds."""
        start = time.perf_counter()
        if schema is not None:
            self.grammar_for(schema)
        with self._lock:
            self._llm.create_chat_completion(messages=[{"role": m.role, "content": m.content} for m in messages], max_tokens=1)
            return time.perf_counter() - start

    def complete(self, messages: list[Message], schema: dict[str, Any] | None = None, max_tokens: int | None = None) -> Completion:
        """Greedy completion; with `schema` the output is grammar-constrained JSON and parsed."""
        recorder = LogprobRecorder()
        from llama_cpp import LogitsProcessorList

        with self._lock:
            start = time.perf_counter()
            out = self._llm.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                grammar=self.grammar_for(schema) if schema is not None else None,
                max_tokens=max_tokens or self.settings.max_tokens,
                temperature=0.0,
                logits_processor=LogitsProcessorList([recorder]),
            )
            latency = time.perf_counter() - start
        text = out["choices"][0]["message"]["content"] or ""
        usage = out.get("usage", {})
        return Completion(
            text=text,
            parsed=parse_json_object(text) if schema is not None else None,
            token_logprobs=recorder.logprobs,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=latency,
            backend=self.name,
        )


def property_order(schema: Any) -> list[str]:
    """Every property name in `schema`, in declaration order, nested objects included."""
    order: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name in node.get("properties", {}):
                if name not in order:
                    order.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return order


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in `text`, or None when the output is not one (e.g. cut off by max_tokens)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
