"""The `tessera` command. One function per command; user mistakes become one line on stderr."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable

from base.errors import TesseraError

log = logging.getLogger(__name__)

# `tessera eval NAME` subcommands: module path -> the module's add_arguments(parser) and run(args) -> int.
# The module docstring's first line is the command's help.
EVAL_COMMANDS: dict[str, str] = {
    "ecg": "evaluation.ecg",
    "vibration": "evaluation.vibration",
    "anomalies": "evaluation.anomalies",
    "traffic": "evaluation.traffic",
    "commands": "agent.decide.command_eval",
}

# Modules that add whole command groups: each exposes add_commands(subparsers), whose
# parsers set `func` to a function (args) -> int.
COMMAND_MODULES: tuple[str, ...] = (
    "agent.cli.plan",
    "agent.cli.services",
    "agent.cli.repl",
    "agent.cli.tools",
    "agent.cli.edge",
    "agent.cli.rag",
    "agent.cli.sim",
    "agent.cli.report",
)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the end-to-end demo."""
    from agent.demo import run_demo
    from base.settings import load_settings

    settings = load_settings(args.config, profile=args.profile)
    return run_demo(settings, duration_s=args.duration, heart_rate_bpm=args.heart_rate)


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print the effective configuration, secrets masked."""
    from base.settings import load_settings

    settings = load_settings(args.config, profile=args.profile)
    print(json.dumps(settings.masked(), indent=2))
    return 0


def cmd_model_check(args: argparse.Namespace) -> int:
    """Locate the configured model and verify its checksum."""
    from base.settings import load_settings
    from agent.llm.models import resolve_model

    settings = load_settings(args.config, profile=args.profile)
    model = resolve_model(settings.llm)
    info = {"path": str(model.path), "sha256": model.sha256, "verified": model.verified, "size_mb": round(model.size_bytes / 1e6, 1)}
    print(json.dumps(info, indent=2) if args.json else f"{model.path}  sha256 {model.sha256[:16]}…  {'verified' if model.verified else 'unverified (custom model)'}")
    return 0


def _run_eval(module_path: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return importlib.import_module(module_path).run(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, commands and options."""
    parser = argparse.ArgumentParser(prog="tessera", description="On-device agent platform for IoT.")
    parser.add_argument("--config", metavar="FILE", help="YAML config file (default: $TESSERA_CONFIG or built-in defaults)")
    parser.add_argument("--profile", choices=["hub", "gateway"], help="config profile (default: $TESSERA_PROFILE or hub)")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING or ERROR (default WARNING)")
    parser.add_argument("--log-format", choices=["auto", "text", "json"], default=None,
                        help="log lines on stderr: text for people, JSON for machines (default: $TESSERA_LOG_FORMAT, else auto: text on a terminal)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser("demo", help="hub and gateway on a simulated home and plant: a command, an alert, tickets, edge and fallback")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: when the story is told, at most demo.max_s)")
    demo.add_argument("--heart-rate", type=float, default=None, help="resting heart rate of the simulated patient (bpm)")
    demo.set_defaults(func=cmd_demo)

    config = commands.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    config.add_parser("show", help="print the effective config, secrets masked").set_defaults(func=cmd_config_show)

    model = commands.add_parser("model", help="the local GGUF model").add_subparsers(dest="model_command", required=True)
    check = model.add_parser("check", help="locate the configured model and verify its sha256")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(func=cmd_model_check)

    evaluate = commands.add_parser("eval", help="score an encoder or the command planner on labelled data").add_subparsers(dest="eval_command", required=True)
    for name, module_path in EVAL_COMMANDS.items():
        module = importlib.import_module(module_path)
        sub = evaluate.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sub)
        sub.set_defaults(func=_run_eval(module_path))
    for module_path in COMMAND_MODULES:
        importlib.import_module(module_path).add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tessera` console script."""
    args = build_parser().parse_args(argv)
    from base.logs import configure_logging

    configure_logging(args.log_level, args.log_format)
    try:
        return args.func(args)
    except TesseraError as err:
        print(f"tessera: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`tessera tools | head`): not an error; silence the flush at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
