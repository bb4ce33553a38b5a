"""Generic scalar encoder: real-time factor, where the time goes, and the NAB anomaly scores."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np

from adapters import make_encoder
from adapters.generic.detector import AnomalyDetector, DetectorConfig
from evaluation.anomalies import evaluate
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
                    "whole encode per sample at 1 Hz, where every sample reaches the detector"),
        Measurement("generic.detector_share", det / total, "fraction",
                    "streaming detector (a per-sample Python loop over three baselines) / whole encode",
                    extra={"dominated_by": "per-sample baseline updates in AnomalyDetector.update"}),
    ]
    fast = simulate("current", 120.0 if quick else 600.0, 1e-3, T0, seed=0)
    fast_win = 10_000  # 10-s windows at 1 kHz

    def encode_fast() -> None:
        enc = make_encoder("current", 1000.0)
        for s in range(0, fast.values.size, fast_win):
            enc.encode(fast.values[s:s + fast_win], float(fast.t[s]))

    fast_total, _ = median_seconds(encode_fast, repeats)
    out.append(Measurement("generic.realtime_factor_1khz", fast.values.size * 1e-3 / fast_total, "x",
                           f"{fast.values.size / 1000:g} s of 1-kHz current in 10-s windows (detector on 1-s means), "
                           f"median of {repeats}",
                           extra={"dominated_by": "numpy per window: quality check, mean-scale tokens, trend fit"}))
    out += detector_speed_and_memory(quick)
    labels = NAB / "combined_windows.json"
    if labels.is_file():
        windows = json.loads(labels.read_text())
        # Only the labelled files: the folder may hold series that combined_windows.json has no windows for.
        result = evaluate([NAB / k for k in sorted(windows)], windows)
        real = evaluate([NAB / k for k in sorted(windows) if k.startswith("realKnownCause/")], windows, baseline=True)
        base = real["baseline"]
        noise_free = [f for f in result["files"] if f["key"].startswith("artificialNoAnomaly/")]
        out += [
            Measurement("generic.nab_windows_detected", result["detected"], "windows",
                        f"of {result['windows']} labelled windows in {len(result['files'])} NAB files"),
            Measurement("generic.nab_false_alarms_per_day", result["false_alarms_per_day"], "1/day",
                        f"events outside labelled windows over {result['days']:.0f} days"),
            Measurement("generic.nab_median_delay_h", result["median_delay_h"], "h", "window start to first event"),
            Measurement("generic.nab_real_windows_detected", real["detected"], "windows",
                        f"of {real['windows']} in realKnownCause, {real['false_alarms_per_day']:.3f} false alarms/day",
                        extra={"three_sigma_detected": base["detected"],
                               "three_sigma_false_alarms_per_day": round(base["false_alarms_per_day"], 3)}),
            Measurement("generic.nab_real_false_alarms_per_day", real["false_alarms_per_day"], "1/day",
                        f"realKnownCause over {real['days']:.0f} days; rolling 3-sigma "
                        f"{base['false_alarms_per_day']:.3f}/day"),
            Measurement("generic.nab_real_median_share", real["median_share"], "fraction",
                        "first detection as a share of the window (0 = its start; NAB windows are centred on the "
                        f"event); rolling 3-sigma {base['median_share']:.2f}"),
        ]
        for name, value in real["nab"].items():
            out.append(Measurement(f"generic.nab_real_score_{name}", value, "score",
                                   f"NAB {name} on realKnownCause, normalised (null 0, perfect 100); "
                                   f"rolling 3-sigma {base['nab'][name]:.1f}",
                                   extra={"three_sigma": round(base["nab"][name], 1)}))
        out += [
            Measurement("generic.nab_no_anomaly_events", sum(f["events"] for f in noise_free), "events",
                        f"over the {len(noise_free)} artificialNoAnomaly files (should be 0)"),
        ]
    return out


# The detector's settings before the leave-one-category-out work, with its new rules off (one event per
# episode, new extremes and their z floor, shift novelty, the noise-burst floor) and the CUSUM and dropout
# as they were: the same per-sample loop, which now also keeps the score.
PREVIOUS = {"sensitivity": 1.0, "novelty": 1.5, "accept_s": 86400.0, "record_share": 0.0, "noise_min_samples": 1,
            "one_event_per_episode": False, "record_z": 0.0, "shift_novelty": 0.0, "cusum_k": 2.5, "cusum_h": 60.0,
            "dropout_s": 43200.0}


def _stream(config: DetectorConfig, t: np.ndarray, x: np.ndarray, block: int = 60) -> None:
    det = AnomalyDetector(config)
    for s in range(0, x.size, block):
        det.update(t[s:s + block], x[s:s + block])


def _peak_bytes(config: DetectorConfig, t: np.ndarray, x: np.ndarray) -> int:
    """Peak memory traced while streaming, the arrays of the stream itself excluded."""
    tracemalloc.start()
    _stream(config, t, x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def detector_speed_and_memory(quick: bool) -> list[Measurement]:
    """Samples a second through the detector alone (one core, 60-sample batches), now and before, side by side;
    peak memory for a stream ten times longer, to show that it does not grow with the stream."""
    repeats = 3 if quick else 5
    days = 2 if quick else 7
    rec = simulate("temperature", days * 86400, 60.0, T0, seed=1)  # minute samples: the gateway's usual rate
    now, before = DetectorConfig(sample_period_s=60.0), DetectorConfig(sample_period_s=60.0, **PREVIOUS)
    t_now, _ = median_seconds(lambda: _stream(now, rec.t, rec.values), repeats)
    t_before, _ = median_seconds(lambda: _stream(before, rec.t, rec.values), repeats)
    n = rec.values.size
    # Past the first week every seasonal slot is filled: from then on nothing may grow.
    short = simulate("temperature", 8 * 86400, 60.0, T0, seed=1)
    long = simulate("temperature", 32 * 86400, 60.0, T0, seed=1)
    short_peak, long_peak = _peak_bytes(now, short.t, short.values), _peak_bytes(now, long.t, long.values)
    return [
        Measurement("generic.detector_samples_per_s", n / t_now, "samples/s",
                    f"{n} one-minute samples ({days} days) in 60-sample batches, one core, median of {repeats}; "
                    f"with its previous settings and the new rules off: {n / t_before:,.0f}/s",
                    extra={"previous_samples_per_s": round(n / t_before), "ratio_to_previous": round(t_before / t_now, 3)}),
        Measurement("generic.detector_peak_kib", long_peak / 1024, "KiB",
                    f"peak traced memory streaming {long.values.size} one-minute samples (32 days); {short_peak / 1024:.0f} KiB "
                    f"for {short.values.size} (8 days): the state is fixed-size profiles and scalars",
                    extra={"short_stream_peak_kib": round(short_peak / 1024, 1),
                           "ratio_long_to_short": round(long_peak / max(short_peak, 1), 3)}),
    ]
