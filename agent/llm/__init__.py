"""LLM backends behind one protocol: in-process llama.cpp, OpenAI-compatible HTTP, and a scripted one for tests."""

from agent.llm.base import Completion, LLMBackend, Message

__all__ = ["Completion", "LLMBackend", "Message"]
