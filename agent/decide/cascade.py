"""The command cascade: plan on the hub, escalate to the edge model when the calibrated confidence is low.

The edge planner runs the same pipeline with what an edge box has more of: more
worked examples in the prompt and, when configured, self-consistency over several
samples. When the edge cannot answer in time, the local plan stands, flagged as a
fallback, and the request waits in the review queue; it never hangs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from dataclasses import dataclass

from agent.decide.calibration import Calibration, calibration_path, load_calibration
from base.settings import TesseraSettings
from base.errors import TesseraError
from agent.decide.intent_model import intent_model_store
from agent.decide.escalation import EscalatingBackend, EscalationRequest, FixedPolicy, Route, ThresholdPolicy, run_with_escalation
from agent.llm.base import LLMBackend
from agent.decide.planner import CommandPlanner, Plan
from agent.decide.review import ReviewQueue
from agent.decide.templates import SpeakerContext
from tools.home import Home

log = logging.getLogger(__name__)
# Fitted by `tessera calibrate --home examples/home.yaml` for the default model and shipped with Tessera (docs/edge.md).
SHIPPED_CALIBRATION = Path(__file__).parent / "data" / "calibration.json"


@dataclass(slots=True)
class CascadeSetup:
    """Which planners and policy `tessera plan` runs with."""

    local: CommandPlanner
    edge: CommandPlanner | None
    policy: ThresholdPolicy | FixedPolicy
    review: ReviewQueue | None
    calibration: Calibration | None


class CommandCascade:
    """Plans with the local planner and escalates low-confidence plans to the edge planner."""

    def __init__(self, setup: CascadeSetup) -> None:
        self.setup = setup

    def plan(self, utterance: str, context: SpeakerContext | None = None) -> Plan:
        """Plan `utterance` spoken in `context`; the returned plan's route says local, fast, edge or fallback."""
        local = self.setup.local.plan(utterance, context)
        edge = self.setup.edge
        request = EscalationRequest("command", utterance, examples=[e.utterance for e in (edge or self.setup.local).examples.similar(utterance, 8)],
                                    local_answer={"tool": local.tool, "args": local.args})
        outcome = run_with_escalation(local, local.raw_confidence, (lambda: edge.plan(utterance, context)) if edge else None, self.setup.review,
                                      policy=self.setup.policy, request=request, source=local.route)
        plan = outcome.answer
        source = "edge" if outcome.route is Route.EDGE else local.route  # a fallback is the local answer
        if outcome.route is Route.EDGE:
            plan.route = "edge"
            plan.latency_s += local.latency_s
        elif outcome.route is Route.FALLBACK:
            plan.route = "fallback"
        plan.confidence = self.calibrated(plan.raw_confidence, source)
        log.info("planned", extra={"route": plan.route, "tool": plan.tool, "calibrated_confidence": plan.confidence})
        return plan

    def calibrated(self, raw: float, source: str) -> float | None:
        """P(correct) of an answer from `source` ("fast", "local", "edge") by the stored calibration; None without one.

        An edge answer is a model's answer too: without a map of its own (the calibration is fitted
        on the hub, without the edge) it takes the local model's, not the pooled one, whose top is the
        templates' near-certainty.
        """
        cal = self.setup.calibration
        if cal is None:
            return None
        if source not in cal.by_source and "local" in cal.by_source:
            source = "local"
        return float(cal.predict(raw, source))


def build_cascade(settings: TesseraSettings, home: Home, *, fast_path: bool = True, mode: str = "cascade",
                  review_unsure: bool = False, review: bool = True, intent_model: bool = True) -> CommandCascade:
    """The cascade from config: the local model, the edge model if configured, the stored calibration.

    mode: "cascade" (escalate by calibrated confidence), "local" (never escalate), "edge" (always),
    "auto" (cascade when the edge and a calibration are configured, else local).
    review_unsure: with "auto", a calibration and no edge, plans below the threshold still run
    locally but are flagged and queued for an operator's review (the hub's setting).
    review: False never queues (evaluation runs must not fill a site's review queue).
    intent_model: False plans without the trained intent model (templates, then the language model), to measure what it adds.
    """
    if mode == "auto":
        calibrated = calibration_path(settings.data_dir).exists() or SHIPPED_CALIBRATION.exists()
        mode = "cascade" if calibrated and (settings.edge.url or review_unsure) else "local"
    from agent.llm.local import LlamaCppBackend

    local_backend = LlamaCppBackend(settings.llm)
    local = CommandPlanner(home, local_backend, fast_path=fast_path, language=settings.hub.language,
                           intent_models=intent_model_store(settings.data_dir, settings.rag.embedding_threads) if intent_model else None)
    edge = None
    if settings.edge.url and mode != "local":
        from agent.llm.edge import EdgeBackend

        # The local fast path has had its chance: what reaches the edge goes to the edge's model.
        edge = CommandPlanner(home, EdgeBackend(settings.edge), fast_path=False, n_examples=settings.edge.max_examples,
                              language=settings.hub.language)
    elif mode == "edge":
        raise TesseraError("--mode edge needs edge.url (or TESSERA_EDGE__URL) pointing at an OpenAI-compatible endpoint")
    calibration = _calibration(settings, local_backend.model.sha256)
    policy: ThresholdPolicy | FixedPolicy
    if mode == "local" or edge is None and calibration is None:
        policy = FixedPolicy(Route.LOCAL)
    elif mode == "edge":
        policy = FixedPolicy(Route.EDGE)
    elif calibration is None:
        raise TesseraError("no calibration stored for this model; run `tessera calibrate --home FILE` first, or use --mode local")
    else:
        policy = ThresholdPolicy.from_calibration(calibration)
    queue = ReviewQueue.for_data_dir(settings.data_dir) if mode != "local" and review else None
    return CommandCascade(CascadeSetup(local, edge, policy, queue, calibration))


def fast_only(settings: TesseraSettings, home: Home, *, intent_model: bool = False) -> CommandCascade:
    """The template fast path alone, no language model: what it does not match is declined (Clarify or OutOfScope).

    intent_model: the trained intent model answers what the templates do not, and declines when unsure.

    The stored calibration's fast-path map applies whatever model it was fitted with: template
    matches do not depend on the model.
    """
    path = calibration_path(settings.data_dir)
    path = path if path.exists() else SHIPPED_CALIBRATION
    calibration = load_calibration(path) if path.exists() else None
    models = intent_model_store(settings.data_dir, settings.rag.embedding_threads) if intent_model else None
    planner = CommandPlanner(home, None, language=settings.hub.language, intent_models=models)
    return CommandCascade(CascadeSetup(planner, None, FixedPolicy(Route.LOCAL), None, calibration))


def build_event_backend(settings: TesseraSettings, local: LLMBackend) -> LLMBackend:
    """The backend for event decisions: `local`, escalating below edge.event_threshold when an edge is configured.

    When the edge cannot answer, the local decision stands, flagged `fallback`, and the event
    waits in the review queue.
    """
    if not settings.edge.url:
        return local
    from agent.llm.edge import EdgeBackend

    return EscalatingBackend(local, EdgeBackend(settings.edge), ThresholdPolicy(settings.edge.event_threshold),
                             ReviewQueue.for_data_dir(settings.data_dir))


def _calibration(settings: TesseraSettings, model_sha256: str) -> Calibration | None:
    # The site's own calibration; else the one shipped for the default model, so an out-of-the-box hub has a
    # threshold and never acts on a guess; a calibration for another model means nothing for this one.
    path = calibration_path(settings.data_dir)
    if path.exists():
        return load_calibration(path, model_sha256)
    if SHIPPED_CALIBRATION.exists():
        shipped = load_calibration(SHIPPED_CALIBRATION)
        if shipped.model_sha256 == model_sha256:
            return shipped
        log.warning("no calibration for this model; only template matches will be carried out until `tessera calibrate` runs",
                    extra={"model_sha256": model_sha256[:12]})
    return None
