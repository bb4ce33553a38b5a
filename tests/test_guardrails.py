"""Guardrails outside the LLM: ranges, confirmation on resolved entities, profile allowlists, rate limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from agent.decide.audit import AuditDatabase, AuditLog
from base.settings import GuardrailSettings, RateLimitSettings
from base.errors import ConfigError
from base.registry import Registry
from tools import TOOLS, Permission, ToolContext, ToolResult, tool
from tools.executor import execute
from tools.guardrails import GuardrailPolicy, Outcome, Reason
from tools.home import Home

HOME = Home.load(Path(__file__).resolve().parents[1] / "examples" / "home.yaml")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def published() -> list:
    return []


@pytest.fixture()
def ctx(published: list) -> ToolContext:
    return ToolContext(publish=lambda t, p, q, r: published.append((t, json.loads(p), q, r)), site="home", clock=lambda: 42.0, home=HOME)


@pytest.fixture()
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(AuditDatabase(tmp_path / "audit.sqlite"))


def hub(settings: GuardrailSettings | None = None, clock: Clock | None = None) -> GuardrailPolicy:
    return GuardrailPolicy(settings or GuardrailSettings(), "hub", clock or Clock())


def topics(published: list) -> list[str]:
    return [t for t, *_ in published]


@pytest.mark.parametrize("slots", [{"name": "Living Room Thermostat"}, {"area": "Living Room"}, {"area": "lounge", "domain": "climate"}])
def test_thermostat_is_never_set_to_90_nor_31_even_through_the_area(slots, ctx, audit, published) -> None:
    policy = hub()
    hot = execute("HassClimateSetTemperature", {**slots, "temperature": 90}, ctx, policy, audit)
    assert not hot.ok and hot.data["reason"] == "invalid_arguments" and "temperature" in hot.message  # the model's own bounds
    warm = execute("HassClimateSetTemperature", {**slots, "temperature": 31}, ctx, policy, audit)
    assert not warm.ok and warm.data == {"denied": True, "reason": "out_of_range", "decision_id": warm.data["decision_id"]}
    assert "5–30" in warm.message
    assert not published
    fine = execute("HassClimateSetTemperature", {**slots, "temperature": 21}, ctx, policy, audit)
    assert fine.ok and published == [("tessera/home/climate.living_room/set", {"service": "set_temperature", "temperature": 21.0}, 1, False)]
    assert [(r.verdict, r.verdict_reason) for r in audit.last(3)] == [("allow", "ok"), ("deny", "out_of_range"), ("deny", "invalid_arguments")]


@pytest.mark.parametrize(
    ("slots", "entities"),
    [
        ({"name": "Front Door"}, ["lock.front_door"]),
        ({"name": "front door lock"}, ["lock.front_door"]),
        ({"area": "Hallway", "domain": "lock"}, ["lock.front_door"]),  # "unlock the hallway"
        ({"area": "hall", "domain": "lock"}, ["lock.front_door"]),
        ({"floor": "Ground Floor", "domain": "lock"}, ["lock.front_door", "lock.back_door", "lock.garage_side_door"]),
    ],
)
def test_unlock_needs_confirmation_however_the_door_is_named(slots, entities, ctx, audit, published) -> None:
    policy = hub()
    asked = execute("HassTurnOff", slots, ctx, policy, audit)
    assert not asked.ok and asked.data["needs_confirmation"] and asked.data["reason"] == "needs_confirmation"
    assert asked.data["entities"] == entities and "unlock" in asked.message
    assert not published  # nothing moved
    done = execute("HassTurnOff", slots, ctx, policy, audit, confirmed=True)
    assert done.ok and topics(published) == [f"tessera/home/{e}/set" for e in entities]
    assert all(p["service"] == "unlock" for _, p, _, _ in published)
    confirm, allow = audit.last(2)[::-1]
    assert (confirm.verdict, confirm.confirmed, allow.verdict, allow.verdict_reason, allow.confirmed) == ("confirm", False, "allow", "confirmed", True)


@pytest.mark.parametrize(
    ("intent", "slots"),
    [
        ("HassTurnOn", {"name": "Garage Door"}),  # open the garage door
        ("HassTurnOn", {"area": "Garage", "domain": "cover"}),
        ("HassSetPosition", {"name": "Garage Door", "position": 40}),
        ("HassSetPosition", {"area": "Garage", "position": 100}),
    ],
)
def test_opening_or_moving_the_garage_door_needs_confirmation(intent, slots, ctx, audit, published) -> None:
    result = execute(intent, slots, ctx, hub(), audit)
    assert result.data.get("needs_confirmation") and "cover.garage_door" in result.data["entities"] and not published


@pytest.mark.parametrize(
    ("intent", "slots"),
    [
        ("HassTurnOff", {"area": "Hallway"}),  # lights only: the lock in the hallway is not touched
        ("HassTurnOn", {"name": "Front Door"}),  # locking is safe
        ("HassTurnOff", {"name": "Garage Door"}),  # closing is not on the list
        ("HassSetPosition", {"name": "Living Room Blinds", "position": 30}),
        ("HassGetState", {"name": "Front Door"}),
    ],
)
def test_ordinary_actions_run_without_asking(intent, slots, ctx, audit, published) -> None:
    result = execute(intent, slots, ctx, hub(), audit)
    assert result.ok and "needs_confirmation" not in result.data


@pytest.mark.parametrize(
    ("intent", "slots"),
    [
        ("HassTurnOff", {"area": "Hallway"}),
        ("HassTurnOff", {"area": "Garage"}),
        ("HassTurnOn", {"floor": "Ground Floor", "domain": "cover"}),
        ("HassTurnOff", {"area": "Kitchen", "domain": "lock"}),
        ("HassLightSet", {"area": "Kitchen", "brightness": 40}),
        ("HassSetPosition", {"area": "Garage", "position": 10}),
        ("HassSetVolume", {"area": "Living Room", "volume_level": 10}),
        ("HassClimateSetTemperature", {"floor": "First Floor", "temperature": 19}),
        ("HassToggle", {"area": "Garage"}),
        ("HassMediaPause", {"floor": "Ground Floor"}),
    ],
)
def test_the_guardrail_judges_every_entity_the_tool_acts_on(intent, slots, ctx, published) -> None:
    tool = TOOLS.get(intent)
    args = tool.validate(slots)
    judged = set(hub().check(tool, args, ctx, confirmed=True).entities)
    assert tool(slots, ctx).ok
    acted = {t.split("/")[2] for t in topics(published)}
    assert acted and acted <= judged


def test_the_gateway_cannot_call_home_tools_and_the_hub_cannot_stop_machines(ctx, audit, published) -> None:
    gateway = GuardrailPolicy(GuardrailSettings(), "gateway", Clock())
    for intent, slots in (("HassTurnOn", {"name": "Kitchen Ceiling Light"}), ("HassTurnOff", {"name": "Front Door"}), ("HassGetState", {"name": "Front Door"})):
        result = execute(intent, slots, ctx, gateway, audit, confirmed=True)
        assert not result.ok and result.data["reason"] == "not_allowed" and "gateway" in result.message
    assert execute("raise_alert", {"device": "pump-1", "severity": "warning", "kind": "bearing", "summary": "BPFO"}, ctx, gateway, audit).ok
    assert execute("stop_machine", {"machine": "pump-1", "reason": "bearing failing"}, ctx, gateway, audit).data["needs_confirmation"]
    stop = execute("stop_machine", {"machine": "pump-1", "reason": "bearing failing"}, ctx, hub(), audit, confirmed=True)
    assert stop.data["reason"] == "not_allowed"
    assert topics(published) == ["tessera/home/pump-1/alert"]


class Nothing(BaseModel):
    """No arguments."""


def test_admin_tools_are_never_allowed_even_with_every_tool_allowed(ctx) -> None:
    @tool("reset_everything", "Wipe Tessera's state.", Permission.ADMIN, registry=Registry("tool"))
    def reset_everything(args: Nothing, ctx: ToolContext) -> ToolResult:
        return ToolResult(True, "wiped")

    policy = hub(GuardrailSettings(allow_tools=["*"]))
    verdict = policy.check(reset_everything, Nothing(), ctx, confirmed=True)
    assert (verdict.outcome, verdict.reason) == (Outcome.DENY, Reason.NOT_ALLOWED) and "admin" in verdict.message
    with pytest.raises(ValidationError):
        GuardrailSettings(permissions=["read", "admin"])
    denied = hub(GuardrailSettings(deny_tools=["HassTurn*"]))
    assert not denied.allows(TOOLS.get("HassTurnOn")) and denied.allows(TOOLS.get("HassLightSet"))


def test_rate_limits_trip_per_target_and_per_tool_and_recover(ctx, audit, published) -> None:
    clock = Clock()
    settings = GuardrailSettings(target_rate=RateLimitSettings(capacity=2, per_s=10), rates={"HassToggle": RateLimitSettings(capacity=3, per_s=30)})
    policy = hub(settings, clock)
    lamp = {"name": "Floor Lamp"}
    assert execute("HassToggle", lamp, ctx, policy, audit).ok
    assert execute("HassToggle", lamp, ctx, policy, audit).ok
    limited = execute("HassToggle", lamp, ctx, policy, audit)
    assert not limited.ok and limited.data["reason"] == "rate_limited" and limited.data["retry_after_s"] == 5.0
    assert execute("HassToggle", {"name": "Kitchen Ceiling Light"}, ctx, policy, audit).ok  # another entity has its own bucket
    tool_limited = execute("HassToggle", {"name": "Hallway Light"}, ctx, policy, audit)  # but the tool's bucket (3) is empty
    assert tool_limited.data["reason"] == "rate_limited" and "HassToggle" in tool_limited.message
    clock.t += 10.0  # the tool earns 1 token, the lamp 2
    assert execute("HassToggle", lamp, ctx, policy, audit).ok
    assert execute("HassToggle", lamp, ctx, policy, audit).data["reason"] == "rate_limited"
    assert len(published) == 4


def test_a_call_awaiting_confirmation_spends_no_rate_tokens(ctx, audit) -> None:
    policy = hub(GuardrailSettings(target_rate=RateLimitSettings(capacity=1, per_s=60)))
    for _ in range(3):
        assert execute("HassTurnOff", {"name": "Front Door"}, ctx, policy, audit).data["needs_confirmation"]
    assert execute("HassTurnOff", {"name": "Front Door"}, ctx, policy, audit, confirmed=True).ok


def test_a_range_on_a_field_the_tool_lacks_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="temp"):
        hub(GuardrailSettings(ranges={"HassClimateSetTemperature": {"temp": (5, 30)}}))
    with pytest.raises(ValidationError):
        GuardrailSettings(ranges={"HassLightSet": {"brightness": (80, 20)}})
