"""Grid, walk-forward windows, parameter placement and the robustness arithmetic (no engine)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.sweep.conftest import ENTRY
from workbench.sweep import SweepError, walk_forward
from workbench.sweep.robust import plateau, rank_stability, spearman
from workbench.sweep.spec import apply_params, check_param_names, expand_grid, make_points

H = 3_600_000_000_000


def test_grid_is_the_product_in_the_given_order():
    assert expand_grid({"a": [2, 1], "b": ["x", "y"], "c": 5}) == [
        {"a": 2, "b": "x", "c": 5}, {"a": 2, "b": "y", "c": 5}, {"a": 1, "b": "x", "c": 5}, {"a": 1, "b": "y", "c": 5}]


@pytest.mark.parametrize("grid, message", [({}, "non-empty"), ({"a": []}, "no values"),
                                            ({"a": [1.0, float("nan")]}, "non-finite"), ({"a": [1, 1]}, "repeated")])
def test_bad_grids_are_refused(grid, message):
    with pytest.raises(SweepError, match=message):
        expand_grid(grid)


def test_session_walk_forward_rolls_by_step_and_drops_incomplete_folds():
    sessions = [(d * 24 * H, d * 24 * H + 6 * H) for d in range(5)]
    folds = walk_forward(train=2, test=1, step=1).windows(sessions)
    assert len(folds) == 3
    assert folds[0] == ((sessions[0][0], sessions[1][1]), (sessions[2][0], sessions[2][1]))
    assert folds[-1][1] == sessions[4]
    assert len(walk_forward(train=2, test=2).windows(sessions)) == 1  # step defaults to test


def test_duration_walk_forward_skips_windows_without_data():
    sessions = [(0, 6 * H), (24 * H, 30 * H)]
    folds = walk_forward("2h", "1h", "1h").windows(sessions)
    assert all(any(lo < w[1] and w[0] < hi for lo, hi in sessions) for f in folds for w in f)
    assert ((0, 2 * H), (2 * H, 3 * H)) in folds and ((24 * H, 26 * H), (26 * H, 27 * H)) in folds
    assert not any(f[1][0] == 12 * H for f in folds)  # overnight


@pytest.mark.parametrize("kwargs, message", [({"train": 0, "test": 1}, "> 0"), ({"train": "2x", "test": "1h"}, "duration"),
                                              ({"train": 2, "test": "1h"}, "not both"), ({"train": 1.5, "test": 1}, "session")])
def test_bad_walk_forward(kwargs, message):
    with pytest.raises(SweepError, match=message):
        walk_forward(**kwargs)


def test_walk_forward_points_are_fold_phase_grid_ordered_and_need_a_fold():
    sessions = [(d * 24 * H, d * 24 * H + 6 * H) for d in range(3)]
    points = make_points({"a": [1, 2]}, walk_forward(1, 1), sessions)
    assert [(p.fold, p.phase, p.params["a"]) for p in points] == [
        (0, "train", 1), (0, "train", 2), (0, "test", 1), (0, "test", 2),
        (1, "train", 1), (1, "train", 2), (1, "test", 1), (1, "test", 2)]
    assert [p.index for p in points] == list(range(8))
    with pytest.raises(SweepError, match="no complete"):
        make_points({"a": [1]}, walk_forward(3, 1), sessions)


def test_params_go_into_the_strategy_config_and_leave_the_entry_alone():
    out = apply_params(ENTRY, {"entry_spreads": 2.5})
    assert out[0]["config"]["entry_spreads"] == 2.5 and "entry_spreads" not in ENTRY["config"]
    two = apply_params([ENTRY, ENTRY], {"1.entry_spreads": 4.0})
    assert "entry_spreads" not in two[0]["config"] and two[1]["config"]["entry_spreads"] == 4.0
    with pytest.raises(SweepError, match="name one as"):
        apply_params([ENTRY, ENTRY], {"entry_spreads": 4.0})
    with pytest.raises(SweepError, match="has no field 'entry_spread'"):
        check_param_names(ENTRY, {"entry_spread": [1.0]})


def test_spearman_on_known_rankings():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, None], [1, 2, 3]) is None  # fewer than 3 finite pairs
    assert spearman([1, 1, 1], [1, 2, 3]) is None     # constant side


def test_plateau_is_the_mean_of_grid_neighbours():
    # a 3x3 grid: a spike of 10 at the centre among 1s, one failed corner
    rows = [{"a": a, "b": b, "objective": 10.0 if (a, b) == (2, 20) else 1.0} for a in (1, 2, 3) for b in (10, 20, 30)]
    rows[-1]["objective"] = None
    table = plateau(pd.DataFrame(rows), ["a", "b"])
    top = table.iloc[0]
    assert (top["a"], top["b"], top["objective"], top["plateau"], top["neighbours"]) == (2, 20, 10.0, 1.0, 7)
    corner = table[(table["a"] == 1) & (table["b"] == 10)].iloc[0]
    assert corner["plateau"] == pytest.approx((1 + 1 + 10) / 3) and corner["gap"] == pytest.approx(1 - 4)


def test_rank_stability_per_fold():
    rows = []
    for fold, oos in ((0, [1.0, 2.0, 3.0]), (1, [3.0, 2.0, 1.0])):
        for a, is_ in zip((1, 2, 3), (1.0, 2.0, 3.0), strict=True):
            rows.append({"fold": fold, "phase": "train", "a": a, "objective": is_, "start": 0})
        for a, o in zip((1, 2, 3), oos, strict=True):
            rows.append({"fold": fold, "phase": "test", "a": a, "objective": o, "start": 1})
    table = rank_stability(pd.DataFrame(rows), ["a"])
    assert table["spearman"].tolist() == [1.0, -1.0]
    assert table["best_is"].tolist() == ["3", "3"] and table["best_oos_rank"].tolist() == [1, 3]
