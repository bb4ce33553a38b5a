"""Home Assistant's own answers: the localized response templates of home-assistant-intents, rendered as Home Assistant renders them.

Each intent has responses by key ("default", "lights_area", "item_added", ...); a sentence
template names the one that answers it. A response is a Jinja template over `slots` (each slot
as it was said, plus what the intent handler adds: the timers left, the time, the media found),
`state` (the first entity acted on, after the action) and `query` (for state questions: the
entities that are, and are not, in the state asked about). Whitespace is collapsed, as Home
Assistant does. An intent or language without a response, or a response that cannot be
rendered here, gives None: the caller keeps Tessera's own sentence.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from tools.home import Entity, Home

log = logging.getLogger(__name__)


class State:
    """An entity's state as Home Assistant's templates see it (TemplateState): state, domain, name, attributes."""

    def __init__(self, entity: Entity) -> None:
        self.entity_id, self.domain, self.name, self.state = entity.entity_id, entity.domain, entity.name, entity.state
        self.object_id = entity.entity_id.split(".", 1)[1]
        self.attributes = dict(entity.attributes)
        if self.domain == "weather":  # Home Assistant's weather entities always carry their unit
            self.attributes.setdefault("temperature_unit", "°C")
        unit = self.attributes.get("unit_of_measurement")
        self.state_with_unit = f"{self.state} {unit}" if unit else self.state

    def __str__(self) -> str:
        return self.state


@lru_cache(maxsize=8)
def responses(language: str) -> dict[str, dict[str, str]]:
    """Response templates of one language by intent and key; empty when none are installed."""
    try:
        from home_assistant_intents import get_intents
    except ImportError:
        return {}
    return ((get_intents(language) or {}).get("responses") or {}).get("intents") or {}


@lru_cache(maxsize=8)
def errors(language: str) -> dict[str, str]:
    """Error response templates of one language by key ("no_domain_in_area", ...); empty when none are installed."""
    try:
        from home_assistant_intents import get_intents
    except ImportError:
        return {}
    return ((get_intents(language) or {}).get("responses") or {}).get("errors") or {}


def error_speech(language: str, key: str, slots: dict[str, Any]) -> str | None:
    """Home Assistant's answer to a request it understood but cannot carry out ("Sorry, I am not aware of any window in the
    Kitchen area"), in `language`; None where it has none."""
    source = errors(language).get(key)
    if source is None:
        return None
    try:
        return " ".join(_environment().from_string(source).render(**slots).split())
    except Exception as err:  # a template using what Tessera does not provide: the caller's own sentence answers
        log.debug("error response not rendered", extra={"key": key, "error": str(err)})
        return None


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment()


def response_key(language: str, intent: str, key: str | None = None, hints: tuple[str, ...] = ()) -> str | None:
    """The response to use: the one a template named; without one (a model's plan), the first of `hints` (the slots
    given, the domain acted on) that names a response as the templates do ("brightness", "cover", "area"), else
    "default", else the intent's only one."""
    known = responses(language).get(intent) or {}
    if key in known:
        return key
    if key is None and (hinted := next((h for h in hints if h in known), None)):
        return hinted
    if "default" in known:
        return "default"
    return next(iter(known)) if len(known) == 1 else None


def render(language: str, intent: str, key: str | None, slots: dict[str, Any], entities: list[Entity], home: Home | None = None,
           wanted_state: str | None = None) -> str | None:
    """Home Assistant's answer for `intent` in `language`, or None where it has none (or it cannot be rendered)."""
    states = [State(e) for e in entities]
    key = response_key(language, intent, key, (*slots, *(s.domain for s in states[:1])))
    if key is None:
        return None
    source = responses(language)[intent][key]
    matched = [s for s in states if wanted_state is None or s.state == wanted_state]
    first = (matched or states or [None])[0]
    by_id = {e.entity_id: e for e in (home.entities if home else entities)}

    def state_attr(entity_id: str, name: str) -> Any:
        entity = by_id.get(entity_id)
        return entity.attributes.get(name) if entity else None

    def is_state(entity_id: str, value: Any) -> bool:
        entity = by_id.get(entity_id)
        return entity is not None and (entity.state in value if isinstance(value, list) else entity.state == value)

    try:
        template = _environment().from_string(source)
        text = template.render(slots=slots, state=first, query={"matched": matched, "unmatched": [s for s in states if s not in matched]},
                               state_attr=state_attr, is_state=is_state)
    except Exception as err:  # a template using what Tessera does not provide: Tessera's own sentence answers
        log.debug("response not rendered", extra={"intent": intent, "key": key, "error": str(err)})
        return None
    return " ".join(text.split())


def speech(language: str, intent: str, args: dict[str, Any], data: dict[str, Any], home: Home | None, key: str | None = None,
           said: dict[str, Any] | None = None) -> str | None:
    """The answer to a carried-out intent: its response `key` (the matched template's), slots as said (else the arguments)
    plus what the intent adds (`data["speech"]`), the entities it acted on (`data["entities"]`)."""
    slots = {**args, **(said or {}), **(data.get("speech") or {})}
    entities = [e for e in (home.entity(i) for i in data.get("entities") or []) if e is not None] if home else []
    return render(language, intent, key, slots, entities, home, args.get("state"))
