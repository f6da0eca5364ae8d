from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies.quote_reversion import MarketState, QuoteReversionConfig, decide
from strategies.short_put import PutQuote, ShortPutConfig, choose_put, hedge_order
from workbench.engine import backtest
from workbench.ingest.generator import MarketConfig, generate_market


def test_quote_reversion_decisions():
    cfg = QuoteReversionConfig(instrument_id="X.XNAS", entry_spreads=3.0, max_position=200)
    assert decide(MarketState(99.90, 99.92, 100.0, 0), cfg).side == "BUY"       # mid 4.5 spreads below
    assert decide(MarketState(100.08, 100.10, 100.0, 0), cfg).price == 100.10    # sells at the ask
    assert decide(MarketState(99.99, 100.01, 100.0, 0), cfg) is None
    assert decide(MarketState(99.90, 99.92, 100.0, 200), cfg) is None           # position cap


def test_hedge_order_band():
    assert hedge_order(30.4, 0, 10) == -30.0
    assert hedge_order(30.0, -25, 10) == 0.0
    assert hedge_order(-12.0, 0, 10) == 12.0


@pytest.fixture(scope="module")
def market():
    from workbench.store import Store

    store = Store.open(":memory:")
    m = generate_market(store, MarketConfig(n_sessions=2))
    yield store, m
    store.close()


def test_choose_put_hits_target_delta_on_generated_chain(market):
    store, m = market
    chain = store.read_chain(m.underlying_id)
    puts = chain[chain["right"] == "P"]
    as_of = int(chain["as_of"].iloc[0])
    expiry_ns = (pd.to_datetime(puts["expiry"]).dt.tz_localize("America/New_York") + pd.Timedelta(hours=16)
                 ).dt.as_unit("ns").astype("int64")
    quotes = [PutQuote(i, k, int(e), b, a) for i, k, e, b, a in
              zip(puts["instrument_id"], puts["strike"], expiry_ns, puts["bid"], puts["ask"], strict=True)]
    cfg = ShortPutConfig(underlying_id=m.underlying_id)
    put, iv = choose_put(quotes, float(chain["underlying_price"].iloc[0]), as_of, cfg)
    dte = (put.expiry_ns - as_of) / 86_400e9
    assert cfg.min_dte <= dte <= cfg.max_dte
    true_iv = m.true_surface(as_of).iv(np.array([put.strike]), np.array([np.datetime64(
        pd.Timestamp(put.expiry_ns, unit="ns", tz="UTC").tz_convert("America/New_York").date(), "D")]))[0]
    assert abs(iv - true_iv) < 0.03   # mid-quote IV near the generating smile
    assert put.strike < float(chain["underlying_price"].iloc[0])     # an OTM put


def test_short_put_backtest_sells_one_put_and_hedges(market):
    store, m = market
    cfg = {"strategy_path": "strategies.short_put:ShortPutDeltaHedge",
           "config_path": "strategies.short_put:ShortPutConfig", "config": {"underlying_id": m.underlying_id}}
    result = backtest(cfg, {"instrument_ids": [m.underlying_id], "options_of": [m.underlying_id]}, store=store)
    fills = result.fills
    opt = fills[fills["instrument_id"] != m.underlying_id]
    stock = fills[fills["instrument_id"] == m.underlying_id]
    assert len(opt) == 1 and opt["order_side"].iloc[0] == "SELL"
    assert len(stock) >= 1 and stock["order_side"].iloc[0] == "SELL"   # short put = long delta -> sell stock
    assert 15 <= float(stock["last_qty"].iloc[0]) <= 45               # ~30 delta x 100
    result.close()
