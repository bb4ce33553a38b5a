"""Settings of the local knowledge store (part of Tessera's typed config, section `rag`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class RagSettings(BaseModel):
    """Where the vector store lives: an embedded directory by default, a Chroma server by config."""

    path: Path | None = None  # default: <data_dir>/rag
    server_url: str | None = None  # e.g. http://chroma.plant.local:8000 for sites that outgrow one box
    collection_prefix: str = "tessera"
