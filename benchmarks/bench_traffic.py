"""Traffic encoder: real-time factor on simulated two-station loop data and what dominates the cost."""

from __future__ import annotations

from adapters import make_encoder
from evaluation.traffic import evaluate
from benchmarks.common import Measurement, median_seconds
from firmware_sim.signals.traffic import Incident, simulate

T0 = 1_700_000_000 - 1_700_000_000 % 86400
INTERVAL = 30.0


def run(quick: bool) -> list[Measurement]:
    """Time days of 30-s aggregates from two stations in 5-minute windows; report incident delay."""
    repeats = 3 if quick else 7
    days = 1 if quick else 3
    incident = Incident(T0 + (days - 1) * 86400 + 12.5 * 3600, 1800.0)
    rec = simulate(days * 86400.0, T0, incidents=[incident], seed=1)
    x = rec.stacked()
    n_win = 10
    found: list[float] = []

    def encode_all() -> None:
        enc = make_encoder("traffic", 1 / INTERVAL)
        found.clear()
        for s in range(0, x.shape[1], n_win):
            w = enc.encode(x[:, s:s + n_win], float(rec.t[s]))
            found.extend(e.t for e in w.events if e.kind == "incident")

    def measures_only() -> None:
        enc = make_encoder("traffic", 1 / INTERVAL)
        for s in range(0, x.shape[1], n_win):
            enc._station(x[:3, s:s + n_win])
            enc._station(x[3:, s:s + n_win])

    total, _ = median_seconds(encode_all, repeats)
    measures, _ = median_seconds(measures_only, repeats)
    signal_s = x.shape[1] * INTERVAL
    out = [
        Measurement("traffic.realtime_factor", signal_s / total, "x",
                    f"{days} day(s) of 30-s aggregates, two stations, 5-min windows, median of {repeats}"),
        Measurement("traffic.us_per_interval", total / x.shape[1] * 1e6, "us", "both stations, per 30-s interval"),
        Measurement("traffic.quality_and_measures_share", measures / total, "fraction",
                    "quality checks and flow/speed/occupancy per window / whole encode; the rest is the "
                    "per-interval Python loop (California #7, congestion state, time-of-day baseline)",
                    extra={"dominated_by": "per-interval state machines and baseline updates"}),
    ]
    if found:
        out.append(Measurement("traffic.incident_delay_s", found[0] - incident.start, "s",
                               "simulated 60%-capacity drop at midday to California #7 confirmation"))
    n_inc = 5 if quick else 20
    r = evaluate(n_incidents=n_inc, seed=0)
    out += [
        Measurement("traffic.eval_detection_rate", r["detection_rate"], "fraction",
                    f"{r['detected']}/{r['incidents']} simulated incidents ({r['detectable']} queued to the upstream "
                    f"loop), rush hours and stop-and-go waves every day"),
        Measurement("traffic.eval_false_alarms_per_day", r["false_alarms_per_day"], "1/day",
                    f"incident events outside incidents over {r['days']:.0f} days"),
        Measurement("traffic.eval_mttd_min", r["mttd_s"] / 60.0, "min",
                    f"mean time to detect from the capacity drop; {r['mttd_after_queue_s'] / 60.0:.1f} min after the "
                    "queue reached the upstream loop"),
    ]
    return out
