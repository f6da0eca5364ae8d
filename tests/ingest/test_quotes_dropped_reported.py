"""Quotes the engine cannot use (a missing or non-finite side) are dropped with a warning, never silently."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa

from workbench.engine.data import quotes_from_arrow
from workbench.engine.instruments import to_nautilus
from workbench.store import Instrument


def test_dropped_quote_rows_are_counted_and_reported(store, caplog):
    store.upsert_instruments([Instrument.equity("ABC")])
    inst = to_nautilus(store.instrument("ABC.XNAS"))
    tbl = pa.table({"ts_event": np.arange(4, dtype=np.int64) + 10**18,
                    "bid": np.array([10.0, np.nan, 10.0, 10.0]), "ask": np.array([10.1, 10.1, np.inf, 10.1]),
                    "bid_size": np.array([1.0] * 4), "ask_size": np.array([1.0] * 4)})
    with caplog.at_level(logging.WARNING, logger="workbench.engine.data"):
        ticks = quotes_from_arrow(tbl, inst)
    assert len(ticks) == 2
    assert any("dropped 2 of 4 quote rows" in r.getMessage() and "ABC.XNAS" in r.getMessage()
               for r in caplog.records)
