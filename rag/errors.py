"""Errors of the knowledge store that a user can act on (printed as one line by the CLI)."""

from __future__ import annotations

from base.errors import TesseraError


class RagError(TesseraError):
    """A problem with the local knowledge store."""


class EmbeddingModelMissing(RagError):
    """The offline embedding model files are not installed."""


class StoreCorruptError(RagError):
    """The store directory exists but chromadb cannot open or read it."""


class StoreUnavailableError(RagError):
    """The configured Chroma server cannot be reached, or the store path is not usable."""
