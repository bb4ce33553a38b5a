"""A scripted backend that replays queued completions: for testing the agent's control flow only.

It never stands in for the model where the model is what a test checks.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from agent.llm.base import Completion, Message


class ScriptedBackend:
    """Returns queued outputs in order and records the messages it was sent."""

    name = "scripted"

    def __init__(self, outputs: list[dict[str, Any] | str], logprob: float = -0.05) -> None:
        self._outputs = deque(outputs)
        self.logprob = logprob
        self.calls: list[list[Message]] = []

    def complete(self, messages: list[Message], schema: dict[str, Any] | None = None, max_tokens: int | None = None) -> Completion:
        """Pop the next scripted output; raises IndexError when the script has run out."""
        self.calls.append(list(messages))
        out = self._outputs.popleft()
        text = out if isinstance(out, str) else json.dumps(out)
        parsed = out if isinstance(out, dict) else None
        return Completion(text=text, parsed=parsed, token_logprobs=[self.logprob] * 4, backend=self.name)
