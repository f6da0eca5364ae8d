"""Every message the simulator emits, decoded by both real client decoders at each supported version.

Each case encodes distinctive values and checks that the decoded callback carries exactly those
values — a dropped or shifted field would move a value into the wrong argument.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from workbench.ibsim import msg_account as ma
from workbench.ibsim import msg_contract as mc
from workbench.ibsim import msg_core as m
from workbench.ibsim.contracts import contract_from_instrument, default_catalog
from workbench.ibsim.model import SimExecution, SimOrder

from .decoders import decode_ib_async, decode_ibapi

IA_VERSIONS = [157, 163, 164, 176, 178]
IBAPI_VERSIONS = [157, 163, 164, 176, 178, 182, 183, 186, 187, 189, 193, 194, 195, 196, 197, 198, 199, 200]

CAT = default_catalog()
SPY = next(c for c in CAT if c.symbol == "SPY" and c.sec_type == "STK")
OPT = next(c for c in CAT if c.sec_type == "OPT" and c.right == "P" and c.strike == 170.0)
FUT = next(c for c in CAT if c.sec_type == "FUT")
IND = next(c for c in CAT if c.sec_type == "IND")


def _order(**kw):
    base = dict(order_id=17, client_id=3, perm_id=987654, account="DU1234567", con_id=SPY.con_id, action="BUY",
                total_qty=Decimal("250"), order_type="LMT", lmt_price=168.25, aux_price=None, tif="GTC",
                order_ref="wb-ref-1", status="Submitted", filled=Decimal("100"), avg_fill_price=168.2,
                last_fill_price=168.21, parent_id=0)
    base.update(kw)
    return SimOrder(**base)


def _exec():
    return SimExecution(exec_id="0001f4e8.65a1b2c3.01.01", order_id=17, client_id=3, perm_id=987654,
                        account="DU1234567", con_id=OPT.con_id, side="SLD", shares=Decimal("3"), price=1.35,
                        cum_qty=Decimal("5"), avg_price=1.33, time_ns=0, exchange="CBOE", order_ref="ref-x",
                        commission=Decimal("2.0475"), realized_pnl=Decimal("-12.5"), liquidity=1)


def by_name(calls, name):
    hits = [a for n, a in calls if n == name]
    assert hits, f"no {name} callback in {[n for n, _ in calls]}"
    return hits


# ---------------------------------------------------------------- core / market data

@pytest.mark.parametrize("v", IA_VERSIONS)
def test_core_messages_ib_async(v):
    msgs = [m.error(v, 42, 354, "Requested market data is not subscribed.", ""),
            m.next_valid_id(v, 1001), m.managed_accounts(v, ["DU1234567", "DU7654321"]),
            m.current_time(v, 1381152000), m.market_data_type(v, 7, 3),
            m.tick_price(v, 7, m.BID, 168.27, 300, 0), m.tick_size(v, 7, m.VOLUME, Decimal("1234567")),
            m.tick_string(v, 7, m.LAST_TIMESTAMP, "1381152000"), m.tick_generic(v, 7, 49, 0.0),
            m.tick_req_params(v, 7, 0.01, "9c0001", 3), m.tick_snapshot_end(v, 7),
            m.tick_by_tick_bid_ask(v, 8, 1381152001, 168.26, 168.28, 500, 700),
            m.tick_by_tick_last(v, 8, 1381152002, 168.27, 100, "ARCA", "", all_last=True),
            m.tick_by_tick_midpoint(v, 8, 1381152003, 168.275),
            m.tick_option_computation(v, 9, m.MODEL_OPTION, 0.1248, -0.4467, 28.1, 3.17, 0.0045, 2.758, -0.935,
                                      3216.19)]
    calls = decode_ib_async(msgs, v)
    assert by_name(calls, "error")[0][:3] == (42, 354, "Requested market data is not subscribed.")
    assert by_name(calls, "nextValidId")[0] == (1001,)
    assert by_name(calls, "managedAccounts")[0] == ("DU1234567,DU7654321",)
    assert by_name(calls, "currentTime")[0] == (1381152000,)
    assert by_name(calls, "marketDataType")[0] == (7, 3)
    assert by_name(calls, "priceSizeTick")[0] == (7, 1, 168.27, 300.0)
    assert by_name(calls, "tickSize")[0] == (7, 8, 1234567.0)
    assert by_name(calls, "tickString")[0] == (7, 45, "1381152000")
    assert by_name(calls, "tickGeneric")[0] == (7, 49, 0.0)
    assert by_name(calls, "tickReqParams")[0] == (7, 0.01, "9c0001", 3)
    assert by_name(calls, "tickSnapshotEnd")[0] == (7,)
    ba = by_name(calls, "tickByTickBidAsk")[0]
    assert ba[:6] == (8, 1381152001, 168.26, 168.28, 500.0, 700.0)
    last = by_name(calls, "tickByTickAllLast")[0]
    assert last[:5] == (8, 2, 1381152002, 168.27, 100.0) and last[6:] == ("ARCA", "")
    assert by_name(calls, "tickByTickMidPoint")[0] == (8, 1381152003, 168.275)
    oc = by_name(calls, "tickOptionComputation")[0]
    assert oc == (9, 13, 0, 0.1248, -0.4467, 28.1, 3.17, 0.0045, 2.758, -0.935, 3216.19)


@pytest.mark.parametrize("v", IBAPI_VERSIONS)
def test_core_messages_ibapi(v):
    msgs = [m.error(v, 42, 354, "Requested market data is not subscribed.", "", 1381152000123),
            m.next_valid_id(v, 1001), m.managed_accounts(v, ["DU1234567"]), m.current_time(v, 1381152000),
            m.market_data_type(v, 7, 3), m.tick_price(v, 7, m.ASK, 168.28, 700, 0),
            m.tick_size(v, 7, m.VOLUME, Decimal("1234567")), m.tick_string(v, 7, m.LAST_TIMESTAMP, "1381152000"),
            m.tick_generic(v, 7, 49, 0.0), m.tick_req_params(v, 7, 0.01, "9c0001", 3), m.tick_snapshot_end(v, 7),
            m.tick_by_tick_bid_ask(v, 8, 1381152001, 168.26, 168.28, 500, 700),
            m.tick_by_tick_last(v, 8, 1381152002, 168.27, 100, "ARCA", ""),
            m.tick_by_tick_midpoint(v, 8, 1381152003, 168.275),
            m.tick_option_computation(v, 9, m.MODEL_OPTION, 0.1248, -0.4467, 28.1, 3.17, 0.0045, 2.758, -0.935,
                                      3216.19)]
    if v >= m.V_CURRENT_TIME_IN_MILLIS:
        msgs.append(m.current_time_in_millis(v, 1381152000456))
    calls = decode_ibapi(msgs, v)
    err = by_name(calls, "error")[0]
    assert (err[0], err[2], err[3]) == (42, 354, "Requested market data is not subscribed.")
    if v >= m.V_ERROR_TIME:
        assert err[1] == 1381152000123
    assert by_name(calls, "nextValidId")[0] == (1001,)
    assert by_name(calls, "managedAccounts")[0] == ("DU1234567",)
    assert by_name(calls, "currentTime")[0] == (1381152000,)
    assert by_name(calls, "marketDataType")[0] == (7, 3)
    tp = by_name(calls, "tickPrice")[0]
    assert tp[:3] == (7, 2, 168.28)
    assert (7, 3, Decimal(700)) in by_name(calls, "tickSize")
    assert (7, 8, Decimal(1234567)) in by_name(calls, "tickSize")
    assert by_name(calls, "tickString")[0] == (7, 45, "1381152000")
    assert by_name(calls, "tickGeneric")[0] == (7, 49, 0.0)
    assert by_name(calls, "tickReqParams")[0] == (7, 0.01, "9c0001", 3)
    assert by_name(calls, "tickSnapshotEnd")[0] == (7,)
    ba = by_name(calls, "tickByTickBidAsk")[0]
    assert ba[:6] == (8, 1381152001, 168.26, 168.28, Decimal(500), Decimal(700))
    last = by_name(calls, "tickByTickAllLast")[0]
    assert last[:5] == (8, 1, 1381152002, 168.27, Decimal(100)) and last[6:] == ("ARCA", "")
    assert by_name(calls, "tickByTickMidPoint")[0] == (8, 1381152003, 168.275)
    assert by_name(calls, "tickOptionComputation")[0] == (9, 13, 0, 0.1248, -0.4467, 28.1, 3.17, 0.0045, 2.758,
                                                            -0.935, 3216.19)
    if v >= m.V_CURRENT_TIME_IN_MILLIS:
        assert by_name(calls, "currentTimeInMillis")[0] == (1381152000456,)


# ---------------------------------------------------------------- contracts

CONTRACTS = [SPY, OPT, FUT, IND]


def _check_details(cd, c, req_id, got_req_id):
    assert got_req_id == req_id
    k = cd.contract
    assert (k.conId, k.symbol, k.secType, k.lastTradeDateOrContractMonth) == (c.con_id, c.symbol, c.sec_type,
                                                                             c.expiry)
    assert (k.strike, k.right, k.exchange, k.currency, k.localSymbol) == (c.strike, c.right, c.exchange,
                                                                         c.currency, c.local_symbol)
    assert (k.tradingClass, k.multiplier, k.primaryExchange) == (c.trading_class, c.multiplier,
                                                                  c.primary_exchange)
    assert cd.minTick == c.min_tick and cd.marketName == c.market_name
    assert cd.orderTypes == c.order_types and cd.validExchanges == c.valid_exchanges
    assert cd.underConId == c.under_con_id and cd.longName == c.long_name
    assert cd.timeZoneId == c.time_zone_id and cd.underSymbol == c.under_symbol
    assert cd.underSecType == c.under_sec_type and cd.marketRuleIds == c.market_rule_ids
    assert cd.stockType == c.stock_type


@pytest.mark.parametrize("v", IA_VERSIONS)
def test_contract_messages_ib_async(v):
    msgs = [mc.contract_data(v, 5, c) for c in CONTRACTS] + [mc.contract_data_end(v, 5)]
    msgs += [mc.sec_def_opt_params(v, 6, "SMART", SPY.con_id, "SPY", "100", ["20131018", "20131115"],
                                   [165.0, 170.0, 172.5]), mc.sec_def_opt_params_end(v, 6),
             mc.symbol_samples(v, 4, [SPY, IND], {SPY.con_id: ["OPT", "FUT"]})]
    calls = decode_ib_async(msgs, v)
    details = by_name(calls, "contractDetails")
    assert len(details) == 4
    for (req_id, cd), c in zip(details, CONTRACTS, strict=True):
        _check_details(cd, c, 5, req_id)
        if v >= mc.V_SIZE_RULES:
            assert cd.minSize == 1 and cd.sizeIncrement == 1
    assert by_name(calls, "contractDetailsEnd")[0] == (5,)
    sd = by_name(calls, "securityDefinitionOptionParameter")[0]
    assert sd == (6, "SMART", str(SPY.con_id), "SPY", "100", ["20131018", "20131115"], [165.0, 170.0, 172.5])
    assert by_name(calls, "securityDefinitionOptionParameterEnd")[0] == (6,)
    (req_id, descs) = by_name(calls, "symbolSamples")[0]
    assert req_id == 4 and [d.contract.conId for d in descs] == [SPY.con_id, IND.con_id]
    assert descs[0].derivativeSecTypes == ["OPT", "FUT"] and descs[1].contract.symbol == "SPX"


@pytest.mark.parametrize("v", IBAPI_VERSIONS)
def test_contract_messages_ibapi(v):
    msgs = [mc.contract_data(v, 5, c) for c in CONTRACTS] + [mc.contract_data_end(v, 5)]
    msgs += [mc.sec_def_opt_params(v, 6, "SMART", SPY.con_id, "SPY", "100", ["20131018", "20131115"],
                                   [165.0, 170.0, 172.5]), mc.sec_def_opt_params_end(v, 6),
             mc.symbol_samples(v, 4, [SPY, IND], {SPY.con_id: ["OPT", "FUT"]})]
    calls = decode_ibapi(msgs, v)
    details = by_name(calls, "contractDetails")
    for (req_id, cd), c in zip(details, CONTRACTS, strict=True):
        _check_details(cd, c, 5, req_id)
        if v >= mc.V_SIZE_RULES:
            assert cd.minSize == Decimal(1) and cd.suggestedSizeIncrement == Decimal(100 if c.sec_type == "STK" else 1)
        if v >= mc.V_LAST_TRADE_DATE:
            assert cd.contract.lastTradeDate == c.expiry
    assert by_name(calls, "contractDetailsEnd")[0] == (5,)
    sd = by_name(calls, "securityDefinitionOptionParameter")[0]
    assert sd == (6, "SMART", SPY.con_id, "SPY", "100", {"20131018", "20131115"}, {165.0, 170.0, 172.5})
    assert by_name(calls, "securityDefinitionOptionParameterEnd")[0] == (6,)
    (req_id, descs) = by_name(calls, "symbolSamples")[0]
    assert [d.contract.conId for d in descs] == [SPY.con_id, IND.con_id]
    assert descs[0].derivativeSecTypes == ["OPT", "FUT"]


def test_option_contract_from_store_instrument_has_occ_local_symbol():
    c = contract_from_instrument(dict(instrument_id="GOOG151224C00710000.XNAS", symbol="GOOG", asset_class="OPTION",
                                      venue="XNAS", underlying="GOOG", expiry=date(2015, 12, 24), strike=Decimal("710"),
                                      right="C", multiplier=100))
    assert c.local_symbol == "GOOG  151224C00710000" and c.multiplier == "100" and c.expiry == "20151224"


# ---------------------------------------------------------------- account

def _account_msgs(v):
    return [ma.account_value(v, "NetLiquidation", "1000123.45", "USD", "DU1234567"),
            ma.portfolio_value(v, OPT, Decimal("-3"), 1.35, -405.0, 133.0, -6.0, -12.5, "DU1234567"),
            ma.account_update_time(v, "15:59"), ma.account_download_end(v, "DU1234567"),
            ma.position(v, "DU1234567", SPY, Decimal("250"), 168.2), ma.position_end(v),
            ma.account_summary(v, 11, "DU1234567", "FullInitMarginReq", "10512.50", "USD"),
            ma.account_summary_end(v, 11),
            ma.account_update_multi(v, 12, "DU1234567", "", "TotalCashValue", "957000.00", "USD"),
            ma.account_update_multi_end(v, 12)]


@pytest.mark.parametrize("v", IA_VERSIONS)
def test_account_messages_ib_async(v):
    calls = decode_ib_async(_account_msgs(v), v)
    assert by_name(calls, "updateAccountValue")[0] == ("NetLiquidation", "1000123.45", "USD", "DU1234567")
    c, pos, mp, mv, ac, upnl, rpnl, acct = by_name(calls, "updatePortfolio")[0]
    assert (c.conId, c.right, c.strike, c.localSymbol, c.primaryExchange) == (OPT.con_id, "P", 170.0,
                                                                             OPT.local_symbol, "")
    assert (pos, mp, mv, ac, upnl, rpnl, acct) == (-3.0, 1.35, -405.0, 133.0, -6.0, -12.5, "DU1234567")
    assert by_name(calls, "updateAccountTime")[0] == ("15:59",)
    assert by_name(calls, "accountDownloadEnd")[0] == ("DU1234567",)
    acct, c, qty, cost = by_name(calls, "position")[0]
    assert (acct, c.conId, c.exchange, qty, cost) == ("DU1234567", SPY.con_id, "SMART", 250.0, 168.2)
    assert by_name(calls, "positionEnd")[0] == ()
    assert by_name(calls, "accountSummary")[0] == (11, "DU1234567", "FullInitMarginReq", "10512.50", "USD")
    assert by_name(calls, "accountSummaryEnd")[0] == (11,)
    assert by_name(calls, "accountUpdateMulti")[0] == (12, "DU1234567", "", "TotalCashValue", "957000.00", "USD")
    assert by_name(calls, "accountUpdateMultiEnd")[0] == (12,)


@pytest.mark.parametrize("v", IBAPI_VERSIONS)
def test_account_messages_ibapi(v):
    calls = decode_ibapi(_account_msgs(v), v)
    assert by_name(calls, "updateAccountValue")[0] == ("NetLiquidation", "1000123.45", "USD", "DU1234567")
    c, pos, mp, mv, ac, upnl, rpnl, acct = by_name(calls, "updatePortfolio")[0]
    assert (c.conId, c.right, c.strike, c.multiplier) == (OPT.con_id, "P", 170.0, "100")
    assert (pos, mp, mv, ac, upnl, rpnl, acct) == (Decimal(-3), 1.35, -405.0, 133.0, -6.0, -12.5, "DU1234567")
    assert by_name(calls, "updateAccountTime")[0] == ("15:59",)
    assert by_name(calls, "accountDownloadEnd")[0] == ("DU1234567",)
    acct, c, qty, cost = by_name(calls, "position")[0]
    assert (acct, c.conId, c.tradingClass, qty, cost) == ("DU1234567", SPY.con_id, SPY.trading_class,
                                                          Decimal(250), 168.2)
    assert by_name(calls, "positionEnd")[0] == ()
    assert by_name(calls, "accountSummary")[0] == (11, "DU1234567", "FullInitMarginReq", "10512.50", "USD")
    assert by_name(calls, "accountSummaryEnd")[0] == (11,)
    assert by_name(calls, "accountUpdateMulti")[0] == (12, "DU1234567", "", "TotalCashValue", "957000.00", "USD")
    assert by_name(calls, "accountUpdateMultiEnd")[0] == (12,)
