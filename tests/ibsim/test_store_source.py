"""The simulator serving the workbench store: instruments become contracts, stored bars and quotes
are what ib_async receives."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
from ib_async import IB, Option, Stock

from workbench.ibsim.app import catalog_from_store, gateway_from_store
from workbench.ibsim.gateway import GatewayConfig
from workbench.store import Instrument

from .conftest import NS, SESSION_OPEN, run, wait_for


def _fill_store(store, spy_source):
    store.upsert_instruments([
        Instrument("SPY.ARCX", "SPY", "EQUITY", "ARCX"),
        Instrument("SPY131018C00170000.OPRA", "SPY", "OPTION", "OPRA", underlying="SPY", expiry=date(2013, 10, 18),
                   strike=Decimal("170"), right="C", multiplier=100, style="AMERICAN"),
    ])
    day_start, day_end = SESSION_OPEN.value - 6 * 3600 * NS, SESSION_OPEN.value + 10 * 3600 * NS
    b = spy_source.bars("SPY.ARCX", day_start, day_end)
    store.write_bars("SPY.ARCX", "1min", pd.DataFrame(dict(ts_event=b.ts, open=b.open, high=b.high, low=b.low,
                                                           close=b.close, volume=b.volume)), source="test")
    q = spy_source.quotes("SPY.ARCX", day_start, day_end)
    store.write_quotes("SPY.ARCX", pd.DataFrame(dict(ts_event=q.ts, bid=q.bid, ask=q.ask, bid_size=q.bid_size,
                                                     ask_size=q.ask_size)), source="test")
    return b, q


def test_store_backed_gateway_serves_bars_quotes_and_option_contracts(store, spy_source):
    bars, quotes = _fill_store(store, spy_source)
    cat = catalog_from_store(store)
    opt = next(c for c in cat if c.sec_type == "OPT")
    assert opt.under_con_id == 756733 and opt.local_symbol == "SPY   131018C00170000"

    async def scenario():
        start = SESSION_OPEN.value + 3600 * NS
        gw = gateway_from_store(store, GatewayConfig(port=0, start=start, speed=0))
        await gw.start()
        try:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]
            got = await ib.reqHistoricalDataAsync(spy, "", "3600 S", "5 mins", "TRADES", True, formatDate=2)
            assert len(got) == 12
            rth = (bars.ts >= SESSION_OPEN.value) & (bars.ts < SESSION_OPEN.value + 300 * NS)
            assert got[0].high == round(float(bars.high[rth].max()), 2)
            assert got[0].volume == float(bars.volume[rth].sum())
            ticker = ib.reqMktData(spy)
            await wait_for(lambda: ticker.bid > 0)
            last = np.searchsorted(quotes.ts, start, side="right") - 1
            assert (ticker.bid, ticker.ask) == (float(quotes.bid[last]), float(quotes.ask[last]))
            (cd,) = await ib.reqContractDetailsAsync(Option("SPY", "20131018", 170, "C", "SMART"))
            assert cd.contract.conId == opt.con_id and cd.underConId == 756733
            chains = await ib.reqSecDefOptParamsAsync("SPY", "", "STK", 756733)
            assert chains[0].strikes == [170.0]
            ib.disconnect()
        finally:
            await gw.stop()

    run(scenario())
