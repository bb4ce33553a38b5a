"""Errors a user can act on. The CLI prints them as one line; everything else is a bug and propagates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError


class TesseraError(Exception):
    """A problem with input, configuration or environment, with a message that says how to fix it."""


class ConfigError(TesseraError):
    """A configuration value or file is malformed."""


class ModelError(TesseraError):
    """A model file is missing, corrupt, or cannot be loaded."""


class BrokerError(TesseraError):
    """The MQTT broker cannot be reached or refused us."""


def read_yaml(path: Path, what: str, missing_hint: str, error: type[TesseraError] = ConfigError) -> Any:
    """The parsed YAML at `path`; `error` in one line naming `what` when it is missing or unreadable."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} not found{'; ' + missing_hint if missing_hint else ''}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise error(f"{what} {path} is not readable YAML: {str(err).splitlines()[0]}") from err


def first_problem(err: ValidationError) -> tuple[str, str]:
    """Where (dotted field path) and what the first problem of a pydantic validation error is."""
    first = err.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]
