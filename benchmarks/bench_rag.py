"""Local knowledge store: embedding throughput, retrieval quality, episode accuracy, filtered query latency.

Big stores are filled with random unit vectors (the HNSW index and the metadata filter do
the same work whatever the vectors mean) so building 100k chunks takes a minute, not an hour
of embedding. The embedding model runs on 2 threads, the hub's budget.
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Measurement
from rag.chunking import chunk_markdown
from base.settings import RagSettings
from rag.episodes import add_episodes, similar_episodes
from rag.evaluate import QUESTIONS, evaluate, load_questions
from rag.ingest import SEED_DIR, ingest_seed
from rag.store import DOCUMENTS, Filter, KnowledgeStore
from rag.synthetic import make_episodes

log = logging.getLogger(__name__)
THREADS = 2


def _store(root: Path) -> KnowledgeStore:
    return KnowledgeStore(RagSettings(path=root / "store", embedding_threads=THREADS), root)


def _embedding(store: KnowledgeStore, quick: bool) -> list[Measurement]:
    embedder = store.embedding_function._embedder
    chunks = [c.text for p in sorted((SEED_DIR / "docs").glob("*.md")) for c in chunk_markdown(p.read_text(encoding="utf-8"), p.stem)]
    chars = statistics.mean(len(c) for c in chunks)
    embedder.embed(chunks[:8])  # warm-up
    rates = []
    for _ in range(1 if quick else 3):
        start = time.perf_counter()
        embedder.embed(chunks)
        rates.append(len(chunks) / (time.perf_counter() - start))
    single = []
    for text in [q.question for q in load_questions(QUESTIONS)[: 30 if quick else 100]]:
        start = time.perf_counter()
        embedder.embed([text])
        single.append((time.perf_counter() - start) * 1000)
    return [
        Measurement("rag.embed_throughput", statistics.median(rates), "chunks/s", f"seed KB chunks ({len(chunks)}, mean {chars:.0f} chars), batch {embedder.batch_size}, {THREADS} onnxruntime threads, median of {len(rates)}"),
        Measurement("rag.embed_query_p50", statistics.median(single), "ms", f"one question embedded alone, {len(single)} questions", {"p95_ms": round(float(np.percentile(single, 95)), 2)}),
    ]


def _quality(store: KnowledgeStore) -> list[Measurement]:
    start = time.perf_counter()
    ingest_seed(store)
    ingest_s = time.perf_counter() - start
    result = evaluate(store, load_questions(QUESTIONS), k=5)
    detail = f"{result.n} labelled questions over the seed KB ({store.collection(DOCUMENTS).count()} chunks)"
    return [
        Measurement("rag.recall_at_5", result.recall, "ratio", detail),
        Measurement("rag.mrr_at_10", result.mrr, "ratio", detail),
        Measurement("rag.seed_ingest", ingest_s, "s", "ingest of the whole seed KB into an empty store, embedding included"),
    ]


def _episodes(store: KnowledgeStore, quick: bool) -> list[Measurement]:
    per_fault = 20 if quick else 50
    stored = make_episodes(per_fault, seed=21)
    add_episodes(store, [w for _, w in stored], device="bench-machine", site="bench", labels=[f for f, _ in stored])
    queries = make_episodes(10 if quick else 25, seed=22, t0=1.8e9)
    right = sum(similar_episodes(store, w, k=1)[0].label == f for f, w in queries)
    return [Measurement("rag.episode_nearest_type", right / len(queries), "ratio", f"{len(queries)} synthetic vibration queries, 8 fault types, {len(stored)} stored episodes (rag/synthetic.py order-spectrum embedding)")]


def _episodes_vibration_encoder(store: KnowledgeStore, quick: bool) -> list[Measurement]:
    """The same retrieval over Tessera's vibration encoder and machine simulator, when both are there."""
    try:
        from adapters import make_encoder
        from firmware_sim.signals.vibration import FAULTS, random_state, simulate
    except ImportError as err:  # the encoder is developed beside rag/; its absence is not rag's failure
        log.warning("vibration encoder not available (%s); skipping its episode figure", err)
        return []
    fs = 12800.0
    encoder = make_encoder("vibration", sample_rate=fs)

    def generate(per_fault: int, seed: int, t0: float) -> list[tuple[str, object]]:
        rng = np.random.default_rng(seed)
        out = []
        for i in range(per_fault):
            for j, fault in enumerate(FAULTS):
                sim = simulate(encoder.window_s, fs, random_state(fault, rng, fs), rng)
                out.append((fault, encoder.encode(sim.signal_g, t0 + 60.0 * (i * len(FAULTS) + j))))
        return out

    stored = generate(10 if quick else 30, 31, 1.7e9)
    add_episodes(store, [w for _, w in stored], device="bench-vibration", site="bench", labels=[f for f, _ in stored])
    queries = generate(5 if quick else 15, 32, 1.8e9)
    right = sum(similar_episodes(store, w, k=1)[0].label == f for f, w in queries)
    dim = stored[0][1].embedding.size
    return [Measurement("rag.episode_nearest_type_vibration_encoder", right / len(queries), "ratio", f"{len(queries)} simulated windows (firmware_sim), {len(FAULTS)} faults, {len(stored)} stored, adapters vibration encoder embedding ({dim}-d)")]


def _latency(root: Path, quick: bool) -> list[Measurement]:
    sizes = [10_000] if quick else [10_000, 50_000, 100_000]
    store = _store(root / "latency")
    col = store.client.get_or_create_collection("bench-latency", metadata={"hnsw:space": "cosine"})
    rng = np.random.default_rng(5)
    batch = min(5000, store.client.get_max_batch_size())
    out: list[Measurement] = []
    filled = 0
    for size in sizes:
        start = time.perf_counter()
        while filled < size:
            n = min(batch, size - filled)
            vecs = rng.normal(size=(n, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            ids = [f"c{filled + i}" for i in range(n)]
            metas = [{"site": f"site-{(filled + i) % 10}", "device": f"dev-{(filled + i) % 100}", "modality": "doc", "kind": "document", "t": 1.7e9 + filled + i} for i in range(n)]
            col.add(ids=ids, embeddings=vecs, metadatas=metas, documents=[f"chunk {filled + i}" for i in range(n)])
            filled += n
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        store.warm_filters(col)  # a running daemon does this in the background after its first filtered query
        warm_s = time.perf_counter() - start
        for label, flt in (("site (10%)", Filter(site="site-3")), ("device (1%)", Filter(device="dev-42")), ("site+time (5%)", Filter(site="site-3", since=1.7e9 + size / 2))):
            queries = rng.normal(size=(60 if quick else 200, 384)).astype(np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            store_ms, native_ms = [], []
            for q in queries:
                t = time.perf_counter()
                hits = store.search_vector(col, q, 5, flt)
                store_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                res = col.query(query_embeddings=[q], n_results=5, where=flt.where(), include=["documents", "metadatas", "distances"])
                native_ms.append((time.perf_counter() - t) * 1000)
                if len(hits) != 5 or not all(flt.matches(h.metadata) for h in hits) or len(res["ids"][0]) != 5:
                    raise RuntimeError(f"filtered query returned a wrong result at {size}")
            out.append(
                Measurement(
                    f"rag.query_p95_{size // 1000}k_{label.split(' ')[0]}",
                    float(np.percentile(store_ms, 95)),
                    "ms",
                    f"KnowledgeStore.search_vector k=5, filter on {label}, {len(store_ms)} queries, {size} chunks of 384-d, embedded chromadb",
                    {
                        "p50_ms": round(statistics.median(store_ms), 2),
                        "chroma_where_p95_ms": round(float(np.percentile(native_ms, 95)), 2),
                        "chroma_where_p50_ms": round(statistics.median(native_ms), 2),
                        "build_s": round(build_s, 1),
                        "filter_cache_warm_s": round(warm_s, 2),
                    },
                )
            )
    return out


def run(quick: bool) -> list[Measurement]:
    """All rag figures; quick mode uses fewer repeats and stops the latency ladder at 10k chunks."""
    root = Path(tempfile.mkdtemp(prefix="tessera-bench-rag-"))
    try:
        store = _store(root)
        rows = _embedding(store, quick)
        rows += _quality(store)
        rows += _episodes(store, quick)
        rows += _episodes_vibration_encoder(store, quick)
        rows += _latency(root, quick)
        for m in rows:
            m.extra.setdefault("cpu_count", str(os.cpu_count()))
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)
