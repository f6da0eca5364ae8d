"""Date options of ``wb`` commands, parsed before anything is opened or dialled.

>>> parse_day("2013-10-07", "--from")
datetime.date(2013, 10, 7)
>>> parse_day("2013-13-01", "--from")
Traceback (most recent call last):
...
workbench.errors.WorkbenchError: --from: not a date: '2013-13-01'
"""

from __future__ import annotations

from datetime import date

from workbench.errors import WorkbenchError


def parse_day(value: str, flag: str) -> date:
    """A calendar day from a ``--from``/``--to`` style option, or a one-line error naming the flag."""
    import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise WorkbenchError(f"not a date: {value!r}", where=flag, hint="YYYY-MM-DD, e.g. 2013-10-07")
    return ts.date()


def parse_range(start: str, end: str, flags: tuple[str, str] = ("--from", "--to")) -> tuple[date, date]:
    """``(first, last)`` days; ``first`` after ``last`` is an error naming both flags."""
    first, last = parse_day(start, flags[0]), parse_day(end, flags[1])
    if not first <= last:
        raise WorkbenchError(f"{flags[0]} {first} is after {flags[1]} {last}", where=f"{flags[0]}/{flags[1]}")
    return first, last
