"""A pair run whose stop closes a position larger than the displayed size (the case that kept the demo
market's pair at 84 %): PAPER fills in nautilus's sandbox, which fills a market close once against the
displayed size and leaves its rest open without an event; REAL in the simulator's broker. With the shipped
settings (config/node_pair.yaml: ``sim_market_remainder: rest``, ``sim_consume_displayed: false``) every
intent matches with the same fills, the stop's partial close, the strategy's cancel of its rest and the
second close included; with the rest cancelled and the displayed size consumed (the previous settings)
the report shows where the legs part: at the stop.

The market: one quote a second replayed at 4x, the mid falling a cent and a half a second (the strategy
buys at the bid and its buys fill as the ask comes down to them: position 300 in a few seconds, then no
more trades), 150 shares displayed each side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.loopback import node_run
from tests.node.test_node_run import ROOT
from workbench.reports import compare
from workbench.store import Instrument, Store

START = pd.Timestamp("2024-03-04 15:00", tz="UTC")


@pytest.fixture(scope="module")
def thin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("thin") / "store.duckdb"
    n = 120
    ts = (START - pd.Timedelta(seconds=5)).value + np.arange(n, dtype=np.int64) * 1_000_000_000
    mid = np.round(100 - 0.015 * np.arange(n), 3)
    with Store.open(path) as store:
        store.upsert_instruments([Instrument.equity("DEMO")])
        store.write_quotes("DEMO.XNAS", pd.DataFrame({
            "ts_event": ts, "bid": np.round(mid - 0.01, 2), "ask": np.round(mid + 0.01, 2),
            "bid_size": 150.0, "ask_size": 150.0}), source="test")
    return path


def _pair(market: Path, tmp_path: Path, **sim) -> dict:
    doc = yaml.safe_load((ROOT / "config/node_pair.yaml").read_text())  # the shipped pair settings
    doc["strategies"][0]["config"].update(warmup=5, ema_alpha=0.3, entry_spreads=0.5, order_ttl_quotes=4,
                                          max_position=300)
    doc.update(replay_from=str(START.tz_localize(None)), speed=4.0, stop_timeout_s=8.0,
               runs_dir=str(tmp_path / "runs"), **sim)
    summary, proc = node_run(market, doc, 8, tmp_path)
    assert proc.returncode == 0 and summary is not None, proc.stderr[-500:]
    return summary


def _comparison(market: Path, summary: dict):
    paper, real = summary["legs"]["paper"], summary["legs"]["real"]
    with Store.open(market, read_only=True) as store:
        c = compare(paper["run_id"], real["run_id"], store=store)
    frame = c.to_frame()
    return c, frame, frame[frame["t_market"] >= paper["stop_market_ns"]]


def test_close_beyond_the_displayed_size_fills_alike(thin, tmp_path):
    summary = _pair(thin, tmp_path)
    assert summary["errors"] == [] and summary["residual_positions"] == {}, summary
    c, frame, stop = _comparison(thin, summary)
    closes = stop[stop["action"] == "NEW"]
    # the case itself: the stop's first close was larger than the 150 displayed and filled 150 on both legs
    assert len(closes) >= 2 and closes["ordered_a"].iloc[0] > 150 == closes["filled_a"].iloc[0], closes
    assert c.match_pct == 100.0 and c.divergence is None, (c.summary(), c.divergence)
    new = frame[frame["action"] == "NEW"]
    for col in ("filled", "vwap", "time_to_fill_mkt_ms"):
        assert (new[f"{col}_a"].fillna(-1) == new[f"{col}_b"].fillna(-1)).all(), new[[f"{col}_a", f"{col}_b"]]


def test_rest_cancelled_and_size_consumed_part_at_the_stop(thin, tmp_path):
    summary = _pair(thin, tmp_path, sim_market_remainder="cancel", sim_consume_displayed=True)
    c, _, _ = _comparison(thin, summary)
    assert c.match_pct < 100.0 and c.divergence is not None, c.summary()
    first = min(v["t_market"] for v in c.divergence.values())
    assert first >= summary["legs"]["paper"]["stop_market_ns"], c.divergence  # alike until the stop
