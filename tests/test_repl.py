"""`tessera repl` through a real pseudo-terminal: line editing, completion, history, tools through the guardrails over a
real broker, a live stream from simulated firmware, the real model's plan, and the audit log read back."""

from __future__ import annotations

import json
import os
import queue
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from agent.decide.audit import AuditDatabase, AuditLog
from agent.ingest.broker import EmbeddedBroker
from base.settings import MqttSettings
from base.mqtt import close, connect
from firmware_sim.ecg_patch import EcgPatch

REPO = Path(__file__).resolve().parents[1]
PROMPT = "tessera>"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
UP = "\x1b[A"


def spawn(data_dir: Path, env: dict[str, str] | None = None) -> pexpect.spawn:
    """`tessera repl` on a pty, waiting at its first prompt."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    # No cursor-position requests: pexpect's terminal does not answer them.
    full_env |= {"TESSERA_DATA_DIR": str(data_dir), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"} | (env or {})
    child = pexpect.spawn(sys.executable, ["-m", "agent.cli", "repl"], cwd=str(REPO), env=full_env, encoding="utf-8",
                          dimensions=(50, 250), timeout=20)
    child.expect_exact(PROMPT)
    return child


def run(child: pexpect.spawn, keys: str, timeout: float = 20) -> str:
    """Type `keys` and Enter; the command's output (ANSI codes removed) once the next prompt shows."""
    child.send(keys + "\r")
    child.expect_exact("\r\r\n", timeout=timeout)  # prompt_toolkit's last render of the accepted line ends so
    child.expect_exact(PROMPT, timeout=timeout)
    return ANSI.sub("", child.before)


def tab(child: pexpect.spawn, typed: str, added: str) -> None:
    """Type `typed` and Tab; wait until the completion is drawn (it is computed asynchronously).

    The screen is redrawn by difference, so only the inserted text `added` is sure to appear in one piece.
    """
    child.send(typed + "\t")
    child.expect_exact(added)


def quit_repl(child: pexpect.spawn) -> None:
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


@pytest.fixture()
def subscriber(broker: EmbeddedBroker) -> Iterator[queue.Queue]:
    """Messages on the site's device command topics, as a device would receive them."""
    got: queue.Queue = queue.Queue()
    client = connect(MqttSettings(url=broker.url), f"test-sub-{time.monotonic_ns()}")
    client.on_message = lambda _c, _u, msg: got.put((msg.topic, json.loads(msg.payload)))
    client.subscribe("tessera/home/+/set", qos=1)
    time.sleep(0.2)
    yield got
    close(client)


def test_tools_describe_errors_completion_and_history(isolated_state: Path) -> None:
    repl = spawn(isolated_state)
    listing = run(repl, "tools")
    assert re.search(r"HassTurnOff\s+actuate\s+allowed\s+Turn off a device", listing)
    assert re.search(r"stop_machine\s+actuate\s+denied", listing)  # a gateway tool, not on the hub profile
    described = run(repl, "describe HassLightSet")
    assert "permission actuate; allowed on the hub profile" in described
    assert re.search(r"brightness\s+integer\s+default null\s+maximum 100, minimum 0", described)

    error = run(repl, "call HassLightSet name=Porch brightness=500").strip().splitlines()
    assert error[-1] == "error: invalid arguments for HassLightSet: brightness: Input should be less than or equal to 100"
    assert run(repl, "frob").strip().endswith("error: unknown command 'frob'; `help` lists the commands")
    assert "watch DEVICE [STREAM]" in run(repl, "help")  # the REPL is still there

    tab(repl, "describe raise_al", "ert")  # a tool name
    completed = run(repl, "")
    assert "raise_alert: Notify the caregiver" in completed and "severity" in completed
    tab(repl, "call log_observation dev", "ice=")  # an argument name
    logged = run(repl, "d1 kind=test summary='from the repl'")
    assert "ok: observation logged for d1" in logged
    again = run(repl, UP)  # the up arrow recalls the last line
    assert "ok: observation logged for d1" in again and "decision 2 in the audit log" in again
    numbered = run(repl, "history 3")
    assert re.search(r"\d+  call log_observation device=d1 kind=test summary='from the repl'\r\n\s+\d+  history 3", numbered)
    quit_repl(repl)
    saved = (isolated_state / "repl_history").read_text()
    assert "+describe raise_alert\n" in saved and "+call HassLightSet name=Porch brightness=500\n" in saved


@pytest.mark.broker
def test_call_publishes_through_the_guardrails_and_explain_reads_the_audit_log(
        broker: EmbeddedBroker, subscriber: queue.Queue, isolated_state: Path) -> None:
    repl = spawn(isolated_state, {"TESSERA_MQTT__URL": broker.url})
    done = run(repl, 'call HassTurnOff name="Kitchen Ceiling Light"')
    assert "ok: HassTurnOff: light.kitchen_ceiling" in done
    assert subscriber.get(timeout=5) == ("tessera/home/light.kitchen_ceiling/set", {"service": "turn_off"})

    # Unlocking is dangerous: the guardrails ask, and only a yes at the prompt sends the command.
    repl.send('call HassTurnOff {"name": "Front Door"}\r')
    repl.expect_exact("needs confirmation: please confirm: unlock Front Door (entities: lock.front_door)")
    repl.expect_exact("go ahead? [y/N]")
    assert "not confirmed; nothing was done" in run(repl, "n")
    assert subscriber.empty()
    repl.send('call HassTurnOff {"name": "Front Door"}\r')
    repl.expect_exact("go ahead? [y/N]")
    assert "ok: HassTurnOff: lock.front_door" in run(repl, "y")
    assert subscriber.get(timeout=5) == ("tessera/home/lock.front_door/set", {"service": "unlock"})
    time.sleep(0.2)
    assert subscriber.empty()  # one unlock: the "n" sent nothing

    explained = run(repl, "explain")
    assert re.search(r"source repl\r\ninput\s+call HassTurnOff \{\"name\": \"Front Door\"\}", explained)
    assert "entities    lock.front_door" in explained and "guardrail   allow (confirmed), confirmed by a person" in explained
    assert "route       none (called by hand)" in explained
    assert re.search(r"guardrail   deny \(not_allowed\)", run(repl, "call open_ticket device=pump-1 title=bearing") + run(repl, "explain"))
    quit_repl(repl)

    records = AuditLog(AuditDatabase(isolated_state / "audit.sqlite")).last(10)
    assert [(r.tool, r.verdict, r.confirmed, r.source) for r in reversed(records)] == [
        ("HassTurnOff", "allow", False, "repl"), ("HassTurnOff", "confirm", False, "repl"), ("HassTurnOff", "confirm", False, "repl"),
        ("HassTurnOff", "allow", True, "repl"), ("open_ticket", "deny", False, "repl")]


@pytest.mark.broker
def test_watch_prints_live_tokens_until_ctrl_c(broker: EmbeddedBroker, isolated_state: Path) -> None:
    # Eight seconds of ECG a second: the 8 s windows (every 2 s) come four a second.
    patch = EcgPatch(MqttSettings(url=broker.url), "ecg-patch-1", [(0.0, 72.0)], speed=8).start()
    try:
        repl = spawn(isolated_state, {"TESSERA_MQTT__URL": broker.url})
        repl.send("watch ecg-patch-1\r")
        repl.expect_exact("watching tessera/+/ecg-patch-1/data/# (windows of 8 s every 2 s); Ctrl-C to stop")
        for _ in range(2):
            repl.expect(r"ecg-patch-1  ecg  q=\d\.\d\d  <ecg:quality:ok> (?:<ecg:sqi:\w+> )?<ecg:hr:(\d+)>")
            assert 60 <= int(repl.match.group(1)) <= 85
            repl.expect(r"ECG 8s: HR \d+ bpm, sinus")
        repl.sendintr()
        repl.expect(r"stopped watching ecg-patch-1: (\d+) windows shown")
        assert int(repl.match.group(1)) >= 2
        repl.expect_exact(PROMPT)
        assert "1 windows shown" in run(repl, "watch ecg-patch-1 ecg --count 1")
        latest = run(repl, "call read_stream device=ecg-patch-1")  # what watch saw is what the agent's tool reads
        assert re.search(r"ok: ecg-patch-1 \(ecg, .*\): ECG 8s: HR \d+ bpm", latest) and "<ecg:hr:" in latest
        quit_repl(repl)
    finally:
        patch.stop()


@pytest.mark.model
@pytest.mark.broker
def test_plan_shows_the_fast_path_then_the_models_prompt_grammar_and_logprobs(
        broker: EmbeddedBroker, subscriber: queue.Queue, isolated_state: Path) -> None:
    repl = spawn(isolated_state, {"TESSERA_MQTT__URL": broker.url})
    fast = run(repl, "plan turn off the kitchen lights", timeout=30)
    assert "route       fast: the deterministic matcher answered: no prompt, no model" in fast
    assert "prompt " not in fast and "logprobs" not in fast
    assert 'tool        HassTurnOff {"area": "Kitchen", "domain": "light"}' in fast
    weather = run(repl, "plan is it going to rain tomorrow", timeout=120)  # no template: the intent model's candidates
    assert re.search(r"candidates  HassGetWeather \d\.\d\d, ", weather), weather

    planned = run(repl, "plan --model --run turn off the kitchen lights", timeout=90)
    assert re.search(r"prompt      \d+ messages, \d+ tokens\r\n  \[system\] You are Tessera", planned)
    assert planned.count("[user] ") >= 2 and "[user] turn off the kitchen lights\r\n" in planned
    grammar = re.search(r"grammar     JSON schema, sha256 ([0-9a-f]{16}): \{", planned)
    logprobs = re.search(r"logprobs    ((?:-?\d+\.\d\d ?)+) \(mean (-?\d+\.\d+)\)", planned)
    confidence = re.search(r"confidence  (\d\.\d\d) raw", planned)
    assert grammar and logprobs and confidence
    values = [float(v) for v in logprobs.group(1).split()]
    assert len(values) >= 3 and all(v <= 0 for v in values)
    assert 0 < float(confidence.group(1)) <= 1
    assert "route       local: the on-device model" in planned
    assert "ok: HassTurnOff: light.kitchen_ceiling" in planned  # --run went through the executor
    assert subscriber.get(timeout=5)[0] == "tessera/home/light.kitchen_ceiling/set"

    explained = run(repl, "explain")
    assert "input       turn off the kitchen lights" in explained and "route       local" in explained
    assert f"grammar     sha256 {grammar.group(1)}" in explained  # the grammar the plan showed is the one recorded
    assert re.search(r"prompt      \d{3,} tokens", explained) and f"confidence  raw {confidence.group(1)}" in explained
    quit_repl(repl)
