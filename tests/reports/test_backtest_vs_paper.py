"""BACKTEST vs PAPER: a real `wb node run` (nautilus TradingNode, IB data client over loopback to the embedded
simulator, sandbox execution) journals like a backtest, and a backtest of the stretch it saw compares with it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.loopback import node_run
from workbench.engine import backtest
from workbench.engine.runconfig import load_run_config
from workbench.ingest.generator import MarketConfig, generate_market
from workbench.reports import compare
from workbench.risk.runlog import list_runs, run_window
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_paper_node_run_compares_with_a_backtest_of_its_window(tmp_path):
    store_path = tmp_path / "store.duckdb"
    with Store.open(store_path) as store:
        generate_market(store, MarketConfig(n_sessions=1))
    cfg = tmp_path / "node_paper.yaml"
    cfg.write_text((ROOT / "config/node_paper.yaml").read_text().replace("speed: 10.0", "speed: 120.0"))
    summary, proc = node_run(store_path, cfg, 8, tmp_path, cwd=tmp_path)  # run from elsewhere than the checkout
    assert summary is not None, proc.stderr[-2000:]
    paper = summary["run_id"]
    assert summary["journal_rows"].get("risk_order_events", 0) > 0, summary

    run = load_run_config(ROOT / "config/backtest_demo.yaml")
    with Store.open(store_path) as store:
        runs = list_runs(store).set_index("run_id")
        assert runs.loc[paper, "mode"] == "PAPER"
        first, last = run_window(store, paper)
        # the quotes the node decided on carry the replayed market's exchange time, not the wall clock
        day = pd.Timestamp("2024-03-04", tz="UTC").value
        assert day <= first < last < day + 86_400 * 10**9
        data = {"instrument_ids": ["DEMO.XNAS"], "start": pd.Timestamp(first, tz="UTC"),
                "end": pd.Timestamp(last, tz="UTC")}
        backtest(list(run.strategies), data, run.venue, store=store, run_id="bt").close()
        c = compare("bt", paper, store=store)
    assert (c.a.mode, c.b.mode) == ("BACKTEST", "PAPER")
    assert len(c.b.fills) == summary["fills"] > 0
    new = c.to_frame()
    new = new[(new["action"] == "NEW") & new["verdict_b"].notna()]
    assert (new["md_ts"] >= first).all()  # every PAPER decision is placed on the market timeline
    # latencies on the node's clock are measured and never negative
    lat = new["lat_decision_submit_ms_b"].dropna()
    assert len(lat) and (lat >= 0).all()
    a = c.attribution()
    parts = a["fill_gap"] + a["cost_gap"] + a["commissions"] + a["decision_divergence"]
    assert abs(parts - a["total_diff"]) < 1e-9
