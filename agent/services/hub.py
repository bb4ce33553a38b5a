"""`tessera hub`: text commands over MQTT in, Home Assistant intent calls through the guardrails out, answers back.

Request/response follows MQTT 5: a request on `<prefix>/<site>/hub/command` may carry a
Response Topic and Correlation Data, and the answer goes there with the same
correlation data. MQTT 3.1.1 clients put `reply_to` and `id` in the JSON instead; without
either, answers go to `<prefix>/<site>/hub/response`. A request is JSON
(`{"text": "turn off the kitchen lights", "id": "42"}`, or `{"confirm": 17}` to confirm a
dangerous action) or plain UTF-8 text. A request may say where it was spoken,
`"context": {"area": "Living Room", "device_id": "satellite-1"}`: "turn on the lights" and
"in here" then mean that area, as in Home Assistant. A bad request gets an error answer; the
hub goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from base.errors import BrokerError, ConfigError, first_problem
from agent.decide.audit import Decision, Source, grammar_text
from base.settings import TesseraSettings
from agent.llm.base import LLMBackend
from agent.decide.loop import Guard
from agent.decide.planner import Plan
from agent.decide.templates import SpeakerContext, TemplateMatch, recent_match, speaker_context
from agent.services.runtime import ServiceRuntime
from agent.services.health import Metrics
from agent.services.watch import WatchObserver
from agent.services.wyoming_service import WyomingServer
from tools import TOOLS, ToolContext, ToolResult
from tools.base import Permission
from tools.discovery import DISCOVERY_TOPICS, apply_state, learn, state_topics
from tools.executor import execute
from tools.home import Entity, Home
from tools.intents import HOME_INTENTS
from tools.responses import speech
from tools.timers import ListStore, TimerBoard, install

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4096
PENDING_CONFIRMATION_S = 120.0  # a confirmation older than this is refused: the situation may have changed


class Planner(Protocol):
    """Anything that plans an utterance (the command cascade, or one planner)."""

    def plan(self, utterance: str, context: SpeakerContext | None = None) -> Plan:
        """Plan one utterance spoken in `context`."""
        ...


class CommandRequest(BaseModel):
    """One request to the hub."""

    text: str | None = Field(None, min_length=1, max_length=500)
    confirm: int | None = Field(None, ge=1)
    id: str | None = Field(None, max_length=64)
    reply_to: str | None = Field(None, max_length=200)
    context: dict[str, Any] | None = None  # where it was spoken: {"area": ..., "device_id": ...}


@dataclass(slots=True)
class Pending:
    """A dangerous call waiting for a person's yes."""

    tool: str
    args: dict[str, Any]
    created: float


class RequestError(ValueError):
    """A request the hub cannot read; answered with the reason."""


def command_topic(settings: TesseraSettings) -> str:
    """Where the hub takes commands."""
    return f"{settings.mqtt.topic_prefix}/{settings.mqtt.site}/hub/command"


def response_topic(settings: TesseraSettings) -> str:
    """Where answers go when the request names no reply topic."""
    return f"{settings.mqtt.topic_prefix}/{settings.mqtt.site}/hub/response"


class CommandService:
    """Plans, guards, executes and answers commands; `answer()` is the whole path for one request."""

    def __init__(self, settings: TesseraSettings, home: Home, planner: Planner, guard: Guard, ctx: ToolContext, metrics: Metrics,
                 clock=time.monotonic) -> None:
        self.settings, self.home, self.planner, self.guard, self.ctx, self.metrics = settings, home, planner, guard, ctx, metrics
        self.clock = clock
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()  # one command at a time: the model and the registry are shared

    def answer(self, payload: bytes, *, only_if_sure: bool = False) -> dict[str, Any]:
        """The answer to one raw request; never raises for bad input.

        only_if_sure: a plan the cascade is unsure of (below the calibrated threshold, or a fallback) is
        declined rather than carried out, for callers that have somewhere else to send it (Home Assistant).
        """
        start = time.perf_counter()
        try:
            request = parse_request(payload)
            context = speaker_context(request.context, self.home)
        except (RequestError, ConfigError) as err:
            self.metrics.inc("hub_bad_requests_total", "requests the hub could not read")
            return {"ok": False, "error": str(err)}
        with self._lock:
            response = self._confirm(request.confirm) if request.confirm else self._command(request.text or "", context, only_if_sure)
        response["id"] = request.id
        response["latency_s"] = round(time.perf_counter() - start, 4)
        self.metrics.observe("hub_command", "time from request to answer", time.perf_counter() - start)
        return response

    def recognize(self, text: str, context: SpeakerContext | None = None) -> dict[str, Any]:
        """What the hub understood, nothing carried out: `ok` when it is a home intent the hub is sure of."""
        with self._lock:
            plan = self.planner.plan(text, context)
        self.metrics.inc("hub_recognitions_total", "utterances recognised without being carried out, by route", route=plan.route)
        return _plan_fields(text, plan) | {"ok": plan.tool in HOME_INTENTS and not self.unsure(plan)}

    def unsure(self, plan: Plan) -> bool:
        """Below the calibrated threshold: the cascade fell back (no edge answered), the calibrated confidence is under
        the policy's threshold or hub.act_threshold, or there is no calibration and no template matched."""
        # The escalation threshold is the cascade's policy's; a lone planner (tests, `tessera plan --mode local`) has none.
        threshold = getattr(getattr(getattr(self.planner, "setup", None), "policy", None), "threshold", None)
        floor = max(threshold or 0.0, self.settings.hub.act_threshold)
        if plan.confidence is None:  # no calibration for this model: only Home Assistant's templates are trusted
            return not (plan.route == "fast" and plan.raw_confidence >= 1.0)
        return plan.route == "fallback" or plan.confidence < floor

    def _queue_declined(self, text: str, plan: Plan) -> None:
        # What the hub did not dare do waits for an operator, whose answer teaches the intent model. A fallback was
        # queued by the cascade already; this is a plan above the escalation threshold but below hub.act_threshold.
        review = getattr(getattr(self.planner, "setup", None), "review", None)
        if review is None or plan.route == "fallback":
            return
        from agent.decide.escalation import EscalationRequest

        request = EscalationRequest("command", text, local_answer={"tool": plan.tool, "args": plan.args})
        review.enqueue("command", "declined_below_act_threshold", request.as_record(), request.local_answer,
                       confidence=plan.confidence, threshold=self.settings.hub.act_threshold)

    def _command(self, text: str, context: SpeakerContext | None = None, only_if_sure: bool = False) -> dict[str, Any]:
        plan = self.planner.plan(text, context)
        self.metrics.inc("hub_decisions_total", "commands planned, by route", route=plan.route)
        base = _plan_fields(text, plan)
        if plan.failure:  # understood, but the home cannot do it: the reason is the answer, nothing is run
            return base | {"ok": False, "failure": plan.failure, "answer": plan.answer}
        if plan.tool not in HOME_INTENTS:
            return base | {"ok": False, "answer": plan.answer or "Sorry, that is not something I can do in this home."}
        # Never act on a guess: a plan below the threshold that would change the home is not carried out.
        if (only_if_sure or TOOLS.get(plan.tool).permission is not Permission.READ) and self.unsure(plan):
            self.metrics.inc("hub_declined_total", "commands declined as unsure instead of carried out")
            self._queue_declined(text, plan)
            return base | {"ok": False, "declined": "unsure", "answer": "I am not sure what you mean, so I did nothing."}
        decision = Decision(Source.UTTERANCE, text, [], plan.completion.prompt_tokens if plan.completion else None,
                            grammar_text(plan.schema), plan.raw_confidence, plan.confidence, plan.route)
        # The device that heard the command goes with it (a broadcast is not said back to it).
        ctx = replace(self.ctx, device_id=context.device_id) if context and context.device_id else self.ctx
        result = execute(TOOLS.get(plan.tool), plan.args, ctx, self.guard.policy, self.guard.audit, decision)
        # Answered with the response of the template that matched, when the fast path planned it.
        match = recent_match(self.settings.hub.language, text, context)
        return base | self._result(plan.tool, plan.args, result, match if match and match.intent == plan.tool else None)

    def _confirm(self, decision_id: int) -> dict[str, Any]:
        pending = self._pending.pop(decision_id, None)
        if pending is None or self.clock() - pending.created > PENDING_CONFIRMATION_S:
            return {"ok": False, "answer": f"There is nothing waiting for confirmation under {decision_id}; please ask again."}
        self.metrics.inc("hub_confirmations_total", "dangerous actions confirmed by a person")
        decision = Decision(Source.UTTERANCE, f"confirm {decision_id}", [], None, None, None, None, "confirmed")
        result = execute(TOOLS.get(pending.tool), pending.args, self.ctx, self.guard.policy, self.guard.audit, decision, confirmed=True)
        return {"tool": pending.tool, "args": pending.args} | self._result(pending.tool, pending.args, result)

    def _result(self, tool: str, args: dict[str, Any], result: ToolResult, match: TemplateMatch | None = None) -> dict[str, Any]:
        out = {"ok": result.ok, "answer": result.message, "decision_id": result.data.get("decision_id"),
               "entities": result.data.get("entities", [])}  # what it acted on, for "what changed"
        if result.ok:
            # Home Assistant's answer in the hub's language; Tessera's own sentence where it has none, and as the detail.
            said = speech(self.settings.hub.language, tool, args, result.data, self.home, match.response if match else None,
                          match.said if match else None)
            if said or (said is not None and not result.message):
                out |= {"answer": said, "detail": result.message}
        if result.data.get("needs_confirmation"):
            now = self.clock()
            # Unconfirmed requests expire; dropping them here keeps the table bounded.
            self._pending = {k: v for k, v in self._pending.items() if now - v.created <= PENDING_CONFIRMATION_S}
            self._pending[int(result.data["decision_id"])] = Pending(tool, result.data.get("args", args), now)
            out |= {"needs_confirmation": True, "confirm_question": result.message, "answer": f"{result.message} Reply with {{\"confirm\": {result.data['decision_id']}}} to go ahead."}
        if result.data.get("denied"):
            out["denied"] = result.data.get("reason")
        self.metrics.inc("hub_actions_total", "tool calls, by outcome", tool=tool,
                         outcome="ok" if result.ok else ("confirm" if result.data.get("needs_confirmation") else "refused"))
        return out


def _plan_fields(text: str, plan: Plan) -> dict[str, Any]:
    """What an answer says of the plan: tool, arguments, route, confidence, and the intent model's candidates when it gave some."""
    fields = {"text": text, "tool": plan.tool, "args": plan.args, "route": plan.route,
              "confidence": round(plan.confidence if plan.confidence is not None else plan.raw_confidence, 4),
              "calibrated": plan.confidence is not None}
    candidates = plan.as_json().get("candidates")
    return fields | ({"candidates": candidates} if candidates else {})


def parse_request(payload: bytes) -> CommandRequest:
    """A request from JSON or plain text; RequestError says what is wrong in one line."""
    if len(payload) > MAX_REQUEST_BYTES:
        raise RequestError(f"request of {len(payload)} bytes is over the {MAX_REQUEST_BYTES}-byte limit")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RequestError("request is not UTF-8 text") from None
    if not text:
        raise RequestError('empty request; send text or {"text": "..."}')
    if text.startswith("{"):
        try:
            data = json.loads(text)
            request = CommandRequest.model_validate(data)
        except json.JSONDecodeError as err:
            raise RequestError(f"request is not valid JSON: {err.msg} at character {err.pos}") from None
        except ValidationError as err:
            where, problem = first_problem(err)
            raise RequestError(f"request field {where or 'body'}: {problem}") from None
    else:
        request = CommandRequest(text=text[:500])
    if not request.text and not request.confirm:
        raise RequestError('request needs "text" (a command) or "confirm" (a decision id)')
    return request


class HubDaemon:
    """The hub: the shared service runtime plus the command service on its MQTT topic and Home Assistant discovery."""

    def __init__(self, settings: TesseraSettings, home: Home, planner: Planner, guard: Guard | None = None,
                 event_backend: LLMBackend | None = None, knowledge: Any = None, observer: WatchObserver | None = None) -> None:
        self.settings = settings
        # Wearable streams (ECG patches) are watched when a model is given for event decisions.
        self.runtime = ServiceRuntime(settings, "hub", home=home, event_backend=event_backend, knowledge=knowledge, guard=guard,
                                      on_connect=self._on_connect, observer=observer)
        self.metrics, self.watcher = self.runtime.metrics, self.runtime.watcher
        self.service = CommandService(settings, home, planner, self.runtime.guard, self.runtime.ctx, self.metrics)
        # The timers and lists the timer and list intents use: the hub's own, the lists kept on disk.
        self.timers = TimerBoard()
        self.lists = ListStore.load(settings.data_dir / "lists.json")
        install(settings.mqtt.site, self.timers, self.lists)
        self._work: list[tuple[bytes, Any]] = []
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._serve, name="tessera-hub", daemon=True)
        self._state_topics: dict[str, list[str]] = {}  # a learnt device's state topic -> the entities it reports for
        self.wyoming: WyomingServer | None = None  # Home Assistant's voice pipeline, when wyoming.port is set

    def start(self) -> HubDaemon:
        """Connect, subscribe to the command topic, start answering and watching streams (and Wyoming, when configured)."""
        self._worker.start()
        self.runtime.start()
        if self.settings.wyoming.port is not None:
            self.wyoming = WyomingServer(self.service, self.settings, self.metrics).start()
        log.info("hub started", extra={"command_topic": command_topic(self.settings), "watching": bool(self.watcher),
                                       "wyoming_port": self.settings.wyoming.port})
        return self

    def health(self) -> dict[str, Any]:
        """The runtime's health, the command worker alive, requests queued."""
        state = self.runtime.health()
        return state | {"ok": state["ok"] and self._worker.is_alive(), "queued": len(self._work)}

    def stop(self) -> None:
        """Finish the command in hand, then stop the runtime (watcher, outbox flush, disconnect)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        self._worker.join(timeout=30)
        if self.wyoming is not None:
            self.wyoming.stop()
        self.runtime.stop()

    def _on_connect(self, client, _session_present: bool) -> None:
        client.on_message = self._on_message
        client.subscribe([(command_topic(self.settings), 1), *((t, 1) for t in DISCOVERY_TOPICS)])

    def _on_message(self, client, _userdata, msg) -> None:
        if msg.topic.startswith("homeassistant/"):
            entity = learn(self.service.home, msg.topic, msg.payload)
            if entity:
                self.metrics.inc("hub_devices_learnt_total", "devices learnt from Home Assistant MQTT discovery")
                self._follow(client, entity)
            return
        if msg.topic in self._state_topics:
            self._take_state(msg.topic, msg.payload)
            return
        # Planning may take a second; the network thread only queues.
        self.metrics.inc("hub_requests_total", "command requests received")
        with self._wake:
            self._work.append((msg.payload, msg))
            self._wake.notify()

    def _follow(self, client, entity: Entity) -> None:
        """Subscribe to a learnt device's state topics: the registry, and so the hub's page, shows its live state."""
        for topic in state_topics(entity):
            if entity.entity_id not in self._state_topics.setdefault(topic, []):
                self._state_topics[topic].append(entity.entity_id)
            client.subscribe(topic, 1)

    def _take_state(self, topic: str, payload: bytes) -> None:
        for entity_id in self._state_topics[topic]:
            entity = self.service.home.entity(entity_id)
            if entity is not None and not apply_state(entity, payload):
                log.warning("unreadable device state", extra={"topic": topic, "entity_id": entity_id, "payload": payload[:120].decode("utf-8", "replace")})

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._finish_timers()
            with self._wake:
                while not self._work and not self._stop.is_set():
                    self._wake.wait(0.5)
                    self._finish_timers()
                if self._stop.is_set():
                    return
                payload, msg = self._work.pop(0)
            try:
                response = self.service.answer(payload)
            except Exception:  # a bug on one request must not stop the hub; answer and log it
                log.exception("hub failed on a request")
                self.metrics.inc("hub_internal_errors_total", "requests that hit a bug")
                response = {"ok": False, "error": "internal error; see the hub's log"}
            if msg is None:  # a timer's own command: nobody waits for the answer
                log.info("timer command answered", extra={"answer": response.get("answer")})
                continue
            try:
                self._reply(msg, response)
            except BrokerError as err:  # the broker went away meanwhile; the requester will ask again
                log.warning("answer not sent", extra={"error": str(err)})

    def _finish_timers(self) -> None:
        """Announce the timers that have run out; one started with a command queues that command."""
        for timer in self.timers.expire():
            self.metrics.inc("hub_timers_finished_total", "timers that ran out")
            event = {"action": "finished", "id": timer.id, "name": timer.name, "seconds": timer.seconds}
            try:
                self.runtime.publish(f"{self.settings.mqtt.topic_prefix}/{self.settings.mqtt.site}/hub/timer", json.dumps(event), 1, False)
            except BrokerError as err:  # the timer still ends; only the announcement is lost
                log.warning("timer announcement not sent", extra={"error": str(err)})
            if timer.command:
                self._work.append((json.dumps({"text": timer.command}).encode(), None))

    def _reply(self, msg, response: dict[str, Any]) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props_in = getattr(msg, "properties", None)
        topic = getattr(props_in, "ResponseTopic", None) or _reply_to(msg.payload) or response_topic(self.settings)
        props = None
        correlation = getattr(props_in, "CorrelationData", None)
        if correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        self.runtime.publish(topic, json.dumps(response), 1, False, properties=props)


def _reply_to(payload: bytes) -> str | None:
    try:
        return CommandRequest.model_validate_json(payload).reply_to
    except (ValidationError, ValueError):
        return None
