"""Shared fixtures: real parts only (broker, model, store); paths to the shared real data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own Tessera data directory and no inherited Tessera settings."""
    for key in [k for k in os.environ if k.startswith("TESSERA_")]:
        monkeypatch.delenv(key)
    data_dir = tmp_path / "tessera-data"
    monkeypatch.setenv("TESSERA_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real recordings beside the clone (`../shared/data`); skips if absent."""
    path = REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture()
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real MQTT broker (mosquitto, else amqtt) on a free loopback port, private to the test."""
    from agent.ingest.broker import EmbeddedBroker

    with EmbeddedBroker(workdir=tmp_path_factory.mktemp("broker")) as running:
        yield running


@pytest.fixture(scope="session")
def local_backend():
    """The real default model through llama.cpp, loaded once per test session."""
    from base.settings import LlmSettings
    from agent.llm.local import LlamaCppBackend

    return LlamaCppBackend(LlmSettings(n_threads=2))


@pytest.fixture(scope="session")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A real OpenAI-compatible server (llama_cpp.server, default model, API key) on loopback, once per session."""
    from tests.edge_server import EdgeServer

    server = EdgeServer(tmp_path_factory.mktemp("edge"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seeded_knowledge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real chromadb store on disk holding the shipped knowledge base, built once per session; its path."""
    from base.settings import load_settings
    from agent.services.runtime import open_knowledge

    root = tmp_path_factory.mktemp("knowledge")
    settings = load_settings().model_copy(update={"data_dir": root})
    settings = settings.model_copy(update={"rag": settings.rag.model_copy(update={"path": root / "rag"})})
    open_knowledge(settings)  # seeds an empty store
    return root / "rag"
