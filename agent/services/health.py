"""What every long-running Tessera service shares: metrics in Prometheus text and clean signals (served by agent.services.console)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Metrics:
    """Counters and latency sums, thread-safe, rendered in the Prometheus text format."""

    def __init__(self, prefix: str = "tessera") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._help: dict[str, str] = {}
        self._collectors: list[Callable[[], dict[str, tuple[str, float]]]] = []

    def collect(self, collector: Callable[[], dict[str, tuple[str, float]]]) -> None:
        """Add values read at each render: name -> (help, value), e.g. counters kept by ingest or the outbox."""
        self._collectors.append(collector)

    def inc(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount` to counter `name` with `labels`."""
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._help.setdefault(name, help_text)
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def observe(self, name: str, help_text: str, seconds: float, **labels: str) -> None:
        """Record one latency: `<name>_seconds_sum` and `<name>_seconds_count`."""
        self.inc(f"{name}_seconds_sum", help_text, seconds, **labels)
        self.inc(f"{name}_seconds_count", help_text, 1.0, **labels)

    def value(self, name: str, **labels: str) -> float:
        """Current value of one series (0 when never touched)."""
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def render(self) -> str:
        """All series in the Prometheus text exposition format."""
        collected = {name: item for collector in self._collectors for name, item in collector().items()}
        with self._lock:
            items = sorted([*self._counters.items(), *(((name, ()), value) for name, (_, value) in collected.items())])
            helps = self._help | {name: text for name, (text, _) in collected.items()}
            lines, seen = [], set()
            for (name, labels), value in items:
                full = f"{self.prefix}_{name}"
                if name not in seen:
                    kind = "counter" if name.endswith(("_total", "_sum", "_count")) else "gauge"
                    lines += [f"# HELP {full} {helps[name]}", f"# TYPE {full} {kind}"]
                    seen.add(name)
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{full}{{{label_text}}} {value:g}" if label_text else f"{full} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def stop_on_signals(stop: threading.Event) -> None:
    """Set `stop` on SIGTERM and SIGINT, so a service shuts down cleanly under systemd and Ctrl-C."""
    def handler(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
