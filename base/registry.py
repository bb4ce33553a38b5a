"""One small registry type for every extension point (encoders, tools, LLM backends)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that no registry entry answers to; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        super().__init__(name)
        self.kind, self.name, self.valid = kind, name, valid

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.name!r}; valid names: {', '.join(self.valid) or '(none registered)'}"


class Registry(Generic[T]):
    """Maps names and aliases to registered objects."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, obj: T, aliases: tuple[str, ...] = ()) -> T:
        """Add `obj` under `name` and its aliases; a name may be registered once."""
        for key in (name, *aliases):
            if key in self._items or key in self._aliases:
                raise ValueError(f"{self.kind} name {key!r} is already registered")
        self._items[name] = obj
        for alias in aliases:
            self._aliases[alias] = name
        return obj

    def get(self, name: str) -> T:
        """The object registered under `name` or one of its aliases."""
        key = self._aliases.get(name, name)
        try:
            return self._items[key]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        """Registered primary names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
