"""Conformance of order, execution and historical-data messages with both real decoders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workbench.ibsim import msg_history as mh
from workbench.ibsim import msg_orders as mo
from workbench.ibsim.model import WhatIf

from .decoders import decode_ib_async, decode_ibapi
from .test_conformance import IA_VERSIONS, IBAPI_VERSIONS, OPT, SPY, _exec, _order, by_name

WHATIF = WhatIf(Decimal("1000.00"), Decimal("900.00"), Decimal("1000000.00"), Decimal("10512.50"),
                Decimal("8400.00"), Decimal("-1.25"), Decimal("1.25"))


def _order_msgs(v):
    o = _order()
    done = _order(order_id=18, status="Filled", filled=Decimal("250"), lmt_price=None, order_type="MKT")
    return [mo.order_status(v, o), mo.open_order(v, o, SPY), mo.open_order(v, _order(order_id=19, status="PreSubmitted"),
                                                                          SPY, WHATIF),
            mo.open_order_end(v), mo.completed_order(v, done, SPY, "20131007 15:30:01 America/New_York", "Filled"),
            mo.completed_orders_end(v),
            mo.execution(v, 4, _exec(), OPT, "20131007 10:01:02 America/New_York"), mo.execution_end(v, 4),
            mo.commission_report(v, _exec())]


def _check_open_order(c, o, st):
    assert (c.conId, c.symbol, c.secType, c.exchange, c.localSymbol) == (SPY.con_id, "SPY", "STK", "SMART", "SPY")
    assert (o.orderId, o.action, o.orderType, o.lmtPrice, o.tif, o.account) == (17, "BUY", "LMT", 168.25, "GTC",
                                                                                "DU1234567")
    assert (o.clientId, o.permId, o.orderRef, o.parentId) == (3, 987654, "wb-ref-1", 0)
    assert float(o.totalQuantity) == 250.0
    assert st.status == "Submitted" and o.whatIf is False


@pytest.mark.parametrize("v", IA_VERSIONS)
def test_order_messages_ib_async(v):
    calls = decode_ib_async(_order_msgs(v), v)
    assert by_name(calls, "orderStatus")[0] == (17, "Submitted", 100.0, 150.0, 168.2, 987654, 0, 168.21, 3, "", 0.0)
    opens = by_name(calls, "openOrder")
    order_id, c, o, st = opens[0]
    assert order_id == 17
    _check_open_order(c, o, st)
    _, _, o2, st2 = opens[1]
    assert o2.whatIf is True and st2.initMarginChange == "10512.50" and st2.commission == 1.25
    assert st2.equityWithLoanAfter == "999998.75" and st2.commissionCurrency == "USD"
    assert by_name(calls, "openOrderEnd")[0] == ()
    c, o, st = by_name(calls, "completedOrder")[0]
    assert (c.conId, o.orderType, o.permId, st.status, st.completedStatus) == (SPY.con_id, "MKT", 987654,
                                                                              "Filled", "Filled")
    assert st.completedTime == "20131007 15:30:01 America/New_York" and o.filledQuantity == 250.0
    assert by_name(calls, "completedOrdersEnd")[0] == ()
    req_id, c, ex = by_name(calls, "execDetails")[0]
    assert (req_id, c.conId, c.right, c.strike, c.multiplier) == (4, OPT.con_id, "P", 170.0, "100")
    assert (ex.execId, ex.orderId, ex.side, ex.shares, ex.price, ex.cumQty, ex.avgPrice) == (
        "0001f4e8.65a1b2c3.01.01", 17, "SLD", 3.0, 1.35, 5.0, 1.33)
    assert (ex.exchange, ex.permId, ex.clientId, ex.orderRef, ex.lastLiquidity) == ("CBOE", 987654, 3, "ref-x", 1)
    assert ex.time.isoformat() == "2013-10-07T14:01:02+00:00"
    assert by_name(calls, "execDetailsEnd")[0] == (4,)
    (cr,) = by_name(calls, "commissionReport")[0]
    assert (cr.execId, cr.commission, cr.currency, cr.realizedPNL) == ("0001f4e8.65a1b2c3.01.01", 2.0475, "USD",
                                                                        -12.5)


@pytest.mark.parametrize("v", IBAPI_VERSIONS)
def test_order_messages_ibapi(v):
    calls = decode_ibapi(_order_msgs(v), v)
    st_call = by_name(calls, "orderStatus")[0]
    assert st_call == (17, "Submitted", Decimal(100), Decimal(150), 168.2, 987654, 0, 168.21, 3, "", 0.0)
    opens = by_name(calls, "openOrder")
    order_id, c, o, st = opens[0]
    assert order_id == 17
    _check_open_order(c, o, st)
    _, _, o2, st2 = opens[1]
    assert o2.whatIf is True and st2.initMarginChange == "10512.50" and st2.commissionAndFees == 1.25
    assert by_name(calls, "openOrderEnd")[0] == ()
    c, o, st = by_name(calls, "completedOrder")[0]
    assert (c.conId, o.orderType, o.permId, st.status, st.completedStatus) == (SPY.con_id, "MKT", 987654,
                                                                              "Filled", "Filled")
    assert o.filledQuantity == Decimal(250)
    req_id, c, ex = by_name(calls, "execDetails")[0]
    assert (req_id, c.conId, c.right, c.strike) == (4, OPT.con_id, "P", 170.0)
    assert (ex.execId, ex.orderId, ex.side, ex.shares, ex.price, ex.cumQty, ex.avgPrice) == (
        "0001f4e8.65a1b2c3.01.01", 17, "SLD", Decimal(3), 1.35, Decimal(5), 1.33)
    assert ex.time == "20131007 10:01:02 America/New_York" and ex.lastLiquidity == 1
    assert by_name(calls, "execDetailsEnd")[0] == (4,)
    (cr,) = by_name(calls, "commissionAndFeesReport")[0]
    assert (cr.execId, cr.commissionAndFees, cr.currency, cr.realizedPNL) == ("0001f4e8.65a1b2c3.01.01", 2.0475,
                                                                               "USD", -12.5)


# ---------------------------------------------------------------- history

BARS = [mh.WireBar("20131007 09:30:00 America/New_York", 168.1, 168.4, 168.0, 168.3, Decimal("152300"),
                   Decimal("168.21"), 812),
        mh.WireBar("20131007 09:31:00 America/New_York", 168.3, 168.5, 168.2, 168.45, Decimal("98100"),
                   Decimal("168.37"), 530)]


def _hist_msgs(v):
    msgs = mh.historical_data(v, 21, "20131007 09:30:00 America/New_York", "20131007 09:32:00 America/New_York",
                              BARS)
    msgs += [mh.historical_data_update(v, 21, BARS[1]), mh.head_timestamp(v, 22, "20100629 13:30:00"),
             mh.real_time_bar(v, 23, 1381152600, 168.1, 168.4, 168.0, 168.3, Decimal("1200"), Decimal("168.2"), 14),
             mh.historical_ticks_midpoint(v, 24, [(1381152600, 168.27, Decimal(0))], True),
             mh.historical_ticks_bid_ask(v, 25, [(1381152600, 168.26, 168.28, Decimal(500), Decimal(700)),
                                                 (1381152601, 168.25, 168.27, Decimal(400), Decimal(300))], True),
             mh.historical_ticks_last(v, 26, [(1381152602, 168.27, Decimal(100), "ARCA", "")], False)]
    return msgs


@pytest.mark.parametrize("v", IA_VERSIONS)
def test_history_messages_ib_async(v):
    calls = decode_ib_async(_hist_msgs(v), v)
    bars = by_name(calls, "historicalData")
    assert [b.date for _, b in bars] == [b.date for b in BARS]
    _, b0 = bars[0]
    assert (b0.open, b0.high, b0.low, b0.close, b0.volume, b0.average, b0.barCount) == (
        168.1, 168.4, 168.0, 168.3, 152300.0, 168.21, 812)
    assert by_name(calls, "historicalDataEnd")[0] == (21, "20131007 09:30:00 America/New_York",
                                                      "20131007 09:32:00 America/New_York")
    _, up = by_name(calls, "historicalDataUpdate")[0]
    assert (up.close, up.high, up.volume, up.barCount) == (168.45, 168.5, 98100.0, 530)
    assert by_name(calls, "headTimestamp")[0] == (22, "20100629 13:30:00")
    assert by_name(calls, "realtimeBar")[0] == (23, 1381152600, 168.1, 168.4, 168.0, 168.3, 1200.0, 168.2, 14)
    req_id, ticks, done = by_name(calls, "historicalTicksBidAsk")[0]
    assert (req_id, done, len(ticks)) == (25, True, 2)
    assert (ticks[1].priceBid, ticks[1].priceAsk, ticks[1].sizeBid, ticks[1].sizeAsk) == (168.25, 168.27, 400, 300)
    assert int(ticks[1].time.timestamp()) == 1381152601
    req_id, ticks, done = by_name(calls, "historicalTicksLast")[0]
    assert (req_id, done, ticks[0].price, ticks[0].exchange) == (26, False, 168.27, "ARCA")
    req_id, ticks, done = by_name(calls, "historicalTicks")[0]
    assert (req_id, done, ticks[0].price) == (24, True, 168.27)


@pytest.mark.parametrize("v", IBAPI_VERSIONS)
def test_history_messages_ibapi(v):
    calls = decode_ibapi(_hist_msgs(v), v)
    bars = by_name(calls, "historicalData")
    _, b0 = bars[0]
    assert (b0.date, b0.open, b0.high, b0.low, b0.close, b0.volume, b0.wap, b0.barCount) == (
        BARS[0].date, 168.1, 168.4, 168.0, 168.3, Decimal(152300), Decimal("168.21"), 812)
    assert len(bars) == 2
    assert by_name(calls, "historicalDataEnd")[0] == (21, "20131007 09:30:00 America/New_York",
                                                      "20131007 09:32:00 America/New_York")
    _, up = by_name(calls, "historicalDataUpdate")[0]
    assert (up.close, up.high, up.volume, up.barCount) == (168.45, 168.5, Decimal(98100), 530)
    assert by_name(calls, "headTimestamp")[0] == (22, "20100629 13:30:00")
    rt = by_name(calls, "realtimeBar")[0]
    assert rt == (23, 1381152600, 168.1, 168.4, 168.0, 168.3, Decimal(1200), Decimal("168.2"), 14)
    req_id, ticks, done = by_name(calls, "historicalTicksBidAsk")[0]
    assert (req_id, done, ticks[1].time, ticks[1].priceBid, ticks[1].sizeAsk) == (25, True, 1381152601, 168.25,
                                                                                  Decimal(300))
    req_id, ticks, done = by_name(calls, "historicalTicksLast")[0]
    assert (req_id, done, ticks[0].price, ticks[0].size, ticks[0].exchange) == (26, False, 168.27, Decimal(100),
                                                                                "ARCA")
    req_id, ticks, done = by_name(calls, "historicalTicks")[0]
    assert (req_id, done, ticks[0].time, ticks[0].price) == (24, True, 1381152600, 168.27)
