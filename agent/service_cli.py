"""`tessera hub`: the long-running services from the shell."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from agent.command_eval import DEFAULT_HOME


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `hub`."""
    hub = commands.add_parser("hub", help="smart-home hub daemon: text commands over MQTT to Home Assistant intents, with guardrails")
    hub.add_argument("--home", type=Path, default=DEFAULT_HOME, help="home file (default examples/home.yaml)")
    hub.add_argument("--health-port", type=int, default=9464, help="port of /healthz and /metrics on 127.0.0.1 (0: any free port)")
    hub.add_argument("--duration", type=float, default=None, help="seconds to run (default: until SIGTERM or Ctrl-C)")
    hub.set_defaults(func=cmd_hub)


def cmd_hub(args: argparse.Namespace) -> int:
    """Run the hub until SIGTERM, Ctrl-C or --duration."""
    import logging

    from agent.cascade import build_cascade
    from agent.config import load_settings
    from agent.hub import HubDaemon, command_topic
    from agent.service import HealthServer, stop_on_signals
    from tools.home import Home

    log = logging.getLogger("agent.hub")
    settings = load_settings(args.config, profile=args.profile)
    home = Home.load(args.home)
    stop = threading.Event()
    stop_on_signals(stop)  # before anything starts, so a SIGTERM at any moment stops cleanly
    cascade = build_cascade(settings, home, mode="auto")
    # One model serves commands and stream events (the backend serialises calls).
    daemon = HubDaemon(settings, home, cascade, event_backend=cascade.setup.local.backend).start()
    health = HealthServer(daemon.metrics, daemon.health, port=args.health_port).start()
    print(f"hub listening on {command_topic(settings)}; health and metrics on http://127.0.0.1:{health.port}/", flush=True)
    stop.wait(args.duration)
    log.info("hub stopping")
    daemon.stop()
    health.stop()
    return 0
