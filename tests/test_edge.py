"""The edge backend against a real llama_cpp.server on loopback: answers, auth, failures, retries, votes, bytes sent."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest
from pydantic import SecretStr

from base.settings import EdgeSettings
from base.errors import ConfigError
from agent.decide.escalation import EscalationRequest
from agent.llm.base import Message
from agent.llm.edge import EdgeBackend, EdgeFailure, EdgeUnavailable, majority_vote
from tests.edge_server import EdgeServer, SilentServer, free_port

pytestmark = pytest.mark.edge

SCHEMA = {
    "type": "object",
    "properties": {
        "tool": {"type": "string", "enum": ["light_on", "light_off", "none"]},
        "room": {"type": "string", "enum": ["kitchen", "bedroom", "hall"]},
    },
    "required": ["tool", "room"],
}
MESSAGES = [
    Message("system", "You control home lights. Answer with a JSON tool call."),
    Message("user", "Turn on the kitchen light."),
]


def settings_for(url: str, api_key: str | None, **overrides) -> EdgeSettings:
    values = {"url": url, "api_key": SecretStr(api_key) if api_key else None, "timeout_s": 60.0, "max_tokens": 40, **overrides}
    return EdgeSettings(**values)


def test_real_server_returns_schema_valid_json_with_logprobs(edge_server: EdgeServer) -> None:
    with EdgeBackend(settings_for(edge_server.url, edge_server.api_key)) as edge:
        out = edge.complete(MESSAGES, SCHEMA)
    assert out.backend == "edge"
    assert out.parsed is not None, out.text
    assert set(out.parsed) == {"tool", "room"}
    assert out.parsed["tool"] in SCHEMA["properties"]["tool"]["enum"]
    assert out.parsed["room"] in SCHEMA["properties"]["room"]["enum"]
    # One log-probability per generated token, each a log of a probability.
    assert out.completion_tokens > 0 and len(out.token_logprobs) == out.completion_tokens
    assert all(lp <= 0.0 for lp in out.token_logprobs)
    assert 0.0 < out.confidence <= 1.0 and out.agreement is None
    assert out.attempts == 1 and out.prompt_tokens > 0 and out.latency_s > 0


@pytest.mark.parametrize("key", ["not-the-key", None])
def test_wrong_or_missing_api_key_is_unauthorized_at_once(edge_server: EdgeServer, key: str | None) -> None:
    edge = EdgeBackend(settings_for(edge_server.url, key, retries=3))
    start = time.monotonic()
    with pytest.raises(EdgeUnavailable) as caught:
        edge.complete(MESSAGES, SCHEMA)
    assert caught.value.reason is EdgeFailure.UNAUTHORIZED
    assert caught.value.attempts == 1  # a refused key is not retried
    assert time.monotonic() - start < 5.0
    assert edge.counters.failures == {"unauthorized": 1}


def test_api_key_never_reaches_the_logs(edge_server: EdgeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    edge = EdgeBackend(settings_for(edge_server.url, "secret-that-must-not-leak", retries=0))
    with pytest.raises(EdgeUnavailable):
        edge.complete(MESSAGES, SCHEMA)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "edge unavailable" in text
    assert "secret-that-must-not-leak" not in text


def test_killed_server_is_unreachable_within_the_budget(tmp_path) -> None:
    server = EdgeServer(tmp_path)
    try:
        edge = EdgeBackend(settings_for(server.url, server.api_key, max_tokens=8))
        assert edge.complete(MESSAGES).text  # a pooled keep-alive connection to the live server
        server.kill()
        edge.settings = settings_for(server.url, server.api_key, timeout_s=3.0, retries=2, backoff_s=0.1)
        start = time.monotonic()
        with pytest.raises(EdgeUnavailable) as caught:
            edge.complete(MESSAGES, SCHEMA)
        elapsed = time.monotonic() - start
    finally:
        server.stop()
    assert caught.value.reason is EdgeFailure.UNREACHABLE
    assert caught.value.attempts == 3 and edge.counters.retries == 2
    assert elapsed < 3.0


def test_silent_server_times_out_within_the_budget() -> None:
    silent = SilentServer()
    try:
        edge = EdgeBackend(settings_for(silent.url, "k", timeout_s=1.0, retries=5))
        start = time.monotonic()
        with pytest.raises(EdgeUnavailable) as caught:
            edge.complete(MESSAGES, SCHEMA)
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert caught.value.reason is EdgeFailure.TIMEOUT
    assert 0.9 <= elapsed <= 1.3, elapsed
    assert silent.accepted == 1  # a slow answer is not retried: the budget is spent


def test_dripping_server_is_cut_at_the_budget() -> None:
    # Every read gets a byte well inside its timeout, so only the overall deadline can end this.
    dripping = SilentServer(drip_s=0.1)
    try:
        edge = EdgeBackend(settings_for(dripping.url, "k", timeout_s=1.0, retries=3))
        start = time.monotonic()
        with pytest.raises(EdgeUnavailable) as caught:
            edge.complete(MESSAGES, SCHEMA)
        elapsed = time.monotonic() - start
    finally:
        dripping.close()
    assert caught.value.reason is EdgeFailure.TIMEOUT
    assert 0.9 <= elapsed <= 1.3, elapsed


def test_server_errors_are_retried_with_backoff_and_counted(edge_server: EdgeServer) -> None:
    # This llama_cpp.server answers HTTP 500 to the OpenAI json_schema flavour it does not know:
    # a real server error, retried like any other.
    edge = EdgeBackend(settings_for(edge_server.url, edge_server.api_key, response_format="json_schema", retries=2, backoff_s=0.05))
    with pytest.raises(EdgeUnavailable) as caught:
        edge.complete(MESSAGES, SCHEMA)
    assert caught.value.reason is EdgeFailure.SERVER_ERROR
    assert caught.value.attempts == 3
    assert "json_object" in caught.value.detail  # the server's own complaint reaches the operator
    assert edge.counters.requests == 3 and edge.counters.retries == 2


def test_backoff_never_outlasts_the_budget() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nobody listens: connection refused at once
    edge = EdgeBackend(settings_for(url, None, timeout_s=1.0, retries=10, backoff_s=0.3))
    start = time.monotonic()
    with pytest.raises(EdgeUnavailable) as caught:
        edge.complete(MESSAGES)
    elapsed = time.monotonic() - start
    assert caught.value.reason is EdgeFailure.UNREACHABLE
    # 0.3 + 0.6 s of backoff fit in 1 s, the next 1.2 s would not: three tries, then stop early.
    assert caught.value.attempts == 3, caught.value.attempts
    assert elapsed < 1.0


def test_self_consistency_votes_over_samples(edge_server: EdgeServer) -> None:
    edge = EdgeBackend(settings_for(edge_server.url, edge_server.api_key, samples=3, temperature=1.0, max_tokens=24))
    out = edge.complete(MESSAGES, SCHEMA)
    assert out.samples == 3 and edge.counters.requests == 3  # llama.cpp ignores n: one request per sample
    assert out.votes and sum(out.votes.values()) <= 3
    best = max(out.votes.values())
    assert out.agreement == pytest.approx(best / 3) and out.confidence == out.agreement
    assert json.dumps(out.parsed, sort_keys=True) in [k for k, v in out.votes.items() if v == best]


def test_majority_vote_rules() -> None:
    assert majority_vote(["a", "b", "a"], 3) == (0, pytest.approx(2 / 3), {"a": 2, "b": 1})
    assert majority_vote(["b", "a", "a", "b"], 4)[0] == 0  # a tie goes to the earliest sample
    assert majority_vote([None, "x", None], 3) == (1, pytest.approx(1 / 3), {"x": 1})  # invalid answers count against
    assert majority_vote([None, None], 2) == (0, 0.0, {})


def test_escalation_bytes_carry_tokens_and_summaries_never_samples(edge_server: EdgeServer) -> None:
    sent: list[bytes] = []

    def record(request) -> None:
        sent.append(request.read())

    window = np.sin(np.linspace(0, 20, 2000)) * 1.234567  # the raw ECG that must stay on the device
    request = EscalationRequest(kind="event", question="Heart rate 131 bpm for 40 s: alert the carer?",
                                tokens=["<ecg:hr:131>", "<ecg:beat:N>", "<ecg:rhythm:tachy>"],
                                summaries=["ecg patch p1: sinus tachycardia, 131 bpm, no ectopy"],
                                local_answer={"tool": "none", "room": "hall"}, device="p1", site="home")
    with pytest.raises(ValueError):
        EscalationRequest(kind="event", question="q", summaries=[window.tolist()])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        EscalationRequest(kind="event", question="q", local_answer={"samples": window})
    edge = EdgeBackend(settings_for(edge_server.url, edge_server.api_key, max_tokens=24), event_hooks={"request": [record]})
    edge.complete(request.to_messages("Decide whether to alert. Answer with JSON."), SCHEMA)
    assert len(sent) == 1
    body = sent[0].decode()
    payload = json.loads(body)
    user = payload["messages"][1]["content"]
    for token in request.tokens:
        assert token in user
    assert request.summaries[0] in user
    assert f"{window[1]:.6f}"[:7] not in body and "1.23456" not in body
    # No JSON array of numbers anywhere in the request.
    def arrays(node):
        if isinstance(node, list):
            yield node
            for item in node:
                yield from arrays(item)
        elif isinstance(node, dict):
            for item in node.values():
                yield from arrays(item)

    assert not [a for a in arrays(payload) if sum(isinstance(v, (int, float)) for v in a) > 4]
    assert payload["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert "Authorization" not in body


def test_config_is_checked_before_any_request(tmp_path) -> None:
    with pytest.raises(ConfigError):
        EdgeBackend(EdgeSettings())
    with pytest.raises(ConfigError):
        EdgeBackend(EdgeSettings(url="edge.local:8080"))
    with pytest.raises(ConfigError):
        EdgeBackend(EdgeSettings(url="https://edge.local/v1", ca_bundle=tmp_path / "missing.pem"))


def test_tls_with_a_private_ca(tmp_path) -> None:
    from tests.edge_server import TestPki

    pki = TestPki.make(tmp_path)
    server = EdgeServer(tmp_path, tls=pki)
    try:
        assert server.url.startswith("https://")
        with EdgeBackend(settings_for(server.url, server.api_key, ca_bundle=pki.ca, max_tokens=8)) as edge:
            assert edge.complete(MESSAGES).completion_tokens > 0
        # Without the CA the certificate cannot be verified: refused at once, not retried.
        untrusting = EdgeBackend(settings_for(server.url, server.api_key, retries=3))
        with pytest.raises(EdgeUnavailable) as caught:
            untrusting.complete(MESSAGES)
        assert caught.value.reason is EdgeFailure.UNREACHABLE and caught.value.attempts == 1
        assert "edge.ca_bundle" in str(caught.value)
    finally:
        server.stop()


def test_edge_check_command(edge_server: EdgeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    monkeypatch.setenv("TESSERA_EDGE__URL", edge_server.url)
    monkeypatch.setenv("TESSERA_EDGE__API_KEY", edge_server.api_key)
    assert main(["edge", "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["schema_valid"] and report["logprobs"] and report["latency_s"] > 0
    assert edge_server.api_key not in json.dumps(report)
    monkeypatch.setenv("TESSERA_EDGE__API_KEY", "wrong")
    assert main(["edge", "check"]) == 1
    assert "unauthorized" in capsys.readouterr().out


def test_review_commands(isolated_state, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main
    from agent.decide.review import ReviewQueue

    item = ReviewQueue.for_data_dir(isolated_state).enqueue("command", "timeout", {"question": "lights off"}, {"tool": "HassTurnOff"})
    assert main(["review", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [i["id"] for i in listed] == [item] and listed[0]["reason"] == "timeout"
    assert main(["review", "resolve", str(item), "right", "answer"]) == 0
    assert main(["review", "resolve", str(item), "again"]) == 1
    capsys.readouterr()
    assert main(["review", "list"]) == 0 and "empty" in capsys.readouterr().out


def test_system_turns_after_the_first_reach_the_edge_inside_the_next_turn() -> None:
    """Chat templates that allow a system message only first (Gemma, Mistral) get the event prompt's reviewed-example note folded in."""
    from agent.llm.edge import edge_messages

    messages = [Message("system", "rules"), Message("user", "q1"), Message("assistant", "a1"), Message("system", "note"),
                Message("user", "q2"), Message("assistant", "a2"), Message("user", "q3")]
    sent = edge_messages(messages)
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert sent[3]["content"] == "note\n\nq2" and sent[0]["content"] == "rules" and sent[-1]["content"] == "q3"
    assert edge_messages([Message("system", "rules"), Message("user", "q"), Message("system", "late")])[-1] == {"role": "user", "content": "late"}
