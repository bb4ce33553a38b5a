"""Generic scalar encoder: real-time factor, where the time goes, and the NAB anomaly scores."""

from __future__ import annotations

import json
from pathlib import Path

from adapters import make_encoder
from adapters.generic.evaluate import evaluate
from benchmarks.common import Measurement, median_seconds
from firmware_sim.signals.scalar import simulate

NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
T0 = 1_700_000_000 - 1_700_000_000 % 86400


def run(quick: bool) -> list[Measurement]:
    """Time one simulated day at 1 Hz in 60-s windows, split detector vs the rest; score NAB if present."""
    repeats = 3 if quick else 7
    days = 0.25 if quick else 1.0
    rec = simulate("temperature", days * 86400, 1.0, T0, seed=0)
    n_win = 60

    def encode_all() -> None:
        enc = make_encoder("temperature", 1.0)
        for s in range(0, rec.values.size, n_win):
            enc.encode(rec.values[s:s + n_win], float(rec.t[s]))

    def detector_only() -> None:
        enc = make_encoder("temperature", 1.0)
        for s in range(0, rec.values.size, n_win):
            enc.detector.update(rec.t[s:s + n_win], rec.values[s:s + n_win])

    total, _ = median_seconds(encode_all, repeats)
    det, _ = median_seconds(detector_only, repeats)
    signal_s = rec.values.size * 1.0
    out = [
        Measurement("generic.realtime_factor_1hz", signal_s / total, "x",
                    f"{days:g} day of 1-Hz temperature in 60-s windows, median of {repeats}"),
        Measurement("generic.us_per_sample", total / rec.values.size * 1e6, "us",
                    "whole encode per sample; real-time factor at rate f Hz is 1e6 / (this * f)"),
        Measurement("generic.detector_share", det / total, "fraction",
                    "streaming detector (a per-sample Python loop over three baselines) / whole encode",
                    extra={"dominated_by": "per-sample baseline updates in AnomalyDetector.update"}),
    ]
    labels = NAB / "combined_windows.json"
    if labels.is_file():
        result = evaluate(sorted(NAB.glob("*/*.csv")), json.loads(labels.read_text()))
        real = evaluate(sorted(NAB.glob("realKnownCause/*.csv")), json.loads(labels.read_text()))
        noise_free = [f for f in result["files"] if f["key"].startswith("artificialNoAnomaly/")]
        out += [
            Measurement("generic.nab_windows_detected", result["detected"], "windows",
                        f"of {result['windows']} labelled windows in {len(result['files'])} NAB files"),
            Measurement("generic.nab_false_alarms_per_day", result["false_alarms_per_day"], "1/day",
                        f"events outside labelled windows over {result['days']:.0f} days"),
            Measurement("generic.nab_median_delay_h", result["median_delay_h"], "h", "window start to first event"),
            Measurement("generic.nab_real_windows_detected", real["detected"], "windows",
                        f"of {real['windows']} in realKnownCause, {real['false_alarms_per_day']:.3f} false alarms/day"),
            Measurement("generic.nab_no_anomaly_events", sum(f["events"] for f in noise_free), "events",
                        f"over the {len(noise_free)} artificialNoAnomaly files (should be 0)"),
        ]
    return out
