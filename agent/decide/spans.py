"""The span tagger: the words of a request that no registry holds (a media search query, a list item, a list's name).

Names, areas, numbers and colours come from the registry and the slot extractor (agent/decide/slots.py); what to play
and what to put on a list are spans of the speaker's own words. A linear-chain conditional random field
(python-crfsuite, the CRFsuite library Snips NLU used for the same job) labels each word, trained on
- real people's annotated requests (agent/decide/corpora.py `SPAN_LABELS`: HWU64's play_* and Snips' PlayMusic for
  what to play, Snips' AddToPlaylist for "add X to my Y"), English only,
- sentences expanded from Home Assistant's list and media templates in the hub's language, their wildcards filled
  with the corpora's own item values rather than the same few words.
A CRF rather than rules around "add ... to": people say "i need eggs on the shopping list", "put on some jazz by miles
davis"; the features are the word and its neighbours, so what the corpora teach carries to words it never saw.

Fitting takes a few seconds; the model is kept in the intent model's cache dir by a digest of its sentences.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from agent.decide.corpora import TRAINING_FILE, load_training_file
from agent.decide.intent_model import TEMPLATE_HOME_SEED  # the same generated home as the intent model's template sentences

log = logging.getLogger(__name__)

TAGGER_VERSION = 1
# Home Assistant's media classes a span label names; "query" (a template's search_query) and "audiobook" name none.
MEDIA_LABELS = frozenset({"track", "artist", "album", "playlist", "genre", "channel", "podcast", "audiobook", "query"})
MEDIA_CLASSES = frozenset({"track", "artist", "album", "playlist", "genre", "channel", "podcast"})
LIST_INTENTS = ("HassListAddItem", "HassListRemoveItem", "HassListCompleteItem")
SHOPPING_LIST_INTENTS = ("HassShoppingListAddItem", "HassShoppingListCompleteItem")
# The intents whose slots are spans, and the label each slot's words get in their template sentences.
TEMPLATE_SLOTS: dict[str, dict[str, str]] = {
    **{intent: {"item": "item", "name": "list"} for intent in (*LIST_INTENTS, *SHOPPING_LIST_INTENTS)},
    "HassMediaSearchAndPlay": {"search_query": "query"},
}
SPAN_INTENTS = tuple(TEMPLATE_SLOTS)
TEMPLATE_SAMPLES = 60  # per intent
TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Tagged:
    """The spans of one sentence and the probability of the whole labelling."""

    text: str
    spans: tuple[Span, ...]
    p: float

    def first(self, label: str) -> str | None:
        return next((s.text for s in self.spans if s.label == label), None)

    def media(self) -> tuple[str, str | None] | None:
        """The search query (from the first media span to the last, "poker face by lady gaga") and its media class, or None."""
        media = [s for s in self.spans if s.label in MEDIA_LABELS]
        if not media:
            return None
        query = self.text[media[0].start : media[-1].end]
        kinds = {s.label for s in media}
        return query, (kinds.pop() if len(kinds) == 1 and kinds <= MEDIA_CLASSES else None)


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(lower-cased word, start, end) of each word and punctuation mark."""
    return [(m.group().lower(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def features(words: list[str]) -> list[list[str]]:
    """Per word: the word, its shape, and its neighbours two either side (what tells "play X by Y" apart)."""
    out = []
    for i, w in enumerate(words):
        f = [f"w={w}", f"p3={w[:3]}", f"s3={w[-3:]}", f"digit={w.isdigit()}", f"len={min(len(w), 8)}"]
        for d in (-2, -1, 1, 2):
            j = i + d
            f.append(f"w{d:+d}={words[j] if 0 <= j < len(words) else ('BOS' if j < 0 else 'EOS')}")
        f.append(f"w-1|w={words[i - 1] if i else 'BOS'}|{w}")
        f.append(f"w|w+1={w}|{words[i + 1] if i + 1 < len(words) else 'EOS'}")
        out.append(f)
    return out


def bio(text: str, spans: Iterable[tuple[int, int, str]]) -> tuple[list[str], list[str]]:
    """Words and their B-/I-/O labels for a sentence whose spans are (start, end, label) character offsets."""
    toks, labels = tokens(text), []
    spans = sorted(spans)
    for _, start, end in toks:
        inside = next((s for s in spans if s[0] <= start and end <= s[1]), None)
        if inside is None:
            labels.append("O")
        else:
            first = not labels or labels[-1] == "O" or labels[-1][2:] != inside[2] or start == inside[0]
            labels.append(("B-" if first else "I-") + inside[2])
    return [t[0] for t in toks], labels


class SpanTagger:
    """A fitted CRF; `tag` is all the planner asks of it."""

    def __init__(self, path: Path) -> None:
        import pycrfsuite

        self.path = path
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(path))
        self._lock = threading.Lock()  # a crfsuite tagger holds the sentence it was given: one at a time

    @classmethod
    def fit(cls, sentences: list[tuple[str, list[tuple[int, int, str]]]], path: Path) -> SpanTagger:
        import pycrfsuite

        trainer = pycrfsuite.Trainer(verbose=False)
        for text, spans in sentences:
            words, labels = bio(text, spans)
            if words:
                trainer.append(features(words), labels)
        # L1 and L2 as CRFsuite's tutorial sets them: sparse weights, no word the corpora saw once decides alone.
        trainer.set_params({"c1": 0.1, "c2": 0.05, "max_iterations": 150, "feature.possible_transitions": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        trainer.train(str(tmp))
        tmp.replace(path)
        return cls(path)

    def tag(self, text: str) -> Tagged:
        """The spans of `text` (labels as in `corpora.SPAN_LABELS` and `TEMPLATE_SLOTS`) and how sure the tagger is."""
        toks = tokens(text)
        if not toks:
            return Tagged(text, (), 1.0)
        with self._lock:
            labels = self._tagger.tag(features([t[0] for t in toks]))
            p = self._tagger.probability(labels)
        spans: list[list[Any]] = []
        for (_, start, end), label in zip(toks, labels):
            if label == "O":
                continue
            kind = label[2:]
            if label.startswith("I-") and spans and spans[-1][0] == kind:
                spans[-1][2] = end
            else:
                spans.append([kind, start, end])
        return Tagged(text, tuple(Span(k, s, e, text[s:e]) for k, s, e in spans), float(p))


def training_sentences(language: str, corpus_file: Path = TRAINING_FILE) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """The corpus rows with spans in `language`, and template sentences whose list and media slots are labelled."""
    from agent.decide.conformance import TemplateSampler, generated_home
    from agent.decide.templates import TemplateMatcher

    rows = [r for r in load_training_file(corpus_file) if r["language"] == language and "spans" in r]
    sentences = [(r["text"], [tuple(s) for s in r["spans"]]) for r in rows]
    # Fill the templates' wildcards with what people put on lists and play, not the same eight words.
    fillers = sorted({r["text"][a:b].lower() for r in rows for a, b, _ in r["spans"]}) or None
    # The generated home has one to-do list; a list is called by the names people give their lists and playlists.
    list_names = sorted({r["text"][a:b].lower() for r in rows for a, b, label in r["spans"] if label == "list"})
    rng = random.Random(TEMPLATE_HOME_SEED)
    templates = TemplateMatcher(generated_home(TEMPLATE_HOME_SEED), language)
    sampler = TemplateSampler(templates, seed=TEMPLATE_HOME_SEED, wildcards=fillers)
    for sample in sampler.samples(TEMPLATE_SAMPLES, area=None, intents=tuple(TEMPLATE_SLOTS)):
        spans = _located(sample.text, sample.args, TEMPLATE_SLOTS[sample.tool])
        if spans is not None:
            text = sample.text
            for start, end, label in [s for s in spans if s[2] == "list"][:1]:
                if list_names:
                    text, spans = _substituted(text, spans, (start, end, label), rng.choice(list_names))
            sentences.append((text, spans))
    return sentences


def _substituted(text: str, spans: list[tuple[int, int, str]], span: tuple[int, int, str], value: str) -> tuple[str, list[tuple[int, int, str]]]:
    # `value` in place of `span`'s words; the spans after it move by the difference in length.
    start, end, label = span
    shift = len(value) - (end - start)
    moved = [(a + shift, b + shift, l) if a >= end else (a, b, l) for a, b, l in spans if (a, b, l) != span]
    return text[:start] + value + text[end:], sorted([*moved, (start, start + len(value), label)])


def _located(text: str, args: dict[str, Any], labels: dict[str, str]) -> list[tuple[int, int, str]] | None:
    # A slot's words in the sentence; None when one cannot be found (a list said by another name): better left out
    # than taught as words that are no slot.
    spans, lower = [], text.lower()
    for slot, label in labels.items():
        value = args.get(slot)
        if value is None:
            continue
        at = lower.find(str(value).lower())
        if at < 0:
            return None
        spans.append((at, at + len(str(value)), label))
    return spans


@lru_cache(maxsize=4)
def span_tagger(language: str, cache: Path | None = None) -> SpanTagger:
    """The tagger for `language`: from the cache dir when its sentences were fitted before, else fitted now (seconds)."""
    from agent.decide.intent_model import cache_dir

    sentences = training_sentences(language.split("-")[0])
    digest = hashlib.sha256(f"v{TAGGER_VERSION}|{sentences}".encode()).hexdigest()[:16]
    path = (cache or cache_dir()) / f"span-tagger-{digest}.crfsuite"
    if path.exists():
        try:
            return SpanTagger(path)
        except (OSError, ValueError) as err:
            log.warning("cached span tagger unreadable; training anew", extra={"path": str(path), "error": str(err)})
    start = time.perf_counter()
    tagger = SpanTagger.fit(sentences, path)
    log.info("span tagger trained", extra={"sentences": len(sentences), "seconds": round(time.perf_counter() - start, 1)})
    return tagger
