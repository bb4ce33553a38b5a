"""The hub as a Wyoming service: Home Assistant's Assist pipeline (and its voice satellites) talking to the hub.

Home Assistant's `wyoming` integration connects to a service by host and port, asks it to
`Describe` itself, and from then on sends each sentence the pipeline heard as a `Transcript`.
Two programs, one per hub (`wyoming.mode`):

- handle: the hub carries the sentence out on its home exactly as an MQTT command
  (`CommandService.answer`: the same planner or cascade, guardrails, executor and audit log)
  and answers `Handled` with the spoken answer, or `NotHandled` with why;
- intent: the hub only recognises it and answers `Intent` with Home Assistant's intent name
  and slots, which Home Assistant carries out on its own entities; nothing runs here.

`Recognize` is answered with `Intent` / `NotRecognized` in either mode. What is not for the
hub (out of scope, a clarifying question, a plan under the calibrated threshold) is declined,
and nothing changes. The protocol has no authentication: beyond loopback, only the addresses in
`wyoming.allow_from` are served.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from base.errors import ConfigError
from base.net import is_loopback
from base.settings import TesseraSettings
from agent.decide.templates import speaker_context
from agent.services.health import Metrics

log = logging.getLogger(__name__)

NOT_FOR_ME = "Sorry, that is not something I can do in this home."


class WyomingServer:
    """The Wyoming programs of one hub, served by the wyoming library's TCP server on its own event loop thread."""

    def __init__(self, service: Any, settings: TesseraSettings, metrics: Metrics) -> None:
        cfg = settings.wyoming
        if cfg.port is None:
            raise ConfigError("wyoming.port is not set; set it (e.g. 10800) or TESSERA_WYOMING__PORT to serve Home Assistant")
        self.allowed = [ipaddress.ip_network(a, strict=False) for a in cfg.allow_from]
        if not is_loopback(cfg.host) and not self.allowed:
            raise ConfigError(f"wyoming.host {cfg.host} is reachable from other machines and the protocol has no password: "
                              "list Home Assistant's address in wyoming.allow_from, or bind 127.0.0.1")
        self.service, self.settings, self.metrics = service, settings, metrics
        self.host, self.port, self.mode = cfg.host, cfg.port, cfg.mode
        self.language = settings.hub.language
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tessera-wyoming", daemon=True)
        self._server: Any = None

    def start(self, timeout_s: float = 10.0) -> WyomingServer:
        """Listen on host:port; returns once connections are accepted."""
        from wyoming.server import AsyncTcpServer

        self._server = AsyncTcpServer(self.host, self.port)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._server.start(self._handler), self._loop).result(timeout_s)
        except OSError as err:
            self._close_loop()
            raise ConfigError(f"cannot serve Wyoming on {self.host}:{self.port}: {err.strerror}; pick another wyoming.port") from None
        log.info("wyoming service listening", extra={"host": self.host, "port": self.port, "mode": self.mode, "language": self.language})
        return self

    def stop(self) -> None:
        """Close the listener and every open connection."""
        if self._server is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(5)
        self._close_loop()

    def _close_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Any:
        peer = writer.get_extra_info("peername")
        return _handler_class()(reader, writer, self, peer[0] if peer else "")

    def serves(self, address: str) -> bool:
        """Loopback, or one of allow_from."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return ip.is_loopback or any(ip in net for net in self.allowed)

    def info(self) -> Any:
        """The programs this hub offers: the configured one, in the hub's language."""
        from wyoming.info import Attribution, HandleModel, HandleProgram, Info, IntentModel, IntentProgram

        about = {"attribution": Attribution(name="Tessera", url=""), "installed": True, "version": _version()}
        what = "Home Assistant's sentence templates, then the hub's local model"
        if self.mode == "intent":
            model = IntentModel(name=f"tessera-{self.language}", description=f"{what}: intents for Home Assistant to carry out",
                                languages=[self.language], **about)
            return Info(intent=[IntentProgram(name="Tessera", description="Tessera hub: intent recognition", models=[model], **about)])
        model = HandleModel(name=f"tessera-{self.language}", description=f"{what}: carried out by the hub", languages=[self.language], **about)
        return Info(handle=[HandleProgram(name="Tessera", description="Tessera hub: commands carried out on its home", models=[model],
                                          supports_home_control=True, **about)])

    def handle(self, text: str, language: str | None, context: dict[str, Any] | None) -> Any:
        """Handled with the spoken answer when the hub carried the sentence out; NotHandled with why, and nothing changed, otherwise."""
        from wyoming.handle import Handled, NotHandled

        if not self._speaks(language):
            return self._count("handle", "language", NotHandled(text=f"Tessera answers in {self.language} here, not {language}."))
        request = {"text": text, "context": _speaker(context)} if _speaker(context) else {"text": text}
        # The MQTT command path itself: parsing, planning, guardrails, execution, audit.
        response = self.service.answer(json.dumps(request).encode(), only_if_sure=True)
        log.info("wyoming handle", extra={"tool": response.get("tool"), "route": response.get("route"), "ok": response.get("ok")})
        if response.get("ok"):
            return self._count("handle", "handled", Handled(text=response.get("answer") or "Done"))
        said = response.get("answer") or response.get("error") or NOT_FOR_ME
        if response.get("needs_confirmation"):  # a person says yes on the hub's page (or over MQTT), not by voice
            said = f"{response['confirm_question']} Confirm it on the hub's page."
        return self._count("handle", response.get("declined") or "not_handled", NotHandled(text=said))

    def recognize(self, text: str, language: str | None, context: dict[str, Any] | None) -> Any:
        """Intent with Home Assistant's intent name and slots when the hub is sure; NotRecognized otherwise. Nothing is carried out."""
        from wyoming.intent import Entity, Intent, NotRecognized

        if not self._speaks(language):
            return self._count("intent", "language", NotRecognized(text=f"Tessera understands {self.language} here, not {language}."))
        try:
            where = speaker_context(_speaker(context), self.service.home)
        except ConfigError as err:
            return self._count("intent", "bad_request", NotRecognized(text=str(err)))
        recognized = self.service.recognize(text[:500], where)
        log.info("wyoming recognize", extra={"tool": recognized["tool"], "route": recognized["route"], "ok": recognized["ok"]})
        if not recognized["ok"]:
            return self._count("intent", "not_recognized", NotRecognized(text=NOT_FOR_ME))
        entities = [Entity(name=k, value=v) for k, v in recognized["args"].items()]
        return self._count("intent", "recognized", Intent(name=recognized["tool"], entities=entities))

    def _speaks(self, language: str | None) -> bool:
        return not language or language.split("-")[0].split("_")[0].lower() == self.language.split("-")[0].lower()

    def _count(self, program: str, outcome: str, answer: Any) -> Any:
        self.metrics.inc("wyoming_requests_total", "Wyoming requests, by program and outcome", program=program, outcome=outcome)
        return answer


def _handler_class() -> type:
    """The event handler, a subclass of the wyoming library's own (imported only when the service runs)."""
    from wyoming.asr import Transcript
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.info import Describe
    from wyoming.intent import Recognize
    from wyoming.server import AsyncEventHandler

    class Handler(AsyncEventHandler):
        """One connection from Home Assistant: Describe, Transcript and Recognize in; Info and the answers out."""

        def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: WyomingServer, peer: str) -> None:
            super().__init__(reader, writer)
            self.server, self.peer = server, peer

        async def handle_event(self, event: Event) -> bool:
            if not self.server.serves(self.peer):
                log.warning("wyoming connection refused", extra={"peer": self.peer, "hint": "add it to wyoming.allow_from"})
                return False
            try:
                answer = await self._answer(event)
            except Exception:  # a bug on one request must not stop the service; the caller hears it, the log has it
                log.exception("wyoming request failed", extra={"event": event.type})
                answer = Error(text="internal error; see the hub's log", code="internal")
            if answer is not None:
                await self.write_event(answer.event())
            return True

        async def _answer(self, event: Event) -> Any:
            if Describe.is_type(event.type):
                return self.server.info()
            if Transcript.is_type(event.type):
                said = Transcript.from_event(event)
                act = self.server.handle if self.server.mode == "handle" else self.server.recognize
                return await asyncio.to_thread(act, said.text, said.language, said.context)
            if Recognize.is_type(event.type):
                asked = Recognize.from_event(event)
                return await asyncio.to_thread(self.server.recognize, asked.text, None, asked.context)
            log.debug("wyoming event ignored", extra={"event": event.type})  # audio, pings: not for this service
            return None

    return Handler


def _speaker(context: dict[str, Any] | None) -> dict[str, str] | None:
    """Where Home Assistant heard it: its satellite's entity id stands for the device that heard the command."""
    satellite = (context or {}).get("satellite_id")
    return {"device_id": satellite} if isinstance(satellite, str) and satellite else None


def _version() -> str | None:
    try:
        return version("tessera")
    except PackageNotFoundError:
        return None


