"""Exchange-calendar aware coverage: which sessions have data, which windows are missing.

Coverage is judged against the instrument's real exchange calendar (``exchange_calendars``:
XNYS for US equities and options, CMES for CME equity futures), so holidays are not gaps and
half days (e.g. 2015-12-24 closing 13:00 ET) are sessions like any other.

A timestamp belongs to the first session whose close is after it. Intraday bars count only
inside the regular session ``[open, close)`` — pre/post-market bars do not make a day present;
daily bars (stamped at local midnight) count for the session they precede.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import exchange_calendars as xcals
import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class Window:
    """A run of consecutive sessions with no data: ``[first, last]`` sessions, ``[start_ns, end_ns)`` in UTC."""

    first: date
    last: date
    start_ns: int
    end_ns: int

    @property
    def sessions(self) -> int:
        return int(np.busday_count(self.first, self.last)) + 1  # upper bound; exact count via calendar


@lru_cache(maxsize=16)
def calendar(name: str) -> Any:
    return xcals.get_calendar(name, start="1990-01-01", end="2035-12-31")


@lru_cache(maxsize=64)
def _schedule(name: str, start: date, end: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cal = calendar(name)
    sched = cal.schedule.loc[pd.Timestamp(start):pd.Timestamp(end)]
    sessions = sched.index.values.astype("datetime64[D]")
    opens = sched["open"].values.astype("datetime64[ns]").astype(np.int64)
    closes = sched["close"].values.astype("datetime64[ns]").astype(np.int64)
    return sessions, opens, closes


def session_mask(ts: np.ndarray, cal_name: str, start: date, end: date, intraday: bool) -> np.ndarray:
    """Boolean per session in ``[start, end]``: has at least one qualifying timestamp."""
    sessions, opens, closes = _schedule(cal_name, start, end)
    present = np.zeros(len(sessions), dtype=bool)
    if len(ts) == 0 or len(sessions) == 0:
        return present
    idx = np.searchsorted(closes, ts, side="right")
    ok = idx < len(sessions)
    if intraday:
        ok &= ts >= opens[np.minimum(idx, len(sessions) - 1)]
    present[idx[ok]] = True
    # timestamps before the first session's window belong to an earlier session
    if not intraday:
        lead = ts < (opens[0] - 86_400 * 10**9)
        if lead.any():
            present[0] = present[0] and not lead.all()
    return present


def _dates(start: Any, end: Any) -> tuple[date, date]:
    return pd.Timestamp(start).date(), pd.Timestamp(end).date()


def _ts_for(store: Any, instrument_ids: list[str], bar_size: str, lo: int, hi: int) -> dict[str, np.ndarray]:
    tbl = store.con.sql(
        "SELECT instrument_id, ts_event FROM bars WHERE instrument_id IN (SELECT unnest(?)) AND bar_size = ? "
        "AND price_type = 'TRADE' AND ts_event BETWEEN ? AND ? ORDER BY instrument_id, ts_event",
        params=[instrument_ids, bar_size, lo, hi]).to_arrow_table()
    ids = tbl.column("instrument_id").to_numpy(zero_copy_only=False)
    ts = tbl.column("ts_event").to_numpy()
    out = {i: ts[:0] for i in instrument_ids}
    if len(ids):
        bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        for chunk_ids, chunk_ts in zip(np.split(ids, bounds), np.split(ts, bounds), strict=True):
            out[str(chunk_ids[0])] = chunk_ts
    return out


def _calendar_of(store: Any, instrument_id: str) -> str:
    return store.instrument(instrument_id).calendar


def present_dates(store: Any, instrument_id: str, bar_size: str, start: Any, end: Any) -> list[date]:
    """Sessions in ``[start, end]`` (dates, inclusive) that have ``bar_size`` TRADE bars."""
    d0, d1 = _dates(start, end)
    cal = _calendar_of(store, instrument_id)
    sessions, opens, closes = _schedule(cal, d0, d1)
    if len(sessions) == 0:
        return []
    lo, hi = int(opens[0]) - 2 * 86_400 * 10**9, int(closes[-1])
    ts = _ts_for(store, [instrument_id], bar_size, lo, hi)[instrument_id]
    mask = session_mask(ts, cal, d0, d1, intraday=bar_size != "1d")
    return [pd.Timestamp(s).date() for s in sessions[mask]]


def missing_windows(store: Any, instrument_ids: str | list[str], bar_size: str, start: Any, end: Any
                    ) -> list[Window] | dict[str, list[Window]]:
    """Runs of consecutive calendar sessions without bars, per instrument.

    One id gives a list of :class:`Window`; a list of ids gives ``{id: [Window, ...]}`` from a
    single query (this is what backfill planners call for hundreds of symbols).
    """
    single = isinstance(instrument_ids, str)
    ids = [instrument_ids] if single else list(instrument_ids)
    d0, d1 = _dates(start, end)
    cals = dict(store.con.execute("SELECT instrument_id, calendar FROM instruments WHERE instrument_id IN "
                                  "(SELECT unnest(?))", [ids]).fetchall())
    unknown = sorted(set(ids) - set(cals))
    if unknown:
        raise KeyError(f"unknown instrument(s): {', '.join(unknown[:5])}")
    result: dict[str, list[Window]] = {}
    by_cal: dict[str, list[str]] = {}
    for i in ids:
        by_cal.setdefault(cals[i], []).append(i)
    for cal, members in sorted(by_cal.items()):
        sessions, opens, closes = _schedule(cal, d0, d1)
        if len(sessions) == 0:
            result.update({m: [] for m in members})
            continue
        lo, hi = int(opens[0]) - 2 * 86_400 * 10**9, int(closes[-1])
        series = _ts_for(store, members, bar_size, lo, hi)
        for m in members:
            mask = session_mask(series[m], cal, d0, d1, intraday=bar_size != "1d")
            result[m] = _runs(~mask, sessions, opens, closes)
    return result[ids[0]] if single else result


def _runs(missing: np.ndarray, sessions: np.ndarray, opens: np.ndarray, closes: np.ndarray) -> list[Window]:
    if not missing.any():
        return []
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    return [Window(pd.Timestamp(sessions[a]).date(), pd.Timestamp(sessions[b]).date(), int(opens[a]), int(closes[b]))
            for a, b in zip(starts, stops, strict=True)]
