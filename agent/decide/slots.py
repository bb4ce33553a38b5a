"""Deterministic slot extraction: what an utterance names in the home registry, and the values it says.

A 135M model cannot spell a home's device names; this module can. It corrects
typos against the home's own vocabulary, finds entity / area / floor mentions
(longest match first), domain words, numbers, colors and states. The planner
then only has to choose among what was found.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from tools.home import Area, Entity, Floor, Home, normalize

# Words that name a domain (and a device class) when no device is named.
DOMAIN_WORDS: dict[str, tuple[str, str | None]] = {
    "light": ("light", None), "lights": ("light", None), "lamp": ("light", None), "lamps": ("light", None), "lighting": ("light", None),
    "fan": ("fan", None), "fans": ("fan", None),
    "blind": ("cover", "blind"), "blinds": ("cover", "blind"), "curtain": ("cover", "curtain"), "curtains": ("cover", "curtain"),
    "shade": ("cover", "shade"), "shades": ("cover", "shade"), "cover": ("cover", None), "covers": ("cover", None),
    "lock": ("lock", None), "locks": ("lock", None), "doors": ("lock", None), "door": ("lock", None),
    "tv": ("media_player", None), "television": ("media_player", None), "speaker": ("media_player", None),
    "speakers": ("media_player", None), "music": ("media_player", None),
    "switch": ("switch", None), "switches": ("switch", None), "plug": ("switch", None), "plugs": ("switch", None),
    "outlet": ("switch", "outlet"), "outlets": ("switch", "outlet"), "socket": ("switch", "outlet"), "sockets": ("switch", "outlet"),
    "humidity": ("sensor", "humidity"), "motion": ("binary_sensor", "motion"), "moving": ("binary_sensor", "motion"),
    "coverings": ("cover", None), "covering": ("cover", None),
    "thermostat": ("climate", None), "heating": ("climate", None), "heat": ("climate", None),
}

COLORS = (
    "warm white", "cool white", "daylight", "white", "red", "green", "blue", "yellow", "orange", "purple", "pink", "cyan",
    "magenta", "violet", "teal", "turquoise", "gold", "lime", "indigo", "crimson", "amber", "lavender",
)
STATES = ("on", "off", "open", "closed", "locked", "unlocked", "playing", "paused", "idle", "home", "away")
# Short common words that look like typos of something else ("can" ~ "cyan", "tea" ~ "teal").
COMMON_WORDS = frozenset(
    "can get tea set put let got how who why its out now not any and are was but for you our too way day see hot top low run "
    "lite nite from that this what when with have some will your just into over also back than then them they very".split()
)
WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "forty five": 45, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "a hundred": 100,
}
# Words never "corrected" (they are right as they are) and verbs typos are corrected towards.
COMMAND_WORDS = (
    "unpause", "paused", "playing", "locked", "unlocked", "closed", "opened", "warm", "cool", "cold", "white", "down", "stairs",
    "going", "bed", "everything", "outside", "inside", "there", "their", "where", "these", "those", "this", "that", "with",
    "from", "into", "about", "leave", "left", "still", "right", "now", "some", "more", "less", "much", "little", "bit",
    "shut", "kill", "activate", "deactivate", "power", "raise", "lower", "pull", "roll", "draw", "bump", "want", "could", "would",
    "should", "possible", "thanks", "thank", "hey", "okay", "chilly", "freezing", "dark", "bright", "brighter", "dimmer",
    "halfway", "fully", "full", "half", "show", "movie", "song", "music", "news", "weather", "tomorrow", "today", "minute",
    "hour", "second", "wake", "remind", "make", "does", "doing", "check", "tell", "help", "need", "temp", "notch", "running",
    "unplug", "quarter", "house", "anything", "floor", "room", "hey",
    "turn", "switch", "on", "off", "toggle", "set", "make", "put", "the", "lights", "light", "please", "brightness", "percent",
    "degrees", "temperature", "open", "close", "lock", "unlock", "pause", "resume", "volume", "timer", "minutes", "hours",
    "seconds", "cancel", "dim", "brighten", "warmer", "cooler", "louder", "quieter", "what", "is", "are", "the", "kitchen",
    "bedroom", "upstairs", "downstairs", "everything", "all", "start", "stop", "play", "music", "blinds", "curtains",
)


@dataclass(slots=True)
class Mention:
    """A registry object named in the utterance, with the words that named it."""

    kind: str  # "entity", "area" or "floor"
    obj: Entity | Area | Floor
    text: str
    start: int  # word index

    @property
    def generic(self) -> bool:
        """True when the words are a bare domain word ("blinds", "thermostat") that happens to be an alias."""
        return self.text in DOMAIN_WORDS


@dataclass(slots=True)
class Slots:
    """Everything deterministic extraction found in one utterance."""

    text: str  # normalized, typo-corrected
    words: list[str]
    raw: str = ""  # the utterance as said, lower case
    entities: list[Mention] = field(default_factory=list)
    areas: list[Mention] = field(default_factory=list)
    floors: list[Mention] = field(default_factory=list)
    domains: list[tuple[str, str | None]] = field(default_factory=list)
    numbers: list[float] = field(default_factory=list)
    percent: float | None = None
    colors: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)

    def has(self, *words: str) -> bool:
        """True when any of `words` (single words or phrases) occurs."""
        padded = f" {self.text} "
        return any(f" {w} " in padded for w in words)


def words_to_digits(text: str) -> str:
    """Spelled-out numbers as digits: "sixty five" -> "65", "nineteen and a half" -> "19.5"."""
    text = re.sub(r"(\d+)\s*%", r"\1 percent", text.lower())
    names = "|".join(sorted(WORD_NUMBERS, key=len, reverse=True))

    def replace(match: re.Match) -> str:
        value = sum(WORD_NUMBERS[w] for w in match.group(0).replace(" and a half", "").split() if w in WORD_NUMBERS)
        return str(value + 0.5) if match.group(0).endswith("and a half") else str(value)

    return re.sub(rf"\b(?:(?:{names})\b ?)+(?:and a half)?", lambda m: replace(m) + " ", text)


class SlotExtractor:
    """Built once per home: an index of names and a vocabulary for typo correction."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._index: dict[str, list[tuple[str, Entity | Area | Floor]]] = {}
        for entity in home.entities:
            for name in entity.names():
                self._add(name, "entity", entity)
        for area in home.areas:
            for name in {normalize(area.name), normalize(area.id), *map(normalize, area.aliases)}:
                self._add(name, "area", area)
        for floor in home.floors:
            for name in {normalize(floor.name), normalize(floor.id), *map(normalize, floor.aliases)}:
                self._add(name, "floor", floor)
        self.vocabulary = sorted({w for phrase in self._index for w in phrase.split()} | set(COMMAND_WORDS) | set(DOMAIN_WORDS) | {w for c in COLORS for w in c.split()} | set(STATES))
        self._vocab_set = set(self.vocabulary)
        self._name_words = {w for phrase in self._index for w in phrase.split()}
        # Typos are corrected towards names and command verbs only, never towards colors or states.
        self._targets = sorted(self._name_words | set(COMMAND_WORDS) | set(DOMAIN_WORDS))
        self._joined = {phrase.replace(" ", ""): phrase for phrase in self._index if " " in phrase}
        self._max_len = max((len(p.split()) for p in self._index), default=1)

    def _add(self, phrase: str, kind: str, obj: Entity | Area | Floor) -> None:
        variants = {phrase}
        head, _, last = phrase.rpartition(" ")
        if last.endswith("s") and len(last) > 3 and " " in phrase:  # "counter lights" also answers to "counter light"
            variants.add(f"{head} {last[:-1]}")
        for variant in variants:
            entries = self._index.setdefault(variant, [])
            if all(o is not obj for _, o in entries):
                entries.append((kind, obj))

    def extract(self, utterance: str) -> Slots:
        """Extract slots from one utterance."""
        words, corrections = self._correct(normalize(utterance).split())
        slots = Slots(" ".join(words), words, raw=utterance.lower(), corrections=corrections)
        self._mentions(slots)
        self._values(slots)
        return slots

    def _correct(self, words: list[str]) -> tuple[list[str], dict[str, str]]:
        fixed, corrections = [], {}
        vocab = self._vocab_set
        for word in words:
            if (joined := self._join_split(word, fixed)) is not None:
                fixed[-1] = joined  # "down stairs" -> "downstairs"
                corrections[f"{fixed[-1]} {word}"] = joined
            elif word in vocab or word.isdigit() or len(word) < 4 or word in WORD_NUMBERS or word in COMMON_WORDS:
                fixed.append(word)
            elif word in self._joined:  # "livingroom" -> "living room"
                fixed.extend(self._joined[word].split())
                corrections[word] = self._joined[word]
            else:
                match = difflib.get_close_matches(word, self._targets, n=1, cutoff=0.8)
                fixed.append(match[0] if match else word)
                if match:
                    corrections[word] = match[0]
        return fixed, corrections

    def _join_split(self, word: str, previous: list[str]) -> str | None:
        if not previous:
            return None
        joined = previous[-1] + word
        return joined if joined in self._name_words else None

    def _mentions(self, slots: Slots) -> None:
        words, taken = slots.words, [False] * len(slots.words)
        for n in range(min(self._max_len, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                if any(taken[i:i + n]):
                    continue
                phrase = " ".join(words[i:i + n])
                for kind, obj in self._index.get(phrase, []):
                    {"entity": slots.entities, "area": slots.areas, "floor": slots.floors}[kind].append(Mention(kind, obj, phrase, i))
                if phrase in self._index:
                    taken[i:i + n] = [True] * n
        for i, word in enumerate(words):
            if word not in DOMAIN_WORDS or DOMAIN_WORDS[word] in slots.domains:
                continue
            if word == "switch" and (i == 0 or words[i + 1:i + 2] in (["on"], ["off"])):
                continue  # "switch on the ..." is a verb
            if not taken[i] or any(m.generic and m.start == i for m in slots.entities):
                slots.domains.append(DOMAIN_WORDS[word])
        for mentions in (slots.entities, slots.areas, slots.floors):
            mentions.sort(key=lambda m: m.start)

    def _values(self, slots: Slots) -> None:
        text = slots.text
        digits = words_to_digits(slots.raw)
        for match in re.finditer(r"(\d+(?:[.,]\d+)?)", digits):
            slots.numbers.append(float(match.group(1).replace(",", ".")))
        percent = re.search(r"(\d+(?:\.\d+)?) ?(percent|pct|%)", digits)
        if percent:
            slots.percent = float(percent.group(1))
        elif slots.has("half", "halfway", "50 50"):
            slots.percent = 50.0
        elif slots.has("full", "max", "maximum", "max out"):
            slots.percent = 100.0
        elif slots.has("a quarter", "quarter"):
            slots.percent = 25.0
        slots.colors = [c for c in COLORS if re.search(rf"\b{c}\b", text) and not any(c in o and c != o for o in COLORS if re.search(rf"\b{o}\b", text))]
        slots.states = [s for s in STATES if re.search(rf"\b{s}\b", text)]
