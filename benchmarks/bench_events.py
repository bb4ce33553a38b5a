"""Event decisions with the default local model: does the hub alert and the gateway pick the right action?

A small labelled set of urgent events, in the encoders' own vocabulary, one per kind the
roles must handle. Each goes through the prompt and grammar the watcher uses (the role's
two candidate tools); the figure is the share of tool choices that match the label, and the
median decision latency with the role's prefix cached.
"""

from __future__ import annotations

import statistics

import numpy as np

from adapters.base import Event, Severity, TokenizedWindow
from base.settings import LlmSettings
from agent.llm.local import LlamaCppBackend
from agent.decide.prompts import GATEWAY_EVENTS, HUB_EVENTS, EventRole, decision_schema, event_messages, warmup_messages
from benchmarks.common import Measurement
from tools import TOOLS

W, C = Severity.WARNING, Severity.CRITICAL
# (modality, kind, severity, evidence, tokens, expected tool)
HUB_CASES = [
    ("ecg", "tachycardia", W, {"hr_bpm": 133}, "<ecg:quality:ok> <ecg:hr:133> <ecg:rhythm:tachy> <ecg:beat:S:5> <ecg:qrs:narrow>", "raise_alert"),
    ("ecg", "tachycardia", W, {"hr_bpm": 118}, "<ecg:quality:ok> <ecg:hr:118> <ecg:rhythm:tachy> <ecg:qrs:narrow>", "raise_alert"),
    ("ecg", "bradycardia", W, {"hr_bpm": 45}, "<ecg:quality:ok> <ecg:hr:45> <ecg:rhythm:brady>", "raise_alert"),
    ("ecg", "pause", W, {"length_s": 3.0}, "<ecg:quality:ok> <ecg:hr:58> <ecg:rhythm:pause>", "raise_alert"),
    ("ecg", "af_suspect", W, {"irregularity": 0.2, "hr_bpm": 95}, "<ecg:quality:ok> <ecg:hr:95> <ecg:rhythm:af>", "raise_alert"),
    ("ecg", "lead_off", W, {"reason": "flat line"}, "<ecg:quality:flat> <ecg:hr:none> <ecg:rhythm:unknown>", "raise_alert"),
    ("ecg", "asystole", C, {"length_s": 5.0}, "<ecg:quality:ok> <ecg:rhythm:asystole>", "raise_alert"),
    ("ecg", "ventricular_tachycardia", C, {"beats": 7}, "<ecg:hr:170> <ecg:rhythm:vt> <ecg:beat:V:7>", "raise_alert"),
]
GATEWAY_CASES = [
    ("vibration", "bearing_outer_race", W, {"defect_hz": 107, "harmonics": 5}, "<vib:quality:ok> <vib:zone:A> <vib:rms:0.45> <vib:bearing:bpfo:h5>", "open_ticket"),
    ("vibration", "bearing_inner_race", W, {"defect_hz": 162}, "<vib:zone:B> <vib:bearing:bpfi:h4>", "open_ticket"),
    ("vibration", "misalignment", W, {"level_mm_s": 3.4}, "<vib:zone:C> <vib:2x:high>", "open_ticket"),
    ("vibration", "severity_zone", C, {"zone": "D"}, "<vib:zone:D> <vib:rms:8.2>", "raise_alert"),
    ("traffic", "incident", C, {"occdf_pct": 28}, "<trf:los:F> <trf:incident:confirmed>", "raise_alert"),
    ("traffic", "congestion_onset", W, {"speed_kmh": 41}, "<trf:los:E> <trf:state:congested>", "render_report"),
    ("generic", "spike", W, {"z": 11.9}, "<gen:level:normal> <gen:anomaly:spike>", "render_report"),
    ("generic", "stuck", C, {"repeats": 40}, "<gen:anomaly:stuck>", "raise_alert"),
]


def run(quick: bool) -> list[Measurement]:
    """Accuracy and latency of event decisions per role, on all cores of this machine."""
    backend = LlamaCppBackend(LlmSettings())
    out: list[Measurement] = []
    for name, role, cases, device in (("hub", HUB_EVENTS, HUB_CASES, "ecg-patch-1"), ("gateway", GATEWAY_EVENTS, GATEWAY_CASES, "pump-01")):
        right, latencies = _score(backend, role, cases, device)
        out += [
            Measurement(f"events.{name}_tool_accuracy", right / len(cases), "share", f"{right} of {len(cases)} urgent events, the role's two-tool grammar"),
            Measurement(f"events.{name}_decision_p50_s", statistics.median(latencies), "s", f"median over {len(cases)}, role prefix cached"),
        ]
    return out


def _score(backend: LlamaCppBackend, role: EventRole, cases: list, device: str) -> tuple[int, list[float]]:
    tools = [TOOLS.get(n) for n in role.tools]
    backend.warm(warmup_messages(tools, role), decision_schema(tools))
    right, latencies = 0, []
    for modality, kind, severity, evidence, tokens, expected in cases:
        window = TokenizedWindow(modality, "1", 0.0, 8.0, tokens.split(), np.zeros(1, np.int32), np.zeros(1, np.float32), [], f"{modality}: {kind}", 1.0)
        event = Event(kind, severity, 0.0, evidence)
        offered = [TOOLS.get(n) for n in role.candidates(event, window)]
        completion = backend.complete(event_messages(tools, device, window, event, role=role), decision_schema(offered))
        right += (completion.parsed or {}).get("tool") == expected
        latencies.append(completion.latency_s)
    return right, latencies
