"""The demo report's BACKTEST-vs-PAPER section (workbench/node/paper_demo.py) never fails the demo: a PAPER
run that cannot start is a visible note in the report. (The section's success path runs in `wb demo`,
tests/cli.)"""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd

from workbench.node.paper_demo import TITLE, paper_vs_backtest
from workbench.store import Instrument, Store

ENTRY = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
         "config_path": "strategies.quote_reversion:QuoteReversionConfig", "config": {"instrument_id": "DEMO.XNAS"}}


def test_port_trouble_is_a_note_in_the_report(tmp_path):
    with Store.open(tmp_path / "wb.duckdb") as store, socket.socket() as taken:
        store.upsert_instruments([Instrument.equity("DEMO")])
        ts = pd.Timestamp("2024-03-04 15:00", tz="UTC").value + np.arange(50, dtype=np.int64) * 1_000_000_000
        store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": 99.99, "ask": 100.01, "bid_size": 300.0,
                                                      "ask_size": 300.0}), source="test")
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (section,) = paper_vs_backtest(store, ENTRY, "DEMO.XNAS", http_port=port, log=lambda *_: None)
    assert section.title == TITLE and section.table is None
    assert section.text.startswith("not shown: the PAPER run failed") and f"127.0.0.1:{port}" in section.text
    assert "\n" not in section.text


def test_an_in_memory_store_is_a_note(tmp_path):
    with Store.open(":memory:") as store:
        (section,) = paper_vs_backtest(store, ENTRY, "DEMO.XNAS", log=lambda *_: None)
    assert "in memory" in section.text
