"""`tessera repl`: a developer shell over the agent's tools, guardrails, planner, streams and audit log.

Every command takes the path the agent takes: `call` goes through tools.executor.execute with
the profile's guardrail policy and the audit log, `watch` through the real Ingestor and
encoders, `plan` through the command cascade. Commands print to a given stream, so they run
without a terminal (`Repl.run_line`); `run_repl` puts the prompt_toolkit line editor on top.
The model loads on the first `plan`, so everything else starts at once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import queue
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import History, InMemoryHistory
from pydantic import ValidationError

from agent.decide.audit import AuditRecord, Decision, Source, TicketStore, grammar_text
from base.settings import TesseraSettings
from base.errors import BrokerError, TesseraError, first_problem
from agent.decide.loop import Guard
from base.registry import UnknownNameError
from tools import TOOLS, Tool, ToolContext, ToolResult
from agent.cli.tools import argument_constraints, argument_type
from tools.executor import execute
from tools.home import Home
from tools.intents import HOME_INTENTS
from tools.streams import StreamStore

log = logging.getLogger(__name__)

PROMPT = "tessera> "
QUIT_WORDS = ("quit", "exit")
PUBLISH_TIMEOUT_S = 5.0
WATCH_QUEUE = 64  # windows waiting to be printed; past it the oldest are dropped and counted
ROUTES = {
    "fast": "the deterministic matcher answered: no prompt, no model (`plan --model ...` forces the model)",
    "intent": "the trained intent model was sure: no prompt, arguments from the slots",
    "local": "the on-device model",
    "edge": "escalated to the edge model: the local confidence was below the calibrated threshold",
    "fallback": "the edge did not answer in time; the local plan stands and waits in the review queue",
}


class UsageError(TesseraError):
    """A command line the REPL cannot run, with what to type instead."""


@dataclass(slots=True, frozen=True)
class Command:
    """One REPL command: the function that runs it, how to call it, what it does."""

    run: Callable[[Repl, str], None]
    usage: str
    summary: str


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, summary: str) -> Callable[[Callable[[Repl, str], None]], Callable[[Repl, str], None]]:
    """Register `func(repl, rest_of_line)` as the REPL command `name`."""

    def wrap(func: Callable[[Repl, str], None]) -> Callable[[Repl, str], None]:
        COMMANDS[name] = Command(func, usage, summary)
        return func

    return wrap


class Repl:
    """The REPL's state and its commands, printing to `out`; no terminal needed."""

    def __init__(self, settings: TesseraSettings, home: Home, out: TextIO | None = None,
                 confirm: Callable[[str], bool] | None = None, history: History | None = None) -> None:
        self.settings, self.home = settings, home
        self.out = out or sys.stdout
        self.confirm = confirm or (lambda _question: False)  # without a person to ask, dangerous calls stay unconfirmed
        self.history = history or InMemoryHistory()
        self.guard = Guard.from_settings(settings)
        self.ctx = ToolContext(publish=self._publish, site=settings.mqtt.site, topic_prefix=settings.mqtt.topic_prefix, home=home,
                               streams=StreamStore(), tickets=TicketStore(self.guard.audit.db))
        self._client: Any = None
        self._cascade: Any = None

    def say(self, text: str = "") -> None:
        """Print one line (or several) to the REPL's output."""
        print(text, file=self.out, flush=True)

    def run_line(self, line: str) -> bool:
        """Run one command line; False when the REPL should end. Mistakes print one line and the REPL goes on."""
        name, _, rest = line.strip().partition(" ")
        if not name:
            return True
        if name in QUIT_WORDS:
            return False
        try:
            found = COMMANDS.get(name)
            if found is None:
                raise UsageError(f"unknown command {name!r}; `help` lists the commands")
            found.run(self, rest.strip())
        except (TesseraError, UnknownNameError) as err:
            self.say(f"error: {err}")
        except KeyboardInterrupt:
            self.say("interrupted")
        except Exception as err:  # a bug: keep the REPL alive, but log it with its traceback
            log.exception("repl command failed", extra={"command": name})
            self.say(f"error: {name} failed with {type(err).__name__}: {err} (a bug; logged)")
        return True

    def cascade(self) -> Any:
        """The command cascade, its model loaded on first use."""
        if self._cascade is None:
            from agent.decide.cascade import build_cascade

            self.say("loading the model ...")
            self._cascade = build_cascade(self.settings, self.home, mode="auto")
            backend = self._cascade.setup.local.backend
            self.say(f"model {backend.model.path.name} loaded in {backend.load_s:.2f} s")
        return self._cascade

    def context_for(self, tool: Tool) -> ToolContext:
        """The tool context, with the knowledge store opened the first time a tool needs it."""
        if tool.name == "search_knowledge" and self.ctx.knowledge is None:
            from rag.store import KnowledgeStore

            self.ctx.knowledge = KnowledgeStore(self.settings.rag, self.settings.data_dir)
        return self.ctx

    def close(self) -> None:
        """Disconnect from the broker and close the audit log."""
        if self._client is not None:
            from base.mqtt import close

            close(self._client)
            self._client = None
        self.guard.audit.db.close()

    def _publish(self, topic: str, payload: str | bytes, qos: int, retain: bool) -> None:
        if self._client is None:
            from base.mqtt import connect

            self._client = connect(self.settings.mqtt, f"tessera-repl-{self.settings.mqtt.site}-{os.getpid()}")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        # Wait for the broker's acknowledgement, so "ok" at the prompt means the message reached it.
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
            published = info.is_published()
        except (ValueError, RuntimeError) as err:
            raise BrokerError(f"could not publish on {topic}: {err}") from err
        if not published:
            raise BrokerError(f"the broker at {self.settings.mqtt.url} did not acknowledge {topic} within {PUBLISH_TIMEOUT_S:.0f} s")


# --- tools -----------------------------------------------------------------------------------


@command("tools", "tools", "list the tools: name, permission, whether this profile allows it, what it does")
def cmd_tools(repl: Repl, _rest: str) -> None:
    for name in TOOLS.names():
        tool = TOOLS.get(name)
        repl.say(f"{name:27s} {tool.permission.value:8s} {_allowed(repl, tool):8s} {tool.description}")


def _allowed(repl: Repl, tool: Tool) -> str:
    return "allowed" if repl.guard.policy.allows(tool) else "denied"


@command("describe", "describe TOOL", "a tool's description, permission and arguments (types, bounds, defaults)")
def cmd_describe(repl: Repl, rest: str) -> None:
    tool = TOOLS.get(_one_word(rest, "describe TOOL"))
    repl.say(f"{tool.name}: {tool.description}")
    repl.say(f"permission {tool.permission.value}; {_allowed(repl, tool)} on the {repl.settings.profile} profile")
    schema = tool.args_model.model_json_schema()
    required = set(schema.get("required", []))
    for field_name, spec in schema.get("properties", {}).items():
        need = "required" if field_name in required else f"default {json.dumps(spec.get('default'))}"
        repl.say(f"  {field_name:14s} {argument_type(spec):18s} {need:16s} {argument_constraints(spec)}".rstrip())


@command("call", "call TOOL {json} | call TOOL key=value ...",
         "validate the arguments and run the tool through the guardrails and the audit log, as the agent does")
def cmd_call(repl: Repl, rest: str) -> None:
    name, _, text = rest.partition(" ")
    tool = TOOLS.get(_one_word(name, "call TOOL key=value ..."))
    args = parse_call_args(text)
    check_args(tool, args)
    run_tool(repl, tool, args, Decision(Source.REPL, f"call {rest}"))


def parse_call_args(text: str) -> dict[str, Any]:
    """Arguments as a JSON object, or as key=value words.

    A value stays text, which the tool's pydantic model converts to the field's type ("50" to 50);
    lists and objects are written as JSON (evidence=["a","b"]).
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(f"arguments are not valid JSON: {err.msg} at character {err.pos}") from None
    args: dict[str, Any] = {}
    for word in _split(text):
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"argument {word!r} is not key=value, e.g. name=\"Porch Light\"")
        args[key] = _structured(value)
    return args


def _structured(value: str) -> Any:
    if value and value[0] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise UsageError(f"value {value!r} is not valid JSON: {err.msg}") from None
    return value


def check_args(tool: Tool, args: dict[str, Any]) -> None:
    """UsageError naming the field when the arguments do not fit the tool's model (unknown names included)."""
    fields = tool.args_model.model_fields
    unknown = [key for key in args if key not in fields]
    if unknown:
        raise UsageError(f"{tool.name} has no argument {unknown[0]!r}; its arguments: {', '.join(fields) or '(none)'}")
    try:
        tool.validate(args)
    except ValidationError as err:
        where, problem = first_problem(err)
        raise UsageError(f"invalid arguments for {tool.name}: {where}: {problem}") from None


def run_tool(repl: Repl, tool: Tool, args: dict[str, Any], decision: Decision) -> None:
    """Execute through the guardrails; a dangerous call runs only after the person at the prompt says yes."""
    ctx, guard = repl.context_for(tool), repl.guard
    result = execute(tool, args, ctx, guard.policy, guard.audit, decision)
    show_result(repl, result)
    if result.data.get("needs_confirmation"):
        confirmed_args = result.data["args"]
        if repl.confirm(f"{tool.name} {json.dumps(confirmed_args)}: go ahead? [y/N] "):
            show_result(repl, execute(tool, confirmed_args, ctx, guard.policy, guard.audit, decision, confirmed=True))
        else:
            repl.say("not confirmed; nothing was done")


def show_result(repl: Repl, result: ToolResult) -> None:
    """One line for the outcome, then the tool's data and where the decision is recorded."""
    data = {k: v for k, v in result.data.items() if k != "decision_id"}
    if result.data.get("needs_confirmation"):
        repl.say(f"needs confirmation: {result.message} (entities: {', '.join(data.get('entities', [])) or 'none'})")
    elif result.data.get("denied"):
        repl.say(f"refused by the guardrails ({data.get('reason')}): {result.message}")
    else:
        repl.say(f"{'ok' if result.ok else 'failed'}: {result.message}")
        if data:
            repl.say(f"  {json.dumps(data, default=str)}")
    repl.say(f"  decision {result.data.get('decision_id')} in the audit log (`explain` shows it)")


# --- streams ---------------------------------------------------------------------------------


@command("watch", "watch DEVICE [STREAM] [--count N] [--duration S]",
         "print each window's tokens and summary from a live stream (Ctrl-C returns to the prompt)")
def cmd_watch(repl: Repl, rest: str) -> None:
    opts = _parse(WATCH_OPTIONS, rest)
    windows: queue.Queue = queue.Queue(WATCH_QUEUE)
    counts = WatchCounts()

    def on_window(key: Any, window: Any) -> None:  # ingest's network thread: copy and hand over, nothing more
        if opts.stream is None or key.stream == opts.stream:
            _offer(windows, (key, window.samples.copy(), window.t0, window.rate), counts)

    from adapters import modalities
    from agent.ingest.ingestor import Ingestor

    modalities()  # import the encoders before subscribing, so the first window prints as it arrives
    ingest = Ingestor(_watch_settings(repl.settings, opts.device), on_window=on_window).start()
    cfg = repl.settings.ingest
    repl.say(f"watching {', '.join(ingest.subscriptions())} (windows of {cfg.window_s:g} s every {cfg.hop_s:g} s); Ctrl-C to stop")
    try:
        _print_windows(repl, windows, counts, opts.count, opts.duration)
    except KeyboardInterrupt:
        repl.say("")
    finally:
        ingest.stop()
    repl.say(f"stopped watching {opts.device}: {counts.shown} windows shown, {counts.dropped} dropped")


@dataclass(slots=True)
class WatchCounts:
    """Windows printed, and windows dropped because printing fell behind."""

    shown: int = 0
    dropped: int = 0


def _watch_settings(settings: TesseraSettings, device: str) -> TesseraSettings:
    # Our own client id and no session left behind: the broker must not queue frames for a REPL that left.
    ingest = settings.ingest.model_copy(update={"client_id": f"tessera-repl-watch-{os.getpid()}", "session_expiry_s": 0, "devices": [device]})
    return settings.model_copy(update={"ingest": ingest})


def _offer(windows: queue.Queue, item: tuple, counts: WatchCounts) -> None:
    while True:
        try:
            windows.put_nowait(item)
            return
        except queue.Full:
            try:
                windows.get_nowait()
                counts.dropped += 1
            except queue.Empty:
                pass


def _print_windows(repl: Repl, windows: queue.Queue, counts: WatchCounts, count: int | None, duration: float | None) -> None:
    from adapters import make_encoder

    start = time.monotonic()
    deadline = start + duration if duration else float("inf")
    encoders: dict[Any, Any] = {}
    while (count is None or counts.shown < count) and time.monotonic() < deadline:
        try:
            key, samples, t0, rate = windows.get(timeout=0.2)
        except queue.Empty:
            continue
        if key not in encoders:
            encoders[key] = _encoder(make_encoder, key.stream, rate)
        _print_window(repl, encoders[key], key, samples, t0, rate, time.monotonic() - start)
        counts.shown += 1


def _encoder(make: Callable[..., Any], stream: str, rate: float) -> Any:
    try:
        return make(stream, sample_rate=rate)
    except UnknownNameError:
        log.warning("no encoder for stream", extra={"stream": stream})
        return None


def _print_window(repl: Repl, encoder: Any, key: Any, samples: Any, t0: float, rate: float, elapsed: float) -> None:
    head = f"{elapsed:6.1f}s  {key.device}  {key.stream}"
    if encoder is None:
        repl.say(f"{head}  {len(samples)} samples at {rate:g} Hz (no encoder for stream {key.stream!r})")
        return
    window = encoder.encode(samples, t0)
    repl.ctx.streams.put(key.device, window)  # so `call read_stream device=...` sees what was watched
    repl.say(f"{head}  q={window.quality:.2f}  {' '.join(window.tokens)}")
    repl.say(f"         {window.summary}")
    for event in window.events:
        repl.say(f"         EVENT {event.describe()}")


# --- the planner ---------------------------------------------------------------------------


@command("plan", "plan [--model] [--gbnf] [--run] UTTERANCE",
         "plan a command with the cascade: prompt, grammar, tool and args, log-probabilities, confidence, route")
def cmd_plan(repl: Repl, rest: str) -> None:
    flags, utterance = _leading_flags(rest, {"--model", "--gbnf", "--run"})
    if not utterance:
        raise UsageError("usage: plan [--model] [--gbnf] [--run] UTTERANCE, e.g. plan --model turn off the kitchen lights")
    cascade = repl.cascade()
    with _fast_path(cascade.setup.local, "--model" not in flags):
        plan = cascade.plan(utterance)
    calibrated = plan.confidence  # by the route that produced it, when a calibration is stored
    if plan.completion is not None:
        show_prompt(repl, plan, "--gbnf" in flags)
    show_plan(repl, plan, calibrated)
    if "--run" in flags:
        run_plan(repl, plan, calibrated)


@contextmanager
def _fast_path(planner: Any, enabled: bool) -> Iterator[None]:
    # `plan --model` skips the matcher and the intent model for this one utterance; the REPL runs one command at a time.
    before, models = planner.fast_path, planner.intent_models
    planner.fast_path = enabled
    planner.intent_models = models if enabled else None
    try:
        yield
    finally:
        planner.fast_path, planner.intent_models = before, models


def show_prompt(repl: Repl, plan: Any, gbnf: bool) -> None:
    """What the model saw and wrote: the messages, the grammar, its output and token log-probabilities."""
    completion = plan.completion
    repl.say(f"prompt      {len(plan.messages)} messages, {completion.prompt_tokens} tokens")
    for message in plan.messages:
        repl.say(f"  [{message.role}] {message.content}".replace("\n", "\n    "))
    grammar = grammar_text(plan.schema)
    repl.say(f"grammar     JSON schema, sha256 {_sha256(grammar)[:16]}: {grammar}")
    if gbnf:
        repl.say("gbnf\n" + to_gbnf(plan.schema))
    repl.say(f"output      {completion.text.strip()}  ({completion.completion_tokens} tokens, {completion.latency_s * 1000:.0f} ms)")
    logprobs = " ".join(f"{lp:.2f}" for lp in completion.token_logprobs)
    repl.say(f"logprobs    {logprobs}  (mean {completion.mean_logprob:.3f})")


def show_plan(repl: Repl, plan: Any, calibrated: float | None) -> None:
    """The chosen call, its confidence and the route that produced it."""
    repl.say(f"tool        {plan.tool} {json.dumps(plan.args)}")
    if plan.answer:
        repl.say(f"answer      {plan.answer}")
    calibrated_text = f", calibrated {calibrated:.2f}" if calibrated is not None else " (no calibration stored: `tessera calibrate`)"
    repl.say(f"confidence  {plan.raw_confidence:.2f} raw{calibrated_text}")
    repl.say(f"route       {plan.route}: {ROUTES.get(plan.route, '')}")
    if plan.candidates:  # the intent model's best intents, when the templates did not answer
        repl.say("candidates  " + ", ".join(f"{c.intent} {c.p:.2f}" for c in plan.candidates))
    repl.say(f"latency     {plan.latency_s * 1000:.0f} ms")


def run_plan(repl: Repl, plan: Any, calibrated: float | None) -> None:
    """Execute a planned intent call through the guardrails, recording what the planner knew."""
    if plan.tool not in HOME_INTENTS or plan.failure:
        repl.say(f"nothing to run: the plan is {plan.tool}{', which cannot be done here (' + plan.failure + ')' if plan.failure else ''}")
        return
    completion = plan.completion
    decision = Decision(Source.REPL, plan.utterance, [], completion.prompt_tokens if completion else None,
                        grammar_text(plan.schema), plan.raw_confidence, calibrated, plan.route)
    run_tool(repl, TOOLS.get(plan.tool), plan.args, decision)


def to_gbnf(schema: dict[str, Any]) -> str:
    """The GBNF grammar llama.cpp compiles from the schema, properties in declaration order as the backend does."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from agent.llm.local import property_order

    return json_schema_to_gbnf(json.dumps(schema), prop_order=property_order(schema))


# --- the audit log ---------------------------------------------------------------------------


@command("explain", "explain [ID] [--grammar]", "a decision from the audit log (default the last): input, tool, verdict, confidence, route")
def cmd_explain(repl: Repl, rest: str) -> None:
    opts = _parse(EXPLAIN_OPTIONS, rest)
    audit = repl.guard.audit
    record = audit.get(opts.id) if opts.id is not None else next(iter(audit.last(1)), None)
    if record is None:
        raise UsageError(f"no decision {opts.id} in the audit log" if opts.id is not None else "the audit log has no decisions yet")
    for line in explain_lines(record):
        repl.say(line)
    if opts.grammar and record.grammar_sha256:
        repl.say(audit.grammar(record.grammar_sha256) or "(grammar text missing)")


def explain_lines(r: AuditRecord) -> list[str]:
    """A decision as readable lines."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.ts))
    raw = "-" if r.confidence_raw is None else f"{r.confidence_raw:.2f}"
    calibrated = "-" if r.confidence is None else f"{r.confidence:.2f}"
    grammar = f"sha256 {r.grammar_sha256[:16]} (`explain {r.id} --grammar` prints it)" if r.grammar_sha256 else "none"
    return [
        f"decision    {r.id} at {when}, source {r.source}",
        f"input       {r.input}",
        f"tool        {r.tool} {json.dumps(r.arguments)}",
        f"entities    {', '.join(r.entities) or 'none'}",
        f"guardrail   {r.verdict} ({r.verdict_reason}){', confirmed by a person' if r.confirmed else ''}",
        f"result      {'ok' if r.ok else 'not ok'}: {r.message}",
        f"confidence  raw {raw}, calibrated {calibrated}",
        f"route       {r.route or 'none (called by hand)'}",
        f"prompt      {'-' if r.prompt_tokens is None else r.prompt_tokens} tokens; context {', '.join(r.context_ids) or 'none'}",
        f"grammar     {grammar}",
        f"latency     {'-' if r.latency_s is None else f'{r.latency_s * 1000:.1f} ms'}",
    ]


# --- the shell itself ------------------------------------------------------------------------


@command("history", "history [N]", "the last N command lines (default 20); the up arrow recalls them")
def cmd_history(repl: Repl, rest: str) -> None:
    opts = _parse(HISTORY_OPTIONS, rest)
    lines = list(repl.history.get_strings())
    first = max(0, len(lines) - opts.n)
    for number, line in enumerate(lines[first:], start=first + 1):
        repl.say(f"{number:5d}  {line}")


@command("help", "help [COMMAND]", "the commands, or how to use one")
def cmd_help(repl: Repl, rest: str) -> None:
    if rest:
        found = COMMANDS.get(rest)
        if found is None:
            raise UsageError(f"unknown command {rest!r}; `help` lists the commands")
        repl.say(f"usage: {found.usage}\n{found.summary}")
        return
    for found in COMMANDS.values():
        repl.say(f"{found.usage:52s} {found.summary}")
    repl.say(f"{'quit | exit | Ctrl-D':52s} leave the REPL")


# --- argument parsing ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}; usage: {self.usage}")


def _parser(usage: str) -> _Parser:
    return _Parser(prog=usage.split()[0], usage=usage, add_help=False)


WATCH_OPTIONS = _parser(COMMANDS["watch"].usage)
WATCH_OPTIONS.add_argument("device")
WATCH_OPTIONS.add_argument("stream", nargs="?")
WATCH_OPTIONS.add_argument("--count", type=int)
WATCH_OPTIONS.add_argument("--duration", type=float)
EXPLAIN_OPTIONS = _parser(COMMANDS["explain"].usage)
EXPLAIN_OPTIONS.add_argument("id", type=int, nargs="?")
EXPLAIN_OPTIONS.add_argument("--grammar", action="store_true")
HISTORY_OPTIONS = _parser(COMMANDS["history"].usage)
HISTORY_OPTIONS.add_argument("n", type=int, nargs="?", default=20)


def _parse(parser: _Parser, rest: str) -> argparse.Namespace:
    return parser.parse_args(_split(rest))


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as err:
        raise UsageError(f"cannot read the arguments: {err}") from None


def _one_word(text: str, usage: str) -> str:
    if not text or len(text.split()) != 1:
        raise UsageError(f"usage: {usage}")
    return text


def _leading_flags(text: str, allowed: set[str]) -> tuple[set[str], str]:
    # Free text follows the flags (an utterance may hold quotes shlex would refuse), so only leading --words are options.
    words = text.split()
    flags: set[str] = set()
    while words and words[0].startswith("--"):
        if words[0] not in allowed:
            raise UsageError(f"unknown option {words[0]}; options: {', '.join(sorted(allowed))}")
        flags.add(words.pop(0))
    return flags, " ".join(words)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the terminal ----------------------------------------------------------------------------


class ReplCompleter(Completer):
    """Completes command names, then tool names after `call` / `describe`, then a tool's argument names."""

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        words = before.split()
        current = "" if before.endswith(" ") or not words else words[-1]
        done = words if not current else words[:-1]  # the words already finished
        for candidate in _candidates(done, current):
            if candidate.startswith(current):
                yield Completion(candidate, start_position=-len(current))


def _candidates(done: list[str], current: str) -> list[str]:
    if not done:
        return [*COMMANDS, *QUIT_WORDS]
    if done[0] in ("call", "describe") and len(done) == 1:
        return TOOLS.names()
    if done[0] == "call" and done[1] in TOOLS and "=" not in current:
        given = {w.partition("=")[0] for w in done[2:]}
        return [f"{name}=" for name in TOOLS.get(done[1]).args_model.model_fields if name not in given]
    if done[0] == "help" and len(done) == 1:
        return list(COMMANDS)
    if done[0] == "plan" and current.startswith("-"):
        return ["--model", "--gbnf", "--run"]
    return []


def run_repl(repl: Repl, history_path: Path) -> int:
    """The interactive loop: line editing, persistent history, completion; Ctrl-D or quit ends it."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history_path.parent.mkdir(parents=True, exist_ok=True)
    session: PromptSession = PromptSession(history=FileHistory(str(history_path)), completer=ReplCompleter(), complete_while_typing=False)
    repl.history = session.history
    repl.confirm = _ask_yes_no
    repl.say(f"tessera repl on the {repl.settings.profile} profile, site {repl.settings.mqtt.site}; `help` lists the commands")
    try:
        while True:
            try:
                line = session.prompt(PROMPT)
            except KeyboardInterrupt:
                continue  # Ctrl-C clears the line, as in a shell
            except EOFError:
                break
            if not repl.run_line(line):
                break
    finally:
        repl.close()
    return 0


def _ask_yes_no(question: str) -> bool:
    from prompt_toolkit import prompt

    try:
        return prompt(question).strip().lower() in ("y", "yes")
    except (KeyboardInterrupt, EOFError):
        return False
