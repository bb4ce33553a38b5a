"""The chromadb store: one client (embedded directory or Chroma server), Tessera's collections, filters, forget.

Collections (names start with the configured prefix, default `tessera`):
  <prefix>-documents            chunks of manuals and notes, embedded by the offline MiniLM function
  <prefix>-examples             utterance -> tool call and event -> action pairs, embedded the same way
  <prefix>-episodes-<modality>  sensor windows, embedded by their encoder (one collection per modality
                                because each encoder has its own embedding size)
Every record carries `kind`, `site`, `device`, `modality` and `t` (seconds since the epoch) so the same
filters work everywhere.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from base.settings import RagSettings
from rag.errors import StoreCorruptError, StoreUnavailableError
from rag.filtered import PoolSearch

log = logging.getLogger(__name__)

DOCUMENTS, EXAMPLES, EPISODES = "documents", "examples", "episodes"
# Filtered queries on collections above this size go through rag/filtered.py first.
PREFILTER_BELOW = 2000


@dataclass(slots=True, frozen=True)
class Filter:
    """Metadata filters shared by every collection; None means any."""

    site: str | None = None
    device: str | None = None
    modality: str | None = None
    kind: str | None = None
    since: float | None = None  # t >= since
    until: float | None = None  # t <= until
    label: str | None = None

    def where(self) -> dict[str, Any] | None:
        """The chromadb `where` clause, or None when nothing is filtered."""
        terms: list[dict[str, Any]] = []
        for key in ("site", "device", "modality", "kind", "label"):
            value = getattr(self, key)
            if value is not None:
                terms.append({key: value})
        if self.since is not None:
            terms.append({"t": {"$gte": float(self.since)}})
        if self.until is not None:
            terms.append({"t": {"$lte": float(self.until)}})
        if not terms:
            return None
        return terms[0] if len(terms) == 1 else {"$and": terms}

    def matches(self, metadata: dict[str, Any]) -> bool:
        """True when a record's metadata passes the filter (the same test as `where()`)."""
        for key in ("site", "device", "modality", "kind", "label"):
            value = getattr(self, key)
            if value is not None and metadata.get(key) != value:
                return False
        t = metadata.get("t")
        if self.since is not None and (t is None or t < self.since):
            return False
        return not (self.until is not None and (t is None or t > self.until))


@dataclass(slots=True)
class Hit:
    """One retrieved record: its text, similarity (1 = same direction) and metadata."""

    id: str
    text: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        """Where the text came from: `source#heading` for documents, `device@t` for episodes."""
        md = self.metadata
        if md.get("source"):
            page = f" (page {md['page']})" if md.get("page", -1) not in (-1, None) else ""
            return f"{md['source']}#{md.get('heading', '')}{page}"
        return f"{md.get('device', '?')}@{md.get('t', '?')}"


def default_path(settings: RagSettings, data_dir: Path) -> Path:
    """The embedded store directory: `rag.path` or `<data_dir>/rag`."""
    return Path(settings.path) if settings.path else Path(data_dir) / "rag"


class KnowledgeStore:
    """Tessera's vector store over one chromadb client."""

    def __init__(self, settings: RagSettings, data_dir: Path) -> None:
        try:
            import chromadb
            from chromadb.config import Settings
        except ImportError as err:
            raise StoreUnavailableError("chromadb is not installed: pip install 'chromadb>=1.5,<2'") from err
        self.settings = settings
        self.path = default_path(settings, data_dir)
        self.prefix = settings.collection_prefix
        self.cache_dir = Path(data_dir) / "models" if settings.path is None else self.path / "models"
        chroma_settings = Settings(anonymized_telemetry=False)
        if settings.server_url:
            url = urlparse(settings.server_url)
            try:
                self.client = chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or (443 if url.scheme == "https" else 8000), ssl=url.scheme == "https", settings=chroma_settings)
                self.client.heartbeat()
            except Exception as err:  # chromadb raises plain exceptions for network failures
                raise StoreUnavailableError(f"Chroma server {settings.server_url} unreachable ({_first_line(err)}); check rag.server_url") from err
            self.location = settings.server_url
            self.cache_dir = Path(data_dir) / "models"
        else:
            self._check_directory(self.path)
            try:
                self.client = chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)
                self.client.list_collections()
            except Exception as err:  # a damaged sqlite file or segment surfaces as various chromadb errors
                raise StoreCorruptError(
                    f"knowledge store at {self.path} cannot be opened ({_first_line(err)}); move it aside and re-ingest with `tessera rag ingest`"
                ) from err
            self.location = str(self.path)
        self._collections: dict[str, Any] = {}
        self._ef: Any = None
        self._pool = PoolSearch()

    @staticmethod
    def _check_directory(path: Path) -> None:
        if path.exists() and not path.is_dir():
            raise StoreCorruptError(f"knowledge store path {path} is a file, not a directory; set rag.path to a directory")
        sqlite = path / "chroma.sqlite3"
        if sqlite.exists():
            with open(sqlite, "rb") as fh:
                magic = fh.read(16)
            if magic and magic != b"SQLite format 3\x00":
                raise StoreCorruptError(f"knowledge store at {path} is corrupt ({sqlite.name} is not an SQLite file); move it aside and re-ingest")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreUnavailableError(f"cannot create knowledge store directory {path}: {err.strerror}") from err

    @property
    def embedding_function(self) -> Any:
        """The chromadb embedding function (loaded on first use)."""
        if self._ef is None:
            from rag.embedding import make_chroma_function

            s = self.settings
            self._ef = make_chroma_function(self.cache_dir, s.embedding_threads, s.embedding_batch, s.max_tokens)
        return self._ef

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed texts with the store's function (for callers that want the vectors)."""
        return [list(map(float, v)) for v in self.embedding_function(texts)]

    def collection(self, name: str) -> Any:
        """The collection `documents` or `examples` (text-embedded), created on first use."""
        if name not in (DOCUMENTS, EXAMPLES):
            raise ValueError(f"unknown text collection {name!r}; use {DOCUMENTS!r} or {EXAMPLES!r}")
        full = f"{self.prefix}-{name}"
        if full not in self._collections:
            self._collections[full] = self._open(full, self.embedding_function)
        return self._collections[full]

    def episodes(self, modality: str) -> Any:
        """The episode collection of one modality (vectors given by its encoder)."""
        full = f"{self.prefix}-{EPISODES}-{modality}"
        if full not in self._collections:
            self._collections[full] = self._open(full, None)
        return self._collections[full]

    def _open(self, name: str, ef: Any) -> Any:
        try:
            return self.client.get_or_create_collection(name=name, embedding_function=ef, metadata={"hnsw:space": "cosine"})
        except Exception as err:
            raise StoreCorruptError(f"collection {name} in {self.location} cannot be opened ({_first_line(err)})") from err

    def collection_names(self) -> list[str]:
        """Names of Tessera's collections that exist in the store."""
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n for n in names if n.startswith(f"{self.prefix}-"))

    def all_collections(self) -> list[Any]:
        """Every Tessera collection that exists, opened."""
        out = []
        for name in self.collection_names():
            kind = name[len(self.prefix) + 1 :]
            if kind in (DOCUMENTS, EXAMPLES):
                out.append(self.collection(kind))
            elif kind.startswith(f"{EPISODES}-"):
                out.append(self.episodes(kind[len(EPISODES) + 1 :]))
        return out

    def search(self, text: str, collection: str = DOCUMENTS, k: int = 5, where: Filter | None = None) -> list[Hit]:
        """The `k` records of a text collection closest to `text`, filtered."""
        vector = self.embedding_function([text])[0]
        return self.search_vector(self.collection(collection), vector, k, where)

    def search_vector(self, col: Any, vector: Any, k: int = 5, where: Filter | None = None) -> list[Hit]:
        """The `k` records of `col` closest to `vector`, filtered."""
        size = col.count()
        if size == 0:
            return []
        query = [list(map(float, vector))]
        include = ["documents", "metadatas", "distances"]
        clause = where.where() if where else None
        if clause is not None and size > PREFILTER_BELOW and where.label is None:  # type: ignore[union-attr]
            found = self._pool.search(col, query, k, where, size)
            if found is not None:
                return self._fetch(col, found)
        return _hits(col.query(query_embeddings=query, n_results=min(k, size), where=clause, include=include))

    def warm_filters(self, col: Any) -> None:
        """Load the filter cache of `col` now (a daemon warms it in the background on its own)."""
        self._pool.warm(col)

    @staticmethod
    def _fetch(col: Any, found: list[tuple[str, float]]) -> list[Hit]:
        if not found:
            return []
        got = col.get(ids=[i for i, _ in found], include=["documents", "metadatas"])
        by_id = {i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        return [Hit(id=i, text=by_id[i][0] or "", score=1.0 - float(dist), metadata=dict(by_id[i][1] or {})) for i, dist in found if i in by_id]

    def forget(self, device: str | None = None, site: str | None = None) -> dict[str, int]:
        """Delete every record of a device or a site from every collection; returns counts per collection."""
        if (device is None) == (site is None):
            raise ValueError("forget needs exactly one of device or site")
        where = {"device": device} if device is not None else {"site": site}
        removed: dict[str, int] = {}
        deleted: dict[str, list[str]] = {}
        for col in self.all_collections():
            ids = col.get(where=where, include=[])["ids"]
            if ids:
                col.delete(ids=ids)
                # Verify, since this is the right of removal: nothing of it may be left behind.
                left = col.get(where=where, include=[])["ids"]
                if left:
                    raise StoreCorruptError(f"{len(left)} records of {where} remain in {col.name} after delete")
                deleted[str(col.id)] = ids
                self._pool.forget_ids(str(col.id), ids)
            removed[col.name] = len(ids)
        if deleted and not self.settings.server_url:
            from rag.erase import scrub_deleted

            # The embedded store keeps deleted text in its log and free pages; a server scrubs its own.
            scrub_deleted(self.path / "chroma.sqlite3", deleted)
        log.info("forgot %s: %s", where, removed)
        return removed

    def stats(self) -> dict[str, Any]:
        """Counts per collection, documents by source, and the store location."""
        out: dict[str, Any] = {"location": self.location, "collections": {}}
        for col in self.all_collections():
            out["collections"][col.name] = col.count()
        docs_name = f"{self.prefix}-{DOCUMENTS}"
        if docs_name in out["collections"]:
            out["documents"] = len(self.documents())
        return out

    def documents(self) -> dict[str, dict[str, Any]]:
        """Ingested documents by source: doc_id, content sha, chunks stored and expected."""
        col = self.collection(DOCUMENTS)
        docs: dict[str, dict[str, Any]] = {}
        total = col.count()
        for offset in range(0, total, 5000):
            batch = col.get(include=["metadatas"], limit=5000, offset=offset)
            for md in batch["metadatas"]:
                entry = docs.setdefault(md["source"], {"doc_id": md["doc_id"], "content_sha": md["content_sha"], "n_chunks": md["n_chunks"], "stored": 0, "shas": set()})
                entry["stored"] += 1
                entry["shas"].add(md["content_sha"])
        return docs

    def check(self) -> list[str]:
        """Consistency problems: documents with missing chunks or two versions at once (empty when sound)."""
        problems = []
        for source, entry in self.documents().items():
            if len(entry["shas"]) > 1:
                problems.append(f"{source}: {len(entry['shas'])} versions stored")
            elif entry["stored"] != entry["n_chunks"]:
                problems.append(f"{source}: {entry['stored']} of {entry['n_chunks']} chunks stored")
        return problems

    def now(self) -> float:
        """Seconds since the epoch (one place to read the clock)."""
        return time.time()


def _hits(res: dict[str, Any]) -> list[Hit]:
    return [
        Hit(id=i, text=d or "", score=1.0 - float(dist), metadata=dict(m or {}))
        for i, d, m, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
    ]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]
