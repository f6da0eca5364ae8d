"""IB's historical-data rules: bar sizes, durations, their allowed combinations, and date formats.

The duration/bar-size table is IB's "Valid Duration and Bar Size Settings": each bar size may be
asked for over at most a certain duration (1-min bars: 1 day per request for seconds-level
history, larger steps for larger bars).  A request outside the table gets error 162 "Time length
exceed max"; an unknown bar size gets 321 — exactly what an ingest scheduler must chunk around.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from workbench.errors import WorkbenchError

NS = 1_000_000_000
DAY_NS = 86_400 * NS

BAR_SIZES: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900,
    "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800,
    "4 hours": 14400, "8 hours": 28800, "1 day": 86400, "1 week": 7 * 86400, "1 month": 30 * 86400,
}

# Longest duration (seconds) a request may span for each bar size, from IB's table.
MAX_DURATION_S: dict[int, int] = {
    1: 1800, 5: 3600, 10: 14400, 15: 14400, 30: 28800,
    60: 86400, 120: 2 * 86400, 180: 7 * 86400, 300: 7 * 86400, 600: 7 * 86400, 900: 7 * 86400,
    1200: 7 * 86400, 1800: 31 * 86400, 3600: 31 * 86400, 7200: 31 * 86400, 10800: 31 * 86400,
    14400: 31 * 86400, 28800: 31 * 86400, 86400: 366 * 86400 * 30, 7 * 86400: 366 * 86400 * 30,
    30 * 86400: 366 * 86400 * 30,
}

_DURATION_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 31 * 86400, "Y": 366 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")
_WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST", "HISTORICAL_VOLATILITY",
                 "OPTION_IMPLIED_VOLATILITY")


class HistoryRequestError(WorkbenchError, ValueError):
    """A historical request IB would reject; ``code`` is the IB error code to return."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class BarSpec:
    bar_seconds: int
    duration_seconds: int
    duration_unit: str
    duration_count: int


def parse_bar_size(s: str) -> int:
    key = " ".join(s.split()).lower()
    key = {"1 sec": "1 secs", "1 mins": "1 min", "1 hours": "1 hour", "1 days": "1 day", "1w": "1 week",
           "1m": "1 month"}.get(key, key)
    if key not in BAR_SIZES:
        raise HistoryRequestError(
            321, f"Error validating request.-'bP' : cause - Historical data bar size setting is invalid: {s!r}. "
            f"Legal ones are: {', '.join(BAR_SIZES)}",
        )
    return BAR_SIZES[key]


def parse_duration(s: str) -> tuple[int, str, int]:
    m = _DURATION_RE.match(s.upper())
    if not m:
        raise HistoryRequestError(321, f"Error validating request.-'bP' : cause - Invalid duration string {s!r}")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise HistoryRequestError(321, f"Error validating request.-'bP' : cause - duration must be > 0: {s!r}")
    return n * _DURATION_UNITS[unit], unit, n


def validate(bar_size: str, duration: str, what_to_show: str) -> BarSpec:
    """Check a reqHistoricalData request against IB's rules; raise with the IB error code."""
    bar_s = parse_bar_size(bar_size)
    dur_s, unit, n = parse_duration(duration)
    if what_to_show.upper() not in _WHAT_TO_SHOW:
        raise HistoryRequestError(321, f"Error validating request.-'bP' : cause - Invalid whatToShow {what_to_show!r}")
    if dur_s > MAX_DURATION_S[bar_s]:
        raise HistoryRequestError(162, "Historical Market Data Service error message:Time length exceed max.")
    return BarSpec(bar_s, dur_s, unit, n)


def max_duration_seconds(bar_size: str) -> int:
    return MAX_DURATION_S[parse_bar_size(bar_size)]


def parse_ib_datetime(s: str, default_tz: str = "America/New_York", now_ns: int | None = None) -> int:
    """Parse an IB request timestamp to UTC ns.

    Accepts ``""`` (now), ``yyyymmdd``, ``yyyymmdd hh:mm:ss``, ``yyyymmdd hh:mm:ss TZ`` and the UTC
    form ``yyyymmdd-hh:mm:ss``.  A timestamp without a zone is in the TWS login zone (``default_tz``).
    """
    s = s.strip()
    if not s:
        if now_ns is None:
            raise HistoryRequestError(321, "Error validating request: empty date with no current time")
        return now_ns
    try:
        if len(s) == 8 and s.isdigit():
            dt = datetime.strptime(s, "%Y%m%d").replace(hour=23, minute=59, second=59, tzinfo=ZoneInfo(default_tz))
        elif len(s) == 17 and s[8] == "-":
            dt = datetime.strptime(s, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        else:
            parts = s.split()
            dt = datetime.strptime(parts[0] + " " + parts[1], "%Y%m%d %H:%M:%S")
            tz = parts[2] if len(parts) > 2 else default_tz
            dt = dt.replace(tzinfo=UTC if tz.upper() in ("UTC", "GMT") else ZoneInfo(tz))
    except (ValueError, IndexError, ZoneInfoNotFoundError) as exc:
        raise HistoryRequestError(321, f"Error validating request: cannot parse date/time {s!r}: {exc}") from None
    return int(dt.timestamp()) * NS


def format_bar_time(ts_ns: int, bar_seconds: int, format_date: int, tz: str) -> str:
    """Bar timestamps as IB writes them: epoch seconds (formatDate=2), ``yyyymmdd`` for daily and
    longer bars, else ``yyyymmdd hh:mm:ss <tz>`` in the exchange zone."""
    if format_date == 2 and bar_seconds < 86400:
        return str(ts_ns // NS)
    zone = ZoneInfo(tz)
    dt = datetime.fromtimestamp(ts_ns / NS, tz=zone)
    if bar_seconds >= 86400:
        return dt.strftime("%Y%m%d")
    return dt.strftime("%Y%m%d %H:%M:%S ") + tz


def format_ib_datetime(ts_ns: int, tz: str) -> str:
    dt = datetime.fromtimestamp(ts_ns / NS, tz=ZoneInfo(tz))
    return dt.strftime("%Y%m%d %H:%M:%S ") + tz


def aggregate(ts: np.ndarray, o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray, v: np.ndarray,
              bar_seconds: int, tz: str = "America/New_York") -> dict[str, np.ndarray]:
    """Resample bars (sorted by open time ``ts`` in UTC ns) into ``bar_seconds`` bars.

    Intraday bars are bucketed on epoch multiples; daily and longer on the exchange-local calendar
    day, so a daily bar is one session.  Returns arrays ts, open, high, low, close, volume, wap,
    count (count = number of source bars)."""
    if len(ts) == 0:
        empty = np.array([], dtype=np.int64)
        return dict(ts=empty, open=empty.astype(float), high=empty.astype(float), low=empty.astype(float),
                    close=empty.astype(float), volume=empty.astype(float), wap=empty.astype(float), count=empty)
    if bar_seconds >= 86400:
        zone = ZoneInfo(tz)
        local_days = np.array([datetime.fromtimestamp(t / NS, tz=zone).toordinal() for t in ts], dtype=np.int64)
        key = local_days if bar_seconds == 86400 else local_days // (bar_seconds // 86400)
    else:
        key = ts // (bar_seconds * NS)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    vol = np.add.reduceat(v.astype(float), starts)
    typical = (h + low + c) / 3.0
    pv = np.add.reduceat(typical * v, starts)
    wap = np.where(vol > 0, pv / np.where(vol > 0, vol, 1), c[ends - 1])
    if bar_seconds >= 86400:
        out_ts = ts[starts]
    else:
        out_ts = key[starts] * bar_seconds * NS
    return dict(ts=out_ts, open=o[starts], high=np.maximum.reduceat(h, starts), low=np.minimum.reduceat(low, starts),
                close=c[ends - 1], volume=vol, wap=wap, count=ends - starts)
