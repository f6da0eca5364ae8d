"""Reads: Arrow first (DuckDB hands Arrow over without copying), polars zero-copy from Arrow,
pandas on request."""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa

from workbench.store.timeutil import to_ns

FORMATS = ("pandas", "polars", "arrow")


def _out(rel: Any, as_: str) -> Any:
    if as_ not in FORMATS:
        raise ValueError(f"as_={as_!r}: choose one of {FORMATS}")
    tbl: pa.Table = rel.to_arrow_table()
    if as_ == "arrow":
        return tbl
    if as_ == "polars":
        return pl.from_arrow(tbl)
    return tbl.to_pandas()


def _window(sql: str, params: list[Any], start: Any, end: Any, col: str = "ts_event") -> str:
    if start is not None:
        sql += f" AND {col} >= ?"
        params.append(to_ns(start))
    if end is not None:
        sql += f" AND {col} < ?"
        params.append(to_ns(end))
    return sql


class ReadsMixin:
    con: Any

    def read_bars(self, instrument_id: str, bar_size: str = "1min", start: Any = None, end: Any = None, *,
                  price_type: str = "TRADE", adjusted: bool = False, as_: str = "pandas") -> Any:
        """Bars in ``[start, end)`` by bar open time (UTC ns).

        Prices are stored raw. ``adjusted=True`` applies the split and dividend factors stored for
        the instrument (Lean factor files): a session is scaled by the factor row with the earliest
        date on or after it; volume is divided by the split factor.
        """
        params: list[Any] = [instrument_id, bar_size, price_type]
        where = _window("WHERE instrument_id = ? AND bar_size = ? AND price_type = ?", params, start, end)
        if not adjusted:
            sql = f"SELECT ts_event, open, high, low, close, volume FROM bars {where} ORDER BY ts_event"
        else:
            sql = f"""
            WITH b AS (SELECT *, CAST(timezone('America/New_York', make_timestamp(ts_event // 1000)) AS DATE) AS d
                       FROM bars {where}),
                 f AS (SELECT date, price_factor * split_factor AS pf, split_factor AS sf
                       FROM corporate_actions WHERE instrument_id = ?)
            SELECT b.ts_event, b.open * coalesce(f.pf, 1) AS open, b.high * coalesce(f.pf, 1) AS high,
                   b.low * coalesce(f.pf, 1) AS low, b.close * coalesce(f.pf, 1) AS close,
                   b.volume / coalesce(f.sf, 1) AS volume
            FROM b ASOF LEFT JOIN f ON b.d <= f.date ORDER BY b.ts_event"""
            params.append(instrument_id)
        return _out(self.con.sql(sql, params=params), as_)

    def read_quotes(self, instrument_id: str, start: Any = None, end: Any = None, *, as_: str = "pandas") -> Any:
        params: list[Any] = [instrument_id]
        where = _window("WHERE instrument_id = ?", params, start, end)
        sql = f"SELECT ts_event, bid, ask, bid_size, ask_size FROM quotes {where} ORDER BY ts_event, seq"
        return _out(self.con.sql(sql, params=params), as_)

    def read_trades(self, instrument_id: str, start: Any = None, end: Any = None, *, as_: str = "pandas") -> Any:
        params: list[Any] = [instrument_id]
        where = _window("WHERE instrument_id = ?", params, start, end)
        sql = f"SELECT ts_event, price, size FROM trades {where} ORDER BY ts_event, seq"
        return _out(self.con.sql(sql, params=params), as_)

    def read_open_interest(self, instrument_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        params: list[Any] = [instrument_id]
        where = _window("WHERE instrument_id = ?", params, start, end)
        return self.con.execute(f"SELECT ts_event, open_interest FROM open_interest {where} ORDER BY ts_event",
                                params).df()

    def chain_snapshots(self, underlying: str | None = None) -> pd.DataFrame:
        sql = """SELECT s.snapshot_id, s.underlying, s.as_of, s.underlying_price, s.source, s.downloaded_at,
                        count(r.instrument_id) AS n_rows
                 FROM chain_snapshots s LEFT JOIN chain_rows r USING (snapshot_id)"""
        params: list[Any] = []
        if underlying:
            sql += " WHERE s.underlying = ?"
            params.append(underlying)
        return self.con.execute(sql + " GROUP BY ALL ORDER BY s.underlying, s.as_of, s.source", params).df()

    def read_chain(self, underlying: str, as_of: Any = None, *, source: str | None = None,
                   as_: str = "pandas") -> Any:
        """One chain snapshot: the one at ``as_of`` exactly, or the latest at or before it (latest if None)."""
        params: list[Any] = [underlying]
        sql = "SELECT snapshot_id FROM chain_snapshots WHERE underlying = ?"
        if as_of is not None:
            sql += " AND as_of <= ?"
            params.append(to_ns(as_of))
        if source:
            sql += " AND source = ?"
            params.append(source)
        row = self.con.execute(sql + " ORDER BY as_of DESC, source LIMIT 1", params).fetchall()
        row = row[0] if row else None
        if row is None:
            raise LookupError(f"no chain snapshot for {underlying!r}" + (f" at or before {as_of}" if as_of else ""))
        rel = self.con.sql(
            """SELECT r.instrument_id, r.expiry, r.strike, r."right", r.bid, r.ask, r.bid_size, r.ask_size, r.last,
                      r.volume, r.open_interest, r.iv, r.delta, r.gamma, r.vega, r.theta, r.rho,
                      s.underlying_price, r.forward, s.as_of
               FROM chain_rows r JOIN chain_snapshots s USING (snapshot_id)
               WHERE snapshot_id = ? ORDER BY r.expiry, r.strike, r."right" """, params=[row[0]])
        return _out(rel, as_)
