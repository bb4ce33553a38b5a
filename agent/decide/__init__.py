"""Decide: from an utterance or an encoded event to one tool call, and the record of it.

The fast path (`templates`: Home Assistant's hassil over its sentence templates; `conformance`
checks it), the model path (`prompts`, `examples`, `planner`, with `slots` and `matcher` filling
arguments), the confidence and its threshold (`calibration`), the edge (`escalation`, `cascade`),
the agent loop over events (`loop`), and what they write down (`audit`, `review`).
"""
