"""Errors a user can act on. The CLI prints them as one line; everything else is a bug and propagates."""

from __future__ import annotations


class TesseraError(Exception):
    """A problem with input, configuration or environment, with a message that says how to fix it."""


class ConfigError(TesseraError):
    """A configuration value or file is malformed."""


class ModelError(TesseraError):
    """A model file is missing, corrupt, or cannot be loaded."""


class BrokerError(TesseraError):
    """The MQTT broker cannot be reached or refused us."""
