"""Real people's requests to assistants, mapped to what the hub does with them: the one place for that mapping.

Two public corpora hold sentences crowd workers wrote when asked how they would talk to a home
or voice assistant (`../shared/data/nlu`, read its README): HWU64 (Liu et al., IWSDS 2019,
CC BY 4.0) and the Snips NLU benchmark (Coucke et al. 2018, CC0). Each corpus intent maps to
the Home Assistant intent the hub carries out for it, or to `OutOfScope`: a request that is
not for the hub, which must change nothing. A few corpus intents mix both and are left out of
training and scoring (`AMBIGUOUS`).

The held-aside part is a seeded fifth of every corpus intent (`split_of`): never trained on,
scored once tuning is over. The shipped training file (agent/decide/data/intent_corpus.jsonl.gz,
rebuilt by `python -m agent.decide.corpora --build`) holds the other four fifths only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

OUT_OF_SCOPE = "OutOfScope"
DATA_DIR = Path(__file__).parent / "data"
TRAINING_FILE = DATA_DIR / "intent_corpus.jsonl.gz"
SHARED_NLU = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nlu"
PARAPHRASES = Path(__file__).resolve().parents[2] / "examples" / "commands" / "paraphrases*.jsonl"
EXAMPLE_HOME = Path(__file__).resolve().parents[2] / "examples" / "home.yaml"  # the home the paraphrase sets speak of
HELD_ASIDE_SEED = "tessera-nlu-2026"
# Snips has about 2,000 sentences an intent, HWU64 about 140: a sample keeps Snips from drowning HWU64's variety.
SNIPS_PER_INTENT = 300
# The span tagger learns from more of them: Snips annotates every span of what to play; beyond the intent model's
# sample, rows with spans and no intent (the intent model skips them).
SNIPS_SPANS_PER_INTENT = 1200

# Corpus intent -> hub intent. Every intent not named here and not AMBIGUOUS is not for the hub.
HUB_INTENTS: dict[str, str] = {
    # HWU64 home control
    "iot_hue_lighton": "HassTurnOn",
    "iot_hue_lightoff": "HassTurnOff",
    "iot_hue_lightdim": "HassLightSet",
    "iot_hue_lightup": "HassLightSet",
    "iot_hue_lightchange": "HassLightSet",
    "iot_wemo_on": "HassTurnOn",
    "iot_wemo_off": "HassTurnOff",
    "iot_cleaning": "HassVacuumStart",
    "iot_coffee": "HassTurnOn",  # the coffee maker is a switch in Home Assistant
    # HWU64 served by a hub
    "audio_volume_up": "HassSetVolumeRelative",
    "audio_volume_down": "HassSetVolumeRelative",
    "audio_volume_mute": "HassMediaPlayerMute",
    "weather_query": "HassGetWeather",
    "datetime_query": "HassGetCurrentTime",  # or the date: `hub_intent` reads the words
    "lists_createoradd": "HassListAddItem",
    "lists_remove": "HassListRemoveItem",
    "lists_query": "HassShoppingListLastItems",
    "play_music": "HassMediaSearchAndPlay",
    "play_radio": "HassMediaSearchAndPlay",
    "play_podcasts": "HassMediaSearchAndPlay",
    "play_audiobook": "HassMediaSearchAndPlay",
    # Snips
    "GetWeather": "HassGetWeather",
    "PlayMusic": "HassMediaSearchAndPlay",
}
# Home Assistant's own answer to some of these sentences is another intent, as right as the mapped one: "add eggs to my
# shopping list" is HassShoppingListAddItem, "vacuum the dining room" HassVacuumCleanArea, "turn the volume up to
# twenty" HassSetVolume, "skip this episode" HassMediaNext, "resume the audiobook" HassMediaUnpause. Scored as right
# beside the mapped intent (benchmarks report strict and accepted figures); never a training label.
ALSO_RIGHT: dict[str, frozenset[str]] = {
    "lists_createoradd": frozenset({"HassShoppingListAddItem"}),
    "lists_remove": frozenset({"HassShoppingListCompleteItem", "HassListCompleteItem"}),
    "iot_cleaning": frozenset({"HassVacuumCleanArea"}),
    "audio_volume_up": frozenset({"HassSetVolume"}),
    "audio_volume_down": frozenset({"HassSetVolume"}),
    **{intent: frozenset({"HassMediaNext", "HassMediaPrevious", "HassMediaUnpause"})
       for intent in ("play_music", "play_radio", "play_podcasts", "play_audiobook")},
}
# Mixed: "stop" may mean pause the music or cancel the request; music settings hold "skip to the next song"
# (HassMediaNext) beside shuffle and repeat, which Home Assistant has no intent for.
AMBIGUOUS = frozenset({"general_commandstop", "music_settings"})
# What the corpus intent says beyond the hub intent: which way a relative change goes. The intent model learns it as a
# detail of the intent ("HassSetVolumeRelative+up"), so "it's too loud" needs no word list to mean down.
DETAILS: dict[str, str] = {"audio_volume_up": "up", "audio_volume_down": "down", "iot_hue_lightup": "up", "iot_hue_lightdim": "down"}
# Which kind of device a request means when it names none ("it's gloomy in here": the lights), by corpus intent: the
# intent model's target classifier learns it beside the intent. "none": a request for the whole room.
TARGET_KINDS: dict[str, str] = {
    **{intent: "light" for intent in ("iot_hue_lighton", "iot_hue_lightoff", "iot_hue_lightdim", "iot_hue_lightup", "iot_hue_lightchange")},
    "iot_wemo_on": "switch:outlet", "iot_wemo_off": "switch:outlet", "iot_cleaning": "vacuum",
    **{intent: "media_player" for intent in ("audio_volume_up", "audio_volume_down", "audio_volume_mute")},
}
# Entity spans the span tagger (agent/decide/spans.py) learns, by corpus intent: only intents whose annotations mark every
# span of these kinds (HWU64's list sentences name the list but not the item, so they are not here). Snips'
# AddToPlaylist is not for the hub, but "add X to my Y" is how people add an item to a list.
SPAN_LABELS: dict[str, dict[str, str]] = {
    **{intent: {"song_name": "track", "artist_name": "artist", "audiobook_author": "artist", "playlist_name": "playlist",
                "music_genre": "genre", "radio_name": "channel", "podcast_name": "podcast", "podcast_descriptor": "podcast",
                "audiobook_name": "audiobook", "music_album": "album"}
       for intent in ("play_music", "play_radio", "play_podcasts", "play_audiobook")},
    "PlayMusic": {"track": "track", "artist": "artist", "album": "album", "playlist": "playlist", "genre": "genre", "year": "query"},
    "AddToPlaylist": {"entity_name": "item", "artist": "item", "playlist": "list"},
}
# datetime_query asks for the time or the date; the corpus does not say which.
DATE_WORDS = re.compile(r"\b(date|day|today|todays|today's|month|year|weekday)\b")


@dataclass(frozen=True, slots=True)
class Request:
    """One labelled sentence of a corpus."""

    text: str
    corpus: str  # "hwu64" or "snips"
    corpus_intent: str
    intent: str  # the hub intent, or OutOfScope
    split: str  # "train" or "held_aside"
    spans: tuple[tuple[int, int, str], ...] = ()  # (start, end, label) of the entities the span tagger learns

    def right(self, tool: str) -> bool:
        """Whether `tool` is a right answer: the mapped intent, or one Home Assistant itself gives for such sentences."""
        return tool == self.intent or tool in ALSO_RIGHT.get(self.corpus_intent, ())

    @property
    def detail(self) -> str:
        """Which way a relative change goes ("up", "down"), when the corpus intent says so."""
        return DETAILS.get(self.corpus_intent, "")

    @property
    def target_kind(self) -> str:
        """Which kind of device the request means ("light", "switch:outlet"), when the corpus intent says so."""
        return TARGET_KINDS.get(self.corpus_intent, "")


def hub_intent(corpus_intent: str, text: str) -> str | None:
    """The hub intent for a corpus sentence, OutOfScope when it is not for the hub, None when it is left out."""
    if corpus_intent in AMBIGUOUS:
        return None
    intent = HUB_INTENTS.get(corpus_intent, OUT_OF_SCOPE)
    if corpus_intent == "datetime_query" and DATE_WORDS.search(text.lower()):
        return "HassGetCurrentDate"
    return intent


def split_of(corpus: str, corpus_intent: str, text: str) -> str:
    """A seeded fifth of every corpus intent is held aside: by a hash of the sentence, so it never changes with file order."""
    digest = hashlib.sha256(f"{HELD_ASIDE_SEED}|{corpus}|{corpus_intent}|{text}".encode()).digest()
    return "held_aside" if digest[0] % 5 == 0 else "train"


def read_corpora(root: Path = SHARED_NLU) -> Iterator[Request]:
    """Every usable sentence of both corpora, labelled and split. FileNotFoundError names the missing file."""
    files = [("hwu64", root / "hwu64.jsonl"), ("snips", root / "snips" / "train.jsonl"), ("snips", root / "snips" / "validate.jsonl")]
    for corpus, path in files:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                text, corpus_intent = row["text"].strip(), row["intent"]
                intent = hub_intent(corpus_intent, text)
                if intent is not None and text:
                    yield Request(text, corpus, corpus_intent, intent, split_of(corpus, corpus_intent, text), _spans(row, corpus_intent))


def _spans(row: dict, corpus_intent: str) -> tuple[tuple[int, int, str], ...]:
    # Offsets are into the raw text; the text is stripped, so they shift by what was stripped at its start.
    labels, shift = SPAN_LABELS.get(corpus_intent, {}), len(row["text"]) - len(row["text"].lstrip())
    return tuple((e["start"] - shift, e["end"] - shift, labels[e["type"]]) for e in row.get("entities", []) if e["type"] in labels)


def paraphrase_rows(path: Path = PARAPHRASES) -> list[dict[str, str]]:
    """The development part of Tessera's paraphrase sets (examples/commands): people's phrasing of home commands,
    written before any tuning. Their held-out third is never trained on; Clarify is an answer, not an intent.
    Each row carries the target kind its arguments name and, for a relative change, which way it goes (the
    expected value against the example home's state)."""
    from tools.home import Home

    home, rows = Home.load(EXAMPLE_HOME), []
    for file in sorted(path.parent.glob(path.name)):
        language = file.stem.rpartition("_")[2] if "_" in file.stem else "en"  # paraphrases_de.jsonl is German
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row["split"] == "dev" and row["tool"] != "Clarify":
                    out = {"text": row["utterance"], "intent": row["tool"], "source": f"tessera:{file.stem}", "language": language}
                    detail, kind = relative_detail(row["utterance"], row["tool"], row["args"], home), target_kind(row["args"])
                    rows.append(out | ({"detail": detail} if detail else {}) | ({"target": kind} if kind else {}))
    return rows


def target_kind(args: dict) -> str:
    """The kind of device arguments name by group ("light", "sensor:temperature"), "none" for a whole room, "" when they name a device."""
    if "name" in args or not args.keys() & {"area", "floor", "domain"}:
        return ""
    domain = args.get("domain")
    domain = domain[0] if isinstance(domain, list) else domain
    return f"{domain}:{args['device_class']}" if domain and args.get("device_class") else (domain or "none")


# The value a relative change moves, per intent: its direction is the expected value against the home's state.
RELATIVE_VALUES = {"HassClimateSetTemperature": ("temperature", "climate"), "HassLightSet": ("brightness", "light"),
                   "HassSetVolume": ("volume_level", "media_player")}


def relative_detail(text: str, intent: str, args: dict, home) -> str:
    """"up" or "down" for a change said without a number ("it's a bit parky in here"), "" otherwise."""
    from tools.home import MatchFailure, Target

    attribute, domain = RELATIVE_VALUES.get(intent, (None, None))
    if attribute is None or attribute not in args or re.search(r"\d", text):
        return ""
    found = home.resolve(Target(args.get("name"), args.get("area"), args.get("floor"), [domain]))
    if isinstance(found, MatchFailure):
        return ""
    entity = found[0]
    current = entity.attributes.get(attribute, 0 if entity.state == "off" else None)  # a light that is off is at 0
    if current is None or float(args[attribute]) == float(current):
        return ""
    return "up" if float(args[attribute]) > float(current) else "down"


def training_rows(root: Path = SHARED_NLU) -> list[dict[str, str]]:
    """The shipped training file's rows: the train part of HWU64, of Snips a sample of each intent, and the paraphrase sets' dev part.

    A row carries `detail` when its corpus intent says which way a change goes, `target` when it says which kind of
    device is meant, and `spans` ([start, end, label]) when
    its corpus intent is one the span tagger learns from; a row without `intent` is for the span tagger only."""
    rows, per_intent = paraphrase_rows(), {}
    for r in sorted(read_corpora(root), key=lambda r: hashlib.sha256(r.text.encode()).hexdigest()):
        if r.split != "train":
            continue
        row = {"text": r.text, "intent": r.intent, "source": f"{r.corpus}:{r.corpus_intent}", "language": "en"}
        if r.corpus == "snips":
            per_intent[r.corpus_intent] = seen = per_intent.get(r.corpus_intent, 0) + 1
            if seen > SNIPS_PER_INTENT + (SNIPS_SPANS_PER_INTENT if r.corpus_intent in SPAN_LABELS else 0):
                continue
            if seen > SNIPS_PER_INTENT:
                del row["intent"]  # for the span tagger only
        if r.detail:
            row["detail"] = r.detail
        if r.target_kind:
            row["target"] = r.target_kind
        if r.corpus_intent in SPAN_LABELS:
            row["spans"] = [list(span) for span in r.spans]  # none is an answer too: "play some music" names nothing
        rows.append(row)
    return rows


def load_training_file(path: Path = TRAINING_FILE) -> list[dict[str, str]]:
    """The shipped corpus rows (text, intent, source, language; detail and spans where the corpus gives them)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def build_training_file(root: Path = SHARED_NLU, path: Path = TRAINING_FILE) -> int:
    """Write the shipped training file from the corpora; the same corpora always give the same bytes."""
    rows = training_rows(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for row in rows:
            gz.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the intent model's shipped training file from ../shared/data/nlu.")
    parser.add_argument("--build", action="store_true", help="write agent/decide/data/intent_corpus.jsonl.gz")
    parser.add_argument("--root", type=Path, default=SHARED_NLU, help="the folder with hwu64.jsonl and snips/")
    args = parser.parse_args()
    if args.build:
        print(f"wrote {build_training_file(args.root)} rows to {TRAINING_FILE}")


if __name__ == "__main__":
    main()
