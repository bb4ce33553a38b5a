"""The real default model through llama.cpp: it loads, decodes under a grammar, and reports log-probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from base.settings import LlmSettings
from base.errors import ModelError
from agent.llm.base import Message
from agent.llm.local import LlamaCppBackend
from agent.llm.models import DEFAULT_MODEL, resolve_model

SCHEMA = {
    "type": "object",
    "properties": {"tool": {"enum": ["raise_alert", "log_observation"]}, "severity": {"enum": ["info", "warning", "critical"]}},
    "required": ["tool", "severity"],
    "additionalProperties": False,
}


def test_default_model_is_verified_by_sha256() -> None:
    model = resolve_model(LlmSettings())
    assert model.verified and model.sha256 == DEFAULT_MODEL.sha256
    assert model.path.name == DEFAULT_MODEL.filename


def test_real_decode_under_a_grammar_returns_schema_valid_json(local_backend: LlamaCppBackend) -> None:
    completion = local_backend.complete(
        [Message("system", "Answer with JSON."), Message("user", "Heart rate 150 bpm for a minute. Which tool, which severity?")],
        schema=SCHEMA,
    )
    data = json.loads(completion.text)
    assert completion.parsed == data
    assert data["tool"] in {"raise_alert", "log_observation"} and data["severity"] in {"info", "warning", "critical"}
    assert set(data) == {"tool", "severity"}
    assert completion.completion_tokens > 0 and completion.prompt_tokens > 10
    assert completion.latency_s > 0
    # One log-probability per generated token but the last (whose successor is never computed).
    assert len(completion.token_logprobs) >= completion.completion_tokens - 1 > 0
    assert all(lp <= 0.0 for lp in completion.token_logprobs)
    assert 0.0 < completion.confidence <= 1.0


def test_grammar_is_compiled_once_per_schema(local_backend: LlamaCppBackend) -> None:
    first = local_backend.grammar_for(SCHEMA)
    assert local_backend.grammar_for(json.loads(json.dumps(SCHEMA))) is first


def test_corrupt_model_file_is_a_clear_model_error(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match="could not load"):
        LlamaCppBackend(LlmSettings(model_path=bogus))


def test_wrong_checksum_and_missing_file_name_the_fix(tmp_path: Path) -> None:
    bogus = tmp_path / "other.gguf"
    bogus.write_bytes(b"GGUF" + b"\x01" * 64)
    with pytest.raises(ModelError, match="sha256"):
        resolve_model(LlmSettings(model_path=bogus, model_sha256="0" * 64))
    with pytest.raises(ModelError, match="not found"):
        resolve_model(LlmSettings(model_path=tmp_path / "absent.gguf"))
    not_gguf = tmp_path / "junk.gguf"
    not_gguf.write_bytes(b"<html>")
    with pytest.raises(ModelError, match="not a GGUF"):
        resolve_model(LlmSettings(model_path=not_gguf))
