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
HELD_ASIDE_SEED = "tessera-nlu-2026"
# Snips has about 2,000 sentences an intent, HWU64 about 140: a sample keeps Snips from drowning HWU64's variety.
SNIPS_PER_INTENT = 300

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
# Mixed: "stop" may mean pause the music or cancel the request; music settings hold "skip to the next song"
# (HassMediaNext) beside shuffle and repeat, which Home Assistant has no intent for.
AMBIGUOUS = frozenset({"general_commandstop", "music_settings"})
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
                    yield Request(text, corpus, corpus_intent, intent, split_of(corpus, corpus_intent, text))


def paraphrase_rows(path: Path = PARAPHRASES) -> list[dict[str, str]]:
    """The development part of Tessera's paraphrase sets (examples/commands): people's phrasing of home commands,
    written before any tuning. Their held-out third is never trained on; Clarify is an answer, not an intent."""
    rows = []
    for file in sorted(path.parent.glob(path.name)):
        language = file.stem.rpartition("_")[2] if "_" in file.stem else "en"  # paraphrases_de.jsonl is German
        with open(file, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row["split"] == "dev" and row["tool"] != "Clarify":
                    rows.append({"text": row["utterance"], "intent": row["tool"], "source": f"tessera:{file.stem}", "language": language})
    return rows


def training_rows(root: Path = SHARED_NLU) -> list[dict[str, str]]:
    """The shipped training file's rows: the train part of HWU64, of Snips a sample of each intent, and the paraphrase sets' dev part."""
    rows, per_intent = paraphrase_rows(), {}
    for r in sorted(read_corpora(root), key=lambda r: hashlib.sha256(r.text.encode()).hexdigest()):
        if r.split != "train":
            continue
        if r.corpus == "snips":
            per_intent[r.corpus_intent] = per_intent.get(r.corpus_intent, 0) + 1
            if per_intent[r.corpus_intent] > SNIPS_PER_INTENT:
                continue
        rows.append({"text": r.text, "intent": r.intent, "source": f"{r.corpus}:{r.corpus_intent}", "language": "en"})
    return rows


def load_training_file(path: Path = TRAINING_FILE) -> list[dict[str, str]]:
    """The shipped corpus rows (text, intent, source)."""
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
