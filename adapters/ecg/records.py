"""WFDB records and beat annotations: read a lead with its reference beats, write synthetic ones.

Reference symbols map to the AAMI EC57 classes: N (N L R e j), S (A a J S), V (V E),
F (F), Q (/ f Q); other annotations (rhythm changes, noise, comments) are not beats.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from base.errors import TesseraError

log = logging.getLogger(__name__)

AAMI_CLASS = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
# Leads that show QRS best, tried in this order when no channel is named.
PREFERRED_LEADS = ("MLII", "II", "ii", "ECG", "ECG1", "V5", "v5", "V1", "v1", "I", "i")


class RecordError(TesseraError):
    """A WFDB record or annotation file that cannot be read."""


@dataclass(slots=True)
class ECGRecord:
    """One lead of a WFDB record (mV) with its reference beats, if annotated."""

    name: str
    signal: np.ndarray
    fs: float
    lead: str
    ref_samples: np.ndarray  # int64 sample indices of reference beats (empty if none)
    ref_classes: list[str]  # AAMI class of each reference beat
    # Ventricular flutter/fibrillation episodes ('[' to ']'), samples [start, stop): EC57 leaves them
    # out of beat-by-beat scoring, as they hold flutter waves, not beats.
    vf_spans: list[tuple[int, int]] = field(default_factory=list)


def read_record(path: str | Path, *, channel: int | str | None = None, extension: str = "atr") -> ECGRecord:
    """Read one lead of the record at `path` (no extension) and its `extension` beat annotations."""
    import wfdb

    path = Path(path)
    base = path.with_suffix("") if path.suffix in {".hea", ".dat", ".atr", ".mat"} else path
    try:
        rec = wfdb.rdrecord(str(base))
    except (OSError, ValueError) as err:
        raise RecordError(f"cannot read WFDB record {base}: {err}") from err
    idx = _pick_channel(list(rec.sig_name), channel, str(base))
    signal = np.asarray(rec.p_signal[:, idx], dtype=np.float64)
    if (rec.units[idx] or "").lower() in {"uv", "µv"}:
        signal = signal / 1000.0
    ref_samples, ref_classes = np.zeros(0, np.int64), []
    ann_file = base.parent / f"{base.name}.{extension}"
    if ann_file.exists():
        try:
            ann = wfdb.rdann(str(base), extension)
        except (OSError, ValueError) as err:
            raise RecordError(f"cannot read annotations {ann_file}: {err}") from err
        keep = [i for i, s in enumerate(ann.symbol) if s in AAMI_CLASS]
        ref_samples = np.asarray(ann.sample, dtype=np.int64)[keep]
        ref_classes = [AAMI_CLASS[ann.symbol[i]] for i in keep]
        vf = _vf_spans(list(ann.symbol), [int(x) for x in ann.sample], signal.size)
    else:
        vf = []
    return ECGRecord(base.name, signal, float(rec.fs), rec.sig_name[idx], ref_samples, ref_classes, vf)


def _vf_spans(symbols: list[str], samples: list[int], n: int) -> list[tuple[int, int]]:
    """Flutter/fibrillation episodes from '[' and ']' annotations; one left open runs to the end."""
    spans, start = [], None
    for sym, at in zip(symbols, samples):
        if sym == "[" and start is None:
            start = at
        elif sym == "]" and start is not None:
            spans.append((start, at))
            start = None
    if start is not None:
        spans.append((start, n))
    return spans


def _pick_channel(names: list[str], channel: int | str | None, where: str) -> int:
    if isinstance(channel, int) or (isinstance(channel, str) and channel.isdigit()):
        idx = int(channel)
        if not 0 <= idx < len(names):
            raise RecordError(f"{where} has channels 0..{len(names) - 1}, not {idx}")
        return idx
    if channel:
        if channel not in names:
            raise RecordError(f"{where} has no lead {channel!r}; leads: {', '.join(names)}")
        return names.index(channel)
    for lead in PREFERRED_LEADS:
        if lead in names:
            return names.index(lead)
    return 0


def write_record(directory: str | Path, name: str, signal: np.ndarray, fs: float, r_peaks: np.ndarray, labels: list[str], *, lead: str = "MLII") -> Path:
    """Write a one-lead record (format 16, mV) and its `atr` beat annotations; returns the record path."""
    import wfdb

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x = np.asarray(signal, dtype=np.float64)
    # Fixed gain like MIT-BIH (200 adu/mV would lose detail at 16 bits; 1000 keeps 1 uV).
    wfdb.wrsamp(name, fs=float(fs), units=["mV"], sig_name=[lead], p_signal=x[:, None], fmt=["16"], adc_gain=[1000.0], baseline=[0], write_dir=str(directory))
    if len(r_peaks):
        wfdb.wrann(name, "atr", np.asarray(r_peaks, dtype=np.int64), symbol=list(labels), fs=float(fs), write_dir=str(directory))
    return directory / name
