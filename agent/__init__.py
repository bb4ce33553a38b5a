"""Tessera's runtime, in the order a frame or an utterance flows through it.

`ingest` (broker, frames to windows, the outbox) -> `decide` (fast path, model path,
calibration, escalation, the agent loop, audit and review) using `llm` (backends) ->
`services` (the runtime every product is made of, the stream watcher, the hub, health and
metrics). The front ends sit on top: `cli` (one module per command group), `repl`,
`report` and `demo`. Everything below `agent/` (base, adapters, rag, tools, firmware_sim,
evaluation) never imports it.
"""
