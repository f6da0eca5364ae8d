"""Encoders for historical data: bars, ticks, head timestamp, real-time bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

HISTORICAL_DATA = 17
REAL_TIME_BARS = 50
HEAD_TIMESTAMP = 88
HISTORICAL_DATA_UPDATE = 90
HISTORICAL_TICKS = 96
HISTORICAL_TICKS_BID_ASK = 97
HISTORICAL_TICKS_LAST = 98
HISTORICAL_DATA_END = 108

V_HISTORICAL_DATA_END = 196


@dataclass(frozen=True)
class WireBar:
    """One bar as IB sends it: ``date`` is already formatted (formatDate 1 or 2)."""

    date: str
    open: float
    high: float
    low: float
    close: float
    volume: Decimal
    wap: Decimal
    count: int


def historical_data(v: int, req_id: int, start: str, end: str, bars: Sequence[WireBar]) -> list[list]:
    """HISTORICAL_DATA, plus the separate HISTORICAL_DATA_END message from v196.

    Returns a list of messages because the end marker became its own message at v196."""
    out: list = [HISTORICAL_DATA, req_id]
    if v < V_HISTORICAL_DATA_END:
        out += [start, end]
    out.append(len(bars))
    for b in bars:
        out += [b.date, b.open, b.high, b.low, b.close, b.volume, b.wap, b.count]
    msgs = [out]
    if v >= V_HISTORICAL_DATA_END:
        msgs.append([HISTORICAL_DATA_END, req_id, start, end])
    return msgs


def historical_data_update(v: int, req_id: int, b: WireBar) -> list:
    return [HISTORICAL_DATA_UPDATE, req_id, b.count, b.date, b.open, b.close, b.high, b.low, b.wap, b.volume]


def real_time_bar(v: int, req_id: int, epoch_s: int, o: float, h: float, low: float, c: float, volume: Decimal,
                  wap: Decimal, count: int) -> list:
    return [REAL_TIME_BARS, 3, req_id, epoch_s, o, h, low, c, volume, wap, count]


def head_timestamp(v: int, req_id: int, ts: str) -> list:
    return [HEAD_TIMESTAMP, req_id, ts]


def historical_ticks_midpoint(v: int, req_id: int, ticks: Sequence[tuple[int, float, Decimal]], done: bool) -> list:
    out: list = [HISTORICAL_TICKS, req_id, len(ticks)]
    for t, price, size in ticks:
        out += [t, 0, price, size]  # the 0 is an unused field kept "for consistency" by IB
    out.append(done)
    return out


def historical_ticks_bid_ask(
    v: int, req_id: int, ticks: Sequence[tuple[int, float, float, Decimal, Decimal]], done: bool
) -> list:
    out: list = [HISTORICAL_TICKS_BID_ASK, req_id, len(ticks)]
    for t, bid, ask, bid_size, ask_size in ticks:
        out += [t, 0, bid, ask, bid_size, ask_size]
    out.append(done)
    return out


def historical_ticks_last(
    v: int, req_id: int, ticks: Sequence[tuple[int, float, Decimal, str, str]], done: bool
) -> list:
    out: list = [HISTORICAL_TICKS_LAST, req_id, len(ticks)]
    for t, price, size, exchange, conditions in ticks:
        out += [t, 0, price, size, exchange, conditions]
    out.append(done)
    return out
