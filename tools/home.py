"""The home registry: floors, areas and entities as Home Assistant keeps them, and target resolution.

A home file (YAML, see examples/home.yaml and docs/home.md) mirrors Home Assistant's
floor, area and entity registries. Intents name their target the way Home Assistant
does (name / area / floor / domain / device_class); `Home.resolve` turns such a target
into entities, or into a `MatchFailure` whose reason the agent turns into a
clarifying question instead of a guess.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from base.errors import ConfigError, first_problem, read_yaml

ENTITY_ID = r"^[a-z_]+\.[a-z0-9_]+$"


def normalize(text: str) -> str:
    """Case folded, apostrophes dropped, punctuation to spaces, single spaces: the form names are compared in.

    Letters of every script are kept, so "Küche" and "Salle de bain" compare as themselves.
    """
    text = text.casefold().replace("'", "").replace("’", "")
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


class Floor(BaseModel):
    """A floor, as in Home Assistant's floor registry."""

    id: str
    name: str
    level: int | None = None
    aliases: list[str] = Field(default_factory=list)


class Area(BaseModel):
    """An area (room), on at most one floor."""

    id: str
    name: str
    floor: str | None = None
    aliases: list[str] = Field(default_factory=list)


class Entity(BaseModel):
    """An entity: `domain.object_id`, friendly name, aliases, area, state and attributes."""

    entity_id: str = Field(pattern=ENTITY_ID)
    name: str = Field(min_length=1, max_length=80)
    aliases: list[str] = Field(default_factory=list)
    area: str | None = None
    device_class: str | None = None
    state: str = "unknown"
    attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def domain(self) -> str:
        """The entity's domain, e.g. `light`."""
        return self.entity_id.split(".", 1)[0]

    def names(self) -> list[str]:
        """Normalized name and aliases."""
        return [normalize(n) for n in (self.name, *self.aliases)]


class MatchFailedReason(enum.Enum):
    """Why a target matched nothing usable (after Home Assistant's reasons)."""

    NAME = "name"  # no entity with that name or alias
    AREA = "area"  # no such area
    FLOOR = "floor"
    DOMAIN = "domain"  # the area has no entity of that domain
    DEVICE_CLASS = "device_class"
    DUPLICATE_NAME = "duplicate_name"  # the name fits several entities in different areas
    NO_TARGET = "no_target"  # nothing named at all


@dataclass(slots=True)
class MatchFailure:
    """A failed resolution, with what was asked, for a clarifying answer."""

    reason: MatchFailedReason
    detail: str
    target: Target | None = None  # what was asked, for Home Assistant's error answer

    def error(self) -> tuple[str, dict[str, str]] | None:
        """Home Assistant's error response for this failure: its key ("no_domain_in_area") and the slots it says, or None
        where a question can settle it (a name in several rooms, nothing named)."""
        target = self.target or Target()
        where = "_in_area" if target.area else "_in_floor" if target.floor else ""
        said = {"area": target.area or "", "floor": target.floor or "", "entity": target.name or "",
                "domain": " or ".join(target.domain), "device_class": " or ".join(target.device_class)}
        if target.name and self.reason in (MatchFailedReason.DOMAIN, MatchFailedReason.DEVICE_CLASS):
            return "no_entity" + where, said  # a name's domain and device class are its own: that device is not there
        key = {MatchFailedReason.NAME: "no_entity" + where, MatchFailedReason.AREA: "no_area", MatchFailedReason.FLOOR: "no_floor",
               MatchFailedReason.DOMAIN: "no_domain" + where, MatchFailedReason.DEVICE_CLASS: "no_device_class" + where}.get(self.reason)
        return (key, said) if key else None

    def question(self) -> str:
        """A clarifying question to ask the user."""
        return {
            MatchFailedReason.NAME: f"I could not find a device called {self.detail}. Which device do you mean?",
            MatchFailedReason.AREA: f"I do not know an area called {self.detail}. Which room do you mean?",
            MatchFailedReason.FLOOR: f"I do not know a floor called {self.detail}. Which floor do you mean?",
            MatchFailedReason.DOMAIN: f"There is no {self.detail}. Which device do you mean?",
            MatchFailedReason.DEVICE_CLASS: f"There is no {self.detail}. Which device do you mean?",
            MatchFailedReason.DUPLICATE_NAME: f"Several devices are called {self.detail}. In which room?",
            MatchFailedReason.NO_TARGET: "Which device or room do you mean?",
        }[self.reason]


@dataclass(slots=True)
class Target:
    """A target as an intent names it; every slot optional."""

    name: str | None = None
    area: str | None = None
    floor: str | None = None
    domain: list[str] = field(default_factory=list)
    device_class: list[str] = field(default_factory=list)


class Home(BaseModel):
    """The whole registry of one home."""

    name: str = "Home"
    floors: list[Floor] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_exist(self) -> Home:
        floor_ids = {f.id for f in self.floors}
        area_ids = {a.id for a in self.areas}
        for area in self.areas:
            if area.floor is not None and area.floor not in floor_ids:
                raise ValueError(f"area {area.id!r} is on unknown floor {area.floor!r}")
        seen: set[str] = set()
        for entity in self.entities:
            if entity.area is not None and entity.area not in area_ids:
                raise ValueError(f"entity {entity.entity_id!r} is in unknown area {entity.area!r}")
            if entity.entity_id in seen:
                raise ValueError(f"entity {entity.entity_id!r} is listed twice")
            seen.add(entity.entity_id)
        return self

    @classmethod
    def load(cls, path: str | Path) -> Home:
        """Read a home file; ConfigError in one line when it is missing or malformed."""
        path = Path(path)
        data = read_yaml(path, "home file", "pass an existing file to --home (see examples/home.yaml)") or {}
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            where, problem = first_problem(err)
            raise ConfigError(f"home file {path}: {where or 'top level'}: {problem}") from err

    # --- lookups -------------------------------------------------------------------

    def area(self, name: str) -> Area | None:
        """The area called `name` (or one of its aliases, or its id)."""
        key = normalize(name)
        return next((a for a in self.areas if key in {normalize(a.name), normalize(a.id), *map(normalize, a.aliases)}), None)

    def floor(self, name: str) -> Floor | None:
        """The floor called `name` (or one of its aliases, or its id)."""
        key = normalize(name)
        return next((f for f in self.floors if key in {normalize(f.name), normalize(f.id), *map(normalize, f.aliases)}), None)

    def entity(self, entity_id: str) -> Entity | None:
        """The entity with this id."""
        return next((e for e in self.entities if e.entity_id == entity_id), None)

    def area_of(self, entity: Entity) -> Area | None:
        """The area an entity is in."""
        return next((a for a in self.areas if a.id == entity.area), None)

    def domains(self) -> list[str]:
        """Domains present in this home, sorted."""
        return sorted({e.domain for e in self.entities})

    def resolve(self, target: Target) -> list[Entity] | MatchFailure:
        """The entities a target names, narrowed by every slot given, or why there are none."""
        candidates = list(self.entities)
        if target.floor:
            floor = self.floor(target.floor)
            if floor is None:
                return MatchFailure(MatchFailedReason.FLOOR, target.floor, target)
            on_floor = {a.id for a in self.areas if a.floor == floor.id}
            candidates = [e for e in candidates if e.area in on_floor]
        if target.area:
            area = self.area(target.area)
            if area is None:
                return MatchFailure(MatchFailedReason.AREA, target.area, target)
            candidates = [e for e in candidates if e.area == area.id]
        if target.domain:
            candidates = [e for e in candidates if e.domain in target.domain]
            if not candidates:
                return MatchFailure(MatchFailedReason.DOMAIN, " or ".join(target.domain) + _where(target), target)
        if target.device_class:
            candidates = [e for e in candidates if e.device_class in target.device_class]
            if not candidates:
                return MatchFailure(MatchFailedReason.DEVICE_CLASS, " or ".join(target.device_class) + _where(target), target)
        if target.name:
            key = normalize(target.name)
            named = [e for e in candidates if key in e.names()]
            if not named:
                return MatchFailure(MatchFailedReason.NAME, target.name + _where(target), target)
            if len({e.area for e in named}) > 1 and not (target.area or target.floor):
                return MatchFailure(MatchFailedReason.DUPLICATE_NAME, target.name, target)
            candidates = named
        elif not (target.area or target.floor or target.domain or target.device_class):
            return MatchFailure(MatchFailedReason.NO_TARGET, "", target)
        if not candidates:
            return MatchFailure(MatchFailedReason.NAME, (target.name or "that") + _where(target), target)
        return candidates


def _where(target: Target) -> str:
    if target.area:
        return f" in the {target.area}"
    if target.floor:
        return f" on the {target.floor}"
    return ""
