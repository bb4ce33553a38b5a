"""The `tessera` command as a user meets it: one clear line and a non-zero exit for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from base.net import free_port


def tessera(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")} | (env or {})
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tessera: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    proc = tessera("model", "check", env={"TESSERA_LLM__MODEL_PATH": str(tmp_path / "nowhere.gguf")})
    assert_one_line_error(proc, "nowhere.gguf", "not found")


def test_corrupt_model_says_so_before_the_demo_starts(tmp_path: Path) -> None:
    bad = tmp_path / "half.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    proc = tessera("demo", "--duration", "5", env={"TESSERA_LLM__MODEL_PATH": str(bad)})
    assert_one_line_error(proc, "half.gguf")


def test_unreachable_broker_without_fallback(tmp_path: Path) -> None:
    env = {"TESSERA_MQTT__URL": f"mqtt://127.0.0.1:{free_port()}", "TESSERA_DEMO__EMBEDDED_BROKER": "false"}
    proc = tessera("demo", "--duration", "5", env=env)
    assert_one_line_error(proc, "no MQTT broker answers")


def test_malformed_environment_value() -> None:
    proc = tessera("config", "show", env={"TESSERA_MQTT__KEEPALIVE_S": "often"})
    assert_one_line_error(proc, "mqtt.keepalive_s", "TESSERA_MQTT__KEEPALIVE_S")


def test_model_check_reports_the_verified_default() -> None:
    proc = tessera("model", "check", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["verified"] is True and info["path"].endswith(".gguf") and info["size_mb"] > 50
