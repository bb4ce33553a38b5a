"""Deterministic slot extraction: what an utterance names in the home registry, and the values it says.

A 135M model cannot spell a home's device names; this module can. It corrects
typos against the home's own vocabulary, finds entity / area / floor mentions
(longest match first), domain words, numbers, colors and states. The planner
then only has to choose among what was found.

The words it knows come from Home Assistant's own data for the hub's language
(`home_assistant_intents`: its lists of colors, states, device classes and
brightness levels, its expansion rules, every literal word of its templates)
and from unicode-rbnf, which spells the numbers hassil's range lists parse. What
that data cannot express stays written here, each list with its reason.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tools.home import Area, Entity, Floor, Home, normalize

# Stays: Home Assistant names these domains only inside whole sentence templates (no list or rule
# says "fan" is a fan), and a bare "door" in a home is its lock, where HA's cover classes read a cover.
EXTRA_DOMAIN_WORDS: dict[str, tuple[str, str | None]] = {
    "fan": ("fan", None), "fans": ("fan", None),
    "lock": ("lock", None), "locks": ("lock", None), "doors": ("lock", None), "door": ("lock", None),
    "tv": ("media_player", None), "television": ("media_player", None), "speaker": ("media_player", None),
    "speakers": ("media_player", None), "music": ("media_player", None),
    "switch": ("switch", None), "switches": ("switch", None), "plug": ("switch", None), "plugs": ("switch", None),
    "outlet": ("switch", "outlet"), "outlets": ("switch", "outlet"), "socket": ("switch", "outlet"), "sockets": ("switch", "outlet"),
    "humidity": ("sensor", "humidity"), "motion": ("binary_sensor", "motion"), "moving": ("binary_sensor", "motion"),
    "cover": ("cover", None), "covers": ("cover", None), "coverings": ("cover", None), "covering": ("cover", None),
    "thermostat": ("climate", None), "heating": ("climate", None), "heat": ("climate", None),
}
# A word sharing its first STEM letters with a sensor's device class in the home names that class ("humid");
# HA's templates say no device class of a sensor (words they do say are left to them).
SENSOR_DOMAINS, STEM = ("sensor", "binary_sensor"), 5
# Stays: HA's lists name no media-player or presence states (its presence states are the home's zones).
EXTRA_STATES = {"playing": "playing", "paused": "paused", "idle": "idle", "home": "home", "away": "away"}
# Stays: HA's templates say these amounts only inside sentences ("half" in its lists is half an hour).
EXTRA_PERCENT_WORDS = {"three quarters": 75, "half": 50, "halfway": 50, "50 50": 50, "full": 100, "max out": 100, "a quarter": 25, "quarter": 25}
# Stays: short common words that look like typos of something else ("can" ~ "cyan", "tea" ~ "teal").
COMMON_WORDS = frozenset(
    "can get tea set put let got how who why its out now not any and are was but for you our too way day see hot top low run "
    "lite nite from that this what when with have some will your just into over also back than then them they very".split()
)
# Stays: words of commands HA's templates do not say (relative wording, indirect requests, politeness), never
# "corrected" and corrected towards; every word of the templates and their lists is taken from HA's data.
COMMAND_WORDS = (
    "unpause", "opened", "stairs", "going", "bed", "everything", "outside", "inside", "their", "these", "those", "into", "about",
    "leave", "still", "more", "less", "little", "bit", "kill", "power", "pull", "roll", "draw", "bump", "want", "could", "would",
    "should", "possible", "thanks", "thank", "hey", "okay", "chilly", "freezing", "dark", "bright", "brighter", "dimmer",
    "halfway", "fully", "full", "half", "news", "tomorrow", "wake", "remind", "doing", "help", "need", "notch", "running",
    "unplug", "quarter", "quarters", "anything", "toggle", "please", "degrees", "minutes", "hours", "seconds", "dim", "brighten", "warmer",
    "cooler", "louder", "quieter", "upstairs", "downstairs", "blinds", "curtains",
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The words of one language slot extraction knows, from Home Assistant's data."""

    domain_words: dict[str, tuple[str, str | None]]  # word -> (domain, device class)
    colors: dict[str, str]  # spoken color name -> the color HA's slot carries ("blau" -> "blue"), longest first
    states: dict[str, str]  # spoken form -> state
    numbers: dict[str, int]  # spelled-out number -> value
    percent_words: dict[str, int]  # "max" -> 100
    template_words: frozenset[str]  # every literal word of the templates and of their lists
    here: tuple[str, ...] = ()  # the words that name the speaker's own area ("in here"), from HA's `here` rule
    intent_words: dict[str, frozenset[str]] = field(default_factory=dict)  # intent -> the words only its templates say ("skip")

    @property
    def number_words(self) -> frozenset[str]:
        return frozenset(w for phrase in self.numbers for w in phrase.split())


@lru_cache(maxsize=4)
def vocabulary(language: str = "en") -> Vocabulary:
    """Colors, states, device classes, level words and number words of `language`, from the installed HA data."""
    from home_assistant_intents import get_intents

    from agent.decide.templates import template_words

    data = get_intents(language) or {}
    lists, rules = data.get("lists", {}), data.get("expansion_rules", {})
    domain_words: dict[str, tuple[str, str | None]] = {}
    for said, out in _list_values(lists.get("cover_classes")):
        if " " not in said:
            domain_words[said] = ("cover", str(out[0] if isinstance(out, list) else out))
    if "light" in rules:  # English names the light domain in one rule: (light|lights|lighting|lamp|lamps)
        domain_words.update({w: ("light", None) for w in _expand(rules["light"]) if " " not in w})
    domain_words.update(EXTRA_DOMAIN_WORDS)
    for verb, domain in _domain_verbs(data.get("intents", {})).items():
        domain_words.setdefault(verb, (domain, None))  # "unlock everything": the lock domain, as HA's lock templates say it
    colors = {said: said for said, _ in _list_values(lists.get("color_temperature_names"))}
    colors.update({said: str(out) for said, out in _list_values(lists.get("color"))})
    states: dict[str, str] = {}
    for name, values in lists.items():
        if name.endswith("_states") and not name.startswith("bs_"):  # binary sensors report on/off for "open"
            for said, out in _list_values(values):
                states.setdefault(said, str(out))
    for said, out in EXTRA_STATES.items():
        states.setdefault(said, out)
    percent = {said: int(out) for said, out in _list_values(lists.get("brightness_level"))}
    percent.update(EXTRA_PERCENT_WORDS)
    listed = {w for said in (*colors, *states, *domain_words) for w in said.split()}
    return Vocabulary(
        domain_words, dict(sorted(colors.items(), key=lambda c: -len(c[0]))), states, _number_words(language), percent,
        template_words(language) | listed, tuple(_expand(rules["here"])) if "here" in rules else (), _intent_words(language),
    )


def _intent_words(language: str) -> dict[str, frozenset[str]]:
    """For each intent, the words its templates (their expansion rules included) require and no other intent's
    templates say: "skip", "previous", "mute"; an optional word ("[again]") is no evidence."""
    from hassil.expression import Alternative, Group, RuleReference, TextChunk

    from agent.decide.templates import load_language

    intents = load_language(language)

    def walk(expression: Any, rules: dict[str, Any], out: set[str], depth: int = 0, required: bool = True) -> None:
        if isinstance(expression, TextChunk):
            out.update(normalize(expression.text).split() if required else ())
        elif isinstance(expression, Group):
            required = required and not (isinstance(expression, Alternative) and expression.is_optional)
            for item in expression.items:
                walk(item, rules, out, depth, required)
        elif isinstance(expression, RuleReference) and depth < 5 and expression.rule_name in rules:
            walk(rules[expression.rule_name].expression, rules, out, depth + 1, required)

    said: dict[str, set[str]] = {}
    for name, intent in intents.intents.items():
        words = said.setdefault(name, set())
        for data in intent.data:
            rules = {**intents.expansion_rules, **data.expansion_rules}
            for sentence in data.sentences:
                walk(sentence.expression, rules, words)
    owners: dict[str, int] = {}
    for words in said.values():
        for word in words:
            owners[word] = owners.get(word, 0) + 1
    return {name: frozenset(w for w in words if owners[w] == 1) for name, words in said.items()}


def _domain_verbs(intents: dict[str, Any]) -> dict[str, str]:
    """Verbs that name a domain in HA's on/off templates: the one plain word that starts every sentence of a
    block restricted to one domain ("lock [<the>] {name}", "unlock [<the>] {name}"), and no block of another domain."""
    verbs: dict[str, set[str]] = {}
    for intent in ("HassTurnOn", "HassTurnOff"):
        for block in intents.get(intent, {}).get("data", []):
            domain = (block.get("requires_context") or {}).get("domain")
            domain = domain[0] if isinstance(domain, list) and len(domain) == 1 else domain
            if not isinstance(domain, str):
                continue
            firsts = {sentence.split()[0] for sentence in block.get("sentences", []) if sentence.split()}
            if len(firsts) == 1 and re.fullmatch(r"\w+", verb := next(iter(firsts))):
                verbs.setdefault(normalize(verb), set()).add(domain)
    return {verb: next(iter(domains)) for verb, domains in verbs.items() if len(domains) == 1}


def _expand(template: str) -> list[str]:
    """Every spoken form of a template fragment ("[securely] locked" -> "securely locked", "locked")."""
    from hassil import parse_sentence
    from hassil.sample import sample_expression

    try:
        return sorted({normalize(s) for s in sample_expression(parse_sentence(template).expression)} - {""})
    except Exception:  # a fragment with a list or rule reference: its plain words only
        return [normalize(re.sub(r"[<{][^>}]*[>}]|[\[\]()|]", " ", template))]


def _list_values(values: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(spoken form, value) of a list of HA's data; ranges and wildcards have none."""
    out = []
    for item in (values or {}).get("values", []):
        if isinstance(item, dict):
            out += [(said, item.get("out", said)) for said in _expand(str(item["in"]))]
        else:
            out += [(said, said) for said in _expand(str(item))]
    return out


def _number_words(language: str) -> dict[str, int]:
    # hassil parses spoken numbers in its range lists with unicode-rbnf; the same engine spells 0-100 here.
    try:
        from unicode_rbnf import RbnfEngine

        engine = RbnfEngine.for_language(language.split("-")[0].split("_")[0])
    except Exception:
        return {}
    words: dict[str, int] = {}
    for n in range(101):
        result = engine.format_number(n)
        for text in {result.text, *result.text_by_ruleset.values()}:
            if (said := normalize(text)) and not said.isdigit():
                words.setdefault(said, n)
    return words


@dataclass(slots=True)
class Mention:
    """A registry object named in the utterance, with the words that named it."""

    kind: str  # "entity", "area" or "floor"
    obj: Entity | Area | Floor
    text: str
    start: int  # word index
    generic: bool = False  # the words are a bare domain word ("blinds", "thermostat") that happens to be an alias


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
    vocabulary: Vocabulary = field(default_factory=vocabulary)

    def has(self, *words: str) -> bool:
        """True when any of `words` (single words or phrases) occurs."""
        padded = f" {self.text} "
        return any(f" {w} " in padded for w in words)


def _typo_of(word: str, targets: list[str], cutoff: float = 0.8) -> str | None:
    """The one closest word of `targets`, when it is a likely typo: it keeps the first letter ("movers" is not
    "covers") and no other word is as close ("heading" is as near "heating" as "reading": no correction)."""
    found = difflib.get_close_matches(word, targets, n=2, cutoff=cutoff)
    if not found or found[0][:1] != word[:1]:
        return None
    if len(found) > 1 and difflib.SequenceMatcher(None, word, found[1]).ratio() >= difflib.SequenceMatcher(None, word, found[0]).ratio():
        return None
    return found[0]


def words_to_digits(text: str, numbers: dict[str, int] | None = None) -> str:
    """Spelled-out numbers as digits: "sixty five" -> "65", "nineteen and a half" -> "19.5"."""
    numbers = vocabulary().numbers if numbers is None else numbers
    text = re.sub(r"(\d+)\s*%", r"\1 percent", text.lower())
    pattern = _number_pattern(tuple(numbers))

    def replace(match: re.Match) -> str:
        value = numbers[normalize(match.group(1))]
        return (str(value + 0.5) if match.group(2) else str(value)) + " "

    # Stays: "and a half" is English wording the number spellers do not produce.
    return re.sub(pattern, replace, text) if numbers else text


@lru_cache(maxsize=8)
def _number_pattern(phrases: tuple[str, ...]) -> str:
    spelled = "|".join(r"[\s-]+".join(map(re.escape, p.split())) for p in sorted(phrases, key=len, reverse=True))
    return rf"\b({spelled})\b( and a half)? ?"


class SlotExtractor:
    """Built once per home: an index of names and a vocabulary for typo correction."""

    def __init__(self, home: Home, language: str = "en") -> None:
        self.home = home
        self.vocab = vocab = vocabulary(language)
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
        self._name_words = {w for phrase in self._index for w in phrase.split()}
        self.vocabulary = sorted(self._name_words | set(COMMAND_WORDS) | set(vocab.domain_words) | vocab.template_words)
        self._vocab_set = set(self.vocabulary)
        self._never = vocab.number_words | COMMON_WORDS
        # Typos are corrected towards names, the templates' words and command verbs, never towards colors or states.
        listed = {w for said in (*vocab.colors, *vocab.states) for w in said.split()}
        self._targets = sorted(self._name_words | set(COMMAND_WORDS) | set(vocab.domain_words) | (vocab.template_words - listed))
        self._joined = {phrase.replace(" ", ""): phrase for phrase in self._index if " " in phrase}
        # A short or common word is corrected only when the correction completes one of the home's names with
        # its neighbour ("porch lite", "garage dor").
        self._name_pairs = {pair for phrase in self._index for pair in zip(phrase.split(), phrase.split()[1:])}
        self._name_targets = sorted({w for pair in self._name_pairs for w in pair})
        self._max_len = max((len(p.split()) for p in self._index), default=1)
        # The sensors' device classes of this home, said by a word of the same stem ("how humid": humidity).
        self._sensor_classes = {(e.domain, e.device_class) for e in home.entities if e.domain in SENSOR_DOMAINS and e.device_class}

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
        slots = Slots(" ".join(words), words, raw=utterance.lower(), corrections=corrections, vocabulary=self.vocab)
        self._mentions(slots)
        self._values(slots)
        return slots

    def _correct(self, words: list[str]) -> tuple[list[str], dict[str, str]]:
        fixed, corrections = [], {}
        vocab = self._vocab_set
        for i, word in enumerate(words):
            before, after = (fixed[-1] if fixed else None), (words[i + 1] if i + 1 < len(words) else None)
            if (joined := self._join_split(word, fixed)) is not None:
                fixed[-1] = joined  # "down stairs" -> "downstairs"
                corrections[f"{fixed[-1]} {word}"] = joined
            elif word in vocab or word.isdigit() or word in self.vocab.number_words:
                fixed.append(word)
            elif len(word) < 4 or word in self._never:
                match = self._name_completion(word, before, after)
                fixed.append(match or word)
                if match:
                    corrections[word] = match
            elif word in self._joined:  # "livingroom" -> "living room"
                fixed.extend(self._joined[word].split())
                corrections[word] = self._joined[word]
            else:
                match = _typo_of(word, self._targets) or self._name_completion(word, before, after)
                fixed.append(match or word)
                if match:
                    corrections[word] = match
        return fixed, corrections

    def _name_completion(self, word: str, before: str | None, after: str | None) -> str | None:
        if len(word) < 3:
            return None
        candidates = [w for w in self._name_targets if w[:1] == word[:1]]
        for match in difflib.get_close_matches(word, candidates, n=3, cutoff=0.6):  # the neighbour is the evidence
            if (before, match) in self._name_pairs or (match, after) in self._name_pairs:
                return match
        return None

    def _join_split(self, word: str, previous: list[str]) -> str | None:
        if not previous:
            return None
        joined = previous[-1] + word
        return joined if joined in self._name_words else None

    def _mentions(self, slots: Slots) -> None:
        words, taken = slots.words, [False] * len(slots.words)
        domain_words = self.vocab.domain_words
        for n in range(min(self._max_len, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                if any(taken[i:i + n]):
                    continue
                phrase = " ".join(words[i:i + n])
                for kind, obj in self._index.get(phrase, []):
                    mention = Mention(kind, obj, phrase, i, phrase in domain_words)
                    {"entity": slots.entities, "area": slots.areas, "floor": slots.floors}[kind].append(mention)
                if phrase in self._index:
                    taken[i:i + n] = [True] * n
        for i, word in enumerate(words):
            if word not in domain_words or domain_words[word] in slots.domains:
                continue
            if word == "switch" and (i == 0 or words[i + 1:i + 2] in (["on"], ["off"])):
                continue  # "switch on the ..." is a verb
            if domain_words.get(words[i + 1] if i + 1 < len(words) else "", ("",))[0] == domain_words[word][0]:
                continue  # "window coverings": the first noun only says which kind; the last one names the domain
            if not taken[i] or any(m.generic and m.start == i for m in slots.entities):
                slots.domains.append(domain_words[word])
        for i, word in enumerate(words):
            if taken[i] or word in domain_words or word in self.vocab.template_words or len(word) < STEM or word in slots.corrections.values():
                continue
            for said in sorted(self._sensor_classes):
                if said[1][:STEM] == word[:STEM] and said not in slots.domains:
                    slots.domains.append(said)
        for mentions in (slots.entities, slots.areas, slots.floors):
            mentions.sort(key=lambda m: m.start)

    def _values(self, slots: Slots) -> None:
        text = slots.text
        vocab = self.vocab
        digits = words_to_digits(slots.raw, vocab.numbers)
        for match in re.finditer(r"(\d+(?:[.,]\d+)?)", digits):
            slots.numbers.append(float(match.group(1).replace(",", ".")))
        percent = re.search(r"(\d+(?:\.\d+)?) ?(percent|pct|%)", digits)
        if percent:
            slots.percent = float(percent.group(1))
        else:
            said = [w for w in vocab.percent_words if slots.has(w)]
            if said:
                slots.percent = float(vocab.percent_words[said[0]])
        found = [c for c in vocab.colors if re.search(rf"\b{re.escape(c)}\b", text)]
        slots.colors = list(dict.fromkeys(vocab.colors[c] for c in found if not any(c in o and c != o for o in found)))
        slots.states = list(dict.fromkeys(s for said, s in vocab.states.items() if re.search(rf"\b{re.escape(said)}\b", text)))
