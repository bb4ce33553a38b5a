"""Settings of the local knowledge store (part of Tessera's typed config, section `rag`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class RagSettings(BaseModel):
    """Where the vector store lives: an embedded directory by default, a Chroma server by config."""

    path: Path | None = None  # default: <data_dir>/rag
    server_url: str | None = None  # e.g. http://chroma.plant.local:8000 for sites that outgrow one box
    collection_prefix: str = "tessera"
    # Embedding: all-MiniLM-L6-v2 int8 on onnxruntime. Two threads match the hub's CPU budget;
    # the LLM needs the rest of the cores.
    embedding_threads: int | None = Field(2, ge=1)
    embedding_batch: int = Field(32, ge=1, le=512)
    max_tokens: int = Field(256, ge=16, le=512)  # the model was trained at 256 word pieces
    # Chunking: ~800 characters stay under 256 word pieces for English technical prose.
    chunk_chars: int = Field(800, ge=100, le=8000)
    chunk_overlap_chars: int = Field(120, ge=0, le=2000)
    # Ingest limits: bigger files are refused with a message instead of stalling a hub.
    max_file_mb: float = Field(8.0, gt=0)
    max_chunks_per_document: int = Field(4000, ge=1)
