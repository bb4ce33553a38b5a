"""The LLM backend protocol and the completion record every backend returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True, frozen=True)
class Message:
    """One chat message."""

    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(slots=True)
class Completion:
    """What a backend produced: text, the parsed object, per-token log-probabilities and timings."""

    text: str
    parsed: dict[str, Any] | None
    token_logprobs: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    backend: str = ""

    @property
    def mean_logprob(self) -> float:
        """Mean log-probability of the generated tokens (0.0 when none were recorded)."""
        return sum(self.token_logprobs) / len(self.token_logprobs) if self.token_logprobs else 0.0

    @property
    def confidence(self) -> float:
        """Geometric-mean token probability, 0..1: an uncalibrated confidence."""
        return math.exp(self.mean_logprob)


class LLMBackend(Protocol):
    """Completes a chat, optionally constrained to a JSON schema."""

    name: str

    def complete(self, messages: list[Message], schema: dict[str, Any] | None = None, max_tokens: int = 96) -> Completion:
        """Generate one completion; with `schema`, the text is JSON valid against it."""
        ...
