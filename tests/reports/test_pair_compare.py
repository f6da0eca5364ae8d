"""PAPER vs REAL side by side (`wb node run` of a ``mode: pair`` run file): two real nautilus TradingNodes
on one embedded simulator session, PAPER filling in nautilus's sandbox, REAL in the simulator's broker
over loopback; `wb report compare` of the two legs.

The market: quotes one a second, replayed at 4x (250 ms of wall time between quotes, far more than a
node's decision -> venue latency), so the only difference left between the legs is how their venues
fill; from START + 25 s on, a quote every 50 ms (12.5 ms of wall time) alternating between two prices a
tick apart (too small a move for the strategy to enter): the wall-clock stop lands in it, so an
unsynchronised stop would meet different quotes in the two legs. Configured alike (the broker
acknowledging and matching on arrival, as the sandbox does) every intent matches, the stop's included
(the pair stops both legs on one frozen market instant, workbench/node/pair.py; displayed sizes above the
strategy's position limit, so the close fits the book; a close larger than the displayed size matches too
since the pair file's sim_market_remainder: rest, sim_consume_displayed: false, sim_passive_fill: limit make
the simulator fill as the sandbox does: tests/node/test_pair_thin_book.py); with the broker letting an order fill only 1.5 s after it arrived, the report shows where
the legs part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.loopback import node_run
from workbench.reports import compare
from workbench.store import Instrument, Store

ROOT = Path(__file__).resolve().parents[2]
START = pd.Timestamp("2024-03-04 15:00", tz="UTC")


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pair") / "store.duckdb"
    n, rng = 30, np.random.default_rng(5)
    calm = (START - pd.Timedelta(seconds=5)).value + np.arange(n, dtype=np.int64) * 1_000_000_000
    mid = np.round(100 + np.cumsum(rng.normal(0, 0.02, n)), 2)
    dense = calm[-1] + np.arange(1, 700, dtype=np.int64) * 50_000_000  # to START + 60 s
    ts = np.concatenate([calm, dense])
    mid = np.concatenate([mid, mid[-1] + 0.01 * (np.arange(1, 700) % 2)])
    with Store.open(path) as store:
        store.upsert_instruments([Instrument.equity("DEMO")])
        store.write_quotes("DEMO.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                      "bid_size": 1000.0, "ask_size": 1000.0}), source="test")
    return path


def _pair(market: Path, tmp_path: Path, **sim) -> tuple[dict, str]:
    doc = yaml.safe_load((ROOT / "config/node_pair.yaml").read_text())  # the shipped pair settings
    entry = doc["strategies"][0]
    # the shipped entry, trading within a short run on this calmer market
    entry["config"].update(warmup=8, ema_alpha=0.3, entry_spreads=1.0, order_ttl_quotes=4)
    doc.update(replay_from=str(START.tz_localize(None)), speed=4.0, runs_dir=str(tmp_path / "runs"), **sim)
    summary, proc = node_run(market, doc, 9, tmp_path)
    assert summary is not None, proc.stderr[-2000:]
    return summary, proc.stderr


def test_pair_configured_to_fill_alike_matches_every_intent(market, tmp_path):
    summary, stderr = _pair(market, tmp_path)
    paper, real = summary["legs"]["paper"], summary["legs"]["real"]
    assert (paper["mode"], real["mode"]) == ("paper", "real") and paper["run_id"] != real["run_id"]
    assert summary["errors"] == [] and summary["residual_positions"] == {}, summary
    assert paper["quotes"] > 0 and paper["fills"] > 0 and real["fills"] > 0
    # both legs began their stop on the same market instant and saw the same quotes to the end
    assert START.value <= paper["stop_market_ns"] == real["stop_market_ns"]
    assert paper["quotes"] == real["quotes"], (paper["quotes"], real["quotes"])
    # ... and the exits finished on the frozen book (the broker fills on arrival; sizes above the position)
    assert summary["stop"]["in_step"] and summary["stop"]["market_resumed"] is False, summary["stop"]
    assert f"wb report compare {paper['run_id']} {real['run_id']}" in stderr
    # each leg its own gate and journal: its decisions under its own run id
    assert paper["journal_rows"]["risk_decisions"] == paper["intents"] > 0
    with Store.open(market, read_only=True) as store:
        c = compare(paper["run_id"], real["run_id"], store=store)
    assert (c.a.mode, c.b.mode) == ("PAPER", "REAL")
    assert c.matched == paper["intents"] == real["intents"] and c.match_pct == 100.0, c.summary()
    frame = c.to_frame()
    new = frame[frame["action"] == "NEW"]
    assert (new["filled_a"].fillna(0) == new["filled_b"].fillna(0)).all()  # the same fills
    # every fill on the same quote, the stop's market close included (both legs stopped on one frozen
    # instant of the market: the close met the same book)
    assert (new["time_to_fill_mkt_ms_a"].fillna(-1) == new["time_to_fill_mkt_ms_b"].fillna(-1)).all()
    assert (new["vwap_a"].fillna(-1) == new["vwap_b"].fillna(-1)).all()
    assert c.divergence is None, c.divergence
    stop = frame[frame["t_market"] >= paper["stop_market_ns"]]
    assert len(stop) > 0 and (stop["status"] == "matched").all(), stop  # the stop's own intents matched


def test_pair_with_a_slower_broker_shows_the_first_divergence(market, tmp_path):
    summary, _ = _pair(market, tmp_path, sim_fill_latency_ms=1500.0)
    paper, real = summary["legs"]["paper"], summary["legs"]["real"]
    # a broker with latency needs market time to fill the exits: the clock ran on once both had begun
    assert summary["stop"]["in_step"] and summary["stop"]["market_resumed"] is True, summary["stop"]
    with Store.open(market, read_only=True) as store:
        c = compare(paper["run_id"], real["run_id"], store=store)
    assert c.match_pct < 100.0 and c.divergence is not None, c.summary()
    # where they parted, on the market timeline: a fill one leg had and the other had later or not at all
    gap = c.divergence.get("first_fill_time_gap") or c.divergence.get("first_outcome_gap")
    assert gap is not None and START.value <= gap["t_market"], c.divergence
    first = c.divergence.get("first_unmatched")
    assert first is None or first["t_market"] >= gap["t_market"]
