from __future__ import annotations

import random

import pandas as pd
import pytest
from nautilus_trader.config import ImportableStrategyConfig, TradingNodeConfig
from nautilus_trader.trading.config import StrategyFactory

from workbench.engine import FillSpec, VenueSpec, backtest, export_catalog
from workbench.engine.runconfig import RunConfigError, load_run_config

STRATEGY = {
    "strategy_path": "strategies.quote_reversion:QuoteReversion",
    "config_path": "strategies.quote_reversion:QuoteReversionConfig",
    "config": {"instrument_id": "DEMO.XNAS", "entry_spreads": 2.0},
}
FILL_KEYS = ["ts_event", "order_side", "last_qty", "last_px", "trade_id", "commission"]


def _fills(result) -> pd.DataFrame:
    return result.fills[FILL_KEYS].reset_index(drop=True).astype(str)


def test_same_call_twice_is_identical_even_with_probabilistic_fills(quote_store):
    venue = VenueSpec(fill=FillSpec(prob_fill_on_limit=0.4, prob_slippage=0.5, seed=11))
    first = backtest(STRATEGY, ["DEMO.XNAS"], venue, store=quote_store)
    random.seed(999)  # user code touching the global generator between runs must not matter
    [random.random() for _ in range(10)]
    second = backtest(STRATEGY, ["DEMO.XNAS"], venue, store=quote_store)
    assert len(first.fills) > 20
    pd.testing.assert_frame_equal(_fills(first), _fills(second))
    assert first.pnl == second.pnl
    assert first.summary()["commissions"] > 0
    other = backtest(STRATEGY, ["DEMO.XNAS"], VenueSpec(fill=FillSpec(prob_fill_on_limit=0.4, prob_slippage=0.5,
                                                                        seed=12)), store=quote_store)
    assert other.pnl != first.pnl  # the seed is really in play
    for r in (first, second, other):
        r.close()


def test_global_random_state_is_restored(quote_store):
    random.seed(5)
    expected = random.Random(5).random()
    backtest(STRATEGY, ["DEMO.XNAS"], VenueSpec(fill=FillSpec(prob_slippage=0.5, seed=1)), store=quote_store).close()
    assert random.random() == expected


def test_result_views_and_html(quote_store, tmp_path):
    result = backtest(STRATEGY, {"instrument_ids": ["DEMO.XNAS"], "start": "2024-03-04 15:00"}, store=quote_store)
    s = result.summary()
    assert s["data_events"] == 20_000 - 30 * 60
    assert 0 < s["fill_rate"] <= 1 and s["orders"] >= s["fills"] / 2
    eq, dd = result.equity_curve(), result.drawdown()
    assert len(eq) > 1 and (dd <= 0).all()
    assert float(eq.iloc[-1]) - 1_000_000 == pytest.approx(float(result.pnl), abs=0.01)
    out = result.to_html(tmp_path / "r.html")
    shown = result._repr_html_()
    assert "<table" in shown and "max_drawdown_pct" in shown and str(s["fills"]) in shown
    text = out.read_text()
    assert "Summary" in text and (tmp_path / "r_tearsheet.html").stat().st_size > 10_000
    # opens offline: plotly's bundle is embedded, nothing is fetched from a CDN
    assert "<script src=\"http" not in text and "plotly.js v" in text
    result.close()


def test_unknown_instrument_is_a_clear_error(quote_store):
    with pytest.raises(KeyError, match="NOPE.XNAS"):
        backtest(STRATEGY, ["NOPE.XNAS"], store=quote_store)


def test_strategy_config_resolves_from_notebook_and_config_files():
    run = load_run_config("config/backtest_demo.yaml")
    from_file = StrategyFactory.create(run.strategies[0])
    from_notebook = StrategyFactory.create(ImportableStrategyConfig(**STRATEGY))
    assert type(from_file) is type(from_notebook)
    assert from_file.config.instrument_id == "DEMO.XNAS"
    # the same entry is valid in a live TradingNode config
    node_cfg = TradingNodeConfig(strategies=[run.strategies[0]])
    assert node_cfg.strategies[0].strategy_path == "strategies.quote_reversion:QuoteReversion"


def test_bad_run_file_names_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategies: []\ndata: {instrument_ids: [X.XNAS]}\nvenue: {oms: HEDGING}\n")
    with pytest.raises(RunConfigError, match="bad.yaml: venue: unknown field.*oms"):
        load_run_config(bad)


def test_catalog_export_roundtrip(quote_store, tmp_path):
    catalog = export_catalog(quote_store, ["DEMO.XNAS"], tmp_path / "catalog")
    quotes = catalog.quote_ticks(instrument_ids=["DEMO.XNAS"])
    assert len(quotes) == 20_000
    stored = quote_store.read_quotes("DEMO.XNAS")
    assert float(quotes[123].bid_price) == stored["bid"].iloc[123]
    assert [str(i.id) for i in catalog.instruments()] == ["DEMO.XNAS"]


def test_every_order_passes_the_risk_gate(quote_store, tmp_path):
    import yaml

    result = backtest(STRATEGY, ["DEMO.XNAS"], store=quote_store)
    rec = result.reconciliation()
    assert rec["orders"] == len(result.orders) > 10
    assert {k: v for k, v in rec.items() if k != "orders"} == {
        "unapproved_orders": 0, "qty_mismatch": 0, "unapproved_cancels": 0, "unapproved_modifies": 0}
    assert set(result.decisions_frame()["verdict"]) >= {"APPROVE"}
    result.close()

    # a tighter limit file changes what reaches the venue: orders are clipped to 40 shares
    cfg = yaml.safe_load(open("config/risk.yaml"))
    cfg["defaults"]["max_order_qty"] = 40
    tight = tmp_path / "risk.yaml"
    tight.write_text(yaml.safe_dump(cfg))
    clipped = backtest(STRATEGY, ["DEMO.XNAS"], store=quote_store, risk_config=str(tight))
    assert set(clipped.orders["quantity"].astype(float)) == {40.0}
    assert "APPROVE_MODIFIED" in set(clipped.decisions_frame()["verdict"])
    assert clipped.reconciliation()["unapproved_orders"] == 0
    clipped.close()
