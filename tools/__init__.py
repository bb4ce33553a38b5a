"""Every action the agent can take: typed tools with a pydantic argument model and a permission class."""

from tools.base import TOOLS, Permission, Tool, ToolContext, ToolResult, tool

__all__ = ["TOOLS", "Permission", "Tool", "ToolContext", "ToolResult", "tool"]

# Built-in tools register themselves on import.
from tools import alerts, industrial, intents  # noqa: E402,F401
