"""Worked examples of commands for one home, generated from its registry, and their retrieval.

This is how a 135M model learns a home's vocabulary: every prompt carries a few
examples that use this home's own device, room and floor names, picked by their
similarity to the utterance. They are generated from templates over the registry,
never taken from an evaluation set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tools.home import Home, normalize


@dataclass(slots=True, frozen=True)
class WorkedExample:
    """An utterance and the tool call that answers it."""

    utterance: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)

    def answer_json(self) -> str:
        """The tool call as the planner emits it."""
        return json.dumps({"tool": self.tool, "args": self.args})


def home_examples(home: Home) -> list[WorkedExample]:
    """Worked examples over every entity, area and floor of `home`."""
    out: list[WorkedExample] = []
    for entity in home.entities:
        out += _entity_examples(entity.name, entity.domain, entity.aliases)
    for area in home.areas:
        domains = {e.domain for e in home.entities if e.area == area.id}
        if "light" in domains:
            out += [
                WorkedExample(f"turn off the lights in the {area.name.lower()}", "HassTurnOff", {"area": area.name, "domain": "light"}),
                WorkedExample(f"{area.name.lower()} lights on", "HassTurnOn", {"area": area.name, "domain": "light"}),
                WorkedExample(f"dim the {area.name.lower()} lights to 30 percent", "HassLightSet", {"area": area.name, "brightness": 30}),
            ]
        if "climate" in domains:
            out.append(WorkedExample(f"how warm is it in the {area.name.lower()}", "HassClimateGetTemperature", {"area": area.name}))
        if "media_player" in domains:
            out.append(WorkedExample(f"pause the music in the {area.name.lower()}", "HassMediaPause", {"area": area.name}))
    for floor in home.floors:
        out.append(WorkedExample(f"switch off all the lights on the {floor.name.lower()}", "HassTurnOff", {"floor": floor.name, "domain": "light"}))
    out += [
        WorkedExample("set a timer for 10 minutes", "HassStartTimer", {"minutes": 10}),
        WorkedExample("cancel the timer", "HassCancelTimer", {}),
        WorkedExample("what is the weather like in paris", "OutOfScope", {}),
        WorkedExample("tell me a joke", "OutOfScope", {}),
        WorkedExample("turn on the sauna", "Clarify", {}),
    ]
    return out


def _entity_examples(name: str, domain: str, aliases: list[str]) -> list[WorkedExample]:
    said = (aliases[0] if aliases else name).lower()
    n = {"name": name}
    by_domain = {
        "light": [WorkedExample(f"turn on the {said}", "HassTurnOn", n), WorkedExample(f"set the {said} to 40 percent", "HassLightSet", {**n, "brightness": 40})],
        "switch": [WorkedExample(f"switch off the {said}", "HassTurnOff", n)],
        "fan": [WorkedExample(f"turn the {said} on", "HassTurnOn", n), WorkedExample(f"toggle the {said}", "HassToggle", n)],
        "climate": [WorkedExample(f"set the {said} to 21 degrees", "HassClimateSetTemperature", {**n, "temperature": 21})],
        "cover": [WorkedExample(f"close the {said}", "HassTurnOff", n), WorkedExample(f"open the {said} halfway", "HassSetPosition", {**n, "position": 50})],
        "lock": [WorkedExample(f"lock the {said}", "HassTurnOn", n), WorkedExample(f"is the {said} locked", "HassGetState", {**n, "state": "locked"})],
        "media_player": [WorkedExample(f"pause the {said}", "HassMediaPause", n), WorkedExample(f"resume the {said}", "HassMediaUnpause", n),
                         WorkedExample(f"set the {said} volume to 30", "HassSetVolume", {**n, "volume_level": 30})],
        "sensor": [WorkedExample(f"what does the {said} say", "HassGetState", n)],
        "binary_sensor": [WorkedExample(f"is the {said} on", "HassGetState", {**n, "state": "on"})],
    }
    return by_domain.get(domain, [WorkedExample(f"turn on the {said}", "HassTurnOn", n)])


class ExampleIndex:
    """Retrieves the worked examples most similar to an utterance (word and bigram overlap).

    Lexical similarity is enough here: the examples share the home's names with the
    utterance, and it costs microseconds on a hub where an embedding costs milliseconds.
    """

    def __init__(self, examples: list[WorkedExample]) -> None:
        self.examples = examples
        self._features = [_features(e.utterance) for e in examples]

    def add(self, example: WorkedExample) -> None:
        """Add one example (a reviewed decision of this site); an utterance already known is answered anew."""
        keep = [i for i, e in enumerate(self.examples) if normalize(e.utterance) != normalize(example.utterance)]
        self.examples = [self.examples[i] for i in keep] + [example]
        self._features = [self._features[i] for i in keep] + [_features(example.utterance)]

    def similar(self, utterance: str, k: int) -> list[WorkedExample]:
        """The `k` most similar examples, most similar last (closest to the question in the prompt)."""
        query = _features(utterance)
        scored = sorted(range(len(self.examples)), key=lambda i: -_overlap(query, self._features[i]))
        picked, tools = [], set()
        for i in scored:
            # Prefer variety of tools among equally close examples, so one intent does not crowd the prompt.
            if len(picked) < k and (self.examples[i].tool not in tools or len(tools) >= k // 2):
                picked.append(self.examples[i])
                tools.add(self.examples[i].tool)
        return picked[::-1]


def _features(text: str) -> set[str]:
    words = normalize(text).split()
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / (len(a | b) or 1)
