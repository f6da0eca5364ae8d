from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import InstrumentId

from workbench.engine.data import bars_from_arrow, load_quotes
from workbench.engine.fastticks import quotes_fast
from workbench.engine.instruments import to_nautilus
from workbench.store import Instrument


@pytest.mark.parametrize(("price_prec", "size_prec"), [(2, 0), (4, 2), (0, 0), (9, 3)])
def test_fast_quotes_match_nautilus_constructor(price_prec, size_prec):
    rng = np.random.default_rng(price_prec)
    n = 20_000
    iid = InstrumentId.from_str("XYZ.XNAS")
    bid = np.round(rng.uniform(-100, 90_000, n), price_prec)
    ask = bid + 10.0 ** -price_prec
    bsz = np.round(rng.uniform(0, 5e6, n), size_prec)
    asz = np.round(rng.uniform(0, 5e6, n), size_prec)
    ts = np.sort(rng.integers(0, 2**62, n).astype(np.uint64))
    fast = quotes_fast(iid, price_prec, size_prec, bid, ask, bsz, asz, ts, ts + np.uint64(5))
    ref = QuoteTick.from_raw_arrays_to_list(iid, price_prec, size_prec, bid, ask, bsz, asz, ts, ts + np.uint64(5))
    assert len(fast) == n
    for a, b in zip(fast, ref, strict=True):
        assert (a.bid_price, a.ask_price, a.bid_size, a.ask_size, a.ts_event, a.ts_init) == \
               (b.bid_price, b.ask_price, b.bid_size, b.ask_size, b.ts_event, b.ts_init)
        assert a.instrument_id == iid


def test_store_quotes_drop_one_sided_rows(store):
    store.upsert_instruments([Instrument.equity("ABC")])
    import pandas as pd

    store.write_quotes("ABC.XNAS", pd.DataFrame({"ts_event": [1, 2, 3], "bid": [10.0, None, 10.1],
                                                 "ask": [10.2, 10.3, 10.2], "bid_size": 1.0, "ask_size": 1.0}))
    quotes = load_quotes(store, to_nautilus(store.instrument("ABC.XNAS")))
    assert [q.ts_event for q in quotes] == [1, 3]


def test_bars_are_stamped_at_close(store):
    import pyarrow as pa

    inst = to_nautilus(Instrument.equity("ABC"))
    tbl = pa.table({"ts_event": [0, 60_000_000_000], "open": [1.0, 2.0], "high": [1.5, 2.5], "low": [0.5, 1.5],
                    "close": [1.2, 2.2], "volume": [10.0, 20.0]})
    bars = bars_from_arrow(tbl, inst, "1min")
    assert [b.ts_event for b in bars] == [60_000_000_000, 120_000_000_000]
    assert str(bars[0].bar_type) == "ABC.XNAS-1-MINUTE-LAST-EXTERNAL"


def test_instrument_mapping():
    opt = to_nautilus(Instrument.option("GOOG", "GOOG.XNAS", date(2016, 2, 5), "P", "715.5"))
    assert str(opt.id) == "GOOG160205P00715500.XNAS" and float(opt.strike_price) == 715.5
    assert int(opt.multiplier) == 100 and opt.underlying == "GOOG"
    fut = to_nautilus(Instrument.future("ES", date(2013, 12, 20)))
    assert str(fut.id) == "ESZ13.XCME" and float(fut.price_increment) == 0.25 and int(fut.multiplier) == 50


def test_ib_fixed_commissions():
    from decimal import Decimal as D

    from workbench.engine.fees import IBFixedFeeModel

    fee = IBFixedFeeModel()
    assert fee.commission(D(100), D(100), D(1), False) == D("1.00")      # minimum per order
    assert fee.commission(D(1000), D(100), D(1), False) == D("5.00")     # $0.005/share, not rounded per share
    assert fee.commission(D(10), D("0.50"), D(1), False) == D("0.05")    # capped at 1% of trade value
    assert fee.commission(D(3), D(2), D(100), True) == D("1.95")         # $0.65/contract
