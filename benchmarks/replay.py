"""Replay suite: seek / step / play speed and determinism on the SPY 2013-10-08 trade session (Lean ticks).

``REPLAY_PATHS`` (default 200) random play/seek/restart paths are checked against straight runs.
The replayed strategy is the demo's QuoteReversion config on SPY; the session carries trades only, so
the engine processes every trade tick (the cost measured) while the strategy stays flat.
"""

from __future__ import annotations

import os
import random
import resource
import time
from pathlib import Path

import numpy as np

from benchmarks.lines import metric

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "lean" / "equity" / "usa"
STRATEGY = {
    "strategy_path": "strategies.quote_reversion:QuoteReversion",
    "config_path": "strategies.quote_reversion:QuoteReversionConfig",
    "config": {"instrument_id": "SPY.ARCX", "trade_size": 100, "max_position": 500, "entry_spreads": 3.0},
}


def _metric(name, value, unit, goal, higher_is_better):
    # the shared line format (benchmarks/lines.py); replay has no external anchor
    return metric(name, value, unit, "none", goal=goal, higher_is_better=higher_is_better)


def run() -> list[dict]:
    from workbench.ingest.lean import ingest_lean
    from workbench.replay import Replay, ReplayView
    from workbench.store import Store

    store = Store.open(":memory:")
    ingest_lean(store, [REAL / "tick" / "spy" / "20131008_trade.zip"], quiet=True)
    iid = store.instruments()["instrument_id"].iloc[0]
    spec = dict(STRATEGY, config={**STRATEGY["config"], "instrument_id": iid})
    data = {"instrument_ids": [iid], "quotes": False, "trades": True}
    make = lambda: Replay(spec, data, store=store)  # noqa: E731
    rng = random.Random(8)

    r = make()
    n = r.n_events
    view = ReplayView(r)
    t0 = time.perf_counter()
    while r.cursor < n - 1:  # play at max speed, chart redrawn every 10k events (the throttle's frame)
        r.step(10_000)
        view.render()
    play = n / (time.perf_counter() - t0)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    steps = []
    r.seek(n // 2)
    for _ in range(200):
        t = time.perf_counter()
        r.step(1)
        view.render()
        steps.append((time.perf_counter() - t) * 1e3)
    seeks = []
    for _ in range(20):
        t = time.perf_counter()
        r.seek(rng.randrange(n))
        seeks.append((time.perf_counter() - t) * 1e3)

    ref: dict[int, str] = {}
    paths = int(os.environ.get("REPLAY_PATHS", "200"))
    mismatches = 0
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
        if cur.cursor not in ref:
            straight = make()
            straight.seek(cur.cursor)
            ref[cur.cursor] = straight.state_hash()
        mismatches += cur.state_hash() != ref[cur.cursor]
    return [
        _metric("replay_seek_ms_p95", float(np.percentile(seeks, 95)), "ms", 1000, False),
        _metric("replay_step_ms_p95", float(np.percentile(steps, 95)), "ms", 20, False),
        {**_metric("replay_play_events_per_s", play, "events/s", 100_000, True), "peak_rss_mb": rss_mb,
         "events": n},
        {**_metric("replay_state_mismatches", mismatches, "count", 0, False), "paths": paths},
    ]
