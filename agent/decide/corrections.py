"""Reviews that teach: an operator confirms or corrects a queued decision, and the site's own traffic improves the model.

A confirmed or corrected command becomes
- a worked example in the knowledge store (`rag.examples`, source "review"), and in the
  running planner's example index, so the next prompt for a similar utterance shows it;
- a labelled point for the next `tessera calibrate` (`reviewed_commands`), so the confidence
  is calibrated on this site's utterances as well as the shipped set.
A confirmed or corrected event becomes an event example in the knowledge store, with the
device and modality it was seen on: the next event of the same kind and severity on that
device is decided as reviewed, without the model, and like events elsewhere show it to the
model as a worked example (agent.services.watch.recall_reviews, agent.decide.loop).

The verdict is kept with the item in the review queue as JSON, so nothing learnt is lost
when the knowledge store is rebuilt: `reviewed` reads it back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agent.decide.planner import CLARIFY, OUT_OF_SCOPE
from agent.decide.prompts import read_event_data, reviewed_event_text
from agent.decide.review import ReviewItem, ReviewQueue
from base.errors import TesseraError
from tools import TOOLS

log = logging.getLogger(__name__)

VERDICTS = ("confirm", "correct")


class ReviewError(TesseraError):
    """A review that cannot be applied: unknown item, already reviewed, unknown tool or bad arguments."""


@dataclass(slots=True, frozen=True)
class Reviewed:
    """A reviewed decision: what was asked, the right answer, and whether the local answer was it."""

    item_id: int
    kind: str  # "command" or "event"
    text: str  # the utterance, or the event's one-line summary
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    verdict: str = "confirm"
    local_was_right: bool = True


def review(queue: ReviewQueue, item_id: int, verdict: str, tool: str | None = None, args: dict[str, Any] | None = None, *,
           knowledge: Any = None, site: str = "") -> Reviewed:
    """Apply an operator's verdict to a pending item; ReviewError (one line) when it cannot be applied."""
    if verdict not in VERDICTS:
        raise ReviewError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    item = queue.get(item_id)
    if item is None:
        raise ReviewError(f"no review item {item_id}; list them with `tessera review list`")
    if item.resolved_at is not None:
        raise ReviewError(f"review item {item_id} was already reviewed ({item.resolution})")
    local_tool, local_args = _answer(item.local_answer)
    if verdict == "confirm":
        if local_tool is None:
            raise ReviewError(f"review item {item_id} has no local answer to confirm; correct it with a tool and arguments")
        tool, args = local_tool, local_args
    else:
        tool, args = _checked(tool, args or {})
    done = Reviewed(item_id, item.kind, _text(item), tool, args, verdict, local_was_right=(tool, args) == (local_tool, local_args))
    if not queue.resolve(item_id, json.dumps({"verdict": verdict, "tool": tool, "args": args}, sort_keys=True)):
        raise ReviewError(f"review item {item_id} was reviewed meanwhile")
    if knowledge is not None:
        _remember(knowledge, done, site)
    log.info("review applied", extra={"review_id": item_id, "verdict": verdict, "tool": tool, "kind": item.kind})
    return done


def reviewed(queue: ReviewQueue, kind: str | None = None, limit: int = 10000) -> list[Reviewed]:
    """Every item reviewed through `review` (oldest first); notes written by hand are not verdicts and are skipped."""
    out = []
    for item in queue.resolved(limit):
        try:
            verdict = json.loads(item.resolution or "")
        except json.JSONDecodeError:
            continue
        if not isinstance(verdict, dict) or verdict.get("verdict") not in VERDICTS or (kind and item.kind != kind):
            continue
        local = _answer(item.local_answer)
        answer = (verdict.get("tool"), verdict.get("args") or {})
        out.append(Reviewed(item.id, item.kind, _text(item), answer[0], answer[1], verdict["verdict"], local_was_right=local == answer))
    return out


def teach(planner: Any, done: Reviewed) -> bool:
    """Give a reviewed command to a running planner (a CommandPlanner or the cascade's local one): a worked example for the
    language model, and a training sentence for the intent model, which retrains without a restart."""
    from agent.decide.examples import WorkedExample

    local = planner.setup.local if hasattr(planner, "setup") else planner
    examples = getattr(local, "examples", None)
    if done.kind != "command" or examples is None:
        return False
    examples.add(WorkedExample(done.text, done.tool, done.args))
    if hasattr(local, "learn"):
        local.learn(done.text, done.tool)  # the intent model retrains on it, in the background
    return True


def _checked(tool: str | None, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not tool:
        raise ReviewError("a correction needs the right tool, e.g. HassTurnOn")
    if tool in (CLARIFY, OUT_OF_SCOPE):  # the planner's answers that call no tool: "ask back", "not for a hub"
        if args:
            raise ReviewError(f"{tool} takes no arguments; send {{}}")
        return tool, {}
    if tool not in TOOLS:
        raise ReviewError(f"unknown tool {tool!r}; `tessera tools` lists them (or Clarify, OutOfScope)")
    if not isinstance(args, dict):
        raise ReviewError("a correction's arguments must be a JSON object, e.g. {\"name\": \"Kitchen Light\"}")
    try:
        TOOLS.get(tool).validate(args)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise ReviewError(f"arguments for {tool} are not valid: {where}: {first['msg']}") from None
    return tool, args


def _answer(local_answer: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(local_answer, dict) and isinstance(local_answer.get("tool"), str):
        return local_answer["tool"], local_answer.get("args") or {}
    return None, {}


def _text(item: ReviewItem) -> str:
    return str(item.request.get("question", ""))


def _remember(knowledge: Any, done: Reviewed, site: str) -> None:
    from rag.examples import Example, add_examples

    if done.kind == "command":
        example = Example(kind="utterance", text=done.text, tool=done.tool, args=done.args, site=site)
    else:
        example = _event_example(done, site)
    add_examples(knowledge, [example], source="review")


def _event_example(done: Reviewed, site: str) -> Any:
    # A queued event's question is the prompt's data turn; the example keeps the event line with its
    # device and modality, so it is found for the next like event and not for other machines' tokens.
    from rag.examples import Example

    read = read_event_data(done.text)
    if read is None:  # not an event prompt: stored as it came, found by text alone
        return Example(kind="event", text=done.text, tool=done.tool, args=done.args, site=site)
    device, line, modality = read
    return Example(kind="event", text=reviewed_event_text(modality, line), tool=done.tool, args=done.args, site=site, device=device, modality=modality)
