"""Exchange-calendar aware coverage: which sessions have data, which windows are missing.

Coverage is judged against the instrument's real exchange calendar (``exchange_calendars``:
XNYS for US equities and options, CMES for CME equity futures), so holidays are not gaps and
half days (e.g. 2015-12-24 closing 13:00 ET) are sessions like any other.

A timestamp belongs to the first session whose close is after it. Intraday bars count only
inside the regular session ``[open, close)`` — pre/post-market bars do not make a day present;
daily bars (stamped at local midnight) count for the session they precede.

The scan reads only integers (instrument key, event time) and builds a symbols x sessions
presence matrix in numpy, so hundreds of symbols over decades answer in tens of milliseconds.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

import exchange_calendars as xcals
import numpy as np
import pandas as pd

DAY_NS = 86_400 * 10**9


class Window(NamedTuple):
    """A run of consecutive sessions with no data: sessions ``first..last``, ``[start_ns, end_ns)`` in UTC
    (first session's open to last session's close)."""

    first: date
    last: date
    start_ns: int
    end_ns: int
    sessions: int


@lru_cache(maxsize=16)
def calendar(name: str) -> Any:
    return xcals.get_calendar(name, start="1990-01-01", end="2035-12-31")


@lru_cache(maxsize=64)
def _schedule(name: str, start: date, end: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sched = calendar(name).schedule.loc[pd.Timestamp(start):pd.Timestamp(end)]
    sessions = sched.index.values.astype("datetime64[D]")
    opens = sched["open"].values.astype("datetime64[ns]").astype(np.int64)
    closes = sched["close"].values.astype("datetime64[ns]").astype(np.int64)
    return sessions, opens, closes


def _session_index(ts: np.ndarray, sessions: np.ndarray, opens: np.ndarray, closes: np.ndarray,
                   intraday: bool) -> np.ndarray:
    """Session index per timestamp, -1 where it counts for none."""
    if not intraday:
        # Daily stamps are local midnights: local noon falls on the same UTC date for any zone
        # within +-12h, so a dense day -> session lookup replaces a binary search.
        day0 = sessions[0].astype(np.int64)
        lut = np.full(int(sessions[-1].astype(np.int64) - day0) + 1, -1, dtype=np.int64)
        lut[sessions.astype(np.int64) - day0] = np.arange(len(sessions))
        day = (ts + DAY_NS // 2) // DAY_NS - day0
        ok = (day >= 0) & (day < len(lut))
        return np.where(ok, lut[np.clip(day, 0, len(lut) - 1)], -1)
    idx = np.searchsorted(closes, ts, side="right")
    inside = (idx < len(closes)) & (ts >= opens[np.minimum(idx, len(opens) - 1)])
    return np.where(inside, idx, -1)


def _presence(store: Any, keys: np.ndarray, bar_size: str, sessions: np.ndarray, opens: np.ndarray,
              closes: np.ndarray) -> np.ndarray:
    """Boolean matrix [len(keys), sessions]."""
    lo, hi = int(opens[0]) - 2 * DAY_NS, int(closes[-1])
    tbl = store.con.sql(
        "SELECT ikey, ts_event FROM bars WHERE ikey IN (SELECT unnest($keys)) AND bar_size = $size "
        "AND price_type = 'TRADE' AND ts_event BETWEEN $lo AND $hi",
        params={"keys": keys.tolist(), "size": bar_size, "lo": lo, "hi": hi}).to_arrow_table()
    ik = tbl.column("ikey").to_numpy()
    ts = tbl.column("ts_event").to_numpy()
    sess = _session_index(ts, sessions, opens, closes, intraday=bar_size != "1d")
    row_of = np.full(int(keys.max()) + 1, -1, dtype=np.int64)
    row_of[keys] = np.arange(len(keys))
    present = np.zeros((len(keys), len(opens)), dtype=bool)
    ok = sess >= 0
    present[row_of[ik[ok]], sess[ok]] = True
    return present


def _lookup(store: Any, ids: list[str]) -> tuple[dict[str, int], dict[str, str]]:
    rows = store.con.execute("SELECT instrument_id, ikey, calendar FROM instruments WHERE instrument_id IN "
                             "(SELECT unnest(?))", [ids]).fetchall()
    found = {r[0]: (int(r[1]), r[2]) for r in rows}
    unknown = sorted(set(ids) - set(found))
    if unknown:
        raise KeyError(f"unknown instrument(s): {', '.join(unknown[:5])}")
    return {i: found[i][0] for i in ids}, {i: found[i][1] for i in ids}


def present_dates(store: Any, instrument_id: str, bar_size: str, start: Any, end: Any) -> list[date]:
    """Sessions in ``[start, end]`` (dates, inclusive) that have ``bar_size`` TRADE bars."""
    keys, cals = _lookup(store, [instrument_id])
    sessions, opens, closes = _schedule(cals[instrument_id], *_dates(start, end))
    if len(sessions) == 0:
        return []
    mask = _presence(store, np.array([keys[instrument_id]]), bar_size, sessions, opens, closes)[0]
    return [d.item() for d in sessions[mask]]


def missing_windows(store: Any, instrument_ids: str | list[str], bar_size: str, start: Any, end: Any
                    ) -> list[Window] | dict[str, list[Window]]:
    """Runs of consecutive calendar sessions without bars, per instrument.

    One id gives a list of :class:`Window`; a list of ids gives ``{id: [Window, ...]}`` from one
    scan per calendar (what backfill planners call for hundreds of symbols).
    """
    single = isinstance(instrument_ids, str)
    ids = [instrument_ids] if single else list(dict.fromkeys(instrument_ids))
    keys, cals = _lookup(store, ids)
    d0, d1 = _dates(start, end)
    result: dict[str, list[Window]] = {}
    for cal in sorted(set(cals.values())):
        members = [i for i in ids if cals[i] == cal]
        sessions, opens, closes = _schedule(cal, d0, d1)
        if len(sessions) == 0:
            result.update({m: [] for m in members})
            continue
        present = _presence(store, np.array([keys[m] for m in members]), bar_size, sessions, opens, closes)
        result.update(_runs(members, ~present, sessions, opens, closes))
    return result[ids[0]] if single else result


def _runs(members: list[str], missing: np.ndarray, sessions: np.ndarray, opens: np.ndarray,
          closes: np.ndarray) -> dict[str, list[Window]]:
    padded = np.zeros((missing.shape[0], missing.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = missing
    edges = np.diff(padded, axis=1)
    r_start, c_start = np.nonzero(edges == 1)
    _, c_stop = np.nonzero(edges == -1)
    out: dict[str, list[Window]] = {m: [] for m in members}
    days = sessions.astype(object)
    c_last = c_stop - 1
    rows = zip(r_start.tolist(), days[c_start], days[c_last], opens[c_start].tolist(), closes[c_last].tolist(),
               (c_last - c_start + 1).tolist(), strict=True)
    make = Window._make  # tuples, not dataclasses: thousands of windows are built per call
    for r, *fields in rows:
        out[members[r]].append(make(fields))
    return out


def _dates(start: Any, end: Any) -> tuple[date, date]:
    return pd.Timestamp(start).date(), pd.Timestamp(end).date()
