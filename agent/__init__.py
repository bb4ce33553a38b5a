"""Tessera's runtime: configuration, MQTT ingest, the planner loop, LLM backends, daemons and CLI."""
