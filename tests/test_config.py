"""Typed configuration: defaults < profile < file < environment, secrets masked, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from base.settings import load_settings
from base.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_profiles_set_their_defaults() -> None:
    assert load_settings(profile="hub").mqtt.site == "home"
    assert load_settings(profile="gateway").mqtt.site == "plant"


def test_environment_overrides_file_which_overrides_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "c.yaml", "mqtt:\n  site: attic\n  url: mqtt://10.0.0.5:1883\nllm:\n  n_ctx: 4096\n")
    monkeypatch.setenv("TESSERA_MQTT__URL", "mqtts://broker.example:8883")
    settings = load_settings(config, profile="gateway")
    assert settings.mqtt.site == "attic"  # file beats profile
    assert settings.mqtt.url == "mqtts://broker.example:8883"  # environment beats file
    assert settings.llm.n_ctx == 4096 and settings.profile == "gateway"


def test_config_show_masks_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path / "c.yaml", "mqtt:\n  username: hub\n  password: hunter2-secret\nedge:\n  api_key: sk-live-123\n")
    assert main(["--config", str(config), "config", "show"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["mqtt"]["username"] == "hub"
    assert "hunter2-secret" not in out and "sk-live-123" not in out
    assert shown["mqtt"]["password"] == "**********"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("llm:\n  n_ctx: lots\n", "llm.n_ctx"),
        ("mqtt:\n  url: http://x\n", "mqtt.url"),
        ("mqtt: [1, 2]\n", "mqtt"),
        ("bogus_section: 1\n", "bogus_section"),
        ("- just\n- a list\n", "mapping"),
        ("mqtt: {url: [unclosed\n", "not readable YAML"),
    ],
)
def test_malformed_config_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError, match=expected):
        load_settings(config)
    assert main(["--config", str(config), "config", "show"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tessera: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_missing_config_file_and_bad_env_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    monkeypatch.setenv("TESSERA_LLM__N_THREADS", "zero")
    with pytest.raises(ConfigError, match="TESSERA_LLM__N_THREADS"):
        load_settings()
