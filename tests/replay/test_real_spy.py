"""Replay on real data: SPY 2013-10-07 second-level quotes (Lean), a 20-minute window."""

from __future__ import annotations

import random

from workbench.ingest.lean import ingest_lean
from workbench.replay import Replay


def test_real_spy_quotes_replay_seeks_to_straight_run_states(store, real_data):
    ingest_lean(store, [real_data / "lean" / "equity" / "usa" / "second" / "spy" / "20131007_quote.zip"], quiet=True)
    iid = store.instruments()["instrument_id"].iloc[0]
    entry = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
             "config_path": "strategies.quote_reversion:QuoteReversionConfig",
             "config": {"instrument_id": iid, "trade_size": 100, "max_position": 500, "entry_spreads": 1.0}}
    data = {"instrument_ids": [iid], "start": "2013-10-07 14:00", "end": "2013-10-07 14:20"}
    replay = Replay(entry, data, store=store)
    n = replay.n_events
    assert n > 600  # about one quote a second over 20 minutes
    rng = random.Random(13)
    for _ in range(6):
        k = rng.randrange(n)
        replay.seek(k)
        straight = Replay(entry, data, store=store)
        straight.seek(k)
        assert replay.state_hash() == straight.state_hash()
    replay.run_to_end()
    assert replay.state()["fills"] > 0  # the strategy trades on the real quotes
