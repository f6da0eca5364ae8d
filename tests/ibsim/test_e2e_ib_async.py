"""The real ib_async client against the simulator over loopback, on real SPY data (Lean, 2013-10-07)."""

from __future__ import annotations

from ib_async import IB, LimitOrder, MarketOrder, Option, Stock, StopOrder

from .conftest import NS, SESSION_OPEN, advance, gateway, run, settle, wait_for


def test_connect_qualify_chain_bars_quotes_and_market_order_fill(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=7, timeout=5)
            assert ib.client.serverVersion() == 178
            assert ib.managedAccounts() == ["DU1234567"]

            spy = Stock("SPY", "SMART", "USD")
            (q,) = await ib.qualifyContractsAsync(spy)
            assert q.conId == 756733 and q.primaryExchange == "ARCA"

            chains = await ib.reqSecDefOptParamsAsync("SPY", "", "STK", spy.conId)
            assert chains[0].tradingClass == "SPY" and chains[0].strikes == [165.0, 170.0, 175.0]
            assert chains[0].expirations == ["20131018"]

            # A day of 1-min trade bars ending now (10:30 New York): the 60 RTH bars from the Lean file.
            bars = await ib.reqHistoricalDataAsync(spy, "", "1 D", "1 min", "TRADES", True, formatDate=2)
            assert len(bars) == 60
            assert bars[0].date.timestamp() == SESSION_OPEN.value / NS
            assert (bars[0].open, bars[0].high, bars[0].volume) == (167.43, 167.52, 816453)  # Lean 09:30 bar

            ticker = ib.reqMktData(spy)
            await wait_for(lambda: ticker.bid > 0 and ticker.ask > 0)
            first = (ticker.bid, ticker.ask)
            await advance(gw, 120)  # two minutes of replay
            await wait_for(lambda: (ticker.bid, ticker.ask) != first)
            assert ticker.ask >= ticker.bid

            trade = ib.placeOrder(spy, MarketOrder("BUY", 100))
            await advance(gw, 1)
            await wait_for(lambda: trade.orderStatus.status == "Filled")
            assert trade.orderStatus.filled == 100
            await wait_for(lambda: trade.fills and trade.fills[0].commissionReport.commission > 0)
            fill = trade.fills[0]
            assert fill.execution.side == "BOT" and fill.commissionReport.commission == 1.0
            assert abs(fill.execution.price - gw.broker.books[756733].ask) < 1e-9
            await wait_for(lambda: ib.positions() and ib.positions()[0].position == 100)
            pos = ib.positions()[0]
            assert pos.contract.conId == 756733 and abs(pos.avgCost - fill.execution.price) < 1e-9
            values = {v.tag: v.value for v in ib.accountValues() if v.currency == "USD"}
            cash = 1_000_000 - 100 * fill.execution.price - 1.0
            assert abs(float(values["TotalCashValue"]) - cash) < 0.01
            ib.disconnect()

    run(scenario())


def test_limit_partial_fills_cancel_stop_and_what_if(spy_source):
    async def scenario():
        async with gateway(spy_source) as gw:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=3, timeout=5)
            spy = Stock("SPY", "SMART", "USD")
            await ib.qualifyContractsAsync(spy)
            ib.reqMktData(spy)
            await settle()
            book = gw.broker.books[spy.conId]

            # Larger than displayed size at a marketable limit: partial fill now, rest on later quotes.
            qty = int(book.ask_size) + 500
            big = ib.placeOrder(spy, LimitOrder("BUY", qty, round(book.ask + 1.0, 2)))
            await settle()
            await advance(gw, 0.01)
            await wait_for(lambda: big.orderStatus.filled > 0)
            assert big.orderStatus.filled == book.ask_size and big.orderStatus.status == "Submitted"
            await advance(gw, 300)
            await wait_for(lambda: big.orderStatus.status == "Filled")
            assert len(big.fills) >= 2 and sum(f.execution.shares for f in big.fills) == qty

            # A non-marketable limit rests until cancelled; IB answers the cancel with error 202.
            rest = ib.placeOrder(spy, LimitOrder("BUY", 100, round(book.bid - 5.0, 2)))
            await advance(gw, 1)
            await wait_for(lambda: rest.orderStatus.status == "Submitted")
            ib.cancelOrder(rest.order)
            await wait_for(lambda: rest.orderStatus.status == "Cancelled")
            assert any(e.errorCode == 202 for e in rest.log)

            # A sell stop far below the market is held (PreSubmitted), never filled.
            stop = ib.placeOrder(spy, StopOrder("SELL", 100, round(book.bid - 10.0, 2)))
            await advance(gw, 5)
            await settle(0.1)
            assert stop.orderStatus.status == "PreSubmitted" and stop.orderStatus.filled == 0

            state = await ib.whatIfOrderAsync(spy, MarketOrder("BUY", 1000))
            assert float(state.initMarginChange) > 0 and state.commission == 5.0

            # Unknown contract -> error 200 and no qualification.
            assert await ib.qualifyContractsAsync(Stock("NOPE", "SMART", "USD")) == [None]
            ib.disconnect()

    run(scenario())


def test_reconnect_sees_orders_executions_and_positions(spy_source, tmp_path):
    state = tmp_path / "ibsim-state.json"

    async def first_life():
        async with gateway(spy_source, state_path=state) as gw:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
            spy = (await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))[0]
            ib.reqMktData(spy)
            await settle()
            filled = ib.placeOrder(spy, MarketOrder("BUY", 200))
            await advance(gw, 1)
            await wait_for(lambda: filled.orderStatus.status == "Filled")
            working = ib.placeOrder(spy, LimitOrder("SELL", 50, 250.0))
            await advance(gw, 1)
            await wait_for(lambda: working.orderStatus.status == "Submitted")
            ib.disconnect()
            return working.order.orderId

    async def second_life(order_id):
        async with gateway(spy_source, state_path=state) as gw:  # a restarted simulator, same state file
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5)
            assert [p.position for p in ib.positions()] == [200.0]
            open_trades = ib.openTrades()
            assert [t.order.orderId for t in open_trades] == [order_id]
            assert open_trades[0].orderStatus.status == "Submitted"
            fills = ib.fills()
            assert len(fills) == 1 and fills[0].execution.shares == 200 and fills[0].commissionReport.commission == 1.0
            assert ib.client.getReqId() > order_id  # nextValidId continues after the restored orders
            ib.disconnect()

    order_id = run(first_life())
    run(second_life(order_id))


def test_option_contract_details_and_delayed_data_without_permission(spy_source):
    async def scenario():
        async with gateway(spy_source, live_sec_types=frozenset({"STK"})) as gw:
            ib = IB()
            await ib.connectAsync("127.0.0.1", gw.port, clientId=2, timeout=5)
            details = await ib.reqContractDetailsAsync(Option("SPY", "20131018", exchange="SMART"))
            assert len(details) == 6
            assert {d.contract.right for d in details} == {"C", "P"}
            assert all(d.contract.multiplier == "100" and d.underConId == 756733 for d in details)
            opt = details[0].contract
            errors = []
            ib.errorEvent += lambda req_id, code, msg, *a: errors.append(code)
            ib.reqMktData(opt)
            await wait_for(lambda: 354 in errors)
            ib.reqMarketDataType(3)
            await settle()
            ib.reqMktData(opt)
            await wait_for(lambda: 10167 in errors)
            ib.disconnect()

    run(scenario())
