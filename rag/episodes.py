"""Sensor episodes: windows from adapters/ stored by their encoder embedding, for "find past episodes like this one"."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from adapters.base import TokenizedWindow
from rag.store import Filter, Hit, KnowledgeStore

_MAX_TOKENS_KEPT = 2000  # characters of the token string kept in metadata (summary is the main text)


@dataclass(slots=True)
class Episode:
    """A stored window as returned by a search."""

    id: str
    device: str
    site: str
    modality: str
    t0: float
    summary: str
    label: str
    events: list[str]
    score: float


def episode_id(window: TokenizedWindow, device: str, site: str = "") -> str:
    """Stable id of a device's window (same site, device and t0 -> same record, so re-adding is idempotent)."""
    return "ep:" + hashlib.sha1(f"{site}|{device}|{window.modality}|{window.t0:.6f}".encode()).hexdigest()[:20]


def add_episodes(store: KnowledgeStore, windows: list[TokenizedWindow], device: str, site: str = "", labels: list[str] | None = None) -> list[str]:
    """Store windows of one device (optionally labelled by an operator); one upsert per modality."""
    labels = labels or [""] * len(windows)
    if len(labels) != len(windows):
        raise ValueError(f"{len(labels)} labels for {len(windows)} windows")
    ids: list[str] = []
    by_modality: dict[str, list[int]] = {}
    for i, w in enumerate(windows):
        by_modality.setdefault(w.modality, []).append(i)
        ids.append(episode_id(w, device, site))
    for modality, idx in by_modality.items():
        store.episodes(modality).upsert(
            ids=[ids[i] for i in idx],
            embeddings=[_vector(windows[i]) for i in idx],
            documents=[windows[i].summary for i in idx],
            metadatas=[_metadata(windows[i], device, site, labels[i]) for i in idx],
        )
    return ids


def label_episode(store: KnowledgeStore, modality: str, ep_id: str, label: str) -> None:
    """Attach an operator's label (e.g. "bearing_outer_race confirmed") to a stored episode."""
    col = store.episodes(modality)
    if not col.get(ids=[ep_id], include=[])["ids"]:
        raise KeyError(ep_id)
    col.update(ids=[ep_id], metadatas=[{"label": label}])


def similar_episodes(store: KnowledgeStore, window: TokenizedWindow, k: int = 5, where: Filter | None = None, exclude_self: str | None = None) -> list[Episode]:
    """Past episodes of the same modality closest to `window`'s embedding, filtered."""
    col = store.episodes(window.modality)
    hits = store.search_vector(col, _vector(window), k + (1 if exclude_self else 0), where)
    return [_episode(h) for h in hits if h.id != exclude_self][:k]


def _vector(window: TokenizedWindow) -> list[float]:
    vec = np.asarray(window.embedding, dtype=np.float64).ravel()
    if not np.all(np.isfinite(vec)):
        raise ValueError(f"{window.modality} embedding has non-finite values")
    return [float(x) for x in vec]


def _metadata(w: TokenizedWindow, device: str, site: str, label: str) -> dict[str, str | int | float]:
    return {
        "kind": "episode",
        "device": device,
        "site": site,
        "modality": w.modality,
        "t": float(w.t0),
        "t1": float(w.t0 + w.duration_s),
        "duration_s": float(w.duration_s),
        "label": label,
        "events": ",".join(e.kind for e in w.events),
        "severity": int(max((e.severity for e in w.events), default=0)),
        "quality": float(w.quality),
        "vocab_version": w.vocab_version,
        "tokens": " ".join(w.tokens)[:_MAX_TOKENS_KEPT],
    }


def _episode(hit: Hit) -> Episode:
    md = hit.metadata
    return Episode(
        id=hit.id,
        device=md.get("device", ""),
        site=md.get("site", ""),
        modality=md.get("modality", ""),
        t0=float(md.get("t", 0.0)),
        summary=hit.text,
        label=md.get("label", ""),
        events=[e for e in str(md.get("events", "")).split(",") if e],
        score=hit.score,
    )
