"""Reviewed events change later event decisions: a real chromadb store on disk, the real review path, the watcher's decide step.

The scripted backend drives control flow only; the real-model test at the end runs SmolLM2 through llama.cpp.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adapters.base import Event, Severity, TokenizedWindow
from agent.decide.audit import TicketStore
from agent.decide.corrections import review
from agent.decide.escalation import EscalatingBackend, ThresholdPolicy
from agent.decide.loop import Guard
from agent.decide.prompts import GATEWAY_EVENTS, REVIEWED_NOTE, read_event_data
from agent.decide.review import ReviewQueue
from agent.ingest.ingestor import StreamKey
from agent.llm.scripted import ScriptedBackend
from agent.services.health import Metrics
from agent.services.watch import EventWatcher
from base.settings import RagSettings, load_settings
from rag.examples import add_examples, parse_example
from rag.store import EXAMPLES, KnowledgeStore
from tools import ToolContext
from tools.streams import StreamStore

SEED_EXAMPLES = Path(__file__).resolve().parents[1] / "rag" / "seed" / "examples.jsonl"


def bearing(hz: float, harmonics: int, severity: Severity = Severity.WARNING) -> Event:
    return Event("bearing_outer_race", severity, 0.0, {"defect_hz": hz, "order": round(hz / 29.95, 3), "harmonics": harmonics,
                                                       "peak_ratio": 5.1, "source": "hf", "confidence": 0.9})


def vib_window(t0: float, event: Event) -> TokenizedWindow:
    tokens = ["<vib:quality:ok>", "<vib:zone:B>", "<vib:rms:2.1>", "<vib:bearing:bpfo:h4>"]
    return TokenizedWindow("vibration", "vib-3", t0, 1.0, tokens, np.zeros(4, np.int32), np.zeros(8, np.float32), [event],
                           "RMS 2.1 mm/s, zone B; BPFO 107 Hz with 4 harmonics", 1.0)


def traffic_window(t0: float, event: Event) -> TokenizedWindow:
    return TokenizedWindow("traffic", "traffic-1", t0, 60.0, ["<traffic:quality:ok>", "<traffic:los:E>", "<traffic:state:congested>"],
                           np.zeros(3, np.int32), np.zeros(8, np.float32), [event], "speed 38 km/h, occupancy 31%", 1.0)


class Plant:
    """A gateway's decide step over a real store, a real review queue and a real audit log; the model is scripted."""

    def __init__(self, root: Path, model) -> None:
        self.store = KnowledgeStore(RagSettings(path=root / "rag"), root)
        lines = [line for line in SEED_EXAMPLES.read_text().splitlines() if line.strip() and not line.startswith("//")]
        add_examples(self.store, [parse_example(json.loads(line)) for line in lines], source="seed")  # shipped event examples too
        settings = load_settings(profile="gateway")
        self.queue = ReviewQueue.for_data_dir(settings.data_dir)
        self.guard = Guard.from_settings(settings)
        self.published: list[tuple[str, str]] = []
        ctx = ToolContext(publish=lambda topic, payload, qos, retain: self.published.append((topic, payload)), site="plant",
                          streams=StreamStore(), tickets=TicketStore(self.guard.audit.db), knowledge=self.store)
        self.model = model
        # Every model answer is "unsure" and there is no edge: it is acted on and queued for the operator, as on a site without an edge box.
        backend = EscalatingBackend(model, None, ThresholdPolicy(1.0), self.queue)
        self.watcher = EventWatcher(settings, backend, ctx, self.guard, Metrics(), cooldown_s=0.0, role=GATEWAY_EVENTS)

    def event(self, device: str, window: TokenizedWindow):
        """Decide the window's event as the watcher does; the audit record it wrote."""
        self.watcher._decide(StreamKey("plant", device, "accel"), window, window.events[0])
        return self.guard.audit.last(1)[0]


@pytest.fixture()
def plant(tmp_path: Path) -> Plant:
    return Plant(tmp_path, ScriptedBackend([{"tool": "open_ticket", "severity": "warning"}] * 10))


def correct_last(plant: Plant, tool: str, args: dict) -> str:
    """The operator corrects the newest queued event through the review path; the stored example's id."""
    item = plant.queue.pending()[-1]
    review(plant.queue, item.id, "correct", tool, args, knowledge=plant.store, site="plant")
    stored = plant.store.collection(EXAMPLES).get(where={"source": "review"}, include=["metadatas"])
    newest = max(zip(stored["ids"], stored["metadatas"]), key=lambda pair: pair[1]["t"])
    return newest[0]


def test_a_corrected_event_decides_the_next_like_event_on_that_device_and_nothing_else(plant: Plant) -> None:
    first = plant.event("pump-01", vib_window(100.0, bearing(107.36, 4)))
    assert (first.tool, first.route) == ("open_ticket", "fallback")  # the model's answer, flagged and queued
    assert len(plant.model.calls) == 1
    [item] = plant.queue.pending()
    assert item.kind == "event" and read_event_data(item.request["question"])[::2] == ("pump-01", "vibration")

    example_id = correct_last(plant, "raise_alert", {"device": "pump-01", "severity": "warning", "kind": "bearing_outer_race",
                                                     "summary": "this pump is critical to the line: alert the operator"})
    stored = plant.store.collection(EXAMPLES).get(ids=[example_id], include=["documents", "metadatas"])
    assert stored["documents"][0].startswith("vibration bearing_outer_race (warning): defect_hz=107, order=3.58, harmonics=4")
    assert (stored["metadatas"][0]["device"], stored["metadatas"][0]["modality"]) == ("pump-01", "vibration")

    # The same kind on the same pump, other numbers: decided as reviewed, without the model, citing the example.
    second = plant.event("pump-01", vib_window(200.0, bearing(104.9, 3)))
    assert (second.tool, second.route, second.confidence) == ("raise_alert", "review", None)
    assert example_id in second.context_ids and second.context_ids[0] == "window:pump-01:200.000"
    assert len(plant.model.calls) == 1  # the model was not asked
    topic, payload = plant.published[-1]
    alert = json.loads(payload)
    assert topic == "tessera/plant/pump-01/alert" and alert["severity"] == "warning" and "defect_hz=105, order=3.5, harmonics=3" in alert["evidence"][0]
    assert f"operator review {example_id}" in alert["evidence"]
    assert len(plant.queue.pending()) == 0  # an event the operator already decided is not queued again

    # Another kind on the same pump, and another modality: the model decides, with no reviewed example in its prompt.
    imbalance = Event("imbalance", Severity.WARNING, 0.0, {"level_mm_s": 3.1, "1x_mm_s": 3.0, "2x_mm_s": 0.4, "shaft_hz": 29.95})
    third = plant.event("pump-01", vib_window(300.0, imbalance))
    congestion = Event("congestion_onset", Severity.WARNING, 0.0, {"speed_kmh": 38.2, "occupancy_pct": 31.0, "usual_speed_kmh": 88.0})
    fourth = plant.event("loop-7", traffic_window(400.0, congestion))
    assert (third.tool, third.route, fourth.tool, fourth.route) == ("open_ticket", "fallback", "open_ticket", "fallback")
    assert example_id not in third.context_ids + fourth.context_ids
    assert len(plant.model.calls) == 3
    assert all(len(call) == len(plant.model.calls[0]) for call in plant.model.calls)  # no shot added


def test_a_like_event_elsewhere_shows_the_review_to_the_model_after_the_static_prefix_and_offers_its_tool(plant: Plant) -> None:
    plant.event("pump-01", vib_window(100.0, bearing(107.36, 4)))
    before = plant.model.calls[0]
    example_id = correct_last(plant, "raise_alert", {"device": "pump-01", "severity": "warning", "kind": "bearing_outer_race", "summary": "alert"})
    prompted: list = []
    plant.watcher.observers.append(type("Tap", (), {"window": lambda *a: None, "step": lambda _s, _k, step: prompted.append(step)})())

    # Another pump, the same kind and severity: the model decides (here, scripted), shown the review as a worked example.
    other_pump = plant.event("pump-02", vib_window(200.0, bearing(106.0, 4)))
    assert other_pump.route == "fallback" and example_id in other_pump.context_ids
    call = plant.model.calls[1]
    assert call[:len(before) - 1] == before[:-1]  # the static prefix is byte-identical, so the KV cache still holds it
    note, shot_q, shot_a, question = call[len(before) - 1:]
    assert (note.role, note.content) == ("system", REVIEWED_NOTE)
    assert shot_q.role == "user" and shot_q.content.startswith("<data>event: bearing_outer_race (warning): defect_hz=107, order=3.58, harmonics=4")
    assert json.loads(shot_a.content) == {"tool": "raise_alert", "severity": "warning"}
    assert "device: pump-02" in question.content
    schema = next(step.schema for step in prompted if hasattr(step, "schema"))
    assert schema["properties"]["tool"]["enum"] == ["open_ticket", "log_observation", "raise_alert"]  # the corrected tool is offered too

    # The same pump at another severity: a review of a warning says nothing about a critical event.
    worse = plant.event("pump-01", vib_window(300.0, bearing(107.0, 5, Severity.CRITICAL)))
    assert worse.route == "fallback" and example_id not in worse.context_ids
    assert len(plant.model.calls[2]) == len(before)


def test_the_operators_last_word_wins(plant: Plant) -> None:
    plant.event("pump-01", vib_window(100.0, bearing(107.36, 4)))
    correct_last(plant, "raise_alert", {"device": "pump-01", "severity": "warning", "kind": "bearing_outer_race", "summary": "alert"})
    assert plant.event("pump-01", vib_window(200.0, bearing(105.0, 4))).tool == "raise_alert"
    # Later the operator reviews another such event the other way (queued from pump-01 again, by hand here).
    question = plant.queue.get(1).request["question"].replace("defect_hz=107,", "defect_hz=101,")
    assert "defect_hz=101," in question
    item = plant.queue.enqueue("event", "edge_not_configured", {"question": question}, {"tool": "raise_alert", "severity": "warning"})
    newest = review(plant.queue, item, "correct", "open_ticket", {"device": "pump-01", "title": "bearing on pump-01", "priority": "urgent"},
                    knowledge=plant.store, site="plant")
    assert newest.tool == "open_ticket"
    third = plant.event("pump-01", vib_window(300.0, bearing(103.3, 4)))
    assert (third.tool, third.route, third.arguments["priority"]) == ("open_ticket", "review", "urgent")


def test_the_event_turn_of_a_queued_prompt_reads_back_even_cut_short() -> None:
    question = "<data>device: loop-7\nevent: incident (critical): occdf_pct=31\ntokens: <traffic:los:F> <traffic:incident:confirmed></data>"
    assert read_event_data(question) == ("loop-7", "incident (critical): occdf_pct=31", "traffic")
    assert read_event_data(question[:80]) == ("loop-7", "incident (critical): occdf_pct=31", "traffic")
    assert read_event_data("<data>device: x\nevent: spike (warning)\ntokens: <gen:level:high></data>")[2] == "generic"
    assert read_event_data("make the den cosy") is None


@pytest.mark.model
def test_with_the_real_model_a_correction_decides_on_that_pump_and_is_followed_on_another(tmp_path: Path, local_backend) -> None:
    plant = Plant(tmp_path, local_backend)
    first = plant.event("pump-01", vib_window(100.0, bearing(107.36, 4)))
    before = plant.event("pump-02", vib_window(110.0, bearing(106.1, 3)))
    assert first.route == before.route == "fallback"
    wanted = "log_observation" if first.tool != "log_observation" else "open_ticket"
    args = {"device": "pump-01", "kind": "bearing_outer_race", "summary": "known defect, replacement booked"}
    if wanted == "open_ticket":
        args = {"device": "pump-01", "title": "bearing outer race on pump-01"}
    item = plant.queue.pending()[0]
    review(plant.queue, item.id, "correct", wanted, args, knowledge=plant.store, site="plant")
    [example_id] = plant.store.collection(EXAMPLES).get(where={"source": "review"})["ids"]

    same_pump = plant.event("pump-01", vib_window(200.0, bearing(105.2, 3)))
    assert (same_pump.tool, same_pump.route) == (wanted, "review") and example_id in same_pump.context_ids
    # On other pumps the model itself decides, shown the review: SmolLM2 follows it (8 of 8 measured, both ways;
    # 1 of 8 without the system turn before the example, pumps 3 and 4 among the misses).
    assert before.tool != wanted
    for i in (3, 4):
        other_pump = plant.event(f"pump-0{i}", vib_window(200.0 + i, bearing(100 + i * 1.7, 3 + i % 2)))
        assert (other_pump.tool, other_pump.route) == (wanted, "fallback") and example_id in other_pump.context_ids
