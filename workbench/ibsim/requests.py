"""Parsers for client requests (client -> server), version-aware.

The request layouts are those ``ibapi.client.EClient`` writes in text mode (ib_async's ``Client``
writes the same sequences for the versions it speaks).  Each parser returns a small frozen
dataclass; a malformed request raises :class:`RequestError`, which the session turns into IB's
error 320/321 instead of dropping the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from workbench.errors import WorkbenchError

from .contracts import ContractQuery

# Outgoing (client -> server) ids, as in ibapi.message.OUT.
REQ_MKT_DATA, CANCEL_MKT_DATA, PLACE_ORDER, CANCEL_ORDER, REQ_OPEN_ORDERS = 1, 2, 3, 4, 5
REQ_ACCT_DATA, REQ_EXECUTIONS, REQ_IDS, REQ_CONTRACT_DATA = 6, 7, 8, 9
REQ_AUTO_OPEN_ORDERS, REQ_ALL_OPEN_ORDERS, REQ_MANAGED_ACCTS = 15, 16, 17
REQ_HISTORICAL_DATA, CANCEL_HISTORICAL_DATA = 20, 25
REQ_CURRENT_TIME, REQ_REAL_TIME_BARS, CANCEL_REAL_TIME_BARS = 49, 50, 51
REQ_GLOBAL_CANCEL, REQ_MARKET_DATA_TYPE, REQ_POSITIONS = 58, 59, 61
REQ_ACCOUNT_SUMMARY, CANCEL_ACCOUNT_SUMMARY, CANCEL_POSITIONS = 62, 63, 64
START_API = 71
REQ_POSITIONS_MULTI, CANCEL_POSITIONS_MULTI, REQ_ACCOUNT_UPDATES_MULTI, CANCEL_ACCOUNT_UPDATES_MULTI = 74, 75, 76, 77
REQ_SEC_DEF_OPT_PARAMS, REQ_MATCHING_SYMBOLS = 78, 81
REQ_HEAD_TIMESTAMP, CANCEL_HEAD_TIMESTAMP = 87, 90
REQ_HISTORICAL_TICKS, REQ_TICK_BY_TICK_DATA, CANCEL_TICK_BY_TICK_DATA = 96, 97, 98
REQ_COMPLETED_ORDERS = 99
REQ_CURRENT_TIME_IN_MILLIS = 105

V_MANUAL_ORDER_TIME = 169
V_CME_TAGGING_FIELDS = 192
V_BOND_ISSUERID = 176


class RequestError(WorkbenchError, ValueError):
    """A request whose fields cannot be parsed; ``field`` names the offending field."""

    def __init__(self, msg_id: int, field: str, detail: str) -> None:
        super().__init__(detail, where=f"request {msg_id}: field {field!r}")
        self.msg_id = msg_id
        self.field = field


class Cursor:
    """Reads typed fields in order from one request."""

    def __init__(self, fields: list[str], msg_id: int) -> None:
        self._f = fields
        self._i = 0
        self.msg_id = msg_id

    def _next(self, name: str) -> str:
        if self._i >= len(self._f):
            raise RequestError(self.msg_id, name, "missing (message too short)")
        v = self._f[self._i]
        self._i += 1
        return v

    def str(self, name: str) -> str:
        return self._next(name)

    def int(self, name: str, default: int = 0) -> int:
        v = self._next(name)
        if v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise RequestError(self.msg_id, name, f"not an integer: {v!r}") from None

    def float(self, name: str) -> float | None:
        v = self._next(name)
        if v == "":
            return None
        try:
            x = float(v)
        except ValueError:
            raise RequestError(self.msg_id, name, f"not a number: {v!r}") from None
        return None if x >= 1.7e308 else x

    def decimal(self, name: str) -> Decimal:
        v = self._next(name)
        try:
            return Decimal(v or "0")
        except InvalidOperation:
            raise RequestError(self.msg_id, name, f"not a decimal: {v!r}") from None

    def bool(self, name: str) -> bool:
        v = self._next(name)
        return v not in ("", "0", "false", "False")

    def skip(self, n: int = 1) -> None:
        self._i += n

    def contract(self, with_con_id: bool = True, with_primary: bool = True) -> ContractQuery:
        con_id = self.int("contract.conId") if with_con_id else 0
        symbol = self.str("contract.symbol")
        sec_type = self.str("contract.secType")
        expiry = self.str("contract.lastTradeDateOrContractMonth")
        strike = self.float("contract.strike") or 0.0
        right = self.str("contract.right")
        multiplier = self.str("contract.multiplier")
        exchange = self.str("contract.exchange")
        primary = self.str("contract.primaryExchange") if with_primary else ""
        currency = self.str("contract.currency")
        local = self.str("contract.localSymbol")
        tclass = self.str("contract.tradingClass")
        return ContractQuery(con_id, symbol, sec_type, expiry, strike, right, multiplier, exchange, primary,
                             currency, local, tclass)


@dataclass(frozen=True)
class MktDataReq:
    req_id: int
    contract: ContractQuery
    generic_ticks: str
    snapshot: bool


@dataclass(frozen=True)
class PlaceOrderReq:
    order_id: int
    contract: ContractQuery
    action: str
    total_qty: Decimal
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    what_if: bool


@dataclass(frozen=True)
class HistDataReq:
    req_id: int
    contract: ContractQuery
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


@dataclass(frozen=True)
class HistTicksReq:
    req_id: int
    contract: ContractQuery
    start: str
    end: str
    number_of_ticks: int
    what_to_show: str
    use_rth: bool


@dataclass(frozen=True)
class TickByTickReq:
    req_id: int
    contract: ContractQuery
    tick_type: str


def parse_mkt_data(c: Cursor, v: int) -> MktDataReq:
    c.skip()  # version
    req_id = c.int("reqId")
    q = c.contract()
    if q.sec_type == "BAG":
        raise RequestError(c.msg_id, "contract.secType", "combo (BAG) market data is not simulated")
    if c.bool("deltaNeutralContract"):
        c.skip(3)
    generic = c.str("genericTickList")
    snapshot = c.bool("snapshot")
    return MktDataReq(req_id, q, generic, snapshot)


def parse_place_order(c: Cursor, v: int) -> PlaceOrderReq:
    """Reads the order fields up to ``whatIf``; later fields (conditions, MiFID, PEG offsets) are
    not used by the simulator and are left unread."""
    order_id = c.int("orderId")
    q = c.contract()
    c.skip(2)  # secIdType, secId
    action = c.str("action").upper()
    qty = c.decimal("totalQuantity")
    order_type = c.str("orderType").upper()
    lmt = c.float("lmtPrice")
    aux = c.float("auxPrice")
    tif = c.str("tif") or "DAY"
    oca = c.str("ocaGroup")
    account = c.str("account")
    c.skip(2)  # openClose, origin
    order_ref = c.str("orderRef")
    transmit = c.bool("transmit")
    parent_id = c.int("parentId")
    c.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = c.bool("outsideRth")
    c.skip(1)  # hidden
    if q.sec_type == "BAG":
        raise RequestError(c.msg_id, "contract.secType", "combo (BAG) orders are not simulated")
    c.skip(7)  # sharesAllocation discretionaryAmt goodAfterTime goodTillDate faGroup faMethod faPercentage
    if v < 177:
        c.skip(1)  # faProfile
    c.skip(1)  # modelCode
    c.skip(4)  # shortSaleSlot designatedLocation exemptCode ocaType
    c.skip(9)  # rule80A settlingFirm allOrNone minQty percentOffset eTradeOnly firmQuoteOnly nbboPriceCap
    # auctionStrategy
    c.skip(6)  # startingPrice stockRefPrice delta stockRangeLower stockRangeUpper overridePercentageConstraints
    c.skip(2)  # volatility volatilityType
    dn_type = c.str("deltaNeutralOrderType")
    c.skip(1)  # deltaNeutralAuxPrice
    if dn_type:
        c.skip(8)
    c.skip(5)  # continuousUpdate referencePriceType trailStopPrice trailingPercent scaleInitLevelSize
    c.skip(1)  # scaleSubsLevelSize
    scale_inc = c.float("scalePriceIncrement")
    if scale_inc and scale_inc > 0:
        c.skip(7)
    c.skip(3)  # scaleTable activeStartTime activeStopTime
    if c.str("hedgeType"):
        c.skip(1)
    c.skip(4)  # optOutSmartRouting clearingAccount clearingIntent notHeld
    if c.bool("deltaNeutralContract"):
        c.skip(3)
    if c.str("algoStrategy"):
        n = c.int("algoParamsCount")
        c.skip(2 * n)
    c.skip(1)  # algoId
    what_if = c.bool("whatIf")
    if qty <= 0:
        raise RequestError(c.msg_id, "totalQuantity", f"must be positive, got {qty}")
    if action not in ("BUY", "SELL", "SSHORT"):
        raise RequestError(c.msg_id, "action", f"must be BUY or SELL, got {action!r}")
    return PlaceOrderReq(order_id, q, "SELL" if action == "SSHORT" else action, qty, order_type, lmt, aux,
                         tif.upper(), oca, account, order_ref, transmit, parent_id, outside_rth, what_if)


def parse_cancel_order(c: Cursor, v: int) -> int:
    if v < V_CME_TAGGING_FIELDS:
        c.skip()
    return c.int("orderId")


def parse_contract_details(c: Cursor, v: int) -> tuple[int, ContractQuery, bool]:
    c.skip()  # version
    req_id = c.int("reqId")
    q = c.contract()
    include_expired = c.bool("includeExpired")
    return req_id, q, include_expired


def parse_historical_data(c: Cursor, v: int) -> HistDataReq:
    req_id = c.int("reqId")
    q = c.contract()
    c.skip()  # includeExpired
    end = c.str("endDateTime")
    bar_size = c.str("barSizeSetting")
    duration = c.str("durationStr")
    use_rth = c.bool("useRTH")
    what = c.str("whatToShow").upper()
    fmt_date = c.int("formatDate", 1)
    if q.sec_type == "BAG":
        raise RequestError(c.msg_id, "contract.secType", "combo (BAG) history is not simulated")
    keep = c.bool("keepUpToDate")
    return HistDataReq(req_id, q, end, bar_size, duration, use_rth, what, fmt_date, keep)


def parse_historical_ticks(c: Cursor, v: int) -> HistTicksReq:
    req_id = c.int("reqId")
    q = c.contract()
    c.skip()  # includeExpired
    start = c.str("startDateTime")
    end = c.str("endDateTime")
    n = c.int("numberOfTicks")
    what = c.str("whatToShow").upper()
    use_rth = c.bool("useRth")
    return HistTicksReq(req_id, q, start, end, n, what, use_rth)


def parse_tick_by_tick(c: Cursor, v: int) -> TickByTickReq:
    req_id = c.int("reqId")
    q = c.contract()
    return TickByTickReq(req_id, q, c.str("tickType"))


def parse_head_timestamp(c: Cursor, v: int) -> tuple[int, ContractQuery, bool, str, int]:
    req_id = c.int("reqId")
    q = c.contract()
    c.skip()  # includeExpired
    use_rth = c.bool("useRTH")
    what = c.str("whatToShow").upper()
    return req_id, q, use_rth, what, c.int("formatDate", 1)


def parse_real_time_bars(c: Cursor, v: int) -> tuple[int, ContractQuery, int, str, bool]:
    c.skip()  # version
    req_id = c.int("reqId")
    q = c.contract()
    return req_id, q, c.int("barSize"), c.str("whatToShow").upper(), c.bool("useRTH")
