"""Replay on real data: SPY second-level quotes and tick trades (Lean), from the shared folder beside the
checkout, found the way the replay notebook finds it (workbench.replay.real)."""

from __future__ import annotations

import random

import pytest

from workbench.errors import WorkbenchError
from workbench.replay import Replay
from workbench.replay.real import ingest_spy, real_data_dir, spy_entry, spy_files


def test_real_data_is_found_beside_the_repo_or_named_by_the_environment(real_data, monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_REAL_DATA", raising=False)
    assert real_data_dir() == real_data  # <repo>/../shared/data/real, whatever the cwd
    monkeypatch.chdir(tmp_path)
    assert real_data_dir() == real_data
    monkeypatch.setenv("WORKBENCH_REAL_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(WorkbenchError) as err:
        real_data_dir()
    assert "nowhere not found" in err.value.one_line() and "WORKBENCH_REAL_DATA" in err.value.one_line()
    monkeypatch.setenv("WORKBENCH_REAL_DATA", str(real_data))
    with pytest.raises(WorkbenchError, match="20131008_quote.zip not found") as err:
        spy_files(quotes="20131008")  # second-level quotes exist for 2013-10-07 only
    assert "20131007_quote.zip" in err.value.one_line()


def test_real_spy_quotes_replay_seeks_to_straight_run_states(store):
    iid = ingest_spy(store, trades=None)  # the 2013-10-07 second-level quotes
    entry = spy_entry(iid, entry_spreads=1.0)
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


def test_real_spy_trade_session_loads_every_tick(store):
    iid = ingest_spy(store, quotes=None)  # the 2013-10-08 tick trades (the replay benchmark's day)
    replay = Replay(spy_entry(iid), {"instrument_ids": [iid], "quotes": False, "trades": True,
                                     "start": "2013-10-08 13:30", "end": "2013-10-08 13:40"}, store=store)
    items = replay.feed.items
    assert len(items) > 10_000 and replay.n_events == len({d.ts_init for d in items})
    assert all(str(d.instrument_id) == iid for d in items[:100])
    replay.run_to_end()
    assert replay.report().summary()["data_events"] == len(items)
