"""``kind: chain`` mappings for ``wb ingest csv``: any one-row-per-option vendor file -> chain snapshots.

A mapping names the file column of each store field and how to read it (YAML, ``yaml.safe_load``)::

    kind: chain
    source: eod_options          # tag of the stored snapshots (default chain_csv)
    delimiter: ","               # header: true | false (+ columns: [...]) as for the other kinds
    underlying: SPX              # a constant root, or fields.underlying (a column) -- exactly one
    time:
      columns: [quotedate]       # joined with one space, parsed with format
      format: "%m/%d/%Y"         # date only -> the close of that session (calendar); with a time of
      timezone: America/New_York #   day: that time, or the last close when outside a session
      calendar: XNYS
    expiry_format: "%m/%d/%Y"
    rights: {call: C, put: P}    # file label -> C | P, case-insensitive (default: C, P, call, put)
    strike_scale: 1.0            # stored strike = file value x strike_scale (0.001 for milli-strikes)
    price_scale: 1.0             # bid, ask, last and underlying price x price_scale
    iv_scale: 1.0                # 0.01 when the file holds IV in percent
    multiplier: 100
    fields: {underlying: underlying, underlying_price: underlying_last, right: type, expiry: expiration,
             strike: strike, bid: bid, ask: ask, volume: volume, open_interest: openinterest, ...}
    ignore: [exchange, optionext]

Required fields: underlying_price, right, expiry, strike, bid, ask. Optional: option_symbol (OCC-style;
its root, e.g. SPXW, names the contract and is cross-checked against the row), bid_size, ask_size,
last, volume, open_interest, iv, delta, gamma, vega, theta, rho, forward. Rows are grouped into one
snapshot per (underlying, quote time). The refusals are the other chain readers': unparseable,
non-finite or negative numbers, non-positive strikes or underlying prices, bid > ask with both
sides quoted (ask 0 = no offer, bid 0 = no bid: one-sided, not crossed), an expiry before the quote
date, two underlying prices in one snapshot -- each a one-line error naming file, line and column,
and nothing of the file is written (one store batch per file).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.ingest.base import read_csv
from workbench.ingest.chain_dates import session_stamp
from workbench.ingest.errors import IngestError
from workbench.store import Instrument
from workbench.store.calendars import calendar

REQUIRED = ("underlying_price", "right", "expiry", "strike", "bid", "ask")
OPTIONAL = ("underlying", "option_symbol", "bid_size", "ask_size", "last", "volume", "open_interest", "iv",
            "delta", "gamma", "vega", "theta", "rho", "forward")
NUMBERS = ("underlying_price", "strike", "bid", "ask", "bid_size", "ask_size", "last", "volume",
           "open_interest", "iv", "delta", "gamma", "vega", "theta", "rho", "forward")
NON_NEGATIVE = ("underlying_price", "strike", "bid", "ask", "bid_size", "ask_size", "last", "volume",
                "open_interest")
PRICES = ("bid", "ask", "last", "underlying_price", "forward")
DEFAULT_RIGHTS = {"c": "C", "call": "C", "p": "P", "put": "P"}
_TIME_OF_DAY = re.compile(r"%[HIMSXTcp]")
KEYS = {"kind", "source", "format", "delimiter", "header", "columns", "underlying", "time", "expiry_format",
        "rights", "strike_scale", "price_scale", "iv_scale", "multiplier", "fields", "ignore"}


@dataclass(frozen=True)
class ChainMapping:
    """A validated ``kind: chain`` mapping (see the module doc for the YAML form and defaults)."""

    fields: dict[str, str]
    time_columns: tuple[str, ...]
    time_format: str
    timezone: str = "America/New_York"
    calendar: str = "XNYS"
    expiry_format: str = "%Y-%m-%d"
    underlying: str | None = None
    rights: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RIGHTS))
    strike_scale: float = 1.0
    price_scale: float = 1.0
    iv_scale: float = 1.0
    multiplier: int = 100
    format: str = "csv"
    delimiter: str = ","
    header: bool = True
    columns: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    source: str = "chain_csv"
    kind: str = "chain"
    name: str = field(default="mapping", compare=False)

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> IngestError:
            return IngestError(self.name, why, field=key)

        missing = [f for f in REQUIRED if f not in self.fields]
        if missing:
            raise bad("fields", f"a chain needs field(s) {', '.join(missing)}")
        extra = [f for f in self.fields if f not in REQUIRED + OPTIONAL]
        if extra:
            raise bad("fields", f"unknown store field(s) {', '.join(extra)} for chain")
        if (self.underlying is None) == ("underlying" not in self.fields):
            raise bad("underlying", "give exactly one of underlying: ROOT or fields.underlying (a column)")
        if self.format != "csv":
            raise bad("format", "chain mappings read csv")
        if not self.header and not self.columns:
            raise bad("columns", "a file without header needs `columns:` naming its fields in order")
        for key in ("strike_scale", "price_scale", "iv_scale"):
            value = getattr(self, key)
            if not (isinstance(value, int | float) and value > 0):  # NaN-safe
                raise bad(key, f"{key} must be positive")
        if not (isinstance(self.multiplier, int) and self.multiplier > 0):
            raise bad("multiplier", "multiplier must be a positive integer")
        if any(v not in ("C", "P") for v in self.rights.values()):
            raise bad("rights", "rights map file labels to C or P")
        try:
            calendar(self.calendar)
        except Exception:
            raise bad("time.calendar", f"unknown exchange calendar {self.calendar!r}") from None
        try:
            pd.Timestamp("2024-01-02").tz_localize(self.timezone)
        except Exception:
            raise bad("time.timezone", f"unknown timezone {self.timezone!r}") from None

    @property
    def expected_columns(self) -> set[str]:
        return {*self.fields.values(), *self.time_columns}


def chain_mapping(doc: dict[str, Any], name: str) -> ChainMapping:
    """A :class:`ChainMapping` from a parsed YAML document; unknown keys are errors."""
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise IngestError(name, f"unknown key(s) {', '.join(unknown)}", field=unknown[0])
    for key in ("fields", "time"):
        if key not in doc:
            raise IngestError(name, "missing key", field=key)
    time = doc["time"]
    if not isinstance(time, dict) or not time.get("columns") or not time.get("format"):
        raise IngestError(name, "time needs columns: [...] and format: (strptime)", field="time")
    unknown_time = sorted(set(time) - {"columns", "format", "timezone", "calendar"})
    if unknown_time:
        raise IngestError(name, f"unknown key(s) {', '.join(unknown_time)}", field=f"time.{unknown_time[0]}")
    if not isinstance(doc["fields"], dict):
        raise IngestError(name, "fields maps store fields to file columns", field="fields")
    plain = {k: v for k, v in doc.items() if k not in ("time", "kind", "rights", "fields")}
    for key in ("columns", "ignore"):
        if plain.get(key) is not None:
            plain[key] = tuple(str(c) for c in plain[key])
    if "underlying" in plain:
        plain["underlying"] = str(plain["underlying"])
    rights = doc.get("rights")
    if rights is not None:
        if not isinstance(rights, dict):
            raise IngestError(name, "rights maps file labels to C or P", field="rights")
        rights = {str(k).strip().lower(): str(v).strip().upper() for k, v in rights.items()}
    return ChainMapping(**plain, fields={str(k): str(v) for k, v in doc["fields"].items()},
                        time_columns=tuple(str(c) for c in time["columns"]), time_format=str(time["format"]),
                        timezone=time.get("timezone", "America/New_York"), calendar=time.get("calendar", "XNYS"),
                        **({"rights": rights} if rights is not None else {}), name=name)


# -- reading ---------------------------------------------------------------------------------------
def chain_handler(mapping: ChainMapping) -> Any:
    def run(store: Any, path: Path, data: bytes, batch: Any) -> None:
        read_chain_csv(store, mapping, path, data)

    return run


def _header(mapping: ChainMapping, file: str, data: bytes) -> list[str]:
    if not mapping.header:
        return list(mapping.columns or ())
    end = data.find(b"\n")
    try:
        first_line = (data if end < 0 else data[:end]).decode("utf-8-sig").strip("\r")
    except UnicodeDecodeError as exc:
        raise IngestError(file, f"header is not UTF-8 text (byte {exc.start + 1})", row=1) from None
    return [n.strip().strip('"') for n in first_line.split(mapping.delimiter)]


def read_chain_csv(store: Any, mapping: ChainMapping, path: Path, data: bytes) -> None:
    from workbench.ingest.chain_rows import check_numbers, option_contracts, underlying_of, write_snapshot

    file = str(path)
    names = _header(mapping, file, data)
    missing = [c for c in sorted(mapping.expected_columns) if c not in names]
    if missing:
        raise IngestError(file, "missing column(s) " + ", ".join(missing), row=1, field=missing[0])
    unknown = [n for n in names if n not in mapping.expected_columns | set(mapping.ignore)]
    if unknown:
        raise IngestError(file, "unknown column(s) " + ", ".join(unknown) + " (map them or list them under ignore)",
                          row=1, field=unknown[0])
    skip = 1 if mapping.header else 0
    tbl = read_csv(data, names, {n: pa.string() for n in names}, file, delimiter=mapping.delimiter, skip_rows=skip)
    first = 1 + skip  # line of the first data row
    if tbl.num_rows == 0:
        return
    raw = tbl.to_pandas()
    frame = pd.DataFrame({f: raw[col].str.strip() for f, col in mapping.fields.items()})
    lines = first + np.arange(len(frame))

    def fail(mask: np.ndarray, why: str, store_field: str) -> None:
        hit = np.flatnonzero(mask)
        if len(hit):
            raise IngestError(file, why, row=int(lines[hit[0]]), field=mapping.fields.get(store_field, store_field))

    check_numbers(file, frame, {f: mapping.fields[f] for f in NUMBERS if f in frame}, first,
                  tuple(f for f in NON_NEGATIVE if f in frame))
    for f in PRICES:
        if f in frame:
            frame[f] = frame[f] * mapping.price_scale
    if "iv" in frame:
        frame["iv"] = frame["iv"] * mapping.iv_scale
    frame["strike"] = frame["strike"] * mapping.strike_scale
    fail(~(frame["strike"] > 0).to_numpy(), "strike must be a positive number", "strike")
    fail(~(frame["underlying_price"] > 0).to_numpy(), "underlying price must be a positive number",
         "underlying_price")
    right = frame["right"].str.lower().map(mapping.rights)
    fail(right.isna().to_numpy(), f"right must be one of {', '.join(sorted(mapping.rights))}", "right")
    frame["right"] = right
    expiry = pd.to_datetime(frame["expiry"], format=mapping.expiry_format, errors="coerce")
    fail(expiry.isna().to_numpy(), f"expiry does not match {mapping.expiry_format!r}", "expiry")
    frame["expiry"] = expiry.dt.date
    # Cboe-style zero for a missing side: ask 0 = no offer (stored NaN, never compared), bid 0 = no bid
    frame["ask"] = frame["ask"].where(frame["ask"] > 0)
    fail((frame["bid"] > frame["ask"]).to_numpy(), "crossed quote (bid > ask)", "bid")
    as_of, downloaded = _stamps(mapping, raw, file, lines)
    quote_day = pd.to_datetime(as_of, utc=True).tz_convert("America/New_York").date
    fail((frame["expiry"].to_numpy() < quote_day), "expiry before the quote date", "expiry")
    roots = (frame["underlying"].str.lstrip("^$").str.upper() if "underlying" in frame
             else pd.Series(mapping.underlying.upper(), index=frame.index))
    fail((roots == "").to_numpy(), "missing underlying", "underlying")
    frame["_und"] = [underlying_of(r).instrument_id for r in roots]
    frame["_as_of"] = as_of
    for (und_id, stamp), rows in frame.groupby(["_und", "_as_of"], sort=True):
        at = rows.index.to_numpy()
        spots = rows["underlying_price"].to_numpy()
        differ = np.flatnonzero(spots != spots[0])  # the first row that disagrees with the snapshot's first
        if len(differ):
            raise IngestError(file, f"several underlying prices ({spots[0]}, {spots[differ[0]]}) in one snapshot",
                              row=int(lines[at[differ[0]]]), field=mapping.fields["underlying_price"])
        if "option_symbol" in rows:
            contracts, underlying = option_contracts(file, rows["option_symbol"], rows["expiry"], rows["right"],
                                                     rows["strike"], lines[at], mapping.fields["option_symbol"])
        else:
            underlying = underlying_of(roots[at[0]])
            index = underlying.asset_class == "INDEX"
            contracts = [Instrument.option(roots[i], und_id, rows.at[i, "expiry"], rows.at[i, "right"],
                                           rows.at[i, "strike"], venue="XCBO" if index else "XNAS",
                                           style="EUROPEAN" if index else "AMERICAN") for i in at]
        if underlying.instrument_id != und_id:
            raise IngestError(file, f"option symbol names {underlying.instrument_id}, the row {und_id}",
                              row=int(lines[at[0]]), field=mapping.fields.get("option_symbol"))
        contracts = [dataclasses.replace(c, multiplier=mapping.multiplier, source=mapping.source) for c in contracts]
        dl = downloaded[at[0]]
        write_snapshot(store, underlying, contracts,
                       rows.drop(columns=["_und", "_as_of", "underlying", "option_symbol"], errors="ignore"),
                       int(stamp), float(spots[0]), mapping.source, file, lines[at],
                       downloaded_at=None if dl < 0 else int(dl))


def _stamps(mapping: ChainMapping, raw: pd.DataFrame, file: str, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(as_of ns, file time ns or -1) per row: a date-only quote time is the close of that session;
    a time of day is kept while its session is open, else moved to the last close (the file time
    is then kept as the download time)."""
    label = "+".join(mapping.time_columns)
    text = raw[mapping.time_columns[0]].str.strip()
    for col in mapping.time_columns[1:]:
        text = text + " " + raw[col].str.strip()
    parsed = pd.to_datetime(text, format=mapping.time_format, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise IngestError(file, f"time does not match format {mapping.time_format!r}: {text.iloc[bad[0]]!r}",
                          row=int(lines[bad[0]]), field=label)
    cal = calendar(mapping.calendar)
    as_of = np.empty(len(raw), np.int64)
    downloaded = np.full(len(raw), -1, np.int64)
    intraday = bool(_TIME_OF_DAY.search(mapping.time_format))
    memo: dict[pd.Timestamp, tuple[int, int]] = {}  # a file holds few distinct quote times
    for i, t in enumerate(parsed):
        if t not in memo:
            if intraday:
                try:
                    utc = pd.Timestamp(t).tz_localize(mapping.timezone, ambiguous="raise",
                                                      nonexistent="raise").tz_convert("UTC")
                except Exception:
                    raise IngestError(file, f"local time {t} does not exist or is ambiguous in {mapping.timezone}",
                                      row=int(lines[i]), field=label) from None
                memo[t] = (int(session_stamp(utc, mapping.calendar).value), int(utc.value))
            else:
                day = pd.Timestamp(t.date())
                if not cal.is_session(day):
                    raise IngestError(file, f"{t.date()} is not a {mapping.calendar} session", row=int(lines[i]),
                                      field=label)
                memo[t] = (int(cal.session_close(day).value), -1)
        as_of[i], downloaded[i] = memo[t]
    return as_of, downloaded
