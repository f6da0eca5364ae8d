"""Where a Lean file sits says what it is: asset class, resolution, tick type, ticker and date.

Lean lays data out as (see ``lean/readme.md`` in the fixtures)::

    equity/usa/{tick|second|minute}/<ticker>/<yyyymmdd>_{trade|quote}.zip
    equity/usa/{hour|daily}/<ticker>.zip
    equity/usa/factor_files/<ticker>.csv          split/dividend factors
    option/usa/minute/<ticker>/<yyyymmdd>_{trade|quote|openinterest}_<style>.zip
    option/usa/daily/<ticker>_<yyyy>_{trade|quote|openinterest}_<style>.zip
    future/<market>/minute/<root>/<yyyymmdd>_{trade|quote|openinterest}.zip

and option/future zips hold one CSV per contract whose name encodes the contract:
``20151224_goog_minute_quote_american_call_7150000_20160205.csv`` is GOOG 715 C 2016-02-05
(strike in deci-cents), ``20131007_es_minute_trade_201312.csv`` is the Dec-2013 ES future.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from workbench.ingest.errors import IngestError

SECURITY_TYPES = ("equity", "option", "future")
RESOLUTIONS = ("tick", "second", "minute", "hour", "daily")
TICK_TYPES = ("trade", "quote", "openinterest")
BAR_SIZE = {"second": "1s", "minute": "1min", "hour": "1h", "daily": "1d"}
BAR_NS = {"second": 10**9, "minute": 60 * 10**9, "hour": 3600 * 10**9, "daily": 86_400 * 10**9}


@dataclass(frozen=True, slots=True)
class FutureSpec:
    """Contract terms Lean's files do not carry; an unknown root is an error, not a guess."""

    multiplier: int
    price_increment: Decimal


FUTURE_SPECS = {
    "ES": FutureSpec(50, Decimal("0.25")),
    "MES": FutureSpec(5, Decimal("0.25")),
    "NQ": FutureSpec(20, Decimal("0.25")),
    "MNQ": FutureSpec(2, Decimal("0.25")),
    "YM": FutureSpec(5, Decimal("1")),
    "RTY": FutureSpec(50, Decimal("0.1")),
    "CL": FutureSpec(1000, Decimal("0.01")),
    "GC": FutureSpec(100, Decimal("0.1")),
    "ZN": FutureSpec(1000, Decimal("0.015625")),
}


@dataclass(frozen=True, slots=True)
class LeanFile:
    """A decoded Lean path. ``kind`` is a security type, ``factor`` or ``map``."""

    kind: str
    resolution: str | None = None
    tick_type: str | None = None
    symbol: str | None = None
    day: date | None = None
    style: str | None = None

    @property
    def order(self) -> tuple[int, int]:
        """Ingest order: factors and underlyings before the option chains that look them up;
        option trades and open interest before option quotes (the chain snapshot joins them)."""
        kind_rank = {"factor": 0, "map": 0, "equity": 1, "future": 2, "option": 3}[self.kind]
        tick_rank = {"trade": 0, "openinterest": 1, "quote": 2}.get(self.tick_type or "", 0)
        return kind_rank, tick_rank


@dataclass(frozen=True, slots=True)
class OptionMember:
    right: str
    strike: Decimal
    expiry: date
    style: str
    day: date | None


_DAY = re.compile(r"^(\d{8})_(trade|quote|openinterest)(?:_(american|european))?$")
_OPTION_DAILY = re.compile(r"^([a-z0-9.]+)_(\d{4})_(trade|quote|openinterest)_(american|european)$")
_OPTION_MEMBER = re.compile(
    r"^(?:(\d{8})_)?([a-z0-9.]+)_(?:(minute|second|tick|hour|daily)_)?(trade|quote|openinterest)_"
    r"(american|european)_(call|put)_(\d+)_(\d{8})\.csv$")
_FUTURE_MEMBER = re.compile(r"^(\d{8})_([a-z0-9]+)_(minute|second|tick)_(trade|quote|openinterest)_(\d{6})\.csv$")


def _date(s: str) -> date:
    return date(int(s[:4]), int(s[4:6]), int(s[6:8]))


def parse_lean_path(path: Path) -> LeanFile:
    """Decode ``path`` or raise :class:`IngestError` naming what does not fit the layout."""
    parts = [p.lower() for p in path.parts]
    stem = path.stem.lower()
    if len(parts) >= 2 and parts[-2] == "factor_files" and path.suffix.lower() == ".csv":
        return LeanFile("factor", symbol=stem.upper())
    if len(parts) >= 2 and parts[-2] == "map_files" and path.suffix.lower() == ".csv":
        return LeanFile("map", symbol=stem.upper())
    if path.suffix.lower() != ".zip":
        raise IngestError(str(path), "not a Lean data file (expected a .zip or a factor/map file)")
    kinds = [i for i, p in enumerate(parts) if p in SECURITY_TYPES]
    if not kinds:
        raise IngestError(str(path), f"no security type ({'/'.join(SECURITY_TYPES)}) in the path")
    k = kinds[-1]
    kind, rest = parts[k], parts[k + 1:]
    # rest: market, resolution, [ticker,] file
    if len(rest) < 3 or rest[1] not in RESOLUTIONS:
        raise IngestError(str(path), f"expected {kind}/<market>/<resolution>/... in the path")
    resolution = rest[1]
    if resolution in ("hour", "daily"):
        if kind == "option":
            m = _OPTION_DAILY.match(stem)
            if not m:
                raise IngestError(str(path), "option daily file name must be <ticker>_<yyyy>_<ticktype>_<style>.zip")
            return LeanFile(kind, resolution, m.group(3), m.group(1).upper(), None, m.group(4).upper())
        return LeanFile(kind, resolution, "trade", stem.upper())
    if len(rest) < 4:
        raise IngestError(str(path), f"expected {kind}/<market>/{resolution}/<ticker>/<yyyymmdd>_<type>.zip")
    m = _DAY.match(stem)
    if not m:
        raise IngestError(str(path), "file name must be <yyyymmdd>_<trade|quote|openinterest>[_<style>].zip")
    style = m.group(3).upper() if m.group(3) else None
    return LeanFile(kind, resolution, m.group(2), rest[2].upper(), _date(m.group(1)), style)


def parse_option_member(file: str, name: str) -> OptionMember:
    m = _OPTION_MEMBER.match(name.lower())
    if not m:
        raise IngestError(file, "option member name does not encode <style>_<call|put>_<strike>_<yyyymmdd>",
                          member=name)
    day = _date(m.group(1)) if m.group(1) else None
    strike = (Decimal(m.group(7)) / 10000).normalize()
    return OptionMember("C" if m.group(6) == "call" else "P", strike, _date(m.group(8)), m.group(5).upper(), day)


def parse_future_member(file: str, name: str) -> tuple[str, int, int]:
    """``20131007_es_minute_trade_201312.csv`` -> ("ES", 2013, 12)."""
    m = _FUTURE_MEMBER.match(name.lower())
    if not m:
        raise IngestError(file, "future member name must be <yyyymmdd>_<root>_<res>_<type>_<yyyymm>.csv",
                          member=name)
    ym = m.group(5)
    return m.group(2).upper(), int(ym[:4]), int(ym[4:])


def third_friday(year: int, month: int) -> date:
    """Equity-index futures (ES, NQ, ...) expire on the third Friday of the contract month."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def is_lean_candidate(path: Path) -> bool:
    """Directory walks pick up zips and factor files; readmes, map files and the rest are left alone."""
    if path.suffix.lower() == ".zip":
        return any(p.lower() in SECURITY_TYPES for p in path.parts)
    return path.suffix.lower() == ".csv" and path.parent.name.lower() == "factor_files"
