"""The edge backend: any OpenAI-compatible chat-completions endpoint (llama.cpp server, Ollama, vLLM).

One `complete()` never outlasts `EdgeSettings.timeout_s`: retries, backoff and self-consistency
samples all draw on that one budget, and the caller waits on a hard deadline even if a socket
misbehaves. Failures raise `EdgeUnavailable` with an `EdgeFailure` reason the caller acts on
(typically: keep the local answer, flag it, queue the request for review).
"""

from __future__ import annotations

import json
import logging
import math
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx

from base.settings import EdgeSettings
from base.errors import ConfigError, TesseraError
from agent.llm.base import Completion, Message
from agent.llm.local import parse_json_object

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
FINAL = -1.0  # as a retry-after: this failure will repeat (a certificate that failed verification), do not retry


class EdgeFailure(Enum):
    """Why the edge model gave no answer."""

    UNREACHABLE = "unreachable"  # connection refused, DNS, TLS handshake, reset
    TIMEOUT = "timeout"  # the budget ran out before an answer
    UNAUTHORIZED = "unauthorized"  # 401/403: wrong or missing API key
    BAD_RESPONSE = "bad_response"  # 4xx other than auth, or a body that is not a chat completion
    SERVER_ERROR = "server_error"  # 5xx or 429 after every retry


class EdgeUnavailable(TesseraError):
    """The edge model could not answer; `reason` says why, `attempts` how many HTTP requests were made."""

    def __init__(self, reason: EdgeFailure, detail: str, attempts: int = 0, elapsed_s: float = 0.0) -> None:
        super().__init__(f"edge model {reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.attempts = attempts
        self.elapsed_s = elapsed_s


@dataclass(slots=True)
class EdgeCompletion(Completion):
    """A completion from the edge, with the self-consistency vote when several samples were drawn."""

    samples: int = 1  # samples that answered
    agreement: float | None = None  # share of requested samples that voted for `parsed`
    votes: dict[str, int] = field(default_factory=dict)  # canonical JSON of each answer -> count
    attempts: int = 1  # HTTP requests made, retries included

    @property
    def confidence(self) -> float:
        """The vote's agreement share when samples were drawn, else the geometric-mean token probability."""
        return self.agreement if self.agreement is not None else math.exp(self.mean_logprob)


@dataclass(slots=True)
class EdgeCounters:
    """What the backend did since it was made."""

    calls: int = 0
    requests: int = 0  # HTTP requests, retries included
    retries: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class EdgeBackend:
    """Completes chats on an OpenAI-compatible endpoint with retries, a total timeout and voting."""

    name = "edge"

    def __init__(self, settings: EdgeSettings, *, event_hooks: dict[str, list[Any]] | None = None) -> None:
        if not settings.url:
            raise ConfigError("edge.url is not set; point it at an OpenAI-compatible endpoint, e.g. http://edge.local:8080/v1")
        if not settings.url.startswith(("http://", "https://")):
            raise ConfigError(f"edge.url must start with http:// or https://, got {settings.url!r}")
        self.settings = settings
        self.endpoint = settings.url.rstrip("/") + "/chat/completions"
        self.counters = EdgeCounters()
        self._logprobs_supported: bool | None = None  # unknown until the server answers a request that asked
        headers = {"Accept": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        # Limits only bound the pool; per-request timeouts are set from the remaining budget.
        self._client = httpx.Client(headers=headers, verify=_tls_verify(settings), event_hooks=event_hooks or {},
                                    limits=httpx.Limits(max_connections=8, max_keepalive_connections=2), follow_redirects=False)

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __enter__(self) -> EdgeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, messages: list[Message], schema: dict[str, Any] | None = None, max_tokens: int | None = None) -> EdgeCompletion:
        """One completion (or a vote over `settings.samples`), within `settings.timeout_s`; raises EdgeUnavailable."""
        self.counters.calls += 1
        start = time.monotonic()
        deadline = start + self.settings.timeout_s
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self._complete(messages, schema, max_tokens, start, deadline)
            except BaseException as err:  # handed to the caller's thread below
                box["error"] = err

        # The worker's own timeouts end it soon after the deadline; the caller never waits past it.
        worker = threading.Thread(target=work, name="tessera-edge", daemon=True)
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()) + 0.05)
        if worker.is_alive():
            err = EdgeUnavailable(EdgeFailure.TIMEOUT, f"no answer within {self.settings.timeout_s:g} s", elapsed_s=time.monotonic() - start)
            self._count_failure(err)
            raise err
        if "error" in box:
            if isinstance(box["error"], EdgeUnavailable):
                self._count_failure(box["error"])
            raise box["error"]
        return box["result"]

    def _count_failure(self, err: EdgeUnavailable) -> None:
        key = err.reason.value
        self.counters.failures[key] = self.counters.failures.get(key, 0) + 1
        log.warning("edge unavailable", extra={"reason": key, "attempts": err.attempts, "elapsed_s": round(err.elapsed_s, 3),
                                               "endpoint": self.endpoint, "detail": err.detail[:200]})

    def _complete(self, messages: list[Message], schema: dict[str, Any] | None, max_tokens: int | None,
                  start: float, deadline: float) -> EdgeCompletion:
        n = self.settings.samples
        body = self._body(messages, schema, max_tokens or self.settings.max_tokens, n)
        choices: list[dict[str, Any]] = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        attempts = 0
        while len(choices) < n:
            if n > 1:
                body["seed"] = self.settings.seed + len(choices)
                body["n"] = n - len(choices)  # vLLM draws them in one request; llama.cpp returns one, so we ask again
            try:
                data, tries = self._post(body, start, deadline)
            except EdgeUnavailable as err:
                err.attempts += attempts
                attempts = err.attempts
                if self._may_lack_logprobs(err, body):
                    # Some OpenAI-compatible servers refuse `logprobs`: ask once more without them,
                    # and remember, so later calls go without (confidence then falls back to votes).
                    self._logprobs_supported = False
                    body.pop("logprobs", None)
                    body.pop("top_logprobs", None)
                    log.warning("edge refuses logprobs; continuing without", extra={"endpoint": self.endpoint})
                    continue
                if choices and time.monotonic() >= deadline - 0.05:
                    break  # the budget ran out mid-vote: vote over the samples we have
                raise
            self._logprobs_supported = self._logprobs_supported or "logprobs" in body
            attempts += tries
            got = data.get("choices")
            if not isinstance(got, list) or not got:
                raise EdgeUnavailable(EdgeFailure.BAD_RESPONSE, "no choices in the response", attempts, time.monotonic() - start)
            choices.extend(got[: n - len(choices)])
            for key in usage:
                usage[key] += int((data.get("usage") or {}).get(key, 0) or 0)
        return self._result(choices, schema, n, usage, attempts, time.monotonic() - start)

    def _may_lack_logprobs(self, err: EdgeUnavailable, body: dict[str, Any]) -> bool:
        return (err.reason is EdgeFailure.BAD_RESPONSE and "logprobs" in body and self._logprobs_supported is None
                and err.detail.startswith(("HTTP 400", "HTTP 422")))

    def _body(self, messages: list[Message], schema: dict[str, Any] | None, max_tokens: int, n: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": edge_messages(messages),
            "max_tokens": max_tokens,
            "temperature": self.settings.temperature if n > 1 else 0.0,
        }
        if self.settings.logprobs and self._logprobs_supported is not False:
            # top_logprobs=0 asks for the sampled token's own log-probability only.
            body["logprobs"] = True
            body["top_logprobs"] = 0
        if schema is not None:
            flavour = self.settings.response_format
            if flavour == "json_object":
                body["response_format"] = {"type": "json_object", "schema": schema}
            elif flavour == "json_schema":
                body["response_format"] = {"type": "json_schema", "json_schema": {"name": _schema_name(schema), "schema": schema, "strict": True}}
        return body

    def _post(self, body: dict[str, Any], start: float, deadline: float) -> tuple[dict[str, Any], int]:
        """POST with bounded retries; returns the decoded body and the number of requests made."""
        delay = self.settings.backoff_s
        attempt = 0
        while True:
            attempt += 1
            self.counters.requests += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EdgeUnavailable(EdgeFailure.TIMEOUT, f"budget of {self.settings.timeout_s:g} s spent", attempt - 1, time.monotonic() - start)
            outcome, detail, retry_after = self._attempt(body, remaining, deadline)
            if not isinstance(outcome, EdgeFailure):
                return outcome, attempt
            failure = outcome
            elapsed = time.monotonic() - start
            retryable = failure in (EdgeFailure.UNREACHABLE, EdgeFailure.SERVER_ERROR) and retry_after != FINAL
            if not retryable or attempt > self.settings.retries:
                raise EdgeUnavailable(failure, detail, attempt, elapsed)
            wait = max(delay, retry_after or 0.0)
            if time.monotonic() + wait >= deadline:
                # Sleeping would spend the whole budget: fail now rather than time out later.
                raise EdgeUnavailable(failure, f"{detail} (no budget left to retry)", attempt, elapsed)
            self.counters.retries += 1
            log.info("edge retry", extra={"reason": failure.value, "attempt": attempt, "wait_s": round(wait, 3)})
            time.sleep(wait)
            delay *= 2

    def _attempt(self, body: dict[str, Any], remaining: float, deadline: float) -> tuple[dict[str, Any] | EdgeFailure, str, float | None]:
        """One HTTP request: (decoded body, "", None) or (EdgeFailure, detail, retry-after seconds)."""
        timeout = httpx.Timeout(remaining)
        try:
            with self._client.stream("POST", self.endpoint, json=body, timeout=timeout) as response:
                if response.status_code in (401, 403):
                    return EdgeFailure.UNAUTHORIZED, f"HTTP {response.status_code}; check edge.api_key", None
                if response.status_code in RETRY_STATUS:
                    return EdgeFailure.SERVER_ERROR, f"HTTP {response.status_code}: {_snippet(response)}", _retry_after(response)
                raw = bytearray()
                for chunk in response.iter_bytes():
                    raw.extend(chunk)
                    if len(raw) > self.settings.max_response_bytes:
                        return EdgeFailure.BAD_RESPONSE, f"response larger than {self.settings.max_response_bytes} bytes", None
                    if time.monotonic() > deadline:
                        return EdgeFailure.TIMEOUT, "response still arriving at the deadline", None
                status = response.status_code
        except httpx.TimeoutException as err:
            if isinstance(err, httpx.ConnectTimeout):
                return EdgeFailure.UNREACHABLE, f"connect timed out: {err}", None
            return EdgeFailure.TIMEOUT, f"{type(err).__name__} after {remaining:.2f} s", None
        except httpx.TransportError as err:
            if _tls_refused(err):
                return EdgeFailure.UNREACHABLE, f"TLS verification failed ({err}); set edge.ca_bundle to the CA that signed the edge's certificate", FINAL
            return EdgeFailure.UNREACHABLE, f"{type(err).__name__}: {err}", None
        except httpx.HTTPError as err:  # e.g. a body that fails to decode
            return EdgeFailure.BAD_RESPONSE, f"{type(err).__name__}: {err}", None
        if status >= 500:
            return EdgeFailure.SERVER_ERROR, f"HTTP {status}", None
        if status >= 400:
            hint = "" if self.settings.response_format == "none" else "; if the server rejects response_format, set edge.response_format"
            return EdgeFailure.BAD_RESPONSE, f"HTTP {status}: {bytes(raw[:200]).decode('utf-8', 'replace')}{hint}", None
        try:
            data = json.loads(bytes(raw))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return EdgeFailure.BAD_RESPONSE, "body is not JSON", None
        if not isinstance(data, dict):
            return EdgeFailure.BAD_RESPONSE, "body is not a JSON object", None
        return data, "", None

    def _result(self, choices: list[dict[str, Any]], schema: dict[str, Any] | None, n: int,
                usage: dict[str, int], attempts: int, latency: float) -> EdgeCompletion:
        texts = [_choice_text(c) for c in choices]
        parsed = [parse_json_object(t) if schema is not None else None for t in texts]
        logprobs = [_choice_logprobs(c) for c in choices]
        winner, agreement, votes = 0, None, {}
        if n > 1:
            keys = [json.dumps(p, sort_keys=True) if p is not None else (t.strip() if schema is None else None) for p, t in zip(parsed, texts)]
            winner, agreement, votes = majority_vote(keys, n)
        return EdgeCompletion(
            text=texts[winner],
            parsed=parsed[winner],
            token_logprobs=logprobs[winner],
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            latency_s=latency,
            backend=self.name,
            samples=len(choices),
            agreement=agreement,
            votes=votes,
            attempts=attempts,
        )


def majority_vote(keys: list[str | None], requested: int) -> tuple[int, float, dict[str, int]]:
    """(index of the winning sample, its share of `requested` samples, counts); None keys are invalid answers.

    Ties go to the earliest sample drawn, so the result is reproducible; with no valid answer the
    first sample is returned with agreement 0.
    """
    votes = dict(Counter(k for k in keys if k is not None))
    if not votes:
        return 0, 0.0, {}
    best = max(votes.values())
    winner = next(i for i, k in enumerate(keys) if k is not None and votes[k] == best)
    return winner, best / max(requested, 1), votes


def _tls_verify(settings: EdgeSettings) -> ssl.SSLContext | bool:
    if settings.ca_bundle is not None:
        path = settings.ca_bundle.expanduser()
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(f"edge.ca_bundle {path} is not a readable PEM CA bundle: {err}") from err
    return settings.verify_tls


def _tls_refused(err: BaseException) -> bool:
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    """The start of an error body (servers say there what they disliked), read no further than `limit`."""
    raw = bytearray()
    try:
        for chunk in response.iter_bytes():
            raw.extend(chunk)
            if len(raw) >= limit:
                break
    except httpx.HTTPError:
        pass
    return " ".join(bytes(raw[:limit]).decode("utf-8", "replace").split())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _schema_name(schema: dict[str, Any]) -> str:
    title = str(schema.get("title") or "tessera_answer")
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in title)[:64]


def _choice_text(choice: dict[str, Any]) -> str:
    message = choice.get("message") or {}
    return str(message.get("content") or "")


def _choice_logprobs(choice: dict[str, Any]) -> list[float]:
    content = (choice.get("logprobs") or {}).get("content") or []
    return [float(item["logprob"]) for item in content if isinstance(item, dict) and isinstance(item.get("logprob"), (int, float))]


def edge_messages(messages: list[Message]) -> list[dict[str, str]]:
    """Messages as the chat API takes them, with any system turn after the first folded into the next turn.

    Many chat templates (Gemma's, Mistral's) accept a system message only at the start and refuse
    the request otherwise; an edge-sized model reads the note as well at the head of the next turn.
    The local model keeps its separate system turns (the event prompt's reviewed examples need one).
    """
    out: list[dict[str, str]] = []
    pending: list[str] = []
    for m in messages:
        if m.role == "system" and out:
            pending.append(m.content)
            continue
        out.append({"role": m.role, "content": "\n\n".join([*pending, m.content])})
        pending = []
    if pending:  # a trailing note: give it its own user turn
        out.append({"role": "user", "content": "\n\n".join(pending)})
    return out

