"""Fit the supraventricular-beat model on the MIT-BIH DS1 development records and write its numbers.

    python -m evaluation.train_ecg_s [--records 101,106,...] [--out adapters/ecg/s_weights.py] [--cv]

Every development record is analysed as `tessera eval ecg` does (both leads); each detected beat
the rule stage leaves open to an S verdict (not ventricular, readable) gives one row of
`adapters.ecg.supraventricular.FEATURES`, its target whether the matched reference beat is S
(AAMI: A a J S). Records judged atrial fibrillation are left out: S is turned back to N there
anyway. A class-balanced logistic regression (scikit-learn, offline only) is fitted on the rows
of all records, each record weighted alike so no single patient sets the model; the encoder
evaluates it in numpy. `--cv` reports leave-one-record-out figures on the development records
first. The held-out records are never read here.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from adapters.ecg.analysis import analyze_ecg
from adapters.ecg.records import read_record
from adapters.ecg.supraventricular import FEATURES
from evaluation.ecg import MATCH_WINDOW_S, _other_lead, match_beats

log = logging.getLogger(__name__)

DEV_RECORDS = ("101", "106", "108", "112", "115", "118", "122", "201", "203", "207", "209", "220")
HELD_OUT_RECORDS = ("109", "114", "116", "119", "124", "205", "208", "215", "223", "230")
CLIP = 5.0  # standardised features are clipped here, so one wild beat cannot dominate the sum
THRESHOLD = 0.8  # probability at which a beat is called S: chosen on the development records (0.5 / 0.7 / 0.8 / 0.9 gave S +P 32 / 78 / 88 / 93 % at Se 75 / 69 / 67 / 54 %), with margin for patients with rarer S beats
_C = 0.1  # inverse regularisation strength: strong, for twelve patients


def record_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and S targets of the beats of one record that could be called S."""
    record = read_record(path)
    second = _other_lead(path, record.lead)
    signal = record.signal if second is None else np.vstack([record.signal, second])
    a = analyze_ecg(signal, record.fs)
    if a.beats is None or a.rhythm is None or a.rhythm.af_suspect:
        return np.zeros((0, len(FEATURES))), np.zeros(0, bool)
    vf = np.zeros(a.r_peaks.size, bool)
    for lo, hi in record.vf_spans:
        vf |= (a.r_peaks >= lo) & (a.r_peaks < hi)
    match = match_beats(record.ref_samples, a.r_peaks, int(round(MATCH_WINDOW_S * record.fs)))
    target = np.zeros(a.r_peaks.size, bool)
    for cls, m in zip(record.ref_classes, match):
        if m >= 0:
            target[m] = cls == "S"
    x = a.beats.s_features
    keep = np.isfinite(x).all(axis=1) & ~vf
    return x[keep], target[keep]


def fit(rows: list[tuple[np.ndarray, np.ndarray]]):
    """A class-balanced logistic regression on standardised, clipped features; every record weighs the same."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    w = np.concatenate([np.full(r[1].size, 1.0 / max(r[1].size, 1)) for r in rows])
    # Balance the classes after the record weights, so S beats of all records together weigh as much as the rest.
    w = np.where(y, w * (w[~y].sum() / max(w[y].sum(), 1e-12)), w)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = np.clip((x - mean) / scale, -CLIP, CLIP)
    model = LogisticRegression(C=_C, max_iter=2000).fit(z, y, sample_weight=w / w.mean())
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def predict(params, x: np.ndarray) -> np.ndarray:
    """Probability of S under fitted `params`, as the encoder computes it."""
    mean, scale, coef, intercept = params
    z = np.clip((x - mean) / scale, -CLIP, CLIP) @ coef + intercept
    return 1.0 / (1.0 + np.exp(-z))


def write_weights(params, out: Path, records: tuple[str, ...]) -> None:
    """The model as a Python module of plain numbers."""
    mean, scale, coef, intercept = params
    fmt = lambda v: "[" + ", ".join(f"{float(a):.6g}" for a in v) + "]"  # noqa: E731
    out.write_text(
        '"""Supraventricular-beat model: written by `python -m evaluation.train_ecg_s`; do not edit by hand.\n\n'
        f"Logistic regression on adapters.ecg.supraventricular.FEATURES, fitted on MIT-BIH DS1 development\n"
        f"records {' '.join(records)} (C={_C}, classes balanced, records weighted alike).\n"
        '"""\n\n'
        f"MEAN = {fmt(mean)}\nSCALE = {fmt(scale)}\nCOEF = {fmt(coef)}\nINTERCEPT = {intercept:.6g}\n"
        f"CLIP = {CLIP}\nTHRESHOLD = {THRESHOLD}\n"
    )


def cross_validate(rows: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Leave one development record out: S Se / +P over the rows (detection misses not counted)."""
    tp = fp = fn = 0
    for name in rows:
        params = fit([r for k, r in rows.items() if k != name])
        x, y = rows[name]
        called = predict(params, x) >= THRESHOLD if y.size else np.zeros(0, bool)
        a, b, c = int((called & y).sum()), int((called & ~y).sum()), int((~called & y).sum())
        log.info("%s: S %d, called %d right, %d wrong, %d missed", name, int(y.sum()), a, b, c)
        tp, fp, fn = tp + a, fp + b, fn + c
    print(f"leave-one-record-out: S Se {100 * tp / max(tp + fn, 1):.1f}%  +P {100 * tp / max(tp + fp, 1):.1f}%  (of candidate beats)")


def main(argv: list[str] | None = None) -> int:
    """Fit on the development records and write the weights module."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", default=",".join(DEV_RECORDS), help="training records (default: the DS1 development half)")
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data/mitdb"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "adapters" / "ecg" / "s_weights.py")
    parser.add_argument("--cv", action="store_true", help="report leave-one-record-out figures first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = tuple(n.strip() for n in args.records.split(",") if n.strip())
    held = sorted(set(names) & set(HELD_OUT_RECORDS))
    if held:
        parser.error(f"records {', '.join(held)} are the held-out half; train on the development half only")
    rows = {name: record_rows(args.data_dir / name) for name in names}
    if args.cv:
        cross_validate(rows)
    params = fit(list(rows.values()))
    write_weights(params, args.out, names)
    print(f"wrote {args.out}: " + ", ".join(f"{f} {c:+.2f}" for f, c in zip(FEATURES, params[2])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
