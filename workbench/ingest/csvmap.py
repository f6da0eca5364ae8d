"""Any CSV or Parquet file, read through a declared column mapping (a YAML file).

>>> mapping = load_mapping("config/csv_mappings/nt-spy-minute.yaml")
>>> ingest_csv(store, "../shared/data/real/pyalgotrade/nt-spy-minute-2011.csv", mapping)

A mapping says what the rows are and how to read them::

    kind: bars                  # bars | quotes | trades | chain (workbench.ingest.chain_csv)
    instrument: SPY.XNAS        # must exist in the store, unless asset_class says how to create it
    asset_class: EQUITY         # optional: EQUITY | INDEX (created if unknown)
    bar_size: 1min              # bars only; price_type: TRADE (default) | BID | ASK | MID
    format: csv                 # csv | parquet
    delimiter: ";"              # csv only
    header: false               # false -> `columns:` names the fields in order
    columns: [datetime, open, high, low, close, volume]
    time:
      columns: [datetime]       # several columns are joined with one space before parsing
      format: "%Y%m%d %H%M%S"   # strptime; or unit: s|ms|us|ns for epoch numbers
      timezone: UTC             # zone of the wall times (IANA name), DST-aware
      label: close              # bars stamped at their close are shifted back to the open
    fields: {open: open, high: high, low: low, close: close, volume: volume}
    ignore: [TradeCount, WAP]   # file columns deliberately not stored
    price_scale: 1.0            # stored price = file value x price_scale

Every file column must be mapped, part of the time, or ignored: an unexpected column is an error,
as is a mapped column the file lacks. Crossed quotes are an error here (no repair for user files).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from workbench.ingest.base import (
    IngestSummary,
    check_increasing,
    check_localized,
    check_ohlc,
    check_prices,
    expand_paths,
    f64,
    localize,
    progress,
    read_csv,
)
from workbench.ingest.chain_csv import ChainMapping, chain_handler, chain_mapping
from workbench.ingest.errors import IngestError, not_utf8
from workbench.ingest.limits import IngestLimits, use_limits
from workbench.ingest.pipeline import Job, in_write, ingest_jobs
from workbench.ingest.sink import ensure_instruments
from workbench.store import Instrument

REQUIRED = {"bars": ("open", "high", "low", "close", "volume"), "quotes": ("bid", "ask", "bid_size", "ask_size"),
            "trades": ("price", "size")}
PRICES = {"bars": ("open", "high", "low", "close"), "quotes": ("bid", "ask"), "trades": ("price",)}
BAR_NS = {"1s": 10**9, "5s": 5 * 10**9, "1min": 60 * 10**9, "5min": 300 * 10**9, "15min": 900 * 10**9,
          "30min": 1800 * 10**9, "1h": 3600 * 10**9, "1d": 86_400 * 10**9}
UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


@dataclass(frozen=True)
class CsvMapping:
    """A validated column mapping (see the module doc for the YAML form)."""

    kind: str
    instrument: str
    fields: dict[str, str]
    time_columns: tuple[str, ...]
    time_format: str | None = None
    time_unit: str | None = None
    timezone: str = "UTC"
    time_label: str = "open"
    asset_class: str | None = None
    bar_size: str | None = None
    price_type: str = "TRADE"
    format: str = "csv"
    delimiter: str = ","
    header: bool = True
    columns: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    price_scale: float = 1.0
    source: str = "csv"
    name: str = field(default="mapping", compare=False)

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> IngestError:
            return IngestError(self.name, why, field=key)

        if self.kind not in REQUIRED:
            raise bad("kind", f"kind must be one of {', '.join(REQUIRED)}")
        missing = [f for f in REQUIRED[self.kind] if f not in self.fields]
        if missing:
            raise bad("fields", f"{self.kind} need field(s) {', '.join(missing)}")
        extra = [f for f in self.fields if f not in REQUIRED[self.kind] + ("exchange", "condition")]
        if extra:
            raise bad("fields", f"unknown store field(s) {', '.join(extra)} for {self.kind}")
        if self.kind == "bars" and self.bar_size not in BAR_NS:
            raise bad("bar_size", f"bar_size must be one of {', '.join(BAR_NS)}")
        if (self.time_format is None) == (self.time_unit is None):
            raise bad("time", "give exactly one of time.format (strptime) or time.unit (epoch numbers)")
        if self.time_unit is not None and self.time_unit not in UNITS:
            raise bad("time.unit", f"unit must be one of {', '.join(UNITS)}")
        if self.time_label not in ("open", "close") or (self.time_label == "close" and self.kind != "bars"):
            raise bad("time.label", "label is open | close (close only for bars)")
        if self.format not in ("csv", "parquet"):
            raise bad("format", "format is csv | parquet")
        if self.format == "csv" and not self.header and not self.columns:
            raise bad("columns", "a file without header needs `columns:` naming its fields in order")
        if self.asset_class not in (None, "EQUITY", "INDEX"):
            raise bad("asset_class", "asset_class creates EQUITY or INDEX instruments only")
        if not self.price_scale > 0:
            raise bad("price_scale", "price_scale must be positive")

    @property
    def expected_columns(self) -> set[str]:
        return {*self.fields.values(), *self.time_columns}


_KEYS = {f.name for f in fields(CsvMapping)} - {"time_columns", "time_format", "time_unit", "timezone", "time_label",
                                                "name"} | {"time"}


def load_mapping(path: str | os.PathLike | dict[str, Any]) -> CsvMapping | ChainMapping:
    """Read a mapping from YAML (``yaml.safe_load``) or a dict; unknown keys are errors."""
    if isinstance(path, dict):
        doc, name = path, "mapping"
    else:
        name = str(path)
        try:
            # decoded here, whole (a mapping is a few lines): a bad byte is then located in the
            # file, not in whatever chunk a streaming decoder had reached
            doc = yaml.safe_load(Path(path).read_bytes().decode("utf-8"))
        except yaml.YAMLError as exc:  # one line naming where the YAML broke, not a parser traceback
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or "malformed YAML"
            raise IngestError(name, f"malformed YAML: {problem}",
                              row=mark.line + 1 if mark is not None else None) from None
        except UnicodeDecodeError as exc:
            raise not_utf8(name, exc) from None
    if not isinstance(doc, dict):
        raise IngestError(name, "a mapping file holds one YAML mapping")
    if doc.get("kind") == "chain":  # one row per option -> chain snapshots (workbench.ingest.chain_csv)
        return chain_mapping(doc, name)
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise IngestError(name, f"unknown key(s) {', '.join(unknown)}", field=unknown[0])
    for key in ("kind", "instrument", "fields", "time"):
        if key not in doc:
            raise IngestError(name, "missing key", field=key)
    time = doc["time"]
    if not isinstance(time, dict) or not time.get("columns"):
        raise IngestError(name, "time needs columns: [...] and a format or unit", field="time")
    unknown_time = sorted(set(time) - {"columns", "format", "unit", "timezone", "label"})
    if unknown_time:
        raise IngestError(name, f"unknown key(s) {', '.join(unknown_time)}", field=f"time.{unknown_time[0]}")
    plain = {k: v for k, v in doc.items() if k != "time"}
    for key in ("columns", "ignore"):
        if key in plain and plain[key] is not None:
            plain[key] = tuple(str(c) for c in plain[key])
    return CsvMapping(**plain, time_columns=tuple(str(c) for c in time["columns"]), time_format=time.get("format"),
                      time_unit=time.get("unit"), timezone=time.get("timezone", "UTC"),
                      time_label=time.get("label", "open"), name=name)


def ingest_csv(store: Any, path: str | os.PathLike | Iterable[str | os.PathLike],
               mapping: CsvMapping | str | os.PathLike | dict[str, Any], *, quiet: bool = False,
               force: bool = False, keep_going: bool = False, limits: IngestLimits | None = None) -> IngestSummary:
    """Ingest one or more files (or directories) through ``mapping``; one store batch per file.

    ``keep_going``: a bad file is recorded as ``failed`` in the summary and the next one is read.
    ``limits`` caps what a hostile file may cost (:class:`~workbench.ingest.limits.IngestLimits`)."""
    mapping = mapping if isinstance(mapping, CsvMapping | ChainMapping) else load_mapping(mapping)
    handler = chain_handler(mapping) if isinstance(mapping, ChainMapping) else _handler(mapping)
    suffix = ".parquet" if mapping.format == "parquet" else ".csv"
    files = expand_paths(path, lambda p: p.suffix.lower() == suffix)
    jobs = [Job(f, in_write(handler), force) for f in files]
    with use_limits(limits):
        return IngestSummary(list(ingest_jobs(store, jobs, mapping.source, keep_going=keep_going,
                                              wrap=lambda items: progress(items, "csv", quiet))))


# -- reading ---------------------------------------------------------------------------------------
def _read(mapping: CsvMapping, path: Path, data: bytes) -> tuple[pa.Table, int]:
    """The file as a table with its own column names, and the line number of its first row."""
    file = str(path)
    if mapping.format == "parquet":
        tbl = pq.read_table(pa.BufferReader(data))
        _check_columns(mapping, file, tbl.column_names)
        return tbl, 1
    if mapping.header:
        end = data.find(b"\n")
        try:
            first_line = (data if end < 0 else data[:end]).decode("utf-8-sig").strip("\r")
        except UnicodeDecodeError as exc:
            raise not_utf8(file, exc, what="header is not UTF-8 text") from None
        names = [n.strip() for n in first_line.split(mapping.delimiter)]
    else:
        names = list(mapping.columns or ())
    _check_columns(mapping, file, names)
    types = {n: pa.string() for n in names}
    for store_field, col in mapping.fields.items():
        if store_field not in ("exchange", "condition"):
            types[col] = pa.float64()
    skip = 1 if mapping.header else 0
    return read_csv(data, names, types, file, delimiter=mapping.delimiter, skip_rows=skip), 1 + skip


def _check_columns(mapping: CsvMapping, file: str, names: list[str]) -> None:
    missing = [c for c in sorted(mapping.expected_columns) if c not in names]
    if missing:
        raise IngestError(file, "missing column(s) " + ", ".join(missing), row=1, field=missing[0])
    known = mapping.expected_columns | set(mapping.ignore)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise IngestError(file, "unknown column(s) " + ", ".join(unknown) + " (map them or list them under ignore)",
                          row=1, field=unknown[0])


def _times(mapping: CsvMapping, tbl: pa.Table, file: str, first: int) -> np.ndarray:
    cols = [tbl.column(c) for c in mapping.time_columns]
    label = "+".join(mapping.time_columns)
    if len(cols) == 1 and pa.types.is_timestamp(cols[0].type):
        col = cols[0]
        if col.null_count:
            bad = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise IngestError(file, "missing time", row=first + bad, field=label)
        ns = col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64()).to_numpy()
        return ns if col.type.tz else _localized(mapping, ns, file, first, label)
    if mapping.time_unit is not None:
        raw = f64(tbl, mapping.time_columns[0])
        bad = np.flatnonzero(np.isnan(raw))
        if len(bad):
            raise IngestError(file, "missing time", row=first + int(bad[0]), field=label)
        return np.rint(raw * UNITS[mapping.time_unit]).astype(np.int64)
    text = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*[c.cast(pa.string()) for c in cols], " ")
    parsed = pc.strptime(text.cast(pa.string()), format=mapping.time_format, unit="ns", error_is_null=True)
    if parsed.null_count:
        bad = int(np.flatnonzero(parsed.is_null().to_numpy(zero_copy_only=False))[0])
        raise IngestError(file, f"time does not match format {mapping.time_format!r}: {text[bad].as_py()!r}",
                          row=first + bad, field=label)
    return _localized(mapping, parsed.cast(pa.int64()).to_numpy(), file, first, label)


def _localized(mapping: CsvMapping, naive: np.ndarray, file: str, first: int, label: str) -> np.ndarray:
    try:
        utc = localize(naive, mapping.timezone)
    except Exception as exc:  # an unknown zone name
        raise IngestError(mapping.name, f"unknown timezone {mapping.timezone!r}", field="time.timezone") from exc
    check_localized(utc, file, label, first_line=first)
    return utc


def _handler(mapping: CsvMapping) -> Any:
    def run(store: Any, path: Path, data: bytes, batch: Any) -> None:
        file = str(path)
        if store.find_instrument(mapping.instrument) is None:
            if mapping.asset_class is None:
                raise IngestError(file, f"unknown instrument {mapping.instrument!r} (register it first, or set "
                                  "asset_class in the mapping)", field="instrument")
            symbol, _, venue = mapping.instrument.partition(".")
            make = Instrument.equity if mapping.asset_class == "EQUITY" else Instrument.index
            ensure_instruments(store, [make(symbol, venue or "XNAS", source=mapping.source)])
        tbl, first = _read(mapping, path, data)
        ts = _times(mapping, tbl, file, first)
        if mapping.time_label == "close":
            ts = ts - BAR_NS[mapping.bar_size]
        check_increasing(ts, file, "+".join(mapping.time_columns), first_line=first, strict=mapping.kind == "bars")
        out: dict[str, Any] = {"ts_event": ts}
        for store_field in REQUIRED[mapping.kind]:
            out[store_field] = f64(tbl, mapping.fields[store_field])
        prices = {mapping.fields[p]: out[p] for p in PRICES[mapping.kind]}
        check_prices(prices, file, first_line=first)
        if mapping.kind == "bars":
            check_ohlc({k: (mapping.fields[k], out[k]) for k in ("open", "high", "low", "close")}, file,
                       first_line=first)
        for p in PRICES[mapping.kind]:
            out[p] = out[p] * mapping.price_scale
        for store_field in REQUIRED[mapping.kind]:
            if store_field not in PRICES[mapping.kind]:
                bad = np.flatnonzero(~(np.isfinite(out[store_field]) & (out[store_field] >= 0)))
                if len(bad):
                    raise IngestError(file, "missing, non-finite or negative", row=first + int(bad[0]),
                                      field=mapping.fields[store_field])
        if mapping.kind == "quotes":
            crossed = np.flatnonzero(out["bid"] > out["ask"])
            if len(crossed):
                raise IngestError(file, "crossed quote (bid > ask)", row=first + int(crossed[0]),
                                  field=mapping.fields["bid"])
        for extra in ("exchange", "condition"):
            if extra in mapping.fields and mapping.kind != "bars":
                out[extra] = tbl.column(mapping.fields[extra]).cast(pa.string())
        frame = pa.table(out)
        if mapping.kind == "bars":
            store.write_bars(mapping.instrument, mapping.bar_size, frame, price_type=mapping.price_type,
                             source=mapping.source)
        elif mapping.kind == "quotes":
            store.write_quotes(mapping.instrument, frame, source=mapping.source)
        else:
            store.write_trades(mapping.instrument, frame, source=mapping.source)

    return run
