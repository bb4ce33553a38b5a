"""The generic detector on real labelled series (Numenta Anomaly Benchmark subset) and the eval CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adapters.generic.detector import PROFILE_SENSITIVITY
from evaluation.anomalies import detect_events, evaluate, load_csv, match_key
from agent.cli import main
from base.errors import TesseraError

NO_ANOMALY = ["art_daily_no_noise", "art_daily_perfect_square_wave", "art_daily_small_noise", "art_flatline", "art_noisy"]


@pytest.fixture(scope="module")
def nab(shared_data: Path) -> Path:
    root = shared_data / "nab"
    if not (root / "combined_windows.json").is_file():
        pytest.skip("NAB subset not found")
    return root


@pytest.mark.parametrize("name", NO_ANOMALY)
def test_series_without_anomalies_raise_no_event(nab: Path, name: str) -> None:
    series = load_csv(nab / "artificialNoAnomaly" / f"{name}.csv")
    assert detect_events(series) == []


@pytest.fixture(scope="module")
def real(nab: Path) -> dict:
    labels = json.loads((nab / "combined_windows.json").read_text())
    # The labelled ones: the data folder holds more real series than combined_windows.json has windows for.
    return evaluate([nab / k for k in sorted(labels) if k.startswith("realKnownCause/")], labels, baseline=True)


def test_real_known_causes_detected_with_few_false_alarms(real: dict) -> None:
    # Measured at the standard profile's sensitivity: 10 of the 11 labelled windows, 0.027 false alarms per
    # day, NAB standard 79.0, low FN 83.0 (0.045, 75.6 and 80.7 before the new-extreme z floor, shift
    # novelty and the 2-day dropout; 78.6 and 82.7 when the detector was tuned on these files).
    assert real["windows"] == 11
    assert real["detected"] >= 10, real
    assert real["false_alarms_per_day"] <= 0.035, real
    assert real["nab"]["standard"] >= 77.0, real["nab"]
    assert real["nab"]["reward_low_FN_rate"] >= 81.0, real["nab"]
    taxi = next(f for f in real["files"] if f["key"].endswith("nyc_taxi.csv"))
    assert taxi["detected"] >= 4, taxi
    ambient = next(f for f in real["files"] if f["key"].endswith("ambient_temperature_system_failure.csv"))
    assert ambient["detected"] == 2, ambient  # the system failure is a week without data: a dropout


def test_lower_sensitivity_raises_fewer_alarms(nab: Path, real: dict) -> None:
    # The one setting that trades false alarms for misses: at 0.8 (the default is 1.25) the same files
    # give fewer false alarms and a window fewer (measured 0.018 against 0.027 a day, 9/11 against 10/11).
    labels = json.loads((nab / "combined_windows.json").read_text())
    cautious = evaluate([Path(f["file"]) for f in real["files"]], labels, sensitivity=0.8)
    assert cautious["false_alarms"] < real["false_alarms"], cautious
    assert 9 <= cautious["detected"] <= real["detected"], cautious
    assert PROFILE_SENSITIVITY["standard"] == 1.25


def test_held_out_real_series(real: dict) -> None:
    # ec2_request_latency was kept aside while the detector was tuned; measured 2 of 3 windows, no false alarm.
    ec2 = next(f for f in real["files"] if f["key"].endswith("ec2_request_latency_system_failure.csv"))
    assert ec2["detected"] >= 2 and ec2["false_alarms"] == 0, ec2


def test_more_windows_than_three_sigma_at_under_a_quarter_of_its_false_alarms(real: dict) -> None:
    # Measured: rolling 3-sigma 7/11 windows at 1.65 false alarms/day, NAB standard about -430.
    base = real["baseline"]
    assert base["detector"] == "3sigma" and base["windows"] == 11
    assert real["detected"] > base["detected"], (real["detected"], base["detected"])
    assert real["false_alarms_per_day"] < base["false_alarms_per_day"] / 4, (real["false_alarms_per_day"],
                                                                             base["false_alarms_per_day"])
    assert real["nab"]["standard"] > base["nab"]["standard"]
    # First detection as a share of the window: NAB windows are centred on the labelled event, so about
    # half-way is on time; measured median 0.43.
    assert real["median_share"] <= 0.5, real["median_share"]


def test_artificial_anomalies_detected(nab: Path) -> None:
    labels = json.loads((nab / "combined_windows.json").read_text())
    result = evaluate(sorted((nab / "artificialWithAnomaly").glob("*.csv")), labels)
    assert result["detected"] >= 4, result
    assert result["false_alarms_per_day"] <= 0.3, result


def test_key_matching_by_path_suffix_then_file_name() -> None:
    keys = ["realKnownCause/nyc_taxi.csv", "a/x.csv", "b/x.csv"]
    assert match_key(Path("/data/nab/realKnownCause/nyc_taxi.csv"), keys) == "realKnownCause/nyc_taxi.csv"
    assert match_key(Path("copy/nyc_taxi.csv"), keys) == "realKnownCause/nyc_taxi.csv"
    assert match_key(Path("/d/b/x.csv"), keys) == "b/x.csv"
    with pytest.raises(TesseraError):
        match_key(Path("/d/c/x.csv"), keys)
    with pytest.raises(TesseraError):
        match_key(Path("/d/none.csv"), keys)


def test_eval_cli_end_to_end(nab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = nab / "combined_windows.json"
    code = main(["eval", "anomalies", "--csv", str(nab / "realKnownCause" / "ec2_request_latency_system_failure.csv"),
                 "--csv", str(nab / "artificialNoAnomaly" / "art_noisy.csv"), "--labels", str(labels), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["windows"] == 3 and out["detected"] >= 2
    assert {f["key"] for f in out["files"]} == {"realKnownCause/ec2_request_latency_system_failure.csv",
                                                 "artificialNoAnomaly/art_noisy.csv"}
    code = main(["eval", "anomalies", "--csv", str(nab / "artificialNoAnomaly" / "art_flatline.csv"),
                 "--labels", str(labels)])
    assert code == 0
    assert "windows detected 0/0" in capsys.readouterr().out


def test_eval_cli_reports_user_mistakes_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "labels.json"
    bad.write_text("{not json")
    csv = tmp_path / "x.csv"
    csv.write_text("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n")
    assert main(["eval", "anomalies", "--csv", str(csv), "--labels", str(bad)]) == 1
    assert "tessera: error:" in capsys.readouterr().err
    bad.write_text(json.dumps({"other/y.csv": []}))
    assert main(["eval", "anomalies", "--csv", str(csv), "--labels", str(bad)]) == 1


def test_eval_cli_scores_published_detectors_beside_tessera(nab: Path, capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    published = nab / "published_detections.json"
    if not published.is_file():
        pytest.skip("published detections not found")
    csvs = ["realKnownCause/ec2_request_latency_system_failure.csv", "artificialWithAnomaly/art_daily_jumpsup.csv"]
    args = ["eval", "anomalies", "--labels", str(nab / "combined_windows.json"), "--published", str(published)]
    args += [a for c in csvs for a in ("--csv", str(nab / c))]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["published"]) >= {"ARTime", "numenta", "contextOSE"}
    art = out["published"]["ARTime"]
    assert art["windows"] == out["windows"] == 4 and {f["key"] for f in art["files"]} == set(csvs)
    assert main(args + ["--profile", "reward_low_FP_rate"]) == 0
    text = capsys.readouterr().out
    table = text[text.index("== NAB reward_low_FP_rate per category"):].splitlines()
    assert "artificialWithAnomaly" in table[1] and "realKnownCause" in table[1] and "overall" in table[1]
    rows = {line.split()[0]: line for line in table[2:]}
    assert {"Tessera", "rolling", "ARTime", "numenta", "windowedGaussian"} <= set(rows), table
    assert main(args + ["--no-baseline"]) == 0
    assert "rolling 3-sigma" not in capsys.readouterr().out
    bad = tmp_path / "published.json"
    bad.write_text(json.dumps({"ARTime": {"threshold": 0.5}}))
    assert main(args[:4] + ["--csv", str(nab / csvs[0]), "--published", str(bad)]) == 1
    assert "cannot read published detections" in capsys.readouterr().err


def test_leave_one_category_out_chooses_without_the_left_out_category() -> None:
    from evaluation.anomaly_tuning import leave_one_category_out

    def row(sens: float, scores: dict[str, float], quiet_events: int = 0) -> dict:
        # One file per category with one window: raw score s normalises to 50 * (s + 1).
        files = [{"key": f"{c}/f.csv", "windows": 1, "events": 1, "nab_raw": {"standard": [s, -1.0, 1.0]}}
                 for c, s in scores.items()]
        files.append({"key": "artificialNoAnomaly/q.csv", "windows": 0, "events": quiet_events,
                      "nab_raw": {"standard": [0.0, 0.0, 0.0]}})
        return {"settings": {"sensitivity": sens}, "result": {"files": files}}

    rows = [row(1.0, {"a": 0.8, "b": 0.0, "c": 0.3}),   # best on a
            row(2.0, {"a": 0.0, "b": 0.6, "c": 0.6}),   # best on b and c
            row(3.0, {"a": 0.9, "b": 0.9, "c": 0.9}, quiet_events=2)]  # best everywhere, but noisy when quiet
    loco = leave_one_category_out(rows, ["a", "b", "c"])
    assert loco["a"]["settings"] == {"sensitivity": 2.0} and loco["a"]["held_out"] == pytest.approx(50.0)
    assert loco["b"]["settings"] == {"sensitivity": 1.0} and loco["b"]["held_out"] == pytest.approx(50.0)
    assert loco["all"]["settings"] == {"sensitivity": 2.0}
    assert loco["c"]["settings"] == {"sensitivity": 1.0} and loco["c"]["held_out"] == pytest.approx(65.0)
    # Each category scored with its own choice, summed as NAB sums files: raw 0 + 0 + 0.3 over three windows.
    assert loco["overall_held_out"] == pytest.approx(100 * (0.3 + 3) / 6)


def test_a_new_extreme_the_seasonal_baseline_expects_is_not_news(nab: Path) -> None:
    # exchange-2_cpc's daily peaks creep up: each few days a peak beyond the relaxing extremes, yet within 3
    # scales of what the time-of-day profile expects. With record_z 0 those records were raised (NAB scores
    # them false alarms); now a new extreme must also be record_z scales from every baseline.
    from adapters.generic.detector import AnomalyDetector, DetectorConfig

    series = load_csv(nab / "realAdExchange" / "exchange-2_cpc_results.csv")
    t = series.t0 + series.period_s * np.arange(series.values.size)

    def records(**settings: float) -> list:
        det = AnomalyDetector(DetectorConfig(sample_period_s=series.period_s, **settings))
        return [e for e in det.update(t, series.values).events if e.kind == "out_of_range" and e.evidence["score"] >= 0.8]

    loose, default = records(record_z=0.0), records()
    assert [e for e in loose if abs(e.evidence["z"]) < 3], loose
    assert all(abs(e.evidence["z"]) >= 3 for e in default) and len(default) < len(loose), default
