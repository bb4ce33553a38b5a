"""What a benchmark module returns, and timing helpers shared by all of them."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class Measurement:
    """One reported figure. `detail` says how it was measured (runs, sizes, medians of what)."""

    name: str
    value: float
    unit: str
    detail: str = ""
    extra: dict[str, float | str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `repeats` calls of `fn`, with all the samples."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples
