"""Structured logging on stderr: readable lines on a terminal, one JSON object per line otherwise; secrets never included.

`auto` (the default) writes JSON when stderr is not a terminal (a service under systemd, a
pipe, a log shipper) and one readable line per record when a person is watching
(`./run demo`, `tessera hub` in a shell); `--log-format` or $TESSERA_LOG_FORMAT picks one.
Both carry the same fields: time, level, logger, message and whatever came in `extra=`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

# Attributes every LogRecord has; anything else came from `extra=` and is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_SECRET_HINTS = ("password", "api_key", "secret", "token_value")
FORMATS = ("auto", "text", "json")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with `extra=`, secrets masked."""
    return {key: "***" if any(h in key.lower() for h in _SECRET_HINTS) else value
            for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """Formats records as JSON with time, level, logger, message and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        } | extra_fields(record)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line a person reads: `12:22:15 warning agent.llm.edge: edge unavailable (reason=timeout, attempts=3)`."""

    def format(self, record: logging.LogRecord) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname.lower()} {record.name}: {record.getMessage()}"
        line += f" ({fields})" if fields else ""
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "WARNING", log_format: str | None = None, stream: TextIO | None = None) -> None:
    """Send Tessera's logs to `stream` (stderr) at `level`, as text or JSON (`log_format`, else $TESSERA_LOG_FORMAT, else auto)."""
    stream = stream or sys.stderr
    chosen = (log_format or os.environ.get("TESSERA_LOG_FORMAT") or "auto").lower()
    problem = None if chosen in FORMATS else f"unknown log format {chosen!r}; use one of {', '.join(FORMATS)}; using auto"
    if chosen not in ("text", "json"):
        chosen = "text" if _is_terminal(stream) else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if chosen == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    try:
        root.setLevel(level.upper())
    except ValueError:
        root.setLevel(logging.WARNING)
        logging.getLogger(__name__).warning("unknown log level %s; using WARNING", level)
    if problem:
        logging.getLogger(__name__).warning(problem)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream
        return False
