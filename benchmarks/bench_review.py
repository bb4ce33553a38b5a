"""Does the review loop teach? Accuracy on later commands before and after an operator's corrections.

The labelled home command set stands in for a site's traffic: the first 120 lines of its
calibration part are the earlier traffic, its held-out fifth the later traffic. The hub's planner (fast path, then the
local model with this home's worked examples) answers the earlier traffic; every wrong answer
is queued for review, as the hub queues what it is unsure of. An operator then corrects the
first N of them through `agent.decide.corrections.review` and the running planner is taught
(`teach`), exactly as the console does. Reported side by side in one run, on the same model:
- later traffic right before any correction, and after N corrections for each N;
- the corrected utterances themselves asked again (a site repeats itself).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from agent.decide.command_eval import DEFAULT_HOME, DEFAULT_SET, Outcome, load_command_set
from agent.decide.corrections import review, teach
from agent.decide.planner import CommandPlanner
from agent.decide.review import ReviewQueue
from agent.llm.local import LlamaCppBackend
from base.settings import LlmSettings
from benchmarks.common import Measurement
from tools.home import Home

STEPS = (10, 25)
EARLIER = 120  # utterances of earlier traffic: about 60% reach the model, at about a second each


def run(quick: bool = False) -> list[Measurement]:
    """Plan the earlier traffic, correct its mistakes N at a time, and score the later traffic after each step."""
    home = Home.load(DEFAULT_HOME)
    planner = CommandPlanner(home, LlamaCppBackend(LlmSettings(n_threads=2)))
    earlier = load_command_set(DEFAULT_SET, "calibration")[:EARLIER]
    later = load_command_set(DEFAULT_SET, "heldout")
    if quick:
        earlier, later = earlier[:120], later[:40]
    if not earlier or not later:
        raise SystemExit(f"{DEFAULT_SET} has no calibration or heldout lines; see examples/commands/README.md")
    wrong = [o for o in (Outcome(item, planner.plan(item.utterance)) for item in earlier) if not o.correct]
    queue = ReviewQueue(Path(tempfile.mkdtemp(prefix="tessera-review-")) / "review.sqlite")
    queued = [(queue.enqueue("command", "low_confidence", {"question": o.item.utterance}, {"tool": o.plan.tool, "args": o.plan.args},
                             confidence=o.plan.raw_confidence), o) for o in wrong]

    def accuracy(items: list) -> float:
        return sum(Outcome(item, planner.plan(item.utterance)).correct for item in items) / max(1, len(items))

    rows = [Measurement("review_later_accuracy_0", accuracy(later), "share",
                        f"later traffic (held-out fifth, {len(later)} commands) before any correction; "
                        f"{len(wrong)} of {len(earlier)} earlier commands were wrong and queued")]
    done = 0
    for n in [s for s in STEPS if s < len(queued)] + [len(queued)]:
        for item_id, outcome in queued[done:n]:
            teach(planner, review(queue, item_id, "correct", outcome.item.tool, outcome.item.args))
        done = n
        repeats = [o.item for _, o in queued[:n]]
        rows.append(Measurement(f"review_later_accuracy_{n}", accuracy(later), "share",
                                f"later traffic after {n} corrections of earlier mistakes (same model, same run)"))
        rows.append(Measurement(f"review_repeat_accuracy_{n}", accuracy(repeats), "share",
                                f"the {n} corrected utterances asked again after their correction (all were wrong before)"))
    return rows
