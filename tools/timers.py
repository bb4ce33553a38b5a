"""Running timers and the hub's lists (shopping list, to-do lists), as Home Assistant's timer and list intents use them.

A timer counts down on the hub's clock; the hub calls `TimerBoard.expire()` from its loop and
announces each timer that has finished. Timers are found the way Home Assistant finds them:
by name, by the duration they were started with, or by the area they were started in; with
nothing said, the one timer running, or the newest. Lists are kept in a JSON file when the
hub gives one, so the shopping list survives a restart.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.home import normalize


@dataclass(slots=True)
class Timer:
    """One timer: its total duration, how much is left, and where and under which name it was started."""

    id: int
    seconds: float  # the duration it was started with, for "cancel the 5 minute timer"
    ends_at: float  # on the board's clock; meaningless while paused
    name: str | None = None
    area: str | None = None
    paused_left: float | None = None  # seconds left when paused, else None
    command: str | None = None  # said when it was started ("turn off the oven in 10 minutes"): run when it ends

    def left(self, now: float) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.paused_left if self.paused_left is not None else self.ends_at - now)


@dataclass(slots=True)
class TimerBoard:
    """The timers running on one hub."""

    clock: Callable[[], float] = time.monotonic
    timers: list[Timer] = field(default_factory=list)
    _next_id: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, seconds: float, name: str | None = None, area: str | None = None, command: str | None = None) -> Timer:
        """Start a timer."""
        with self._lock:
            timer = Timer(self._next_id, seconds, self.clock() + seconds, name, area, command=command)
            self._next_id += 1
            self.timers.append(timer)
            return timer

    def find(self, name: str | None = None, area: str | None = None, seconds: float | None = None) -> list[Timer]:
        """The timers a request names (by name, start duration or area); with nothing named, all of them."""
        found = list(self.timers)
        if name:
            found = [t for t in found if t.name and normalize(t.name) == normalize(name)]
        if seconds:
            found = [t for t in found if abs(t.seconds - seconds) < 1]
        if area and not (name or seconds):
            found = [t for t in found if t.area == area] or found
        return found

    def cancel(self, timers: list[Timer]) -> int:
        """Stop these timers; how many were stopped."""
        with self._lock:
            ids = {t.id for t in timers}
            self.timers = [t for t in self.timers if t.id not in ids]
            return len(ids)

    def add(self, timer: Timer, seconds: float) -> None:
        """Add (or, negative, take away) time; a timer is never set below zero."""
        with self._lock:
            if timer.paused_left is not None:
                timer.paused_left = max(0.0, timer.paused_left + seconds)
            else:
                timer.ends_at = max(self.clock(), timer.ends_at + seconds)

    def pause(self, timer: Timer) -> bool:
        """Pause a running timer; False when it already was."""
        with self._lock:
            if timer.paused_left is not None:
                return False
            timer.paused_left = timer.left(self.clock())
            return True

    def unpause(self, timer: Timer) -> bool:
        """Resume a paused timer; False when it was running."""
        with self._lock:
            if timer.paused_left is None:
                return False
            timer.ends_at, timer.paused_left = self.clock() + timer.paused_left, None
            return True

    def expire(self) -> list[Timer]:
        """Take the timers that have run out off the board and return them (the hub announces them)."""
        with self._lock:
            now = self.clock()
            done = [t for t in self.timers if t.paused_left is None and t.ends_at <= now]
            self.timers = [t for t in self.timers if t not in done]
            return done


SHOPPING_LIST = "Shopping List"


@dataclass(slots=True)
class ListStore:
    """Named lists of items, each item open or completed; saved to `path` when there is one."""

    path: Path | None = None
    lists: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> ListStore:
        """The lists saved at `path` (none yet: empty); a damaged file starts empty rather than stopping the hub."""
        store = cls(path)
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                store.lists = {str(k): [dict(i) for i in v] for k, v in data.items()}
            except (OSError, ValueError, TypeError, AttributeError):
                store.lists = {}
        return store

    def add(self, list_name: str, item: str) -> None:
        """Add an open item."""
        self.lists.setdefault(list_name, []).append({"item": item, "complete": False})
        self._save()

    def complete(self, list_name: str, item: str) -> bool:
        """Mark the first open item of that name complete; False when there is none."""
        for entry in self.lists.get(list_name, []):
            if not entry["complete"] and normalize(str(entry["item"])) == normalize(item):
                entry["complete"] = True
                self._save()
                return True
        return False

    def remove(self, list_name: str, item: str) -> bool:
        """Delete the first item of that name, open or completed; False when there is none."""
        entries = self.lists.get(list_name, [])
        for i, entry in enumerate(entries):
            if normalize(str(entry["item"])) == normalize(item):
                del entries[i]
                self._save()
                return True
        return False

    def items(self, list_name: str, complete: bool = False) -> list[str]:
        """The open (or completed) items of a list."""
        return [str(e["item"]) for e in self.lists.get(list_name, []) if e["complete"] == complete]

    def _save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.lists, indent=1), encoding="utf-8")


# One board and one list store per site: the hub that owns the site installs its own (with a file
# for the lists); tools reach them through the ToolContext's site.
_BOARDS: dict[str, TimerBoard] = {}
_LISTS: dict[str, ListStore] = {}


def board_for(site: str) -> TimerBoard:
    """The timer board of a site."""
    return _BOARDS.setdefault(site, TimerBoard())


def lists_for(site: str) -> ListStore:
    """The list store of a site."""
    return _LISTS.setdefault(site, ListStore())


def install(site: str, board: TimerBoard, lists: ListStore) -> None:
    """Make `board` and `lists` the ones a site's tools use (the hub does this at start)."""
    _BOARDS[site], _LISTS[site] = board, lists
