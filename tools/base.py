"""The tool protocol and registry. The same registry feeds the LLM's grammar, the prompt and the CLI."""

from __future__ import annotations

import enum
import inspect
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from base.errors import first_problem
from base.registry import Registry

if typing.TYPE_CHECKING:
    from rag.store import KnowledgeStore
    from tools.home import Home
    from tools.streams import StreamStore


class Permission(str, enum.Enum):
    """What a tool may do; profiles allow tools by permission class."""

    READ = "read"  # looks, changes nothing outside Tessera
    ACTUATE = "actuate"  # changes the physical world (lights, locks, machines)
    NOTIFY = "notify"  # tells a person or an upstream system
    ADMIN = "admin"  # changes Tessera itself


@dataclass(slots=True)
class ToolResult:
    """Outcome of a tool call. A failed call is data fed back to the agent, not an exception."""

    ok: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)


Publish = Callable[[str, str | bytes, int, bool], None]  # topic, payload, qos, retain


# What tools need from the runtime, as protocols: the runtime (agent/) provides them, and
# tools never import it. The SQLite implementations are agent.decide.audit and agent.ingest.outbox.
class TicketRecord(typing.Protocol):
    id: int
    ts: float
    status: str


class TicketStore(typing.Protocol):
    """Maintenance tickets and acknowledgements, kept beside the audit log."""

    def open(self, ts: float, site: str, device: str, title: str, priority: str, description: str, evidence: list[str]) -> TicketRecord: ...

    def acknowledge(self, ts: float, site: str, device: str, kind: str, event_t: float | None, note: str) -> int: ...


class Outbox(typing.Protocol):
    """Durable store-and-forward for messages that must not be lost."""

    def put(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int: ...


class AuditLog(typing.Protocol):
    """Where every tool call is recorded; returns the record's id."""

    def record(self, decision: Any | None = None, **outcome: Any) -> int: ...


@dataclass(slots=True)
class ToolContext:
    """What tools may touch: the MQTT publisher, where this Tessera lives, and the home registry."""

    publish: Publish
    site: str
    topic_prefix: str = "tessera"
    clock: Callable[[], float] = time.time
    home: Home | None = None
    streams: StreamStore | None = None  # latest tokenized windows per device, for read_stream
    tickets: TicketStore | None = None  # maintenance tickets and acknowledgements (SQLite beside the audit log)
    knowledge: KnowledgeStore | None = None  # the rag/ store, for search_knowledge
    outbox: Outbox | None = None  # store-and-forward for what must reach people and upstream systems
    device_id: str | None = None  # the device that heard the command (a voice satellite), when the request says

    def forward(self, topic: str, payload: str) -> None:
        """Send a message that must not be lost (alert, ticket, report, acknowledgement), QoS 1.

        With an outbox it is on disk before this returns and is sent in order once the broker
        answers, even after a restart. Device commands use `publish` instead: a light switched
        an hour late is worse than a command refused now.
        """
        if self.outbox is not None:
            self.outbox.put(topic, payload, qos=1)
        else:
            self.publish(topic, payload, 1, False)

    def topic(self, *parts: str) -> str:
        """A topic under this site, e.g. topic("ecg-1", "alert") -> tessera/home/ecg-1/alert."""
        return "/".join((self.topic_prefix, self.site, *parts))


@dataclass(slots=True, frozen=True)
class Tool:
    """A named action: description, argument model, permission and the function that does it."""

    name: str
    description: str
    args_model: type[BaseModel]
    permission: Permission
    func: Callable[[Any, ToolContext], ToolResult]

    def __post_init__(self) -> None:
        _check_signature(self.name, self.func, self.args_model)

    def validate(self, raw_args: dict[str, Any]) -> BaseModel:
        """Arguments checked against the model; raises pydantic.ValidationError."""
        return self.args_model.model_validate(raw_args)

    def __call__(self, raw_args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate the arguments and run; invalid arguments become a failed ToolResult."""
        try:
            args = self.validate(raw_args)
        except ValidationError as err:
            where, problem = first_problem(err)
            return ToolResult(False, f"invalid arguments for {self.name}: {where}: {problem}")
        return self.func(args, ctx)


TOOLS: Registry[Tool] = Registry("tool")


def tool(name: str, description: str, permission: Permission, registry: Registry[Tool] = TOOLS) -> Callable:
    """Decorator: register `func(args: ArgsModel, ctx: ToolContext) -> ToolResult` as a tool."""

    def wrap(func: Callable[[Any, ToolContext], ToolResult]) -> Tool:
        hints = typing.get_type_hints(func)
        args_model = hints.get("args")
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise TypeError(f"tool {name}: first parameter must be `args` annotated with a pydantic model")
        return registry.register(name, Tool(name, description, args_model, permission, func))

    return wrap


def _check_signature(name: str, func: Callable, args_model: type[BaseModel]) -> None:
    params = list(inspect.signature(func).parameters)
    if params != ["args", "ctx"]:
        raise TypeError(f"tool {name}: function must take (args, ctx), got ({', '.join(params)})")
    declared = typing.get_type_hints(func).get("args")
    if declared is not args_model:
        raise TypeError(f"tool {name}: args is annotated {declared!r} but the tool's model is {args_model.__name__}")
