"""`tessera rag ...`: ingest, query, forget, stats and eval of the local knowledge store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rag.errors import RagError


def _store(args: argparse.Namespace) -> Any:
    from base.settings import load_settings
    from rag.store import KnowledgeStore

    settings = load_settings(args.config, profile=args.profile)
    return KnowledgeStore(settings.rag, settings.data_dir)


def _filter(args: argparse.Namespace) -> Any:
    from rag.store import Filter

    return Filter(site=args.site, device=args.device, modality=args.modality, kind=getattr(args, "kind", None), since=args.since, until=args.until)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest files and directories (Markdown, text, PDF, examples JSONL); idempotent."""
    from rag.ingest import SEED_DIR, Status, ingest_paths

    paths = [Path(p) for p in args.paths]
    if args.seed:
        paths += [SEED_DIR / "docs", SEED_DIR / "examples.jsonl"]
    if not paths:
        raise RagError("nothing to ingest: name files or directories, or pass --seed for the shipped knowledge base")
    store = _store(args)
    report = ingest_paths(store, paths, site=args.site or "", device=args.device or "", modality=args.modality or "", progress=not args.no_progress and not args.json)
    if args.json:
        print(json.dumps([{"path": r.path, "status": r.status.value, "chunks": r.chunks, "reason": r.reason.value if r.reason else None, "message": r.message} for r in report.results], indent=2))
    else:
        for r in report.results:
            if r.status is not Status.FAILED and (args.verbose or r.status is not Status.UNCHANGED):
                print(r.line())
        print(f"{report.count(Status.ADDED)} added, {report.count(Status.REPLACED)} replaced, {report.count(Status.UNCHANGED)} unchanged, {len(report.failed)} skipped")
    for r in report.failed:
        print(f"tessera: {r.line()}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_query(args: argparse.Namespace) -> int:
    """Retrieve the passages (or examples) closest to a text, with their sources."""
    store = _store(args)
    hits = store.search(" ".join(args.text), collection=args.collection, k=args.k, where=_filter(args))
    if args.json:
        print(json.dumps([{"id": h.id, "score": round(h.score, 4), "citation": h.citation, "text": h.text, "metadata": h.metadata} for h in hits], indent=2))
        return 0
    if not hits:
        print("no results (is the store empty? try `tessera rag ingest --seed`)")
    for rank, h in enumerate(hits, start=1):
        extra = f"  -> {h.metadata.get('tool')} {h.metadata.get('args')}" if args.collection == "examples" else ""
        print(f"{rank}. [{h.score:.3f}] {h.citation}{extra}")
        body = h.text if args.full else h.text[:300] + ("…" if len(h.text) > 300 else "")
        print("   " + body.replace("\n", "\n   "))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Delete everything of one device or one site from every collection."""
    store = _store(args)
    removed = store.forget(device=args.device, site=args.site)
    total = sum(removed.values())
    if args.json:
        print(json.dumps({"device": args.device, "site": args.site, "removed": removed, "total": total}, indent=2))
    else:
        what = f"device {args.device}" if args.device else f"site {args.site}"
        print(f"forgot {what}: {total} records removed" + "".join(f"\n  {name}: {n}" for name, n in removed.items() if n))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Counts per collection and documents stored; `--check` verifies every document is whole."""
    store = _store(args)
    stats = store.stats()
    if args.check:
        stats["problems"] = store.check()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(f"store: {stats['location']}")
        for name, n in stats["collections"].items():
            print(f"  {name}: {n}")
        if "documents" in stats:
            print(f"  documents ingested: {stats['documents']}")
        if args.check:
            print("  consistency: " + ("ok" if not stats["problems"] else "; ".join(stats["problems"])))
    return 1 if args.check and stats["problems"] else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Ingest the seed knowledge base (if needed) and score retrieval on the labelled question set."""
    from rag.evaluate import QUESTIONS, evaluate, load_questions
    from rag.ingest import ingest_seed

    store = _store(args)
    ingest_seed(store, progress=False)
    result = evaluate(store, load_questions(Path(args.questions) if args.questions else QUESTIONS), k=args.k)
    if args.json:
        print(json.dumps({"n": result.n, "k": result.k, "recall": result.recall, "mrr": result.mrr, "misses": result.misses}, indent=2))
    else:
        print(f"{result.n} questions: recall@{result.k} {result.recall:.3f}, MRR@{result.depth} {result.mrr:.3f}")
        for miss in result.misses[: args.show_misses]:
            print(f"  miss: {miss['q']}  want {miss['want']}  got {miss['got'][0] if miss['got'] else '-'}")
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", help="only records of this site")
    parser.add_argument("--device", help="only records of this device")
    parser.add_argument("--modality", help="only records of this modality (ecg, vibration, ...)")
    parser.add_argument("--since", type=float, help="only records with t >= this (seconds since the epoch)")
    parser.add_argument("--until", type=float, help="only records with t <= this (seconds since the epoch)")


def add_commands(subparsers: Any) -> None:
    """Add the `rag` command group."""
    rag = subparsers.add_parser("rag", help="the local knowledge store (documents, episodes, examples)")
    sub = rag.add_subparsers(dest="rag_command", metavar="RAG_COMMAND", required=True)

    ingest = sub.add_parser("ingest", help="ingest files or directories (idempotent)")
    ingest.add_argument("paths", nargs="*", metavar="PATH", help=".md, .txt, .pdf, or .jsonl worked examples; directories are walked")
    ingest.add_argument("--seed", action="store_true", help="also ingest the knowledge base shipped with Tessera")
    ingest.add_argument("--site", help="site the documents belong to (for filters and forget)")
    ingest.add_argument("--device", help="device the documents belong to (for filters and forget)")
    ingest.add_argument("--modality", help="modality the documents are about")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.add_argument("-v", "--verbose", action="store_true", help="list unchanged files too")
    ingest.add_argument("--json", action="store_true", help="machine-readable output")
    ingest.set_defaults(func=cmd_ingest)

    query = sub.add_parser("query", help="retrieve passages close to a text")
    query.add_argument("text", nargs="+", help="the question or text")
    query.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    query.add_argument("--collection", choices=["documents", "examples"], default="documents")
    query.add_argument("--kind", help="only records of this kind (document, utterance, event)")
    _add_filters(query)
    query.add_argument("--full", action="store_true", help="print whole passages")
    query.add_argument("--json", action="store_true", help="machine-readable output")
    query.set_defaults(func=cmd_query)

    forget = sub.add_parser("forget", help="delete everything of a device or a site")
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("--device", help="device id")
    who.add_argument("--site", help="site id")
    forget.add_argument("--json", action="store_true", help="machine-readable output")
    forget.set_defaults(func=cmd_forget)

    stats = sub.add_parser("stats", help="counts per collection")
    stats.add_argument("--check", action="store_true", help="verify that every document is stored whole")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(func=cmd_stats)

    ev = sub.add_parser("eval", help="recall@k and MRR on the labelled question set")
    ev.add_argument("--questions", help="JSONL file of {q, source, heading} (default: the shipped set)")
    ev.add_argument("-k", type=int, default=5, help="cut-off for recall (default 5)")
    ev.add_argument("--show-misses", type=int, default=10, help="misses to list (default 10)")
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.set_defaults(func=cmd_eval)
