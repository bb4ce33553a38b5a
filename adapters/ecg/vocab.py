"""The ECG token vocabulary (versioned): every token the encoder may emit, and its integer id.

Version ecg-1: ids are positions in `VOCABULARY`; new tokens are only ever appended and any
change of meaning bumps the version, so stored codes stay decodable.
"""

from __future__ import annotations

VOCAB_VERSION = "ecg-1"

# A summary line stays within this many LLM tokens (about four characters a token).
SUMMARY_TOKEN_BUDGET = 48
SUMMARY_MAX_CHARS = SUMMARY_TOKEN_BUDGET * 4

QUALITY = ("ok", "gaps", "flat", "saturated", "short", "artifact", "noisy", "shape")
HR_RANGE = (20, 250)  # <ecg:hr:N>, N clamped to this range
RHYTHMS = ("sinus", "brady", "tachy", "af", "pause", "asystole", "vt", "vrun", "unknown")
BEAT_COUNT_MAX = 20  # <ecg:beat:V:k>, k clamped to 1..20
HRV_STEP_MS = 10
HRV_MAX_MS = 250  # <ecg:hrv:sdnn:B>, B rounded to 10 ms and clamped
QRS = ("narrow", "wide")
SQI = ("usable", "noisy", "lead_off")  # appended: the window's signal-quality verdict (adapters.ecg.sqi)


def _build() -> tuple[str, ...]:
    tokens = [f"<ecg:quality:{q}>" for q in QUALITY]
    tokens.append("<ecg:hr:none>")
    tokens += [f"<ecg:hr:{bpm}>" for bpm in range(HR_RANGE[0], HR_RANGE[1] + 1)]
    tokens += [f"<ecg:rhythm:{r}>" for r in RHYTHMS]
    for label in ("V", "S"):
        tokens += [f"<ecg:beat:{label}:{k}>" for k in range(1, BEAT_COUNT_MAX + 1)]
    for measure in ("sdnn", "rmssd"):
        tokens += [f"<ecg:hrv:{measure}:{b}>" for b in range(0, HRV_MAX_MS + 1, HRV_STEP_MS)]
    tokens += [f"<ecg:qrs:{q}>" for q in QRS]
    tokens += [f"<ecg:sqi:{v}>" for v in SQI]
    return tuple(tokens)


VOCABULARY: tuple[str, ...] = _build()
TOKEN_IDS: dict[str, int] = {tok: i for i, tok in enumerate(VOCABULARY)}


def hr_token(hr_bpm: float | None) -> str:
    """`<ecg:hr:N>` with N the rounded, clamped rate, or `<ecg:hr:none>`."""
    if hr_bpm is None:
        return "<ecg:hr:none>"
    return f"<ecg:hr:{int(min(max(round(hr_bpm), HR_RANGE[0]), HR_RANGE[1]))}>"


def beat_token(label: str, count: int) -> str:
    """`<ecg:beat:V:k>` for a positive count, clamped to the vocabulary."""
    return f"<ecg:beat:{label}:{min(max(count, 1), BEAT_COUNT_MAX)}>"


def hrv_token(measure: str, value_ms: float) -> str:
    """`<ecg:hrv:sdnn:B>` with B in 10 ms steps."""
    b = int(round(min(max(value_ms, 0.0), HRV_MAX_MS) / HRV_STEP_MS)) * HRV_STEP_MS
    return f"<ecg:hrv:{measure}:{b}>"


def encode_tokens(tokens: list[str]) -> list[int]:
    """Integer ids of tokens; raises KeyError for a token outside the vocabulary (a bug)."""
    return [TOKEN_IDS[t] for t in tokens]


def decode_codes(codes: list[int]) -> list[str]:
    """Tokens of integer ids."""
    return [VOCABULARY[c] for c in codes]
