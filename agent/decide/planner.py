"""The command planner: one utterance in, one validated Home Assistant intent call (or a clarifying answer) out.

Accuracy comes from the design, not from the 135M model alone:
1. a fast path answers what Home Assistant's own sentence templates match (hassil over
   home-assistant-intents, agent/decide/templates.py), with the speaker's area as context,
   as Home Assistant does before any model;
2. otherwise the model writes the call under a grammar built from the tools' pydantic
   schemas in which names, areas, floors and domains can only be ones that exist,
   narrowed to the ones the utterance mentions (slot extraction, which also corrects
   typos against the home's own names), with worked examples of this home;
3. every call is resolved against the registry before it is accepted: a target that
   matches nothing becomes a clarifying question, never a guess.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agent.decide.corpora import target_kind
from agent.decide.examples import ExampleIndex, WorkedExample, home_examples
from agent.decide.intent_model import Candidate, IntentModelStore, TrainingSet, training_set
from agent.llm.base import Completion, LLMBackend, Message
from agent.decide.matcher import TIMER_UNITS, build_args, span_args
from agent.decide.spans import SPAN_INTENTS, SpanTagger, span_tagger
from agent.decide.slots import Mention, SlotExtractor, Slots
from agent.decide.conformance import TemplateSampler
from agent.decide.templates import SpeakerContext, TemplateMatcher
from tools import TOOLS
from tools.guardrails import DEFAULT_DOMAINS
from tools.home import Home, MatchFailedReason, MatchFailure
from tools.intents import HOME_INTENTS, MODEL_EVIDENCE_INTENTS, MODEL_INTENTS, OUT_OF_RANGE, TargetSlots, beyond_range
from tools.responses import error_speech

CLARIFY, OUT_OF_SCOPE = "Clarify", "OutOfScope"
# Raw score of a fast-path Clarify: the templates did not settle it, so a bigger model may; calibration maps it.
FAST_CLARIFY_SCORE = 0.5
# A template match is certain only when it is the one reading and every target resolves; a match found
# only after typo correction, or one of several readings, may be wrong and must be able to escalate.
CORRECTED_SCORE = 0.8
TEMPLATE_EXAMPLES = 12  # worked examples per intent expanded from the templates
# The intent model's answer stands at this probability or more; below it the language model chooses among its best.
INTENT_SURE = 0.5
INTENT_ROUTE = "intent"
AMBIGUOUS_SCORE = 0.6
# A device named by meaning rather than by name ("I need coffee" is the coffee maker): the sentence's embedding must be
# this near the device's name or alias, and this much nearer than to any other device (MiniLM cosine; measured on the
# paraphrase dev part: right devices 0.52-0.82, the next 0.2-0.46; "turn it on" is 0.33 from three devices).
MEANING_MATCH, MEANING_MARGIN = 0.45, 0.15
# Raw score of a planner without a model declining what no template matched: below every template answer,
# so calibration (which fits declines too) gives it its own, low, P(correct).
DECLINED_SCORE = 0.0
ANSWER_TOKENS = 64  # a call is about 30 tokens; the grammar ends it
TOOL_TOKENS = 32  # under the grammar a name takes more tokens than its text counts: 16 cut "HassClimateSetTempera"; the grammar ends it

SYSTEM = (
    "You are Tessera, a smart-home assistant. Map the user's command to one tool call in JSON: "
    '{{"tool": ..., "args": {{...}}}}. Tools (Home Assistant intents):\n{tools}\n'
    "Use names, areas and floors exactly as listed. Use Clarify when the device or room is not in the home "
    "or the request is ambiguous, and OutOfScope when it is not about the home."
)


@dataclass(slots=True)
class Plan:
    """The planner's answer for one utterance."""

    utterance: str
    tool: str  # an intent name, "Clarify" or "OutOfScope"
    args: dict[str, Any]
    route: str  # "fast" (deterministic), "local" (on-device model), "edge", "fallback"
    raw_confidence: float
    latency_s: float
    answer: str = ""  # the clarifying question, when there is one
    confidence: float | None = None  # calibrated P(correct), set by the cascade when a calibration is stored
    completion: Completion | None = None
    messages: list[Message] = field(default_factory=list)
    schema: dict[str, Any] | None = None
    candidates: list[Candidate] = field(default_factory=list)  # the intent model's best intents, when it was asked
    failure: str = ""  # understood but cannot be done: Home Assistant's error key (no_domain_in_area, ...); tool and args stay, nothing is run

    def as_json(self) -> dict[str, Any]:
        """The fields `tessera plan --json` prints."""
        return {
            "utterance": self.utterance, "tool": self.tool, "args": self.args, "route": self.route,
            "confidence": round(self.confidence if self.confidence is not None else self.raw_confidence, 4),
            "calibrated": self.confidence is not None, "raw_confidence": round(self.raw_confidence, 4), "latency_s": round(self.latency_s, 4), "answer": self.answer,
            "prompt_tokens": self.completion.prompt_tokens if self.completion else 0,
            "candidates": [c.as_json() for c in self.candidates],
            **({"failure": self.failure} if self.failure else {}),
        }


class CommandPlanner:
    """Plans commands for one home with one backend (local or edge)."""

    def __init__(self, home: Home, backend: LLMBackend | None, *, fast_path: bool = True, n_examples: int = 3,
                 examples: list[WorkedExample] | None = None, context_tokens: int | None = None, language: str = "en",
                 intent_models: IntentModelStore | None = None) -> None:
        self.home = home
        self.language = language
        self.backend = backend
        # The trained intent model (agent/decide/intent_model.py): None plans as before, templates then the model.
        self.intent_models = intent_models
        # The span tagger (what to play, what to put on a list) comes with the intent model: a planner without one plans as before.
        self.spans: SpanTagger | None = span_tagger(language) if intent_models is not None else None
        self.reviewed: list[tuple[str, str]] = []  # (utterance, intent) an operator confirmed or corrected
        # Room for the prompt: the model's context less the answer; trimmed examples, never an overflow.
        n_ctx = context_tokens or getattr(getattr(backend, "settings", None), "n_ctx", None) or 2048
        self.prompt_budget = max(256, int(n_ctx) - ANSWER_TOKENS - 16)
        self.fast_path = fast_path
        self.n_examples = n_examples
        self._given_examples = examples
        # Every hub intent can be chosen: the first ones are always offered, the others when the words or the intent model name them.
        self.intents = [TOOLS.get(name) for name in dict.fromkeys((*MODEL_INTENTS, *MODEL_EVIDENCE_INTENTS, *HOME_INTENTS))]
        self._lines = {t.name: f"- {t.name}: {t.description}" for t in self.intents}
        self.system = SYSTEM.format(tools="\n".join(self._lines[name] for name in MODEL_INTENTS))
        self._index_home()
        if self.intent_models is not None and self.intent_models.model is None:
            # Not in _index_home: the model does not depend on the home. Seconds the first time, then from the cache.
            self.intent_models.train(self.intent_training_set())

    def _index_home(self) -> None:
        # Built from the registry; rebuilt when devices come or go (MQTT discovery).
        self._home_stamp = _stamp(self.home)
        self.extractor = SlotExtractor(self.home, self.language)
        self.templates = TemplateMatcher(self.home, self.language)
        bank = self._given_examples if self._given_examples is not None else home_examples(self.home) + self._template_examples()
        # One example per tool sits in the static prefix (cached); the closest others follow per utterance.
        self.static_examples = list({e.tool: e for e in reversed(bank)}.values())[::-1]
        self.examples = ExampleIndex([e for e in bank if e not in self.static_examples])
        self._names_embedded: dict[str, Any] = {}  # entity id -> embeddings of its name and aliases, on first use
        # The intents offered only on evidence have their own examples, shown only when they are offered: a
        # prompt without them is the same as before they were added.
        extra = self._template_examples(MODEL_EVIDENCE_INTENTS) if self._given_examples is None else []
        self.evidence_static = {e.tool: e for e in reversed(extra)}
        self.evidence_examples = [e for e in extra if self.evidence_static.get(e.tool) is not e]

    def intent_training_set(self) -> TrainingSet:
        """What the intent model learns from: the corpora and template sentences of the hub's language, and the reviews."""
        return training_set(self.language, self.reviewed)

    def learn(self, utterance: str, tool: str) -> None:
        """An operator's confirmed or corrected command: the intent model retrains on it in the background."""
        self.reviewed.append((utterance, tool))
        if self.intent_models is not None:
            self.intent_models.retrain_in_background(self.intent_training_set)

    def _template_examples(self, intents: tuple[str, ...] = MODEL_INTENTS) -> list[WorkedExample]:
        # Sentences expanded from Home Assistant's templates with this home's names: the model's worked
        # examples then speak the way the templates do, in the hub's language. Only those that need no
        # speaker's area: an example must carry its whole answer in its words.
        sampler = TemplateSampler(self.templates, seed=0)
        samples = sampler.samples(TEMPLATE_EXAMPLES, area=None, intents=intents)  # type: ignore[arg-type]
        return [WorkedExample(s.text, s.tool, s.args) for s in samples]

    def plan(self, utterance: str, context: SpeakerContext | None = None) -> Plan:
        """Plan one utterance spoken in `context` (the speaker's area, when known)."""
        start = time.perf_counter()
        if _stamp(self.home) != self._home_stamp:
            self._index_home()
        slots = self.extractor.extract(utterance)
        plan = self._fast(utterance, slots, context) if self.fast_path else None
        if plan is None and self.intent_models is not None and self.intent_models.model is not None:
            plan = self._with_intent_model(utterance, slots, context)
        if plan is None:
            plan = self._with_model(utterance, slots, context) if self.backend else self._decline(utterance, slots)
        plan.latency_s = time.perf_counter() - start
        return plan

    # --- the template path ------------------------------------------------------------

    def _fast(self, utterance: str, slots: Slots, context: SpeakerContext | None) -> Plan | None:
        match, confidence = self.templates.match(utterance, context), 1.0
        if match is None and slots.corrections:
            # Templates match words exactly; typos are first corrected against the home's own names.
            match, confidence = self.templates.match(slots.text, context), CORRECTED_SCORE
        if match is None:
            place = self.templates.unknown_place(utterance)
            return self._clarify(utterance, "fast", f"There is no {place} in this home. Which room do you mean?", FAST_CLARIFY_SCORE) if place else None
        if match.readings > 1:
            confidence = min(confidence, AMBIGUOUS_SCORE)
        return self._checked(utterance, match.intent, match.args, "fast", confidence, context)

    def _decline(self, utterance: str, slots: Slots) -> Plan:
        # No template matched and there is no model: nothing of the home named is not home control.
        if not (slots.entities or slots.areas or slots.floors or slots.domains):
            return Plan(utterance, OUT_OF_SCOPE, {}, "fast", DECLINED_SCORE, 0.0)
        return self._clarify(utterance, "fast", "Sorry, I did not understand which device you mean.", DECLINED_SCORE)

    # --- the intent model --------------------------------------------------------------

    def _with_intent_model(self, utterance: str, slots: Slots, context: SpeakerContext | None) -> Plan | None:
        # Sure: the intent model's intent, with arguments from the slots. Unsure: the language model chooses
        # among the intent model's few best (None when there is no language model: the planner declines).
        candidates = self.intent_models.model.candidates(utterance)  # type: ignore[union-attr]
        best = candidates[0]
        if best.p >= INTENT_SURE:
            plan = self._intent_plan(utterance, best, slots, context)
        elif self.backend is not None:
            offered = {c.intent for c in candidates if c.intent in HOME_INTENTS}
            plan = self._with_model(utterance, slots, context, offered or None, candidates)
        else:
            plan = self._decline(utterance, slots)
            plan.raw_confidence = min(plan.raw_confidence, best.p)
        plan.candidates = candidates
        return plan

    def _intent_plan(self, utterance: str, best: Candidate, slots: Slots, context: SpeakerContext | None) -> Plan:
        if best.intent == OUT_OF_SCOPE:
            return Plan(utterance, OUT_OF_SCOPE, {}, INTENT_ROUTE, best.p, 0.0)
        args, sure = self._read_args(best.intent, utterance, slots, context, best.detail)
        if args is not None:
            return self._checked(utterance, best.intent, args, INTENT_ROUTE, self._intent_confidence(utterance, best, slots, args, sure), context)
        if self.backend is None:
            return self._clarify(utterance, INTENT_ROUTE, "I did not get all the details; could you say it again?", min(best.p, FAST_CLARIFY_SCORE))
        # The intent is settled; the language model writes only what the slots cannot give (a list item, a media query).
        messages, schema = self.messages(utterance, {best.intent}), self.call_schema(slots, best.intent)
        completion = self.backend.complete(messages, schema, max_tokens=ANSWER_TOKENS)
        args = {k: v for k, v in ((completion.parsed or {}).get("args") or {}).items() if v is not None}
        plan = self._checked(utterance, best.intent, args, INTENT_ROUTE, min(best.p, completion.confidence), context)
        plan.completion, plan.messages, plan.schema = completion, messages, schema
        return plan

    def _intent_confidence(self, utterance: str, best: Candidate, slots: Slots, args: dict[str, Any], sure: float) -> float:
        # The intent's probability, no more than the arguments' certainty: spans or a device found by meaning (`sure`),
        # the way a change goes when only the model says it, the devices meant, and words read after typo correction.
        confidence = min(best.p, sure) * self._target_agreement(utterance, best.intent, args)
        if best.detail and not (slots.numbers or slots.percent is not None):
            confidence *= best.detail_p
        return min(confidence, CORRECTED_SCORE) if slots.corrections else confidence

    def _target_agreement(self, utterance: str, intent: str, args: dict[str, Any]) -> float:
        # Two readings of which devices are meant: the slots' (a device word, "shut" for covers, the room alone) and the
        # target classifier's. Where the arguments name a group, the classifier's probability of that group scales the
        # plan's confidence: "shut down the whole living room" read as its covers is not an answer to be sure of.
        # Not for an intent that acts on one kind of device only (HassLightSet): the intent says which.
        kind = target_kind(args) if len(DEFAULT_DOMAINS.get(intent, ())) != 1 else ""
        probabilities = self.intent_models.model.target_probabilities(utterance) if kind and self.intent_models and self.intent_models.model else {}
        return probabilities.get(kind, 0.0) if probabilities else 1.0

    def _implied(self, utterance: str) -> str:
        # The kind of device the intent model reads in the sentence, when it is sure of it.
        kind, p = self.intent_models.model.target(utterance) if self.intent_models and self.intent_models.model else ("", 0.0)
        return kind if p >= INTENT_SURE else ""

    def _read_args(self, intent: str, utterance: str, slots: Slots, context: SpeakerContext | None, detail: str) -> tuple[dict[str, Any] | None, float]:
        # The arguments and how sure they are: from the words (slots, spans, the model's detail and kind of device), else
        # a device named by meaning, which also wins over a whole room the speaker never said.
        args, sure = self._args(intent, utterance, slots, context, detail, self._implied(utterance))
        if args is None or _only_speakers_room(args, slots, context):
            by_meaning, similarity = self._args_by_meaning(intent, utterance, slots, context, detail)
            if by_meaning is not None:
                return by_meaning, similarity
        return args, sure

    def _args(self, intent: str, utterance: str, slots: Slots, context: SpeakerContext | None, detail: str = "",
              implied: str = "") -> tuple[dict[str, Any] | None, float]:
        # From the slots, else from the span tagger's spans (with how sure it is of them); None: the language model writes them.
        area = context.area if context else None
        args = build_args(intent, slots, self.home, area, detail, implied)
        if args is not None or intent not in SPAN_INTENTS or self.spans is None:
            return args, 1.0
        tagged = self.spans.tag(utterance)
        return span_args(intent, tagged, slots, area), tagged.p

    def _args_by_meaning(self, intent: str, utterance: str, slots: Slots, context: SpeakerContext | None,
                         detail: str = "") -> tuple[dict[str, Any] | None, float]:
        # No word named a device the intent can act on: the one whose name is nearest in meaning, when it is clearly
        # nearest. Its similarity is the plan's confidence at most, so a loose match (0.45-0.6) is asked about, not acted on.
        if slots.entities or slots.areas or self.intent_models is None:
            return None, 0.0
        fitting = [e for e in self.home.entities if intent in DOMAIN_INTENTS.get(e.domain, ())]
        if not fitting:
            return None, 0.0
        sentence = self.intent_models.embed([utterance])[0]
        nearest = sorted(((float(np.max(self._name_vectors(e) @ sentence)), i) for i, e in enumerate(fitting)), reverse=True)
        best, runner_up = nearest[0][0], (nearest[1][0] if len(nearest) > 1 else 0.0)
        if best < MEANING_MATCH or best - runner_up < MEANING_MARGIN:
            return None, 0.0
        entity = fitting[nearest[0][1]]
        named = replace(slots, entities=[Mention("entity", entity, entity.name, 0)])
        return build_args(intent, named, self.home, context.area if context else None, detail), best

    def _name_vectors(self, entity: Any) -> np.ndarray:
        if entity.entity_id not in self._names_embedded:
            # Not an alias that is a bare device word ("thermostat"): it says which kind of device, not which one.
            own = [a for a in entity.aliases if a.lower() not in self.extractor.vocab.domain_words]
            self._names_embedded[entity.entity_id] = self.intent_models.embed([entity.name, *own])  # type: ignore[union-attr]
        return self._names_embedded[entity.entity_id]

    # --- the model ---------------------------------------------------------------------

    def _with_model(self, utterance: str, slots: Slots, context: SpeakerContext | None = None, offered: set[str] | None = None,
                    candidates: list[Candidate] | None = None) -> Plan:
        # Tool first, then arguments constrained by that tool: the first call writes only the
        # tool's name (a few tokens); a second, on the same cached prompt, writes arguments
        # only when slot extraction cannot settle them for that tool. `offered`: the intents the
        # intent model found likely; without it, those that fit what the words name.
        offered = offered or candidate_tools(slots)
        messages = self.messages(utterance, offered)
        backend, route = self.backend, self.backend.name  # type: ignore[union-attr]
        schema = self.tool_schema(slots, offered)
        completion = backend.complete(messages, schema, max_tokens=TOOL_TOKENS)  # type: ignore[union-attr]
        tool = str((completion.parsed or {}).get("tool", ""))
        if tool not in offered:
            plan = Plan(utterance, OUT_OF_SCOPE if tool == OUT_OF_SCOPE else CLARIFY, {}, route, completion.confidence, 0.0)
        else:
            detail = next((c.detail for c in candidates or () if c.intent == tool), "")
            args, sure = self._read_args(tool, utterance, slots, context, detail)
            confidence = min(completion.confidence, sure if args is not None else 1.0)
            if args is None:
                schema = self.call_schema(slots, tool)
                second = backend.complete(messages, schema, max_tokens=ANSWER_TOKENS)  # type: ignore[union-attr]
                args = {k: v for k, v in ((second.parsed or {}).get("args") or {}).items() if v is not None}
                confidence = min(confidence, second.confidence)
                second.latency_s += completion.latency_s
                completion = second
            plan = self._checked(utterance, tool, args, route, confidence, context)
        plan.completion, plan.messages, plan.schema = completion, messages, schema
        return plan

    def tool_schema(self, slots: Slots, offered: set[str] | None = None) -> dict[str, Any]:
        """JSON schema of the first step: which tool, among those offered (default: those that fit what the words name)."""
        allowed = offered or candidate_tools(slots)
        tools = [t.name for t in self.intents if t.name in allowed] + [CLARIFY, OUT_OF_SCOPE]
        return {"type": "object", "properties": {"tool": {"enum": tools}}, "required": ["tool"], "additionalProperties": False}

    def messages(self, utterance: str, offered: set[str] | None = None) -> list[Message]:
        """Static first (instructions, tools, one example per tool), then this home's closest examples, then the utterance.

        Intents offered only on evidence (`offered`, from `candidate_tools`) join the tool list, each with one
        example, and their examples join the retrieved ones. When the prompt would not fit `prompt_budget`,
        retrieved examples go first, then static ones from the end: the instructions and the utterance always stay.
        """
        extra = [t.name for t in self.intents if t.name not in MODEL_INTENTS and t.name in (offered or ())]
        system, examples = self.system, [*self.static_examples]
        if extra:
            system = SYSTEM.format(tools="\n".join(self._lines[name] for name in (*MODEL_INTENTS, *extra)))
            examples += [self.evidence_static[name] for name in extra if name in self.evidence_static]
            index = ExampleIndex(self.examples.examples + [e for e in self.evidence_examples if e.tool in extra])
            examples += index.similar(utterance, self.n_examples)
        else:
            examples += self.examples.similar(utterance, self.n_examples)
        question = Message("user", utterance.replace("\n", " ")[:300])
        while True:
            messages = [Message("system", system)]
            for example in examples:
                messages += [Message("user", example.utterance), Message("assistant", example.answer_json())]
            messages.append(question)
            if not examples or self._tokens(messages) <= self.prompt_budget:
                return messages
            examples.pop()

    def _tokens(self, messages: list[Message]) -> int:
        count = getattr(self.backend, "count_tokens", None)
        text = "\n".join(m.content for m in messages)
        # Each message adds a few template tokens (role markers) around its content.
        return (count(text) if count else len(text) // 3) + 6 * len(messages)

    def call_schema(self, slots: Slots, tool: str | None = None) -> dict[str, Any]:
        """JSON schema of one call (of `tool`, or of any fitting tool): the tool, then its arguments, values from the registry."""
        names = [m.obj.name for m in slots.entities] or [e.name for e in self.home.entities]
        areas = [m.obj.name for m in slots.areas] or [a.name for a in self.home.areas]
        floors = [m.obj.name for m in slots.floors] or [f.name for f in self.home.floors]
        enums = {"name": _unique(names), "area": _unique(areas), "floor": _unique(floors), "domain": self.home.domains()}
        allowed = {tool} if tool else candidate_tools(slots)
        variants = [_tool_schema(t.name, t.args_model.model_json_schema(), enums) for t in self.intents if t.name in allowed]
        if tool is None:
            variants += [_tool_schema(name, {"properties": {}}, enums) for name in (CLARIFY, OUT_OF_SCOPE)]
        return variants[0] if len(variants) == 1 else {"anyOf": variants}

    # --- acceptance ------------------------------------------------------------------

    def _checked(self, utterance: str, tool: str, args: dict[str, Any], route: str, confidence: float,
                 context: SpeakerContext | None = None) -> Plan:
        model = TOOLS.get(tool).args_model
        doubt = min(confidence, FAST_CLARIFY_SCORE)  # a fallback to Clarify is never as sure as a resolved call
        # What the templates understood but the home cannot do is said so, as Home Assistant answers it: the intent and
        # slots stay, nothing is run. The model path's guesses stay questions.
        understood = route == "fast"
        beyond = beyond_range(model, args, self.home) if understood else None
        if beyond:
            return Plan(utterance, tool, args, route, confidence, 0.0, answer=f"Sorry, {beyond}", failure=OUT_OF_RANGE)
        try:
            valid = model.model_validate(args)
        except ValueError:
            return self._clarify(utterance, route, "I did not get all the details; could you say it again?", doubt)
        if isinstance(valid, TargetSlots):
            target = valid.target()
            if not (target.name or target.domain) and DEFAULT_DOMAINS.get(tool):
                target.domain = list(DEFAULT_DOMAINS[tool])  # as the tool resolves it: "start the vacuum" means the vacuum
            found = self.home.resolve(target)
            if isinstance(found, MatchFailure) and _in_speakers_area(found, valid, context):
                # As Home Assistant does: a name in several rooms, or no target at all, means the speaker's room.
                valid = valid.model_copy(update={"area": context.area})  # type: ignore[union-attr]
                found = self.home.resolve(valid.target())
            error = found.error() if understood and isinstance(found, MatchFailure) else None
            if error:
                return Plan(utterance, tool, valid.model_dump(exclude_none=True), route, confidence, 0.0,
                            answer=error_speech(self.language, *error) or found.question(), failure=error[0])  # type: ignore[union-attr]
            if isinstance(found, MatchFailure):
                return self._clarify(utterance, route, found.question(), doubt)
        return Plan(utterance, tool, valid.model_dump(exclude_none=True), route, confidence, 0.0)

    @staticmethod
    def _clarify(utterance: str, route: str, question: str, confidence: float = 1.0) -> Plan:
        return Plan(utterance, CLARIFY, {}, route, confidence, 0.0, answer=question)


# Which intents can act on a domain: a tool that cannot touch what the words name is not offered.
DOMAIN_INTENTS: dict[str, set[str]] = {
    "light": {"HassTurnOn", "HassTurnOff", "HassToggle", "HassLightSet", "HassGetState"},
    "switch": {"HassTurnOn", "HassTurnOff", "HassToggle", "HassGetState"},
    "fan": {"HassTurnOn", "HassTurnOff", "HassToggle", "HassGetState"},
    "cover": {"HassTurnOn", "HassTurnOff", "HassSetPosition", "HassGetState"},
    "lock": {"HassTurnOn", "HassTurnOff", "HassGetState"},
    "climate": {"HassClimateSetTemperature", "HassClimateGetTemperature", "HassGetState", "HassTurnOn", "HassTurnOff"},
    "media_player": {"HassMediaPause", "HassMediaUnpause", "HassSetVolume", "HassTurnOn", "HassTurnOff", "HassToggle", "HassGetState"},
    "sensor": {"HassGetState", "HassClimateGetTemperature"},
    "binary_sensor": {"HassGetState"},
}
TIMER_INTENTS = {"HassStartTimer", "HassCancelTimer"}
# Said of a timer with no duration, the words offer the timer intents about a running timer and nothing else. With a
# duration the choice stays as before (starting one among all tools): offered beside it, adding to or taking off a
# timer, or any timer intent, drew the 135M model away from starting one.
TIMER_WORDS = ("timer", "timers")
UNTIMED_INTENTS = {"HassCancelTimer", "HassPauseTimer", "HassUnpauseTimer", "HassTimerStatus", "HassCancelAllTimers"}
DURATION_WORDS = tuple(TIMER_UNITS)
# Media steps are offered when a word only that intent's templates say is spoken ("skip", "previous", "mute").
MEDIA_STEP_INTENTS = ("HassMediaNext", "HassMediaPrevious", "HassMediaPlayerMute", "HassMediaPlayerUnmute")


def candidate_tools(slots: Slots) -> set[str]:
    """The intents that fit what the utterance names: its devices' domains, timers only when it speaks of time,
    and the intents offered on evidence only when the words give it (a timer word, a word only their templates say)."""
    domains = {m.obj.domain for m in slots.entities} | {d for d, _ in slots.domains}
    if slots.has(*TIMER_WORDS) and not slots.entities and not slots.has(*DURATION_WORDS):
        return set(UNTIMED_INTENTS)
    tools = set().union(*(DOMAIN_INTENTS.get(d, set()) for d in domains)) if domains else set().union(*DOMAIN_INTENTS.values())
    if slots.has("timer", "minutes", "minute", "hours", "hour", "seconds") or not (domains or slots.areas or slots.floors):
        tools |= TIMER_INTENTS
    if not domains or "media_player" in domains:
        words = set(slots.words)
        tools |= {intent for intent in MEDIA_STEP_INTENTS if words & slots.vocabulary.intent_words.get(intent, frozenset())}
    return tools


def _only_speakers_room(args: dict[str, Any], slots: Slots, context: SpeakerContext | None) -> bool:
    # Everything in the room the speaker is in, though the words named neither a room nor a kind of device ("I could
    # really use an espresso"): a device named by meaning is the likelier reading.
    return bool(context and context.area) and set(args) == {"area"} and not slots.areas


def _in_speakers_area(failure: MatchFailure, slots: TargetSlots, context: SpeakerContext | None) -> bool:
    speaker_area = context is not None and context.area is not None
    return speaker_area and not (slots.area or slots.floor) and failure.reason in (MatchFailedReason.DUPLICATE_NAME, MatchFailedReason.NO_TARGET)


def _stamp(home: Home) -> tuple:
    return tuple((e.entity_id, e.name, e.area, tuple(e.aliases)) for e in home.entities)


def _tool_schema(name: str, args_schema: dict[str, Any], enums: dict[str, list[str]]) -> dict[str, Any]:
    properties = {}
    for slot, spec in args_schema.get("properties", {}).items():
        if slot in enums and enums[slot]:
            properties[slot] = {"enum": enums[slot]}
        else:
            properties[slot] = _plain(spec)
    args = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [r for r in args_schema.get("required", []) if r in properties]
    if required:
        args["required"] = required
    return {"type": "object", "properties": {"tool": {"const": name}, "args": args}, "required": ["tool", "args"], "additionalProperties": False}


def _plain(spec: dict[str, Any]) -> dict[str, Any]:
    # pydantic writes Optional[int] as anyOf [int, null]; the model should write the value or omit the slot.
    options = [o for o in spec.get("anyOf", [spec]) if o.get("type") != "null"]
    chosen = dict(options[0]) if options else {"type": "string"}
    chosen.pop("title", None)
    if chosen.get("type") == "string":
        chosen.setdefault("maxLength", 30)
    return chosen


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))

