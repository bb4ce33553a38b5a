"""`tessera hub` and `tessera gateway`: the long-running services from the shell.

Both run the same way: settings under their profile, the local model, the knowledge store,
the service, a health and metrics endpoint, and a clean stop on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.decide.command_eval import DEFAULT_HOME

log = logging.getLogger("agent.services.health")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `hub` and `gateway`."""
    hub = commands.add_parser("hub", help="smart-home hub daemon: text commands over MQTT to Home Assistant intents, with guardrails")
    hub.add_argument("--home", type=Path, default=DEFAULT_HOME, help="home file (default examples/home.yaml)")
    hub.add_argument("--wyoming-port", type=int, default=None,
                     help="serve Home Assistant's Assist pipeline over Wyoming on this port (wyoming.port; docs/home-assistant.md)")
    hub.add_argument("--wyoming-mode", choices=["handle", "intent"], default=None,
                     help="handle: the hub carries commands out (default); intent: Home Assistant does, from the intents the hub recognises")
    _common(hub, 9464)
    hub.set_defaults(func=cmd_hub)
    gateway = commands.add_parser("gateway", help="industrial gateway: vibration, traffic and process streams to alerts, tickets and reports")
    gateway.add_argument("--shared-group", default=None, help="ride a shared subscription $share/GROUP/... to split devices over several gateway workers")
    _common(gateway, 9465)
    gateway.set_defaults(func=cmd_gateway)


def _common(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--health-port", type=int, default=port, help=f"port of the operator console, /healthz and /metrics on console.host (default {port}; 0: any free port)")
    parser.add_argument("--no-knowledge", action="store_true", help="decide without the rag/ knowledge store (no explanations)")
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: until SIGTERM or Ctrl-C)")


def cmd_hub(args: argparse.Namespace) -> int:
    """Run the hub until SIGTERM, Ctrl-C or --duration."""
    from agent.decide.cascade import build_cascade, build_event_backend
    from agent.decide.corrections import reviewed, teach
    from agent.decide.review import ReviewQueue
    from base.settings import load_settings
    from agent.services.hub import HubDaemon, command_topic
    from tools.home import Home

    settings = load_settings(args.config, profile=args.profile or "hub")
    wyoming = {k: v for k, v in {"port": args.wyoming_port, "mode": args.wyoming_mode}.items() if v is not None}
    settings = settings.model_copy(update={"wyoming": settings.wyoming.model_copy(update=wyoming)})
    home = Home.load(args.home)

    def build(knowledge: Any) -> HubDaemon:
        cascade = build_cascade(settings, home, mode="auto", review_unsure=True)
        for done in reviewed(ReviewQueue.for_data_dir(settings.data_dir), "command"):
            teach(cascade, done)  # what operators corrected before this start
        # One model serves commands and stream events (the backend serialises calls).
        events = build_event_backend(settings, cascade.setup.local.backend)
        return HubDaemon(settings, home, cascade, event_backend=events, knowledge=knowledge)

    voice = f" and Wyoming ({settings.wyoming.mode}) on {settings.wyoming.host}:{settings.wyoming.port}" if settings.wyoming.port else ""
    return _serve(settings, args, build, f"hub listening on {command_topic(settings)}{voice}")


def cmd_gateway(args: argparse.Namespace) -> int:
    """Run the gateway until SIGTERM, Ctrl-C or --duration."""
    from agent.decide.cascade import build_event_backend
    from base.settings import load_settings
    from agent.llm.local import LlamaCppBackend
    from agent.services.runtime import ServiceRuntime

    settings = load_settings(args.config, profile=args.profile or "gateway")
    if args.shared_group:
        settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"shared_group": args.shared_group})})

    def build(knowledge: Any) -> ServiceRuntime:
        events = build_event_backend(settings, LlamaCppBackend(settings.llm))
        return ServiceRuntime(settings, "gateway", event_backend=events, knowledge=knowledge)

    sites = "all sites" if "+" in settings.ingest.sites else ", ".join(settings.ingest.sites)
    return _serve(settings, args, build, f"gateway watching {sites} under {settings.mqtt.topic_prefix}/")


def _serve(settings: Any, args: argparse.Namespace, build: Callable[[Any], Any], banner: str) -> int:
    from agent.services.runtime import open_knowledge
    from agent.decide.corrections import teach
    from agent.services.console import serve_console
    from agent.services.health import stop_on_signals

    stop = threading.Event()
    stop_on_signals(stop)  # before anything starts, so a SIGTERM at any moment stops cleanly
    knowledge = None if args.no_knowledge else open_knowledge(settings, progress=True)  # the first start fills it (~10 s)
    service = build(knowledge).start()
    planner = getattr(getattr(service, "service", None), "planner", None)  # the hub's command planner learns from reviews
    console = serve_console(service, port=args.health_port, on_reviewed=(lambda done: teach(planner, done)) if planner else None)
    print(f"{banner}; console, health and metrics on {console.url}", flush=True)
    stop.wait(args.duration)
    log.info("stopping", extra={"profile": settings.profile})
    service.stop()
    console.stop()
    return 0
