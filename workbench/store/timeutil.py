"""Time conversions. The store keeps every event time as int64 UTC nanoseconds."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S


def to_ns(value: str | int | date | datetime | pd.Timestamp | None, tz: str = "UTC") -> int | None:
    """Convert a user-facing time to UTC nanoseconds.

    Integers pass through (already ns). Naive strings/datetimes are read in ``tz`` (UTC by
    default) — pass ``tz="America/New_York"`` for exchange-local wall times.
    """
    if value is None:
        return None
    if isinstance(value, int):
        return value
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    return int(ts.tz_convert("UTC").value)


def ns_to_timestamp(ns: int, tz: str = "UTC") -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC").tz_convert(tz)
