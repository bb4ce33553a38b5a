"""Ingest files into the store: idempotent, one transaction per document, failures reported per file.

A document's chunks are embedded first and then written with a single `add` (one SQLite
transaction in chromadb), and every chunk carries the document's content hash and chunk
count. So an ingest killed at any moment leaves each document either wholly stored or
absent, and `KnowledgeStore.check()` can prove it.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.chunking import Chunk, chunk_markdown, chunk_pages, chunk_text
from rag.examples import ingest_examples_file
from rag.readers import TEXT_SUFFIXES, FailReason, FileResult, ReadDocument, ReadFailed, Status, read_document
from rag.store import DOCUMENTS, KnowledgeStore

log = logging.getLogger(__name__)

SEED_DIR = Path(__file__).parent / "seed"


@dataclass(slots=True)
class IngestReport:
    """Results of one ingest run."""

    results: list[FileResult] = field(default_factory=list)

    def count(self, status: Status) -> int:
        """How many files ended with `status`."""
        return sum(1 for r in self.results if r.status is status)

    @property
    def failed(self) -> list[FileResult]:
        """The files that were not ingested."""
        return [r for r in self.results if r.status is Status.FAILED]


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and the ingestible files under directories named (sorted, hidden ones skipped)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if (child.is_file() or child.is_symlink()) and child.suffix.lower() in TEXT_SUFFIXES and child.name != "questions.jsonl":
                    yield child
        else:
            yield path


def source_name(path: Path) -> str:
    """The citation name of a file: `seed/<name>` for the shipped knowledge base, else its absolute path."""
    resolved = path.absolute()
    try:
        return "seed/" + resolved.relative_to(SEED_DIR.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def ingest_paths(
    store: KnowledgeStore,
    paths: Iterable[Path],
    site: str = "",
    device: str = "",
    modality: str = "",
    progress: bool = False,
) -> IngestReport:
    """Ingest files and directories; each file succeeds or fails on its own."""
    files = list(expand_paths(paths))
    report = IngestReport()
    bar = _progress(len(files)) if progress else None
    for path in files:
        if bar is not None:
            bar.set_postfix_str(path.name[-40:], refresh=False)
        result = ingest_file(store, path, site=site, device=device, modality=modality)
        report.results.append(result)
        if result.status is Status.FAILED:
            log.info("%s", result.line())
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return report


def ingest_file(store: KnowledgeStore, path: Path, site: str = "", device: str = "", modality: str = "") -> FileResult:
    """Ingest one file (document or examples), never raising for bad input."""
    source = source_name(path)
    max_bytes = int(store.settings.max_file_mb * 1_000_000)
    try:
        doc = read_document(path, max_bytes)
        if doc.format == "examples":

            return ingest_examples_file(store, doc, source, site=site, device=device)
        return _ingest_document(store, doc, source, site, device, modality)
    except ReadFailed as err:
        return FileResult(str(path), Status.FAILED, reason=err.reason, message=str(err))


def _chunks(doc: ReadDocument, title: str, max_chars: int, overlap: int) -> list[Chunk]:
    if doc.format == "markdown":
        return chunk_markdown(doc.text, title, max_chars, overlap)
    if doc.format == "pdf":
        return chunk_pages(doc.pages, title, max_chars, overlap)
    return chunk_text(doc.text, title, max_chars, overlap)


def _ingest_document(store: KnowledgeStore, doc: ReadDocument, source: str, site: str, device: str, modality: str) -> FileResult:
    col = store.collection(DOCUMENTS)
    sha = hashlib.sha256(doc.raw).hexdigest()
    existing = col.get(where={"source": source}, include=["metadatas"])
    old_ids = existing["ids"]
    same = all(m["content_sha"] == sha and m["site"] == site and m["device"] == device and m["modality"] == modality for m in existing["metadatas"])
    if old_ids and same and len(old_ids) == existing["metadatas"][0]["n_chunks"]:
        return FileResult(str(doc.path), Status.UNCHANGED, chunks=len(old_ids), message=doc.note)
    s = store.settings
    chunks = _chunks(doc, doc.path.stem, s.chunk_chars, s.chunk_overlap_chars)
    if not chunks:
        raise ReadFailed(FailReason.EMPTY, "no text left after splitting")
    limit = min(s.max_chunks_per_document, store.client.get_max_batch_size())
    if len(chunks) > limit:
        # One add per document is what keeps an interrupted ingest clean; refuse rather than split it.
        raise ReadFailed(FailReason.TOO_MANY_CHUNKS, f"{len(chunks)} chunks is over the {limit} per document; split the file")
    # Embed before touching the store: the slow part happens while the old version still serves queries.
    vectors = store.embedding_function([c.text for c in chunks])
    doc_id = hashlib.sha1(source.encode()).hexdigest()[:16]
    now = store.now()
    metadatas: list[dict[str, Any]] = [
        {
            "kind": "document",
            "doc_id": doc_id,
            "source": source,
            "title": doc.path.stem,
            "format": doc.format,
            "heading": c.heading,
            "chunk_index": i,
            "n_chunks": len(chunks),
            "char_start": c.start,
            "char_end": c.end,
            "page": c.page if c.page is not None else -1,
            "content_sha": sha,
            "site": site,
            "device": device,
            "modality": modality,
            "t": float(doc.mtime),
            "ingested_at": now,
        }
        for i, c in enumerate(chunks)
    ]
    # Ids change with every filterable field, so a cached (id -> fields) entry is never stale.
    scope = hashlib.sha1(f"{site}|{device}|{modality}|{doc.mtime!r}".encode()).hexdigest()[:8]
    ids = [f"{doc_id}:{sha[:12]}:{scope}:{i:05d}" for i in range(len(chunks))]
    if old_ids:
        col.delete(ids=old_ids)
    col.add(ids=ids, documents=[c.text for c in chunks], metadatas=metadatas, embeddings=[list(map(float, v)) for v in vectors])
    log.info("ingested %s: %d chunks", source, len(chunks))
    return FileResult(str(doc.path), Status.REPLACED if old_ids else Status.ADDED, chunks=len(chunks), message=doc.note)


def ingest_seed(store: KnowledgeStore, progress: bool = False) -> IngestReport:
    """Ingest the knowledge base shipped with Tessera (manuals, references, worked examples)."""
    return ingest_paths(store, [SEED_DIR / "docs", SEED_DIR / "examples.jsonl"], progress=progress)


def _progress(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with chromadb; without it ingest is just quiet
        return None
    return tqdm(total=total, unit="file", file=sys.stderr, desc="ingest", leave=True, dynamic_ncols=True)
