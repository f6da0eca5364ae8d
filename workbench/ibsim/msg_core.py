"""Encoders for connection, error and market-data messages (server -> client).

Each function takes the negotiated server version ``v`` first and returns the message's field list
(message id first); :func:`workbench.ibsim.wire.frame` turns it into bytes.  The layouts follow the
text decoders of ibapi 10.45 (``ibapi/decoder.py``) and ib_async 2.0.1 (``ib_async/decoder.py``);
the tests decode every message with both.
"""

from __future__ import annotations

from decimal import Decimal

# Incoming (server -> client) message ids, as in ibapi.message.IN.
TICK_PRICE = 1
TICK_SIZE = 2
ERR_MSG = 4
NEXT_VALID_ID = 9
MANAGED_ACCTS = 15
TICK_OPTION_COMPUTATION = 21
TICK_GENERIC = 45
TICK_STRING = 46
CURRENT_TIME = 49
MARKET_DATA_TYPE = 58
TICK_SNAPSHOT_END = 57
TICK_REQ_PARAMS = 81
TICK_BY_TICK = 99
CURRENT_TIME_IN_MILLIS = 109

# Tick types (ibapi.ticktype.TickTypeEnum).
BID_SIZE, BID, ASK, ASK_SIZE, LAST, LAST_SIZE = 0, 1, 2, 3, 4, 5
HIGH, LOW, VOLUME, CLOSE = 6, 7, 8, 9
LAST_TIMESTAMP = 45
MODEL_OPTION = 13

V_ERROR_TIME = 194
V_ADVANCED_ORDER_REJECT = 166
V_CURRENT_TIME_IN_MILLIS = 197

Size = int | Decimal


def error(v: int, req_id: int, code: int, text: str, advanced_json: str = "", error_time_ms: int = 0) -> list:
    """ERR_MSG.  From v194 the version field is gone and an error time (epoch ms) is appended."""
    head = [ERR_MSG] if v >= V_ERROR_TIME else [ERR_MSG, 2]
    out = head + [req_id, code, text]
    if v >= V_ADVANCED_ORDER_REJECT:
        out.append(advanced_json)
    if v >= V_ERROR_TIME:
        out.append(error_time_ms)
    return out


def next_valid_id(v: int, order_id: int) -> list:
    return [NEXT_VALID_ID, 1, order_id]


def managed_accounts(v: int, accounts: list[str]) -> list:
    return [MANAGED_ACCTS, 1, ",".join(accounts)]


def current_time(v: int, epoch_s: int) -> list:
    return [CURRENT_TIME, 1, epoch_s]


def current_time_in_millis(v: int, epoch_ms: int) -> list:
    if v < V_CURRENT_TIME_IN_MILLIS:
        raise ValueError(f"CURRENT_TIME_IN_MILLIS needs server version >= {V_CURRENT_TIME_IN_MILLIS}")
    return [CURRENT_TIME_IN_MILLIS, epoch_ms]


def market_data_type(v: int, req_id: int, md_type: int) -> list:
    return [MARKET_DATA_TYPE, 1, req_id, md_type]


def tick_price(v: int, req_id: int, tick_type: int, price: float, size: Size, attrib_mask: int = 0) -> list:
    """TICK_PRICE carries the size of bid/ask/last too (clients fan it out into a TICK_SIZE)."""
    return [TICK_PRICE, 6, req_id, tick_type, price, size, attrib_mask]


def tick_size(v: int, req_id: int, tick_type: int, size: Size) -> list:
    return [TICK_SIZE, 6, req_id, tick_type, size]


def tick_string(v: int, req_id: int, tick_type: int, value: str) -> list:
    return [TICK_STRING, 6, req_id, tick_type, value]


def tick_generic(v: int, req_id: int, tick_type: int, value: float) -> list:
    return [TICK_GENERIC, 6, req_id, tick_type, value]


def tick_snapshot_end(v: int, req_id: int) -> list:
    return [TICK_SNAPSHOT_END, 1, req_id]


def tick_req_params(v: int, req_id: int, min_tick: float, bbo_exchange: str, snapshot_permissions: int) -> list:
    return [TICK_REQ_PARAMS, req_id, min_tick, bbo_exchange, snapshot_permissions]


def tick_by_tick_bid_ask(
    v: int, req_id: int, epoch_s: int, bid: float, ask: float, bid_size: Size, ask_size: Size, mask: int = 0
) -> list:
    return [TICK_BY_TICK, req_id, 3, epoch_s, bid, ask, bid_size, ask_size, mask]


def tick_by_tick_last(
    v: int, req_id: int, epoch_s: int, price: float, size: Size, exchange: str = "", conditions: str = "",
    all_last: bool = False, mask: int = 0,
) -> list:
    return [TICK_BY_TICK, req_id, 2 if all_last else 1, epoch_s, price, size, mask, exchange, conditions]


def tick_by_tick_midpoint(v: int, req_id: int, epoch_s: int, mid: float) -> list:
    return [TICK_BY_TICK, req_id, 4, epoch_s, mid]


def tick_option_computation(
    v: int, req_id: int, tick_type: int, implied_vol: float, delta: float, opt_price: float,
    pv_dividend: float, gamma: float, vega: float, theta: float, und_price: float, tick_attrib: int = 0,
) -> list:
    """IB's "not computed" sentinels are -1 (iv, price, pvDividend, undPrice) and -2 (greeks);
    callers pass those for NaN.  ``tickAttrib`` (0 = return-based, 1 = price-based) exists from v156,
    below every version we negotiate, so it is always sent."""
    return [TICK_OPTION_COMPUTATION, req_id, tick_type, tick_attrib, implied_vol, delta, opt_price,
            pv_dividend, gamma, vega, theta, und_price]
