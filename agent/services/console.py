"""The operator's console: one local web page per hub or gateway, beside /metrics and /healthz.

The page (console.html, no build step) shows the devices and their streams with the latest
tokens, quality and a live strip of the signal; decisions as they happen (route, calibrated
confidence, latency, prompt size, tool and result); alerts and tickets with their evidence;
the review queue, where the operator confirms or corrects a decision (agent.decide.corrections
turns that into a worked example and a calibration label); outbox backlog, dead letters by
reason, broker and edge status. On the hub it also shows the home (areas, devices and their live
states, timers, lists) and takes typed commands ("Say something"), answered by the hub's own
command path as an MQTT command is.

Served by Starlette under uvicorn in one background thread: both are already here for
llama_cpp.server, Starlette's server-sent events fit a page that only listens, and uvicorn's
own event loop keeps the page off the services' MQTT and decision threads. Bound to 127.0.0.1
by default; any other address needs `console.token` (the page asks for it once and keeps it
in a cookie; scripts send `Authorization: Bearer TOKEN`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from adapters.base import TokenizedWindow
from agent.decide.corrections import ReviewError, review
from agent.decide.planner import CLARIFY, OUT_OF_SCOPE
from agent.decide.review import ReviewQueue
from agent.ingest.ingestor import StreamKey
from base.errors import ConfigError
from base.net import is_loopback

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("console.html")
STRIP_POINTS = 400  # points in a live strip: enough for an ECG complex, small enough to send every 2 s
STRIP_EVERY_S = 1.0  # at most one strip a second per stream: nobody reads faster, and it costs the watcher thread
COOKIE = "tessera_console"


def signal_strip(samples: np.ndarray, rate: float, modality: str, points: int = STRIP_POINTS) -> list[float]:
    """A window drawn in `points` values: the signal itself, or for vibration its envelope (what a bearing fault modulates).

    Each point keeps the extreme of its bucket, so a spike or a QRS survives the thinning.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, 0]
    x = x[np.isfinite(x)]
    if x.size == 0:
        return []
    if modality == "vibration":
        from scipy.signal import hilbert

        x = np.abs(hilbert(x - x.mean()))
    if x.size <= points:
        return [round(float(v), 4) for v in x]
    buckets = np.array_split(x - np.median(x), points)
    picked = [b[np.argmax(np.abs(b))] for b in buckets]
    return [round(float(v), 4) for v in np.asarray(picked) + np.median(x)]


class ConsoleFeed:
    """What the watcher saw, kept for the page: each stream's latest window and strip (a WatchObserver)."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._strip_at: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()
        self.version = 0  # bumped on every change, so the page's event stream knows when to send

    def signal(self, key: StreamKey, samples: np.ndarray, t0: float, rate: float, modality: str) -> None:
        """Raw samples of a window about to be encoded: thinned into the stream's strip."""
        k = (key.site, key.device, key.stream)
        now = time.monotonic()
        if now - self._strip_at.get(k, -1e9) < STRIP_EVERY_S:
            return
        self._strip_at[k] = now
        strip = signal_strip(samples, rate, modality)
        with self._lock:
            self._streams.setdefault(k, {})["strip"] = strip
            self._streams[k]["strip_s"] = round(len(samples) / rate, 2) if rate else None

    def window(self, key: StreamKey, window: TokenizedWindow) -> None:
        """An encoded window: its tokens, quality, summary and events."""
        with self._lock:
            entry = self._streams.setdefault((key.site, key.device, key.stream), {})
            entry |= {"site": key.site, "device": key.device, "stream": key.stream, "modality": window.modality,
                      "tokens": list(window.tokens), "quality": round(float(window.quality), 3), "summary": window.summary,
                      "events": [e.describe() for e in window.events], "t0": window.t0, "updated": time.time()}
            self.version += 1

    def step(self, key: StreamKey, step: Any) -> None:
        """Steps of a decision reach the page through the audit log, which records every one."""

    def streams(self) -> list[dict[str, Any]]:
        """Every stream seen, by device."""
        with self._lock:
            return [dict(v) for _, v in sorted(self._streams.items()) if "modality" in v]


class Console:
    """The page's data and actions over one running service (a ServiceRuntime, or a HubDaemon with its home and commands)."""

    def __init__(self, runtime: Any, feed: ConsoleFeed, *, on_reviewed: Callable[[Any], None] | None = None, hub: Any = None) -> None:
        self.runtime, self.feed, self.on_reviewed, self.hub = runtime, feed, on_reviewed, hub
        self.review_queue = ReviewQueue.for_data_dir(runtime.settings.data_dir)

    def home(self) -> dict[str, Any] | None:
        """The hub's home: areas with their devices and live states, running timers, the lists; None on a gateway."""
        if self.hub is None:
            return None
        home = self.hub.service.home
        by_area: dict[str | None, list[dict[str, Any]]] = {}
        for entity in list(home.entities):  # a copy: discovery may add devices meanwhile
            by_area.setdefault(entity.area, []).append(_device(entity))
        floors = {f.id: f.name for f in home.floors}
        areas = [{"name": a.name, "floor": floors.get(a.floor or ""), "devices": by_area[a.id]} for a in home.areas if a.id in by_area]
        if None in by_area:
            areas.append({"name": "No area", "floor": None, "devices": by_area[None]})
        now = self.hub.timers.clock()
        timers = [{"id": t.id, "name": t.name, "area": t.area, "seconds": t.seconds, "left_s": round(t.left(now), 1),
                   "paused": t.paused_left is not None} for t in list(self.hub.timers.timers)]
        return {"name": home.name, "areas": areas, "timers": timers, "lists": {k: list(v) for k, v in self.hub.lists.lists.items()}}

    def say(self, body: dict[str, Any]) -> dict[str, Any]:
        """A command typed into the page, answered by the hub's command path itself (as an MQTT command), and what it acted on."""
        answer = self.hub.service.answer(json.dumps(body).encode())
        home = self.hub.service.home
        acted = answer.get("entities") or [] if answer.get("ok") else []  # a refused or unconfirmed call changed nothing
        return answer | {"changed": [_device(e) for e in map(home.entity, acted) if e is not None]}

    def _home_signature(self) -> tuple:
        if self.hub is None:
            return ()
        devices = tuple((e.entity_id, e.state, json.dumps(e.attributes, sort_keys=True, default=str)) for e in list(self.hub.service.home.entities))
        timers = tuple((t.id, t.paused_left is not None, t.ends_at) for t in list(self.hub.timers.timers))
        return devices, timers, json.dumps(self.hub.lists.lists, sort_keys=True)

    def state(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data."""
        rt = self.runtime
        decisions = [_decision(r) for r in rt.guard.audit.last(60)]
        tickets = [asdict(t) for t in rt.ctx.tickets.list()][-30:] if rt.ctx.tickets is not None else []
        return {"service": rt.name, "site": rt.settings.mqtt.site, "profile": rt.settings.profile, "now": time.time(),
                "streams": self.feed.streams(), "decisions": decisions,
                "alerts": [d for d in decisions if d["tool"] in ("raise_alert", "open_ticket")],
                "tickets": tickets, "review": [_review_item(i) for i in self.review_queue.pending(50)],
                "status": self.status(), "home": self.home()}

    def status(self) -> dict[str, Any]:
        """Broker, outbox, dead letters and edge."""
        rt, m = self.runtime, self.runtime.metrics
        health = rt.health()
        ingest = rt.watcher.ingest.counters if rt.watcher else None
        edge = rt.settings.edge
        return {"mqtt_connected": health["mqtt_connected"], "watching": health["watching"], "outbox_pending": health["outbox_pending"],
                "outbox_dropped": rt.outbox.counters.dropped, "outbox_sent": rt.outbox.counters.sent,
                "frames_in": ingest.received if ingest else 0, "frames_missing": ingest.missing_frames if ingest else 0,
                "dead_letters": ingest.dead_lettered if ingest else 0, "dead_letter_reasons": dict(ingest.rejected) if ingest else {},
                "edge": {"configured": bool(edge.url), "answered": m.value("event_decisions_total", route="edge"),
                         "fallbacks": m.value("event_decisions_total", route="fallback")},
                "review_pending": self.review_queue.count()}

    def signature(self) -> tuple:
        """Changes whenever the page would: cheap enough to poll twice a second."""
        rt = self.runtime
        last = rt.guard.audit.last(1)
        ingest = rt.watcher.ingest.counters if rt.watcher else None
        return (self.feed.version, last[0].id if last else 0, self.review_queue.count(), rt.outbox.pending(),
                ingest.dead_lettered if ingest else 0, len(rt.ctx.tickets.list()) if rt.ctx.tickets is not None else 0,
                rt.health()["mqtt_connected"], self._home_signature())

    def apply_review(self, item_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Confirm or correct one queued decision; ReviewError says why not."""
        done = review(self.review_queue, item_id, str(body.get("verdict", "")), body.get("tool"), body.get("args"),
                      knowledge=self.runtime.ctx.knowledge, site=self.runtime.settings.mqtt.site)
        if self.on_reviewed is not None:
            self.on_reviewed(done)
        return asdict(done)


def _decision(r: Any) -> dict[str, Any]:
    return {"id": r.id, "ts": r.ts, "source": r.source, "input": r.input[:300], "route": r.route, "confidence": r.confidence,
            "confidence_raw": r.confidence_raw, "latency_s": r.latency_s, "prompt_tokens": r.prompt_tokens, "tool": r.tool,
            "arguments": r.arguments, "ok": r.ok, "verdict": r.verdict, "message": r.message[:600]}


# Attributes the page shows beside a device's state, in Home Assistant's names.
SHOWN_ATTRIBUTES = ("brightness", "temperature", "current_temperature", "current_position", "volume_level", "unit_of_measurement")


def _device(e: Any) -> dict[str, Any]:
    return {"entity_id": e.entity_id, "name": e.name, "domain": e.domain, "state": e.state,
            "attributes": {k: e.attributes[k] for k in SHOWN_ATTRIBUTES if k in e.attributes}}


def _review_item(i: Any) -> dict[str, Any]:
    return {"id": i.id, "created_at": i.created_at, "kind": i.kind, "reason": i.reason, "confidence": i.confidence,
            "threshold": i.threshold, "question": i.request.get("question", ""), "device": i.request.get("device"),
            "local_answer": i.local_answer}


def build_app(console: Console, metrics_text: Callable[[], str], health: Callable[[], dict], token: str | None) -> Any:
    """The Starlette application: the page, its JSON and event stream, review actions, /metrics and /healthz."""
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    def allowed(request: Request) -> bool:
        if token is None:
            return True
        given = request.cookies.get(COOKIE) or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), token.encode())

    def guarded(handler: Callable) -> Callable:
        async def run(request: Request) -> Response:
            if request.query_params.get("token") and token and hmac.compare_digest(request.query_params["token"].encode(), token.encode()):
                response = RedirectResponse(request.url.path, status_code=303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
                return response
            if not allowed(request):
                return PlainTextResponse("console token required: open /?token=TOKEN once (console.token in the config)\n", status_code=401)
            return await handler(request)
        return run

    async def page(_request: Request) -> Response:
        return HTMLResponse(PAGE.read_text())

    async def state(_request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(console.state))

    async def events(request: Request) -> Response:
        async def stream():
            seen = None
            while not await request.is_disconnected():
                now = await asyncio.to_thread(console.signature)
                if now != seen:
                    seen = now
                    yield {"event": "state", "data": json.dumps(await asyncio.to_thread(console.state), default=str)}
                await asyncio.sleep(0.5)
        return EventSourceResponse(stream(), ping=15)

    async def tools(_request: Request) -> Response:
        from tools import TOOLS

        answers = [{"name": CLARIFY, "description": "ask the speaker back"}, {"name": OUT_OF_SCOPE, "description": "not for a hub"}]
        return JSONResponse([{"name": n, "description": TOOLS.get(n).description} for n in TOOLS.names()] + answers)

    async def json_body(request: Request, example: str) -> dict[str, Any] | Response:
        # Only JSON: another site's page cannot send it without a CORS preflight, which this server never grants.
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send it as Content-Type: application/json"}, 415)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": f"the body must be JSON: {example}"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        return body

    async def apply(request: Request) -> Response:
        body = await json_body(request, '{"verdict": "confirm"} or {"verdict": "correct", "tool": ..., "args": {...}}')
        if isinstance(body, Response):
            return body
        try:
            done = await asyncio.to_thread(console.apply_review, int(request.path_params["item_id"]), body)
        except ReviewError as err:
            return JSONResponse({"error": str(err)}, 400)
        return JSONResponse(done)

    async def say(request: Request) -> Response:
        if console.hub is None:
            return JSONResponse({"error": "this service takes no commands; the hub does"}, 404)
        body = await json_body(request, '{"text": "turn on the kitchen lights"} or {"confirm": 17}')
        if isinstance(body, Response):
            return body
        answer = await asyncio.to_thread(console.say, body)
        return JSONResponse(answer, status_code=400 if "error" in answer else 200)

    async def metrics(_request: Request) -> Response:
        return PlainTextResponse(metrics_text(), media_type="text/plain; version=0.0.4")

    async def healthz(_request: Request) -> Response:
        state_ = health()
        return JSONResponse(state_, status_code=200 if state_.get("ok") else 503)

    routes = [Route("/", guarded(page)), Route("/api/state", guarded(state)), Route("/api/events", guarded(events)),
              Route("/api/tools", guarded(tools)), Route("/api/review/{item_id:int}", guarded(apply), methods=["POST"]),
              Route("/api/say", guarded(say), methods=["POST"]),
              Route("/metrics", guarded(metrics)), Route("/healthz", healthz)]
    return Starlette(routes=routes)


class ConsoleServer:
    """The console, /metrics and /healthz served by uvicorn in a background thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        import uvicorn

        if token is None and not is_loopback(host):
            raise ConfigError(f"console.host {host} is reachable from other machines: set console.token (12+ characters), or bind 127.0.0.1")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as err:
            self._sock.close()
            raise ConfigError(f"cannot serve the console on {host}:{port}: {err.strerror}; pick another --health-port (0: any free)") from None
        self.host, self.port = host, self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, name="tessera-console", daemon=True)

    @property
    def url(self) -> str:
        """Where the page is."""
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.port}/"

    def start(self, timeout_s: float = 10.0) -> ConsoleServer:
        """Serve in the background; returns when the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise ConfigError(f"the console did not start on {self.host}:{self.port} within {timeout_s:g} s")
        return self

    def stop(self) -> None:
        """Stop serving (open event streams are closed within a second)."""
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()


def serve_console(service: Any, *, port: int = 0, on_reviewed: Callable[[Any], None] | None = None) -> ConsoleServer:
    """Start the console of a running service (a ServiceRuntime, or a HubDaemon around one) on console.host and `port`."""
    runtime = getattr(service, "runtime", service)
    cfg = runtime.settings.console
    token = cfg.token.get_secret_value() if cfg.token else None
    hub = service if hasattr(service, "service") and hasattr(service, "timers") else None  # a HubDaemon: its home and commands
    console = Console(runtime, runtime.feed, on_reviewed=on_reviewed, hub=hub)
    app = build_app(console, runtime.metrics.render, service.health, token)
    return ConsoleServer(app, cfg.host, port, token).start()
