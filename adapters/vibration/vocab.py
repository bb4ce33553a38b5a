"""The vibration token vocabulary (version `vib-3`) and its quantisation grids.

Every token the encoder can emit is listed here, in a fixed order: a token's
code is its index in `VOCAB` (0 is padding). Changing the list means a new
`VOCAB_VERSION`.
"""

from __future__ import annotations

import numpy as np

VOCAB_VERSION = "vib-3"  # vib-2 added <vib:bearing:unclear> (appended: vib-1 codes unchanged); vib-3: the same
# tokens, but <vib:bearing:unclear> also covers impacts in most shaft turns that no defect comb explains

# RMS velocity, mm/s: the R10 series the ISO severity charts are drawn on.
RMS_GRID = (0.11, 0.18, 0.28, 0.45, 0.71, 1.12, 1.8, 2.8, 4.5, 7.1, 11.2, 18.0, 28.0, 45.0, 71.0)
# Peak acceleration, g: R5 series.
PEAK_GRID = (0.01, 0.016, 0.025, 0.04, 0.063, 0.1, 0.16, 0.25, 0.4, 0.63, 1.0, 1.6, 2.5, 4.0, 6.3, 10.0, 16.0, 25.0, 40.0, 63.0, 100.0)
CREST_GRID = (1.4, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0)
KURT_GRID = (1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0)
LEVELS = ("low", "med", "high")
QUALITY = ("ok", "gaps", "flat", "saturated", "short", "lowrate")
SHAFT_FAULTS = ("imbalance", "misalignment", "looseness")
BEARING_FAMILIES = ("bpfo", "bpfi", "bsf", "ftf")
MAX_HARMONIC_TOKEN = 5


def _build() -> tuple[str, ...]:
    tokens = ["<vib:pad>"]
    tokens += [f"<vib:quality:{q}>" for q in QUALITY]
    tokens += [f"<vib:zone:{z}>" for z in "ABCD"]
    tokens += [f"<vib:rms:{v:g}>" for v in RMS_GRID]
    tokens += [f"<vib:peak:{v:g}>" for v in PEAK_GRID]
    tokens += [f"<vib:crest:{v:g}>" for v in CREST_GRID]
    tokens += [f"<vib:kurt:{v:g}>" for v in KURT_GRID]
    tokens += [f"<vib:{o}:{lv}>" for o in ("1x", "2x", "harm") for lv in LEVELS]
    tokens += [f"<vib:fault:{f}>" for f in SHAFT_FAULTS]
    tokens += ["<vib:bearing:ok>", "<vib:bearing:na>"]
    tokens += [f"<vib:bearing:{f}:h{h}>" for f in BEARING_FAMILIES for h in range(1, MAX_HARMONIC_TOKEN + 1)]
    # Impacts no defect family explains with confidence (rival combs, one envelope only, an inner-race
    # comb without its 1x sidebands): "look closer", not a fault.
    tokens += ["<vib:bearing:unclear>"]
    return tuple(tokens)


VOCAB: tuple[str, ...] = _build()
CODES: dict[str, int] = {tok: i for i, tok in enumerate(VOCAB)}


def nearest(value: float, grid: tuple[float, ...]) -> float:
    """The grid value closest to `value` on a log scale (grids are positive and increasing)."""
    v = max(float(value), 1e-12) if np.isfinite(value) else grid[0]
    return min(grid, key=lambda g: abs(np.log(g) - np.log(v)))


def encode_tokens(tokens: list[str]) -> np.ndarray:
    """Integer codes of `tokens` (int32); a token outside the vocabulary is a bug and raises KeyError."""
    return np.fromiter((CODES[t] for t in tokens), dtype=np.int32, count=len(tokens))


def decode_codes(codes: np.ndarray) -> list[str]:
    """Tokens back from their codes."""
    return [VOCAB[int(c)] for c in codes]
