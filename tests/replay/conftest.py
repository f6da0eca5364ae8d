"""A small seeded quote stream and the replayed strategy shared by the replay tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.store import Instrument


@pytest.fixture
def small_store(store):
    store.upsert_instruments([Instrument.equity("DEMO")])
    rng = np.random.default_rng(7)
    n = 600
    ts = pd.Timestamp("2024-03-04 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * 1_000_000_000
    mid = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                  "bid_size": 300.0, "ask_size": 300.0}), source="test")
    return store
