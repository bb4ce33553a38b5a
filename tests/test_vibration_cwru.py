"""The vibration encoder on real bearings: the CWRU drive-end set at loads 0 and 1 hp, 1 s windows.

Load 0 was used to develop the decision rules, load 1 was held out until they were fixed; both
must meet the same figures. Skipped when the data is not beside the repository (../shared/data).
Measured (windows right / unclear / wrong fault) in docs/adapters/vibration.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.vibration import UNCLEAR, FileResult, evaluate_dir, summarise_windows

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bearings" / "cwru"
pytestmark = pytest.mark.skipif(not (DATA / "labels.csv").is_file(), reason=f"CWRU data not at {DATA}")


@pytest.fixture(scope="module", params=["0", "1"], ids=["load0-dev", "load1-heldout"])
def results(request: pytest.FixtureRequest) -> list[FileResult]:
    return evaluate_dir(DATA, window_s=1.0, where={"load_hp": request.param})


def _share(results: list[FileResult], keep, label: str) -> tuple[float, int]:
    windows = [w for r in results if keep(r) for w in r.window_labels]
    assert windows, "no windows selected"
    return sum(w == label for w in windows) / len(windows), len(windows)


def test_no_window_is_called_a_wrong_fault(results: list[FileResult]) -> None:
    # Every class: a window names the file's fault, or says unclear, or (for a fault file) healthy;
    # never another fault. Healthy windows are never called faulty.
    report = summarise_windows(results)
    wrong = {g: pc["wrong_fault"] for g, pc in report["per_class"].items() if pc["wrong_fault"] > 0}
    assert not wrong, wrong
    healthy = [w for r in results if r.label == "healthy" for w in r.window_labels]
    assert all(w == "healthy" for w in healthy)


def test_inner_race_windows(results: list[FileResult]) -> None:
    # 0.007-0.021 in (SKF bearings, the geometry given): measured 100 % (load 0) and 97 % (load 1).
    skf, n = _share(results, lambda r: r.label == "inner_race" and "028" not in r.file, "inner_race")
    assert n == 30 and skf >= 0.9
    # With the 0.028 in NTN bearing (its geometry is not given; no window of it is diagnosed): 75 % / 72 %.
    every, _ = _share(results, lambda r: r.label == "inner_race", "inner_race")
    assert every >= 0.65


def test_outer_race_windows_at_six_oclock(results: list[FileResult]) -> None:
    # 0.007 and 0.021 in: all windows right; 0.014 in shows no envelope comb in any band (called
    # healthy, as envelope analysis left it in the benchmark study), so 67 % of all 6:00 windows.
    clear, _ = _share(results, lambda r: r.position == "6:00" and "014" not in r.file, "outer_race")
    assert clear >= 0.95
    every, n = _share(results, lambda r: r.position == "6:00", "outer_race")
    assert n == 30 and every >= 0.6


def test_outer_race_windows_off_the_load_zone(results: list[FileResult]) -> None:
    # 3:00 and 12:00: right or unclear (measured 70-95 % right, the rest unclear), never healthy.
    for position in ("3:00", "12:00"):
        right, _ = _share(results, lambda r: r.position == position, "outer_race")
        unclear, _ = _share(results, lambda r: r.position == position, UNCLEAR)
        assert right >= 0.55 and right + unclear == 1.0, position


def test_ball_windows_are_never_a_race(results: list[FileResult]) -> None:
    windows = [w for r in results if r.label == "ball" for w in r.window_labels]
    assert len(windows) == 40 and set(windows) <= {"ball", UNCLEAR, "healthy"}
    # Impacts in most shaft turns that no comb explains are unclear, not healthy: measured 80 % of the
    # ball windows unclear at load 0, 62 % at load 1 (68 % and 55 % with the impact share alone, 32 %
    # and 20 % before it). The 0.007 in ball files look like the normal baseline (kurtosis 3, the median
    # turn's envelope peak where Gaussian noise puts it) and stay healthy.
    assert sum(w == UNCLEAR for w in windows) >= 25
    impulsive = [w for r in results if r.label == "ball" and "007" not in r.file for w in r.window_labels]
    assert sum(w == UNCLEAR for w in impulsive) / len(impulsive) >= 0.8
