"""Guardrails outside the LLM: allowlists, numeric ranges, confirmation of dangerous actions, rate limits.

`GuardrailPolicy.check(tool, args, ctx)` decides on validated arguments, before the tool runs.
Home intents are judged on the entities their target RESOLVES to, exactly as the tool will
resolve it, so "unlock the hallway" is caught like "unlock the front door".
The checks run in this order: allowlist, ranges, confirmation, rate limit; a call that must
be confirmed spends no rate-limit tokens until it is confirmed.
"""

from __future__ import annotations

import enum
import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from base.settings import GuardrailSettings, RateLimitSettings
from base.errors import ConfigError
from tools.base import TOOLS, Permission, Tool, ToolContext
from tools.home import Entity, Home, MatchFailure
from tools.intents import TargetSlots

log = logging.getLogger(__name__)

# Domains an intent falls back to when the target names neither a device nor a domain. These
# mirror tools/intents.py (tests/test_guardrails.py checks the guardrail sees every entity the
# tool acts on), so the policy judges the same entities the tool will command.
DEFAULT_DOMAINS: dict[str, tuple[str, ...]] = {
    "HassTurnOn": ("light", "switch", "fan"),
    "HassTurnOff": ("light", "switch", "fan"),
    "HassLightSet": ("light",),
    "HassClimateSetTemperature": ("climate",),
    "HassClimateGetTemperature": ("climate",),
    "HassSetPosition": ("cover",),
    "HassMediaPause": ("media_player",),
    "HassMediaUnpause": ("media_player",),
    "HassSetVolume": ("media_player",),
    "HassSetVolumeRelative": ("media_player",),
    "HassMediaNext": ("media_player",),
    "HassMediaPrevious": ("media_player",),
    "HassMediaPlayerMute": ("media_player",),
    "HassMediaPlayerUnmute": ("media_player",),
    "HassMediaSearchAndPlay": ("media_player",),
    "HassVacuumStart": ("vacuum",),
    "HassVacuumReturnToBase": ("vacuum",),
    "HassLawnMowerStartMowing": ("lawn_mower",),
    "HassLawnMowerDock": ("lawn_mower",),
}

# Covers whose opening lets someone in or can crush someone.
ACCESS_COVERS = frozenset({"garage", "gate", "door"})


class Outcome(enum.Enum):
    """What the executor may do with a call."""

    ALLOW = "allow"
    DENY = "deny"
    CONFIRM = "confirm"  # only after a person says yes


class Reason(enum.Enum):
    """Why a verdict came out the way it did."""

    OK = "ok"
    CONFIRMED = "confirmed"  # a dangerous action a person confirmed
    NOT_ALLOWED = "not_allowed"  # tool or permission class not allowed under this profile
    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    OUT_OF_RANGE = "out_of_range"
    RATE_LIMITED = "rate_limited"
    NEEDS_CONFIRMATION = "needs_confirmation"


@dataclass(slots=True, frozen=True)
class Verdict:
    """The policy's decision on one call, with a one-line message for the user or the model."""

    outcome: Outcome
    reason: Reason
    message: str
    entities: tuple[str, ...] = ()  # entities the call resolves to (home intents)
    retry_after_s: float | None = None  # for RATE_LIMITED

    @property
    def allowed(self) -> bool:
        """True when the tool may run now."""
        return self.outcome is Outcome.ALLOW


class TokenBucket:
    """`capacity` tokens refilled continuously at `capacity / per_s` per second."""

    def __init__(self, limit: RateLimitSettings, now: float) -> None:
        self.capacity = float(limit.capacity)
        self.rate = limit.capacity / limit.per_s
        self.tokens = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last look."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def wait_s(self) -> float:
        """Seconds until one token is available (0 when one is)."""
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


@dataclass(slots=True)
class _Resolved:
    entities: list[Entity] = field(default_factory=list)
    failure: MatchFailure | None = None


class GuardrailPolicy:
    """Checks each tool call against the profile's allowlist, ranges, confirmation rules and rate limits."""

    def __init__(self, settings: GuardrailSettings, profile: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.profile = profile
        self.clock = clock
        self.allow_tools, permissions = settings.effective(profile)
        self.permissions = {Permission(p) for p in permissions} - {Permission.ADMIN}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        self._check_ranges()

    @classmethod
    def from_settings(cls, settings: Any, clock: Callable[[], float] = time.monotonic) -> GuardrailPolicy:
        """The policy of a Tessera process: its `guardrails` section under its profile."""
        return cls(settings.guardrails, settings.profile, clock)

    def _check_ranges(self) -> None:
        # A range on a field the tool does not have is a typo that would silently check nothing.
        for name, fields in self.settings.ranges.items():
            if name not in TOOLS:
                continue
            model_fields = TOOLS.get(name).args_model.model_fields
            for field_name in fields:
                if field_name not in model_fields:
                    raise ConfigError(f"guardrails.ranges.{name}.{field_name}: {name} has no argument {field_name!r}; it has {', '.join(model_fields)}")

    # --- the checks ------------------------------------------------------------------------

    def allows(self, tool: Tool) -> bool:
        """Whether the LLM may call this tool at all under this profile."""
        if tool.permission is Permission.ADMIN or tool.permission not in self.permissions:
            return False
        if any(fnmatch.fnmatchcase(tool.name, p) for p in self.settings.deny_tools):
            return False
        return any(fnmatch.fnmatchcase(tool.name, p) for p in self.allow_tools)

    def check(self, tool: Tool, args: BaseModel, ctx: ToolContext, confirmed: bool = False) -> Verdict:
        """The verdict on calling `tool` with validated `args`; `confirmed` once a person said yes."""
        if not self.allows(tool):
            why = "admin tools are never available to the agent" if tool.permission is Permission.ADMIN else f"not allowed on the {self.profile} profile"
            return Verdict(Outcome.DENY, Reason.NOT_ALLOWED, f"{tool.name}: {why}")
        out_of_range = self._range(tool, args)
        if out_of_range:
            return Verdict(Outcome.DENY, Reason.OUT_OF_RANGE, out_of_range)
        resolved = self.resolve(tool, args, ctx)
        entity_ids = tuple(e.entity_id for e in resolved.entities)
        dangers = self._dangers(tool, args, resolved.entities)
        if dangers and not confirmed:
            return Verdict(Outcome.CONFIRM, Reason.NEEDS_CONFIRMATION, f"please confirm: {'; '.join(dangers)}", entity_ids)
        limited = self._spend(tool, args, entity_ids)
        if limited is not None:
            return Verdict(Outcome.DENY, Reason.RATE_LIMITED, f"{tool.name}: too many calls for {limited[0]}; try again in {limited[1]:.0f} s", entity_ids, limited[1])
        return Verdict(Outcome.ALLOW, Reason.CONFIRMED if dangers else Reason.OK, f"{tool.name}: allowed", entity_ids)

    def _range(self, tool: Tool, args: BaseModel) -> str | None:
        for field_name, (low, high) in self.settings.ranges.get(tool.name, {}).items():
            value = getattr(args, field_name, None)
            if isinstance(value, (int, float)) and not low <= value <= high:
                return f"{tool.name}: {field_name} {value:g} is outside the allowed {low:g}–{high:g}"
        return None

    def resolve(self, tool: Tool, args: BaseModel, ctx: ToolContext) -> _Resolved:
        """The entities a home intent's target resolves to, the way the intent itself resolves it."""
        if not isinstance(args, TargetSlots):
            return _Resolved()
        target = args.target()
        defaults = DEFAULT_DOMAINS.get(tool.name, ())
        if not target.domain and defaults and not target.name:
            target.domain = list(defaults)
        found = (ctx.home or Home()).resolve(target)
        if isinstance(found, MatchFailure):
            return _Resolved(failure=found)  # the tool will ask its clarifying question; nothing acts
        return _Resolved(entities=found)

    def _dangers(self, tool: Tool, args: BaseModel, entities: list[Entity]) -> list[str]:
        dangers = []
        if any(fnmatch.fnmatchcase(tool.name, p) for p in self.settings.confirm_tools):
            dangers.append(f"{tool.name.replace('_', ' ')} {_subject(args)}".strip())
        for entity in entities:
            what = _dangerous_effect(tool.name, entity)
            if what is None and tool.permission is Permission.ACTUATE and any(fnmatch.fnmatchcase(entity.entity_id, p) for p in self.settings.confirm_entities):
                what = f"{tool.name} on {entity.name}"
            if what:
                dangers.append(what)
        return dangers

    def _spend(self, tool: Tool, args: BaseModel, entity_ids: tuple[str, ...]) -> tuple[str, float] | None:
        # Take one token from the tool's bucket and from each target's, or from none of them.
        targets = entity_ids or tuple(t for t in (_subject(args),) if t)
        keys = [("tool", tool.name)] + [("target", t) for t in targets]
        now = self.clock()
        with self._lock:
            buckets = []
            for kind, key in keys:
                limit = self.settings.rates.get(key, self.settings.tool_rate) if kind == "tool" else self.settings.target_rate
                bucket = self._buckets.get((kind, key))
                if bucket is None:
                    bucket = self._buckets[(kind, key)] = TokenBucket(limit, now)
                bucket.refill(now)
                buckets.append((key, bucket))
            for key, bucket in buckets:
                if bucket.tokens < 1.0:
                    log.warning("rate limited: tool=%s key=%s", tool.name, key)
                    return key, bucket.wait_s()
            for _, bucket in buckets:
                bucket.tokens -= 1.0
        return None


def _dangerous_effect(tool_name: str, entity: Entity) -> str | None:
    """What a home intent would do to this entity if that is dangerous, else None."""
    access_cover = entity.domain == "cover" and entity.device_class in ACCESS_COVERS
    if entity.domain == "lock" and tool_name in ("HassTurnOff", "HassToggle"):
        return f"unlock {entity.name}"
    if access_cover and tool_name in ("HassTurnOn", "HassToggle"):
        return f"open {entity.name}"
    if access_cover and tool_name == "HassSetPosition":
        return f"move {entity.name}"
    return None


def _subject(args: BaseModel) -> str:
    """The device or machine a non-home tool acts on, for confirmation messages and per-target limits."""
    for name in ("machine", "device"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            return value
    return ""
