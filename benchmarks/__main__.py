"""Benchmark runner: runs every `benchmarks/bench_*.py`, writes JSON and prints a table.

Each module exposes `run(quick: bool) -> list[Measurement]`. These machines are
shared and noisy: modules report medians, and ratios measured side by side.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import pkgutil
import platform
import sys
import time
from pathlib import Path

import benchmarks
from benchmarks.common import Measurement

DEFAULT_OUT = Path(__file__).parent / "results.json"


def discover() -> list[str]:
    """Names of the benchmark modules, e.g. `llm` for bench_llm.py."""
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def format_table(rows: list[Measurement]) -> str:
    """A plain-text table of measurements."""
    width = max((len(r.name) for r in rows), default=10)
    lines = [f"{'benchmark'.ljust(width)}  {'value':>12}  unit        detail"]
    for r in rows:
        lines.append(f"{r.name.ljust(width)}  {r.value:>12.4g}  {r.unit:<10}  {r.detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and write their results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(discover())}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller inputs (a smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write (merged with what is there)")
    parser.add_argument("--minutes", type=float, default=None, help="run length of the long benchmarks (soak; default 30, quick 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    names = args.names or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(discover())}")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows: list[Measurement] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        options = {"minutes": args.minutes} if args.minutes is not None and "minutes" in inspect.signature(module.run).parameters else {}
        measured = module.run(quick=args.quick, **options)
        rows.extend(measured)
        results[name] = {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "quick": args.quick,
            "results": [m.as_dict() for m in measured],
        }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(format_table(rows))
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
