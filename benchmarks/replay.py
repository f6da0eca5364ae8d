"""Replay suite: seek / step / play speed and determinism on the SPY 2013-10-08 trade session (Lean ticks).

``REPLAY_PATHS`` (default 200, the issue's goal) random play/seek/restart stops are checked against one
straight run visiting the same events in order. Play = the view's own frames at "max" speed, no
breakpoints, each frame <= 1/MAX_FPS s of engine time and redrawn. Seeks: 40 random targets on one replay
after ``prepare()`` (its one-off cost is reported beside the p95, with the peak RSS holding the checkpoints).
The replayed strategy is the demo's QuoteReversion config on SPY; the session carries trades only, so
the engine processes every trade tick (the cost measured) while the strategy stays flat.
"""

from __future__ import annotations

import os
import random
import resource
import time

import numpy as np

from benchmarks.lines import metric


def _metric(name, value, unit, goal, higher_is_better):
    # the shared line format (benchmarks/lines.py); replay has no external anchor
    return metric(name, value, unit, "none", goal=goal, higher_is_better=higher_is_better)


def _engine_events_per_s(feed, n_events: int) -> float:
    """The anchor: nautilus's own ``BacktestEngine.run()`` over the same day in one call (venue built as
    ``backtest()`` builds it, logging bypassed as in the replay, no replay machinery, no strategy — the
    replayed one gets no callbacks from a trades-only day). It takes the replay's loaded data objects, so
    it adds no memory to the peak RSS reported."""
    from workbench.engine.backtest import build_engine
    from workbench.engine.config import VenueSpec

    engine = build_engine(VenueSpec(), feed.venues, "OFF")
    for inst in feed.instruments:
        engine.add_instrument(inst)
    engine.add_data(list(feed.items), sort=True)
    t = time.perf_counter()
    engine.run()
    dt = time.perf_counter() - t
    engine.dispose()
    return n_events / dt


def run() -> list[dict]:
    from workbench.replay import Replay, ReplayView
    from workbench.replay.real import ingest_spy, spy_entry
    from workbench.store import Store

    store = Store.open(":memory:")
    iid = ingest_spy(store, quotes=None)  # the 2013-10-08 tick trades, as notebook 06 loads them
    spec = spy_entry(iid)
    data = {"instrument_ids": [iid], "quotes": False, "trades": True}
    feed = Replay(spec, data, store=store).feed  # the day loaded once, shared by every replay below
    make = lambda: Replay(spec, data, store=store, feed=feed)  # noqa: E731
    rng = random.Random(8)

    r = make()
    n = r.n_events
    view = ReplayView(r)  # play as the view plays: frames of <= 1/MAX_FPS s of engine time, each redrawn
    view.speed.value = "max"
    for box in (view.bp_order, view.bp_fill, view.bp_reject, view.bp_kill):
        box.value = False
    frames = 0
    anchor = [_engine_events_per_s(feed, n)]  # before and after the play (the machine is shared)
    t0 = time.perf_counter()
    while r.cursor < n - 1:
        view.play_frames(1)
        frames += 1
    play_s = time.perf_counter() - t0
    anchor.append(_engine_events_per_s(feed, n))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    steps = []
    r.seek(n // 2)
    for _ in range(200):
        t = time.perf_counter()
        r.step(1)
        view.render()
        steps.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter()
    r.prepare()  # live engines at evenly spaced events (each re-executed once from the start)
    prepare_s = time.perf_counter() - t
    seeks = []
    for _ in range(40):  # random targets, backward and forward, on the prepared replay
        t = time.perf_counter()
        r.seek(rng.randrange(n))
        seeks.append((time.perf_counter() - t) * 1e3)

    # random play/seek/restart paths; each stop's hash against one straight run visiting the stops in order
    paths = int(os.environ.get("REPLAY_PATHS", "200"))
    stops: list[tuple[int, str]] = []
    cur = make()
    for _ in range(paths):
        op = rng.choice(["step", "seek", "restart"])
        if op == "step" and cur.cursor < n - 1:
            cur.step(rng.randint(1, 5_000))
        elif op == "restart":
            cur.restart()
            cur.step(rng.randint(1, 5_000))
        else:
            cur.seek(rng.randrange(n))
        stops.append((cur.cursor, cur.state_hash()))
    straight = make()
    ref: dict[int, str] = {}
    for k in sorted({k for k, _ in stops}):
        straight.seek(k)  # stops in ascending order: one engine, forward only
        ref[k] = straight.state_hash()
    mismatches = sum(h != ref[k] for k, h in stops)
    return [
        {**_metric("replay_seek_ms_p95", float(np.percentile(seeks, 95)), "ms", 1000, False),
         "seeks": len(seeks), "checkpoints": len(r.checkpoints), "prepare_s": prepare_s,
         "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
        _metric("replay_step_ms_p95", float(np.percentile(steps, 95)), "ms", 20, False),
        metric("replay_play_events_per_s", n / play_s, "events/s", "nautilus engine.run(), same day, one call",
               float(np.mean(anchor)), goal=100_000, higher_is_better=True, peak_rss_mb=rss_mb, events=n,
               frames_per_s=frames / play_s),
        {**_metric("replay_state_mismatches", mismatches, "count", 0, False), "paths": paths},
    ]
