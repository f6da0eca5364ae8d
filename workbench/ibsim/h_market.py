"""Request handlers for market data: streaming quotes, tick-by-tick, history, head timestamp.

Streaming follows TWS: on subscription the client receives ``tickReqParams`` and the current book,
then a TICK_PRICE (with size) whenever bid or ask price changes and a TICK_SIZE when only a size
changes.  With no live permission for a security type the request fails with 354 unless the client
asked for delayed data (``reqMarketDataType(3)``), in which case delayed tick types are sent after
error 10167, as TWS does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np

from . import msg_core as m
from . import msg_history as mh
from . import requests as rq
from .broker import Reject
from .contracts import ContractQuery, SimContract
from .histrules import (
    NS,
    HistoryRequestError,
    aggregate,
    format_bar_time,
    format_ib_datetime,
    parse_ib_datetime,
    validate,
)
from .market import Bars
from .wire import bid_ask_frame

if TYPE_CHECKING:
    from .session import MktSub, Session

DELAYED = {m.BID: 66, m.ASK: 67, m.BID_SIZE: 69, m.ASK_SIZE: 70}
SUPPORTED_GENERIC_TICKS = {"", "221", "225", "233", "236", "258", "165", "100", "101", "104", "106", "411", "456"}
NO_DATA = "Historical Market Data Service error message:HMDS query returned no data: {sym}@{exch} {what}"


def resolve(s: Session, q: ContractQuery, req_id: int) -> SimContract:
    hits = s.gw.catalog.match(q)
    if len(hits) != 1:
        why = "No security definition has been found for the request" if not hits else (
            f"The contract description specified is ambiguous ({len(hits)} matches)")
        raise Reject(200, why)
    return hits[0]


def _size(x: float) -> int | Decimal:
    # Whole sizes go out as ints (cheap to format); fractional sizes keep exact decimal digits.
    return int(x) if float(x).is_integer() else Decimal(str(x))


def emit_quote(s: Session, sub: MktSub, ts: int, bid: float, ask: float, bsz: float, asz: float) -> None:
    v = s.version
    new = (bid, ask, bsz, asz)
    old = sub.last or (None, None, None, None)
    if sub.kind == "mkt":
        bid_t, ask_t = (DELAYED[m.BID], DELAYED[m.ASK]) if sub.delayed else (m.BID, m.ASK)
        bsz_t, asz_t = (DELAYED[m.BID_SIZE], DELAYED[m.ASK_SIZE]) if sub.delayed else (m.BID_SIZE, m.ASK_SIZE)
        if bid != old[0]:
            s.send(m.tick_price(v, sub.req_id, bid_t, bid, _size(bsz)))
        elif bsz != old[2]:
            s.send(m.tick_size(v, sub.req_id, bsz_t, _size(bsz)))
        if ask != old[1]:
            s.send(m.tick_price(v, sub.req_id, ask_t, ask, _size(asz)))
        elif asz != old[3]:
            s.send(m.tick_size(v, sub.req_id, asz_t, _size(asz)))
    elif sub.kind == "BidAsk":
        if new != sub.last:
            s.send_frame(m.TICK_BY_TICK, bid_ask_frame(sub.req_id, ts // NS, bid, ask, bsz, asz))
    elif sub.kind == "MidPoint":
        if (bid, ask) != old[:2]:
            s.send(m.tick_by_tick_midpoint(v, sub.req_id, ts // NS, round((bid + ask) / 2, 10)))
    elif sub.kind == "rtb":
        _real_time_bar(s, sub, ts, (bid + ask) / 2)
    sub.last = new


def _real_time_bar(s: Session, sub: MktSub, ts: int, mid: float) -> None:
    bucket = ts // (5 * NS)
    if sub.bucket not in (-1, bucket) and sub.agg:
        o, h, low, c, n = sub.agg[0], max(sub.agg), min(sub.agg), sub.agg[-1], len(sub.agg)
        s.send(mh.real_time_bar(s.version, sub.req_id, sub.bucket * 5, o, h, low, c, Decimal(0),
                                Decimal(str(round(sum(sub.agg) / n, 6))), n))
        sub.agg = []
    sub.bucket = bucket
    sub.agg.append(mid)


def _subscribe(s: Session, req_id: int, c: SimContract, kind: str, generic: str = "") -> None:
    from .session import MktSub

    live = c.sec_type in s.gw.config.live_sec_types
    delayed = False
    if not live:
        if s.md_type in (3, 4) and kind == "mkt":
            delayed = True
            s.error(req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data.")
        elif kind != "mkt":
            raise Reject(10089, "Requested market data requires additional subscription for API. See link in "
                                "'Market Data Connections' dialog for more details.Delayed market data is available.")
        else:
            raise Reject(354, "Requested market data is not subscribed.")
    unknown = sorted(set(generic.split(",")) - SUPPORTED_GENERIC_TICKS)
    if unknown:
        s.error(req_id, 10090, "Part of requested market data is not subscribed. Subscription-independent ticks "
                               f"are still active.Delayed market data is not available.{','.join(unknown)}")
    sub = MktSub(req_id, c.con_id, kind, delayed)
    s.subs[req_id] = sub
    if kind == "mkt":
        s.send(m.tick_req_params(s.version, req_id, c.min_tick, "9c0001", 3))
        if delayed or s.md_type != 1:
            s.send(m.market_data_type(s.version, req_id, 3 if delayed else s.md_type))
    s.gw.watch(c.con_id)
    book = s.gw.book_at(c.con_id, s.gw.replayed_to(c.con_id))  # in step with the replay (see replayed_to)
    if book is not None:
        emit_quote(s, sub, *book)


def req_mkt_data(s: Session, c: rq.Cursor) -> None:
    r = rq.parse_mkt_data(c, s.version)
    contract = resolve(s, r.contract, r.req_id)
    if r.snapshot:
        book = s.gw.book_at(contract.con_id, s.gw.clock.now_ns())
        if book is not None:
            ts, bid, ask, bsz, asz = book
            s.send(m.tick_price(s.version, r.req_id, m.BID, bid, _size(bsz)))
            s.send(m.tick_price(s.version, r.req_id, m.ASK, ask, _size(asz)))
        s.send(m.tick_snapshot_end(s.version, r.req_id))
        return
    _subscribe(s, r.req_id, contract, "mkt", r.generic_ticks)


def cancel_mkt_data(s: Session, c: rq.Cursor) -> None:
    c.skip()
    req_id = c.int("reqId")
    if s.subs.pop(req_id, None) is None:
        s.error(req_id, 300, f"Can't find EId with tickerId:{req_id}")


def req_tick_by_tick(s: Session, c: rq.Cursor) -> None:
    r = rq.parse_tick_by_tick(c, s.version)
    kind = {"bidask": "BidAsk", "midpoint": "MidPoint", "last": "Last", "alllast": "AllLast"}.get(r.tick_type.lower())
    if kind is None:
        raise Reject(321, f"Error validating request.-'bP' : cause - unknown tick-by-tick type {r.tick_type!r}")
    _subscribe(s, r.req_id, resolve(s, r.contract, r.req_id), kind)


def cancel_tick_by_tick(s: Session, c: rq.Cursor) -> None:
    s.subs.pop(c.int("reqId"), None)


def req_real_time_bars(s: Session, c: rq.Cursor) -> None:
    req_id, q, bar_size, _what, _rth = rq.parse_real_time_bars(c, s.version)
    if bar_size != 5:
        raise Reject(321, "Error validating request.-'bR' : cause - only 5 second real-time bars are supported")
    _subscribe(s, req_id, resolve(s, q, req_id), "rtb")


def cancel_real_time_bars(s: Session, c: rq.Cursor) -> None:
    c.skip()
    s.subs.pop(c.int("reqId"), None)


def req_market_data_type(s: Session, c: rq.Cursor) -> None:
    c.skip()
    t = c.int("marketDataType")
    if t not in (1, 2, 3, 4):
        raise Reject(321, f"Error validating request: marketDataType must be 1-4, got {t}")
    s.md_type = t


# ---------------------------------------------------------------------- history


def _rth_mask(ts: np.ndarray, c: SimContract) -> np.ndarray:
    """Regular trading hours 09:30-16:00 New York for US stocks/options/indices (futures: all hours)."""
    if c.sec_type == "FUT":
        return np.ones(len(ts), dtype=bool)
    import pandas as pd

    local = pd.DatetimeIndex(ts, tz="UTC").tz_convert("America/New_York")
    minutes = local.hour * 60 + local.minute
    return np.asarray((minutes >= 570) & (minutes < 960))


def _bars_for(s: Session, c: SimContract, what: str, start_ns: int, end_ns: int) -> Bars:
    src = s.gw.source
    if what in ("TRADES", "ADJUSTED_LAST"):
        return src.bars(c.instrument_id, start_ns, end_ns, "TRADE")
    q = src.quotes(c.instrument_id, start_ns, end_ns)
    if not len(q):
        return Bars.empty()
    series = {"BID": q.bid, "ASK": q.ask}.get(what, (q.bid + q.ask) / 2.0)
    key = q.ts // (60 * NS)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(q.ts)]
    z = np.zeros(len(starts))
    return Bars(key[starts] * 60 * NS, series[starts], np.maximum.reduceat(series, starts),
                np.minimum.reduceat(series, starts), series[ends - 1], z)


def req_historical_data(s: Session, c: rq.Cursor) -> None:
    r = rq.parse_historical_data(c, s.version)
    contract = resolve(s, r.contract, r.req_id)
    spec = validate(r.bar_size, r.duration, r.what_to_show)
    now = s.gw.clock.now_ns()
    end_ns = parse_ib_datetime(r.end, s.gw.config.tws_timezone, now) if not r.keep_up_to_date else now
    if r.keep_up_to_date and r.end:
        raise Reject(321, "Error validating request.-'bP' : cause - End date not supported with live updates")
    identity = (contract.con_id, end_ns, r.duration, r.bar_size, r.what_to_show, r.use_rth)
    reason = s.gw.pacer.check(now, identity, (contract.con_id, contract.exchange, r.what_to_show))
    if reason is not None:
        raise HistoryRequestError(162, "Historical Market Data Service error message:Historical data request "
                                       f"pacing violation ({reason})")
    start_ns = end_ns - spec.duration_seconds * NS
    bars = _bars_for(s, contract, r.what_to_show, start_ns, end_ns)
    if len(bars) and r.use_rth:
        mask = _rth_mask(bars.ts, contract)
        bars = Bars(*(a[mask] for a in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)))
    if not len(bars):
        raise HistoryRequestError(162, NO_DATA.format(sym=contract.symbol, exch=contract.exchange,
                                                      what=r.what_to_show.title()))
    agg = aggregate(bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, spec.bar_seconds,
                    s.gw.config.tws_timezone)
    tick = contract.min_tick
    tz = contract.time_zone_id
    def px(field: str, k: int) -> float:  # snap to the tick; round() drops binary noise like 168.27000000000001
        return round(round(float(agg[field][k]) / tick) * tick, 10)

    wire = [mh.WireBar(format_bar_time(int(agg["ts"][k]), spec.bar_seconds, r.format_date, tz), px("open", k),
                       px("high", k), px("low", k), px("close", k), _size(round(float(agg["volume"][k]))),
                       Decimal(str(round(float(agg["wap"][k]), 4))), int(agg["count"][k]))
            for k in range(len(agg["ts"]))]
    for msg in mh.historical_data(s.version, r.req_id, format_ib_datetime(start_ns, tz), format_ib_datetime(end_ns, tz),
                                  wire):
        s.send(msg)
    if r.keep_up_to_date:
        s.hist_updates[r.req_id] = contract.con_id


def cancel_historical_data(s: Session, c: rq.Cursor) -> None:
    c.skip()
    s.hist_updates.pop(c.int("reqId"), None)


def req_head_timestamp(s: Session, c: rq.Cursor) -> None:
    req_id, q, _rth, what, fmt_date = rq.parse_head_timestamp(c, s.version)
    contract = resolve(s, q, req_id)
    first = s.gw.source.first_timestamp(contract.instrument_id)
    if first is None:
        raise HistoryRequestError(162, NO_DATA.format(sym=contract.symbol, exch=contract.exchange, what=what.title()))
    text = str(first // NS) if fmt_date == 2 else format_ib_datetime(first, contract.time_zone_id)
    s.send(mh.head_timestamp(s.version, req_id, text))


def req_historical_ticks(s: Session, c: rq.Cursor) -> None:
    r = rq.parse_historical_ticks(c, s.version)
    contract = resolve(s, r.contract, r.req_id)
    if bool(r.start) == bool(r.end):
        raise Reject(321, "Error validating request.-'bW' : cause - exactly one of start and end must be set")
    if not 0 < r.number_of_ticks <= 1000:
        raise Reject(321, "Error validating request.-'bW' : cause - numberOfTicks must be 1..1000")
    now = s.gw.clock.now_ns()
    reason = s.gw.pacer.check(now, (contract.con_id, r.start, r.end, r.what_to_show, r.number_of_ticks),
                              (contract.con_id, contract.exchange, r.what_to_show))
    if reason is not None:
        raise HistoryRequestError(162, f"Historical Market Data Service error message:Historical data request "
                                       f"pacing violation ({reason})")
    tz = s.gw.config.tws_timezone
    if r.start:
        lo = parse_ib_datetime(r.start, tz, now)
        q = s.gw.source.quotes(contract.instrument_id, lo, now + 1)
        q = q.window(lo, now + 1)
        sel = slice(0, r.number_of_ticks)
    else:
        hi = parse_ib_datetime(r.end, tz, now)
        q = s.gw.source.quotes(contract.instrument_id, hi - 86400 * NS, hi + 1)
        sel = slice(max(0, len(q) - r.number_of_ticks), len(q))
    ts, bid, ask = q.ts[sel] // NS, q.bid[sel], q.ask[sel]
    bsz, asz = q.bid_size[sel], q.ask_size[sel]
    if r.what_to_show == "BID_ASK":
        ticks = [(int(ts[k]), float(bid[k]), float(ask[k]), _size(bsz[k]), _size(asz[k])) for k in range(len(ts))]
        s.send(mh.historical_ticks_bid_ask(s.version, r.req_id, ticks, True))
    elif r.what_to_show == "MIDPOINT":
        ticks = [(int(ts[k]), round(float(bid[k] + ask[k]) / 2, 10), Decimal(0)) for k in range(len(ts))]
        s.send(mh.historical_ticks_midpoint(s.version, r.req_id, ticks, True))
    else:
        raise Reject(321, "Error validating request.-'bW' : cause - the simulator serves BID_ASK and MIDPOINT ticks")


HANDLERS = {
    rq.REQ_MKT_DATA: req_mkt_data, rq.CANCEL_MKT_DATA: cancel_mkt_data,
    rq.REQ_TICK_BY_TICK_DATA: req_tick_by_tick, rq.CANCEL_TICK_BY_TICK_DATA: cancel_tick_by_tick,
    rq.REQ_REAL_TIME_BARS: req_real_time_bars, rq.CANCEL_REAL_TIME_BARS: cancel_real_time_bars,
    rq.REQ_MARKET_DATA_TYPE: req_market_data_type, rq.REQ_HISTORICAL_DATA: req_historical_data,
    rq.CANCEL_HISTORICAL_DATA: cancel_historical_data, rq.REQ_HEAD_TIMESTAMP: req_head_timestamp,
    rq.REQ_HISTORICAL_TICKS: req_historical_ticks,
}
