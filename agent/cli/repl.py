"""`tessera repl`: the developer shell over tools, guardrails, streams, the planner and the audit log."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.decide.command_eval import DEFAULT_HOME

HISTORY_FILE = "repl_history"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `repl`."""
    repl = commands.add_parser("repl", help="developer shell: list, describe and call tools through the guardrails, watch streams, plan, explain decisions")
    repl.add_argument("--home", type=Path, default=DEFAULT_HOME, help="home file (default examples/home.yaml)")
    repl.set_defaults(func=cmd_repl)


def cmd_repl(args: argparse.Namespace) -> int:
    """Run the REPL until quit, exit or Ctrl-D; history persists in <data_dir>/repl_history."""
    from base.settings import load_settings
    from agent.repl import Repl, run_repl
    from tools.home import Home

    settings = load_settings(args.config, profile=args.profile)
    return run_repl(Repl(settings, Home.load(args.home)), settings.data_dir / HISTORY_FILE)
