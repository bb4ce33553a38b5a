"""Log lines: readable on a terminal, JSON for machines, the same fields either way, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from base.logs import configure_logging

REPO = Path(__file__).resolve().parents[1]
WARN = ("import logging; from base.logs import configure_logging; configure_logging('INFO'); "
        "logging.getLogger('agent.llm.edge').warning('edge unavailable', extra={'reason': 'timeout', 'mqtt_password': 'hunter2'})")


@pytest.fixture(autouse=True)
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_json_off_a_terminal_and_text_when_asked() -> None:
    out = io.StringIO()  # not a terminal: JSON
    configure_logging("INFO", stream=out)
    logging.getLogger("agent.decide.escalation").warning("edge fallback", extra={"kind": "event", "api_key": "sk-1"})
    entry = json.loads(out.getvalue())
    assert (entry["level"], entry["logger"], entry["msg"], entry["kind"], entry["api_key"]) == ("warning", "agent.decide.escalation", "edge fallback", "event", "***")
    text = io.StringIO()
    configure_logging("INFO", "text", stream=text)
    logging.getLogger("agent.decide.escalation").warning("edge fallback", extra={"kind": "event", "api_key": "sk-1"})
    line = text.getvalue().strip()
    assert line.endswith("warning agent.decide.escalation: edge fallback (kind=event, api_key=***)") and "{" not in line, line


def test_a_bad_format_name_says_what_to_use() -> None:
    out = io.StringIO()
    configure_logging("INFO", "yaml", stream=out)
    assert "unknown log format 'yaml'; use one of auto, text, json" in json.loads(out.getvalue())["msg"]


def test_a_terminal_gets_readable_lines_and_a_pipe_gets_json() -> None:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    on_terminal = pexpect.spawn(sys.executable, ["-c", WARN], cwd=str(REPO), env=env, encoding="utf-8", timeout=30)
    on_terminal.expect(pexpect.EOF)
    line = on_terminal.before.strip()
    assert line.endswith("warning agent.llm.edge: edge unavailable (reason=timeout, mqtt_password=***)"), line
    assert "hunter2" not in line and not line.startswith("{")
    asked = pexpect.spawn(sys.executable, ["-c", WARN], cwd=str(REPO), env=env | {"TESSERA_LOG_FORMAT": "json"}, encoding="utf-8", timeout=30)
    asked.expect(pexpect.EOF)
    assert json.loads(asked.before.strip())["reason"] == "timeout"
    piped = subprocess.run([sys.executable, "-c", WARN], cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert json.loads(piped.stderr)["msg"] == "edge unavailable" and "hunter2" not in piped.stderr
