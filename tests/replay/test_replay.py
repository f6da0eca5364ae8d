"""Replay: forward play is the real engine; seeking anywhere lands on a straight run's state."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from workbench.engine import FillSpec, VenueSpec, backtest
from workbench.replay import Breakpoints, Replay, ReplayError, compare


def test_random_play_seek_restart_paths_match_a_straight_run(small_store, strategy, venue):
    straight: dict[int, str] = {}

    def reference(k: int) -> str:  # the state a straight run (one engine, one chunk) has after event k
        if k not in straight:
            r = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
            r.seek(k)
            straight[k] = r.state_hash()
        return straight[k]

    rng = random.Random(2024)
    replay = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    n = replay.n_events
    assert n == 600
    checks = 0
    for _path in range(24):
        for _op in range(4):
            op = rng.choice(["step", "seek", "seek", "restart", "until"])
            if op == "step":
                replay.step(rng.randint(1, 60)) if replay.cursor < n - 1 else replay.seek(rng.randrange(n))
            elif op == "seek":
                replay.seek(rng.randrange(n))
            elif op == "restart":
                replay.restart()
                replay.step(rng.randint(1, 200))
            else:
                replay.run_until(Breakpoints(), max_events=rng.randint(1, 100))
            assert replay.state_hash() == reference(replay.cursor), (op, replay.cursor)
            checks += 1
    assert checks == 96
    replay.run_to_end()
    end = replay.state()
    assert end["fills"] >= 4 and len(end["gate"]) >= 4  # the run really trades, so the hash has content
    # the closed run (strategy stopped, as a backtest ends) is the plain backtest's: same fills, same P&L
    result = backtest(strategy, ["DEMO.XNAS"], venue, store=small_store)
    report = replay.report()
    pd.testing.assert_frame_equal(report.fills.reset_index(drop=True).astype(str)[["ts_event", "last_px", "last_qty"]],
                                  result.fills.reset_index(drop=True).astype(str)[["ts_event", "last_px", "last_qty"]])
    assert report.pnl == result.pnl
    result.close()


def test_hash_tells_different_times_and_runs_apart(small_store, strategy, venue):
    a = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    a.seek(300)
    h300 = a.state_hash()
    a.step()
    assert a.state_hash() != h300
    b = Replay(strategy, ["DEMO.XNAS"], store=small_store,
               venue=VenueSpec(fill=FillSpec(prob_fill_on_limit=0.5, prob_slippage=0.3, seed=6)))
    b.run_to_end()
    a.run_to_end()
    assert a.state_hash() != b.state_hash()


def test_breakpoints_stop_on_the_event(small_store, strategy, venue):
    r = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    hit = r.run_until(Breakpoints(order=False, reject=False))
    assert hit == "fill"
    ev = r.order_events()
    fills = ev[ev["kind"] == "Filled"]
    assert len(fills) == 1 and fills["ts_event"].iloc[0] == r.time.value  # stopped at the first fill's event
    hit = r.run_until(Breakpoints(order=False, fill=False, reject=False,
                                  predicate=lambda s: s._n >= 450))
    assert hit == "predicate" and r.strategy._n == 450


def test_seek_by_time_and_bad_targets(small_store, strategy):
    r = Replay(strategy, ["DEMO.XNAS"], store=small_store)
    assert r.seek("2024-03-04 14:31:00") == 60
    assert r.time == pd.Timestamp("2024-03-04 14:31:00", tz="UTC")
    with pytest.raises(ReplayError):
        r.seek(10_000)
    with pytest.raises(ReplayError):
        r.step(float("nan"))
    assert "event 61/600" in r._repr_html_()


def test_what_if_forks_at_the_cursor_and_both_runs_compare(small_store, strategy, venue):
    base = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    base.seek(200)
    h = base.state_hash()
    fork = base.what_if(entry_spreads=1.0)
    assert fork.cursor == 200 and base.state_hash() == h  # the original is untouched
    fork.run_to_end()
    table = compare(base, fork)
    assert list(table.columns) == ["base", "what-if"]
    assert table.loc["pnl", "base"] != table.loc["pnl", "what-if"]  # the parameter really changed the run
    with pytest.raises(ReplayError):
        base.what_if(no_such_field=1)
