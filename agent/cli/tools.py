"""`tessera tools`: the tool registry as the model, the REPL and the docs see it."""

from __future__ import annotations

import argparse
import json

from tools.base import TOOLS, Tool


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register `tools`."""
    parser = commands.add_parser("tools", help="list the agent's tools: permission, description, argument schema")
    parser.add_argument("name", nargs="?", help="show one tool")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="machine-readable output")
    form.add_argument("--markdown", action="store_true", help="the reference page (docs/tools.md is generated with this)")
    parser.set_defaults(func=cmd_tools)


def cmd_tools(args: argparse.Namespace) -> int:
    """Print the registry."""
    tools = [TOOLS.get(args.name)] if args.name else [TOOLS.get(n) for n in TOOLS.names()]
    if args.json:
        print(json.dumps([describe(t) for t in tools], indent=2))
    elif args.markdown:
        print(markdown(tools), end="")
    else:
        for t in tools:
            slots = ", ".join(t.args_model.model_json_schema().get("properties", {}))
            print(f"{t.name:28s} {t.permission.value:8s} {t.description}  ({slots})")
    return 0


def describe(tool: Tool) -> dict:
    """A tool as data: name, permission, description and the JSON schema of its arguments."""
    return {"name": tool.name, "permission": tool.permission.value, "description": tool.description,
            "args": tool.args_model.model_json_schema()}


def markdown(tools: list[Tool]) -> str:
    """The tools reference page."""
    lines = ["# Tools", "", "Generated from the tool registry by `tessera tools --markdown`; do not edit by hand.", ""]
    for t in tools:
        schema = t.args_model.model_json_schema()
        required = set(schema.get("required", []))
        lines += [f"## {t.name}", "", f"{t.description} Permission: `{t.permission.value}`.", ""]
        properties = schema.get("properties", {})
        if properties:
            lines += ["| argument | type | required | constraints |", "|---|---|---|---|"]
            for name, spec in properties.items():
                lines.append(f"| {name} | {argument_type(spec)} | {'yes' if name in required else 'no'} | {argument_constraints(spec)} |")
            lines.append("")
    return "\n".join(lines)


def argument_type(spec: dict) -> str:
    """An argument's JSON-schema type in words ("integer or string"), for the tools page and the REPL."""
    options = spec.get("anyOf", [spec])
    names = [o.get("type", "enum" if "enum" in o else "?") for o in options if o.get("type") != "null"]
    return " or ".join(names) or "?"


def argument_constraints(spec: dict) -> str:
    """An argument's constraints (enum, minimum, pattern...) on one line, for the tools page and the REPL."""
    merged: dict = {}
    for option in spec.get("anyOf", [spec]):
        merged |= {k: v for k, v in option.items() if k not in ("type", "title", "default", "description")}
    return ", ".join(f"{k} {v}" for k, v in sorted(merged.items())) or ""
