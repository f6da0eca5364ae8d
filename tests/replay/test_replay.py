"""Replay: forward play is the real engine; seeking anywhere lands on a straight run's state."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from workbench.engine import FillSpec, VenueSpec, backtest
from workbench.errors import WorkbenchError
from workbench.replay import Breakpoints, Replay, ReplayError, compare, compare_stored
from workbench.reports import compare as compare_runs


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


def test_seeks_resume_kept_engines_and_land_on_straight_run_states(small_store, strategy, venue):
    r = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    straight = {}
    for k in (150, 420, 90):
        s = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
        s.seek(k)
        straight[k] = s.state_hash()
    r.seek(420)
    r.seek(150)  # back: a fresh engine; the one at 420 is kept
    assert r.checkpoints == [420] and r.state_hash() == straight[150]
    r.seek(90)  # back again: the engine at 150 is kept too
    assert r.checkpoints == [150, 420] and r.state_hash() == straight[90]
    engine_at_420 = r._parked[1]
    r.seek(420)  # forward past 150: resumes the kept engine at 420 (no re-execution) ...
    assert r._stepper is engine_at_420 and r.state_hash() == straight[420]
    r.seek(150)  # ... and back to the one at 150
    assert r.state_hash() == straight[150] and r.checkpoints == [90, 420]


def test_what_if_on_a_risk_limit_forks_at_the_cursor(small_store, strategy, venue):
    base = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    base.seek(300)
    base.seek(120)  # the engine at 300 is a checkpoint the fork may take over
    before = base.state()
    fork = base.what_if(risk={"defaults.max_order_qty": 1})  # the demo trades 100 shares: clipped to 1
    assert fork.cursor == 120 and base.state() == before
    f = fork.state()
    assert {k: v for k, v in f.items() if k != "risk_events"} == {k: v for k, v in before.items()
                                                                   if k != "risk_events"}
    assert f["risk_events"][-1][:4] == ("CONFIG", "GLOBAL", "v0", "v1")  # swapped at the cursor's time
    assert f["risk_events"][-1][5] == base.time.value
    fork.run_to_end()
    base.run_to_end()
    assert fork.state()["fills"] > before["fills"]
    after = fork.order_events()
    late = after[(after["kind"] == "Filled") & (after["ts_event"] > fork._stepper.times[120])]
    assert len(late) > 0 and (late["qty"].abs() == 1).all()  # every fill after the fork: the new limit
    # the fork re-executes identically (a seek back below and forward again)
    h = fork.state_hash()
    fork.seek(50)
    fork.run_to_end()
    assert fork.state_hash() == h
    with pytest.raises(ReplayError, match="unknown risk limit"):
        base.what_if(risk={"defaults.no_such_limit": 1})
    with pytest.raises(WorkbenchError):
        base.what_if(risk={"defaults.max_order_qty": float("nan")})


def test_saved_base_and_fork_compare_as_stored_runs(small_store, strategy, venue):
    base = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    base.seek(200)
    fork = base.what_if(risk={"defaults.max_order_qty": 1})
    cmp = compare_stored(base, fork, "replay-base", "replay-fork")
    s = cmp.summary()
    assert s.loc["run_id", "A"] == "replay-base" and s.loc["run_id", "B"] == "replay-fork"
    assert s.loc["commissions", "A"] != s.loc["commissions", "B"]  # 1-share fills after the fork
    backtest(strategy, ["DEMO.XNAS"], venue, store=small_store, run_id="plain").close()
    same = compare_runs("replay-base", "plain", store=small_store).summary()  # the saved base is the backtest
    assert same.loc["match_pct", "A"] == 100 and same.loc["commissions", "A"] == same.loc["commissions", "B"]
    assert same.loc["orders_filled", "A"] == same.loc["orders_filled", "B"]


def test_prepared_checkpoints_are_straight_run_states(small_store, strategy, venue):
    r = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue)
    assert r.prepare(3) == [149, 299, 449]
    at_299 = next(s for s in r._parked if s.k == 299)
    r.seek(320)  # resumes the engine kept at 299: 21 events, not 321
    assert r._stepper is at_299
    straight = Replay(strategy, ["DEMO.XNAS"], store=small_store, venue=venue, feed=r.feed)
    straight.seek(320)
    assert r.state_hash() == straight.state_hash()
    with pytest.raises(ReplayError):
        r.prepare(0)


def test_what_if_on_one_strategy_of_a_list_entry(small_store, strategy, venue):
    # parameter names and rewrites are the sweep's ("<i>.name" picks strategy i); they used to fail on lists
    pair = [{**strategy, "config": {**strategy["config"], "order_id_tag": tag}} for tag in ("A", "B")]
    base = Replay(pair, ["DEMO.XNAS"], store=small_store, venue=venue)
    base.seek(200)
    fork = base.what_if(**{"1.entry_spreads": 1.0})
    assert fork.cursor == 200 and [e["config"]["entry_spreads"] for e in fork.entry] == [2.0, 1.0]
    assert base.entry == pair
    with pytest.raises(ReplayError, match=r"^Replay.what_if: 0.entry_spreds: QuoteReversionConfig has no field"):
        base.what_if(**{"0.entry_spreds": 1.0})
    with pytest.raises(ReplayError, match="name one as '<i>.entry_spreads'"):
        base.what_if(entry_spreads=1.0)
