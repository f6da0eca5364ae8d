"""Lean equity-option zips: one CSV per contract -> option instruments, bars, open interest and
chain snapshots.

A chain snapshot is the market as it stood at one instant: for each contract the latest quote
bar that had *closed* by then (Lean records only changes, so the last one still stands), its
closing bid/ask and sizes; the day's last trade price and volume and the open interest from the
store (the trade and open-interest zips are ingested first); the underlying's price from its
quote bars (mid) or else trade bars. An option with no bid is bid 0 x 0 (the market's own
convention); an option with no ask has ask NaN.

Snapshot instants: minute files at ``snapshot_times`` (US/Eastern wall times, default 15:30,
clamped to the session close on half days), source ``lean``; daily files at each session's close,
source ``lean-eod`` (a minute snapshot at the close is a different observation of the same instant).

Options get BID/ASK bars rather than rows in ``quotes``: the engine bridge turns bars into quotes
when a backtest needs them, and ~2,000 contracts x a day of minutes is mostly one-sided noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.ingest.base import day_start_ns, f64, localize
from workbench.ingest.lean import DECI_CENTS, EASTERN, SOURCE, record, zip_members
from workbench.ingest.lean_frames import (
    OPEN_INTEREST,
    QUOTE_BAR,
    TRADE_BAR,
    Ctx,
    column_types,
    event_times,
    open_interest,
    quote_bars,
    read_members,
    trade_bars,
)
from workbench.ingest.lean_layout import BAR_NS, BAR_SIZE, LeanFile, parse_option_member
from workbench.ingest.sink import ensure_instruments, write_bars_many, write_open_interest_many
from workbench.store import Instrument
from workbench.store.calendars import calendar

DEFAULT_SNAPSHOT_TIMES = ("15:30",)


def option_handler(spec: LeanFile, snapshot_times: Sequence[str] | None) -> Any:
    times = tuple(snapshot_times or DEFAULT_SNAPSHOT_TIMES)
    parsed_times = [_wall_time(t) for t in times]

    def run(store: Any, path: Path, data: bytes, batch: Any) -> None:
        underlying = Instrument.equity(spec.symbol, source=SOURCE)
        ensure_instruments(store, [underlying])
        res = spec.resolution or "minute"
        daily = res in ("hour", "daily")
        names = {"trade": TRADE_BAR, "quote": QUOTE_BAR, "openinterest": OPEN_INTEREST}[spec.tick_type]
        members = list(zip_members(path, data))
        if not members:
            return
        contracts = []
        for member, _ in members:
            om = parse_option_member(str(path), member)
            contracts.append(Instrument.option(spec.symbol, underlying.instrument_id, om.expiry, om.right, om.strike,
                                               style=om.style, source=SOURCE))
        ensure_instruments(store, contracts)
        tbl, groups, starts = read_members(str(path), members, names, column_types(names, daily))
        ctx = Ctx(str(path), None, EASTERN, DECI_CENTS, BAR_NS[res], tuple(m for m, _ in members), groups, starts)
        ids = pa.array([c.instrument_id for c in contracts], pa.string()).take(pa.array(groups))
        ts = event_times(tbl, ctx, None if daily else spec.day)
        if spec.tick_type == "trade":
            write_bars_many(store, BAR_SIZE[res], trade_bars(tbl, ts, ctx, ids), price_type="TRADE", source=SOURCE)
        elif spec.tick_type == "openinterest":
            write_open_interest_many(store, open_interest(tbl, ts, ctx, ids), source=SOURCE)
        else:
            bid, ask, _quotes, repairs = quote_bars(tbl, ts, ctx, no_bid_is_zero=True, ids=ids)
            repairs.pop("quote_one_sided_dropped", None)  # options write no quotes rows
            repairs.pop("quote_crossed_dropped", None)
            record(batch, repairs)
            write_bars_many(store, BAR_SIZE[res], bid, price_type="BID", source=SOURCE)
            write_bars_many(store, BAR_SIZE[res], ask, price_type="ASK", source=SOURCE)
            state = _quote_state(tbl, ts, ctx).to_pandas()
            state["instrument_id"] = ids.to_numpy(zero_copy_only=False)
            meta = pd.DataFrame([{"instrument_id": c.instrument_id, "expiry": c.expiry, "strike": float(c.strike),
                                  "right": c.right} for c in contracts])
            source = SOURCE + ("-eod" if daily else "")
            for as_of, rows in _snapshots(state, daily, spec.day, parsed_times):
                _write_snapshot(store, underlying.instrument_id, as_of, rows.merge(meta, on="instrument_id"),
                                BAR_SIZE[res], daily, source)

    return run


def _wall_time(text: str) -> time:
    try:
        hh, mm = text.strip().split(":")
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValueError(f"snapshot time {text!r} must be HH:MM (US/Eastern)") from exc


def _quote_state(tbl: pa.Table, ts: np.ndarray, ctx: Ctx) -> pa.Table:
    """The standing quote after each bar: closing bid/ask at the bar's close time."""
    bid = f64(tbl, "bid_close") / ctx.scale
    ask = f64(tbl, "ask_close") / ctx.scale
    bid_size, ask_size = np.nan_to_num(f64(tbl, "bid_size")), np.nan_to_num(f64(tbl, "ask_size"))
    no_bid = np.isnan(bid)
    bid = np.where(no_bid, 0.0, bid)
    bid_size = np.where(no_bid, 0.0, bid_size)
    ask_size = np.where(np.isnan(ask), np.nan, ask_size)
    return pa.table({"ts_close": ts + ctx.bar_ns, "ts_open": ts, "bid": bid, "ask": ask,
                     "bid_size": bid_size, "ask_size": ask_size})


def _session_close(day: date) -> int | None:
    cal = calendar("XNYS")
    stamp = pd.Timestamp(day)
    if not cal.is_session(stamp):
        return None
    return int(cal.session_close(stamp).value)


def _snapshots(state: pd.DataFrame, daily: bool, day: date | None, times: list[time]):
    """Yield (as_of ns, last standing quote per contract) for each snapshot instant."""
    state = state.sort_values(["instrument_id", "ts_close"], kind="stable")
    if daily:
        sessions = pd.to_datetime(state["ts_open"], utc=True).dt.tz_convert(EASTERN).dt.date
        for d in sorted(set(sessions)):
            close = _session_close(d)
            if close is None:
                continue
            rows = state[sessions == d]
            yield close, rows.groupby("instrument_id", sort=True).tail(1)
        return
    close = _session_close(day)
    if close is None:
        return
    start = int(localize(np.array([day_start_ns(day)]), EASTERN)[0])
    for t in times:
        wall = day_start_ns(day) + (t.hour * 3600 + t.minute * 60) * 10**9
        as_of = min(int(localize(np.array([wall]), EASTERN)[0]), close)
        rows = state[(state["ts_close"] <= as_of) & (state["ts_open"] >= start)]
        if len(rows):
            yield as_of, rows.groupby("instrument_id", sort=True).tail(1)


def _write_snapshot(store: Any, underlying: str, as_of: int, rows: pd.DataFrame, bar_size: str,
                    daily: bool, source: str) -> None:
    """Join the day's trades and open interest from the store, then write the snapshot."""
    day_start = _local_midnight(as_of)
    bar_ns = 0 if daily else BAR_NS["minute"]  # a daily bar is stamped at midnight: it counts for its day
    store.con.register("_wb_chain", pa.table({"instrument_id": rows["instrument_id"].to_numpy()}))
    try:
        extra = store.con.execute(
            """SELECT c.instrument_id,
                      (SELECT arg_max(b.close, b.ts_event) FROM bars b WHERE b.instrument_id = c.instrument_id
                         AND b.bar_size = ? AND b.price_type = 'TRADE' AND b.ts_event >= ? AND b.ts_event + ? <= ?)
                         AS last,
                      (SELECT sum(b.volume) FROM bars b WHERE b.instrument_id = c.instrument_id
                         AND b.bar_size = ? AND b.price_type = 'TRADE' AND b.ts_event >= ? AND b.ts_event + ? <= ?)
                         AS volume,
                      (SELECT arg_max(o.open_interest, o.ts_event) FROM open_interest o
                         WHERE o.instrument_id = c.instrument_id AND o.ts_event >= ? AND o.ts_event <= ?)
                         AS open_interest
               FROM _wb_chain c""",
            [bar_size, day_start, bar_ns, as_of, bar_size, day_start, bar_ns, as_of, day_start, as_of]).df()
    finally:
        store.con.unregister("_wb_chain")
    frame = rows.merge(extra, on="instrument_id", how="left")
    frame["volume"] = frame["volume"].fillna(0.0)
    cols = ["instrument_id", "expiry", "strike", "right", "bid", "ask", "bid_size", "ask_size", "last", "volume",
            "open_interest"]
    store.write_chain(underlying, as_of, underlying_price(store, underlying, as_of, daily), frame[cols],
                      source=source)


def _local_midnight(ns: int) -> int:
    local = pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert(EASTERN).normalize()
    return int(local.value)


def underlying_price(store: Any, instrument_id: str, as_of: int, daily: bool) -> float | None:
    """The underlying's price at ``as_of`` from the store: for a daily snapshot the session's
    daily close; intraday the mid of the last closed BID/ASK minute bars of the session, else the
    last closed trade bar. ``None`` when the store has nothing (health flags that snapshot)."""
    start = _local_midnight(as_of)
    minute = BAR_NS["minute"]
    if daily:
        day = store.con.execute(
            "SELECT close FROM bars WHERE instrument_id = ? AND bar_size = '1d' AND price_type = 'TRADE' "
            "AND ts_event >= ? AND ts_event <= ?", [instrument_id, start, as_of]).fetchall()
        return float(day[0][0]) if day else None
    sides = dict(store.con.execute(
        "SELECT price_type, arg_max(close, ts_event) FROM bars WHERE instrument_id = ? AND bar_size = '1min' "
        "AND price_type IN ('BID', 'ASK') AND ts_event >= ? AND ts_event + ? <= ? GROUP BY price_type",
        [instrument_id, start, minute, as_of]).fetchall())
    if sides.get("BID") is not None and sides.get("ASK") is not None:
        return (sides["BID"] + sides["ASK"]) / 2.0
    last = store.con.execute(
        "SELECT arg_max(close, ts_event) FROM bars WHERE instrument_id = ? AND bar_size = '1min' "
        "AND price_type = 'TRADE' AND ts_event >= ? AND ts_event + ? <= ?",
        [instrument_id, start, minute, as_of]).fetchall()[0][0]
    return None if last is None else float(last)
