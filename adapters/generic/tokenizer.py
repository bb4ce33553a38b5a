"""Chronos-style tokenization of a scalar window: mean scaling, then uniform bins.

As in Chronos (Ansari et al., 2024), a window is divided by its mean absolute
value (the scale), clipped to [-LIMIT, +LIMIT] and cut into uniform bins.
Ids 0 and 1 are reserved (PAD for missing samples, EOS), so the vocabulary has
`n_bins + 2` ids. The scale travels with the result so that codes decode back
to physical units; values beyond the range come back clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_ID = 0
EOS_ID = 1
N_SPECIAL = 2


@dataclass(slots=True, frozen=True)
class TokenizerConfig:
    """Vocabulary shape: `n_bins` uniform bins over [-limit, +limit] in units of the scale."""

    n_bins: int = 4094  # with PAD and EOS: a 4096-id vocabulary, as Chronos
    limit: float = 15.0  # Chronos' range: values beyond 15x the mean |x| are clipped

    def __post_init__(self) -> None:
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {self.n_bins}")
        if not np.isfinite(self.limit) or self.limit <= 0:
            raise ValueError(f"limit must be a positive finite number, got {self.limit}")

    @property
    def vocab_size(self) -> int:
        """Number of ids, bins plus PAD and EOS."""
        return self.n_bins + N_SPECIAL


@dataclass(slots=True)
class Tokenized:
    """Codes of one window and the scale needed to decode them."""

    codes: np.ndarray  # int32, one id per sample, PAD_ID where the sample was missing
    scale: float  # mean |x| of the finite samples (1.0 when that is zero)
    clipped: int  # how many samples fell outside [-limit, +limit] * scale


class MeanScaleTokenizer:
    """Encodes windows to bin ids and decodes ids back to bin centres times the scale."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        c = self.config
        # As Chronos: bin centres uniform on [-limit, limit], a value goes to the nearest centre.
        self._centres = np.linspace(-c.limit, c.limit, c.n_bins)

    @property
    def bin_width(self) -> float:
        """Distance between neighbouring bin centres, in units of the scale."""
        return float(self._centres[1] - self._centres[0])

    def scale_of(self, x: np.ndarray) -> float:
        """The mean absolute value of the finite samples; 1.0 for an all-zero or empty window."""
        x = np.asarray(x, dtype=np.float64)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            return 1.0
        scale = float(np.mean(np.abs(finite)))
        # An all-zero window has no scale; 1.0 keeps the codes defined (zeros map to the centre).
        return scale if scale > 0 and np.isfinite(scale) else 1.0

    def encode(self, x: np.ndarray, scale: float | None = None) -> Tokenized:
        """Codes for `x` (NaN -> PAD); `scale` defaults to the window's own mean |x|."""
        x = np.asarray(x, dtype=np.float64).ravel()
        if scale is None:
            scale = self.scale_of(x)
        elif not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive finite number, got {scale}")
        finite = np.isfinite(x)
        scaled = np.where(finite, x / scale, 0.0)
        lim = self.config.limit
        clipped = int(np.count_nonzero(finite & (np.abs(scaled) > lim)))
        # Nearest centre by arithmetic (centres are uniform): same ids as a search over the edges, cheaper.
        ids = np.rint((np.clip(scaled, -lim, lim) + lim) / self.bin_width).astype(np.int64)
        ids = np.clip(ids, 0, self.config.n_bins - 1) + N_SPECIAL
        codes = np.where(finite, ids, PAD_ID).astype(np.int32)
        return Tokenized(codes=codes, scale=float(scale), clipped=clipped)

    def decode(self, codes: np.ndarray, scale: float) -> np.ndarray:
        """Bin centres times `scale`; PAD and EOS decode to NaN."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= self.config.vocab_size):
            raise ValueError(f"codes must lie in [0, {self.config.vocab_size}), got {codes.min()}..{codes.max()}")
        out = np.full(codes.shape, np.nan)
        regular = codes >= N_SPECIAL
        out[regular] = self._centres[codes[regular] - N_SPECIAL] * scale
        return out
