"""Sweeps on a real two-worker LocalCluster: equal to serial runs, failures kept, Ctrl-C clean."""

from __future__ import annotations

import multiprocessing

import pandas as pd
import pytest

from tests.sweep.conftest import ENTRY, HOUR, serial_metrics
from workbench.sweep import Sweep, load_runs, walk_forward
from workbench.sweep.worker import metrics_of


def test_grid_on_local_cluster_equals_serial_runs_and_is_stored(demo_db, local_client, tmp_path):
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 3.0], "ema_alpha": [0.02, 0.05]}, HOUR, store=demo_db,
                  cache=str(tmp_path))
    result = sweep.run(local_client, progress=False)
    frame = result.to_frame()
    assert len(frame) == 4 and frame["error"].isna().all()
    assert set(frame["worker"]) <= set(local_client.scheduler_info(n_workers=-1)["workers"])
    mismatches = [i for i in frame.index if result.metrics(i) != serial_metrics(demo_db, sweep, i)]
    assert mismatches == []
    assert frame["orders"].gt(0).all()  # the points really traded (equality of empty runs proves nothing)
    assert frame["pnl"].nunique() > 1   # and the parameters really reached the strategy

    best = int(result.best(1).index[0])
    drill = result.rerun(best)
    assert metrics_of(drill) == result.metrics(best) and len(drill.fills) > 0
    drill.close()

    def _open_files() -> list[str]:  # nested: shipped to the workers by value
        import os

        out = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                out.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                continue
        return out

    open_files = local_client.run(_open_files)  # what every worker process holds open now
    assert all(not any(f.startswith(demo_db.path) for f in files) for files in open_files.values())
    assert any(".duckdb" in f for f in _open_files())  # (this process does hold the store)

    fig = result.plot()
    assert fig.data[0].type == "heatmap" and fig.data[0].z.shape == (2, 2)
    assert result.sweep_id in result._repr_html_()

    stored = load_runs(demo_db, result.sweep_id)
    assert stored["run_index"].tolist() == [0, 1, 2, 3] and stored["error"].isna().all()
    assert stored["objective"].tolist() == pytest.approx(frame["objective"].tolist())


def test_failed_point_is_a_row_with_its_error(demo_db, local_client, tmp_path):
    sweep = Sweep(ENTRY, {"ema_alpha": [0.02, "not-a-number"]}, HOUR, store=demo_db, cache=str(tmp_path))
    result = sweep.run(local_client, progress=False)
    frame = result.to_frame()
    assert len(frame) == 2
    assert pd.isna(frame.loc[0, "error"]) and pd.notna(frame.loc[0, "objective"])
    assert "ema_alpha" in frame.loc[1, "error"] and pd.isna(frame.loc[1, "objective"])
    assert result.summary()["failed"] == 1
    stored = load_runs(demo_db, result.sweep_id)
    assert stored.loc[1, "error"] == frame.loc[1, "error"] and pd.isna(stored.loc[1, "metrics"])
    n_failed = demo_db.con.execute("SELECT n_failed FROM sweeps WHERE sweep_id = ?", [result.sweep_id]).fetchall()
    assert n_failed == [(1,)]


def test_an_objective_that_raises_fails_its_row_and_keeps_the_metrics(demo_db, tmp_path):
    def fussy(m):
        if m["entry_spreads_seen"]:  # KeyError: user code the sweep must survive
            return 0.0

    sweep = Sweep(ENTRY, {"entry_spreads": [3.0]}, HOUR, objective=fussy, store=demo_db, cache=str(tmp_path))
    result = sweep.run("serial", progress=False)
    frame = result.to_frame()
    assert frame.loc[0, "error"].startswith("objective fussy: KeyError") and frame.loc[0, "orders"] > 0
    stored = load_runs(demo_db, result.sweep_id).iloc[0]
    assert stored["error"] == frame.loc[0, "error"] and '"orders"' in stored["metrics"]


def test_three_parameters_plot_as_parallel_coordinates(demo_db, tmp_path):
    ten_minutes = {**HOUR, "end": "2024-03-04 15:10"}
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 3.0], "ema_alpha": [0.05], "warmup": [50, 100]}, ten_minutes,
                  store=demo_db, cache=str(tmp_path), persist=False, objective="pnl")
    result = sweep.run("serial", progress=False)
    fig = result.plot()
    assert fig.data[0].type == "parcoords" and len(fig.data[0].dimensions) == 4
    assert list(fig.data[0].dimensions[-1].values) == result.to_frame()["objective"].tolist()


def test_walk_forward_of_the_entry_as_it_is(demo_db, tmp_path):
    two_hours = {**HOUR, "end": "2024-03-04 17:00"}
    sweep = Sweep(ENTRY, walk_forward("40min", "20min"), two_hours, objective="pnl", store=demo_db,
                  cache=str(tmp_path), persist=False)
    result = sweep.run("serial", progress=False)
    frame = result.to_frame()
    assert frame[["fold", "phase"]].values.tolist() == [[f, p] for f in range(3) for p in ("train", "test")]
    assert result.best()["objective_oos"].iloc[0] == pytest.approx(frame.loc[frame["phase"] == "test", "pnl"].mean())
    assert result.rank_stability()["spearman"].isna().all()  # one parameter set: no ranking to compare
    assert result.plot().data[0].type == "bar" and result.summary()["folds"] == 3


def test_walk_forward_on_cluster_ranks_in_and_out_of_sample(demo_db, local_client, tmp_path):
    two_hours = {**HOUR, "end": "2024-03-04 17:00"}
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 3.0, 4.0]}, two_hours, walk_forward=walk_forward("40min", "20min"),
                  objective="pnl", store=demo_db, cache=str(tmp_path), persist=False)
    result = sweep.run(local_client, progress=False)
    frame = result.to_frame()
    assert sorted(frame["fold"].unique()) == [0, 1, 2]
    assert (frame.groupby(["fold", "phase"]).size() == 3).all()
    for i in (0, len(frame) - 1):  # first train and last test run: equal to running them alone
        assert result.metrics(i) == serial_metrics(demo_db, sweep, i)
    ranks = result.rank_stability()
    assert len(ranks) == 3 and ranks["best_oos_rank"].between(1, 3).all()
    assert result.summary()["folds"] == 3


def test_interrupt_cancels_and_closes_the_cluster_it_started(demo_db, tmp_path):
    before = {p.pid for p in multiprocessing.active_children()}
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]}, HOUR, store=demo_db,
                  cache=str(tmp_path), persist=False)
    seen = []

    def stop(row):
        seen.append(row)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(workers=1, progress=False, on_result=stop)
    assert len(seen) == 1
    leftover = {p.pid for p in multiprocessing.active_children()} - before
    assert leftover == set()  # the LocalCluster's worker processes are gone


def test_interrupt_with_a_given_client_cancels_its_runs_and_keeps_the_client(demo_db, local_client, tmp_path):
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]}, HOUR, store=demo_db,
                  cache=str(tmp_path), persist=False)

    def stop(_row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(local_client, progress=False, on_result=stop)

    def ours(dask_scheduler):
        return [k for k in dask_scheduler.tasks if str(k).startswith("wb-sweep-")]

    local_client.sync(_wait_until_empty, local_client, ours)
    assert local_client.run_on_scheduler(ours) == []
    assert local_client.submit(sum, [1, 2]).result() == 3  # the user's client still works


async def _wait_until_empty(client, query, tries: int = 100):
    import asyncio

    for _ in range(tries):  # bounded: forgotten tasks leave the scheduler within a few event-loop turns
        if not await client.run_on_scheduler(query):
            return
        await asyncio.sleep(0.05)

