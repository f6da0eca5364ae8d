"""The data a sweep needs, exported once from the store to Parquet that every worker can read.

Workers never open the DuckDB file (one writer, and a cluster node may not even see it): the client
reads the selection from the store, hashes it together with the data spec, and writes it under
``<cache>/<hash>/`` (one Parquet file per kind — quotes, trades, bars per size — with one row group
per instrument, so an option chain is a handful of files, not hundreds) unless that folder already holds a complete export (``manifest.json`` is written
last, so a folder without it is an interrupted export and is written again). The cache may be a local
folder or any fsspec URL (``s3://bucket/wb-cache``) that the workers can reach.

:class:`ParquetSource` is the read side: it answers the few store reads ``workbench.engine.backtest``
makes (``instrument``, ``read_quotes``, ``read_trades``, ``read_bars``) from those files, so a worker
runs the very same backtest code on the very same Arrow columns.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.engine.config import DataSpec
from workbench.store.model import Instrument
from workbench.store.timeutil import to_ns

FORMAT = 1
HOLD_BYTES = 256 << 20  # selections up to this size are read from the store once, larger ones twice
_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def default_cache_dir() -> str:
    """``$WORKBENCH_SWEEP_CACHE`` or ``data/catalog/sweep`` (beside the nautilus catalog exports; not committed)."""
    return os.environ.get("WORKBENCH_SWEEP_CACHE") or os.path.join("data", "catalog", "sweep")


@dataclass(frozen=True, slots=True)
class Export:
    url: str                          # folder (or fsspec URL) holding this data
    key: str                          # content hash of spec + data
    data: DataSpec                    # options_of resolved
    sessions: list[tuple[int, int]]   # (first_ns, last_ns + 1) per New York trading date in the data
    written: bool                     # False: a complete export was already there (cache hit)
    rows: int


def _fs(url: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    return url_to_fs(url)


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def _tables(store: Any, data: DataSpec) -> list[tuple[str, str, Any]]:
    """``(kind, instrument id, loader)`` for every table of the selection, in a fixed order. A kind
    (``quotes``, ``trades``, ``bars_1min``) is one Parquet file holding its instruments back to back."""
    out = []
    for size in data.bars:
        if not _SAFE.match(size):
            raise ValueError(f"bar size {size!r} cannot name a cache file")
    for iid in data.instrument_ids:
        if data.quotes:
            out.append(("quotes", iid, lambda i=iid: store.read_quotes(i, data.start, data.end, as_="arrow")))
        if data.trades:
            out.append(("trades", iid, lambda i=iid: store.read_trades(i, data.start, data.end, as_="arrow")))
        for size in data.bars:
            out.append((f"bars_{size}", iid,
                        lambda i=iid, s=size: store.read_bars(i, s, data.start, data.end, as_="arrow")))
    return out


def _write(fs: Any, folder: str, tables: list[tuple[str, str, Any]]) -> dict[str, dict[str, list[int]]]:
    """One file per kind, one row group per instrument; returns ``{kind: {iid: [offset, rows]}}``."""
    offsets: dict[str, dict[str, list[int]]] = {}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for kind, iid, load in tables:
            tbl = load()
            at = sum(n for _, n in offsets.get(kind, {}).values())
            offsets.setdefault(kind, {})[iid] = [at, tbl.num_rows]
            if kind not in writers:  # under a temporary name: a reader never sees a half-written file
                writers[kind] = pq.ParquetWriter(_join(folder, kind + ".parquet.tmp"), tbl.schema, filesystem=fs)
            if tbl.num_rows:
                writers[kind].write_table(tbl)
    finally:
        for w in writers.values():
            w.close()
    for kind in writers:
        fs.mv(_join(folder, kind + ".parquet.tmp"), _join(folder, kind + ".parquet"))
    return offsets


def _spec_doc(data: DataSpec) -> dict:
    return {"format": FORMAT, "instrument_ids": list(data.instrument_ids),
            "extra_instruments": sorted(set(data.extra_instruments) - set(data.instrument_ids)),
            "start": None if data.start is None else to_ns(data.start),
            "end": None if data.end is None else to_ns(data.end),
            "quotes": data.quotes, "trades": data.trades, "bars": list(data.bars)}


def _instrument_rows(store: Any, data: DataSpec) -> list[dict]:
    ids = sorted(set(data.instrument_ids) | set(data.extra_instruments))
    return [{k: (str(v) if isinstance(v, Decimal | date) else v) for k, v in store.instrument(i).to_row().items()}
            for i in ids]


def _hash_table(h: Any, name: str, tbl: pa.Table) -> None:
    h.update(f"{name}|{tbl.schema}|{tbl.num_rows}".encode())
    for col in tbl.columns:
        arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        h.update(np.ascontiguousarray(arr.to_numpy(zero_copy_only=False)).tobytes())
        h.update(str(arr.null_count).encode())


def _sessions(ts_arrays: list[np.ndarray]) -> list[tuple[int, int]]:
    if not ts_arrays or not sum(len(a) for a in ts_arrays):
        return []
    ts = np.sort(np.concatenate(ts_arrays))
    days = pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC").tz_convert("America/New_York").normalize()
    frame = pd.DataFrame({"ts": ts, "day": days})
    g = frame.groupby("day", sort=True)["ts"]
    return [(int(lo), int(hi) + 1) for lo, hi in zip(g.min(), g.max(), strict=True)]


def export_data(store: Any, data: DataSpec | dict | str | list, cache: str | None = None) -> Export:
    """Export the selection under ``cache`` (default :func:`default_cache_dir`) unless the same
    spec + data is already there; returns where it lives and whether anything was written."""
    from workbench.engine.backtest import expand_options

    data = expand_options(store, DataSpec.coerce(data))
    cache = cache or default_cache_dir()
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(_spec_doc(data), sort_keys=True).encode())
    instruments = _instrument_rows(store, data)
    h.update(json.dumps(instruments, sort_keys=True, default=str).encode())
    tables = _tables(store, data)
    ts_arrays, rows = [], 0
    kept: list[pa.Table | None] = []  # small selections are held for the write; big ones are read again
    held = 0
    for kind, iid, load in tables:
        tbl = load()
        _hash_table(h, f"{kind}__{iid}", tbl)
        held += tbl.nbytes
        kept.append(tbl if held <= HOLD_BYTES else None)
        ts_arrays.append(tbl.column("ts_event").to_numpy())
        rows += tbl.num_rows
    key = h.hexdigest()
    fs, root = _fs(cache)
    folder = _join(root, key)
    url = _join(cache, key)
    sessions = _sessions(ts_arrays)
    if fs.exists(_join(folder, "manifest.json")):
        return Export(url, key, data, sessions, False, rows)
    fs.makedirs(folder, exist_ok=True)
    tables = [(k, i, (lambda t=t: t) if t is not None else load) for (k, i, load), t in zip(tables, kept, strict=True)]
    offsets = _write(fs, folder, tables)  # only on a miss
    with fs.open(_join(folder, "instruments.json"), "w") as f:
        json.dump(instruments, f, sort_keys=True)
    manifest = {"key": key, "spec": _spec_doc(data), "tables": offsets, "rows": rows,
                "sessions": sessions}
    with fs.open(_join(folder, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, sort_keys=True)
    fs.mv(_join(folder, "manifest.json.tmp"), _join(folder, "manifest.json"))  # complete only now
    return Export(url, key, data, sessions, True, rows)


class ParquetSource:
    """Read-only, store-shaped view of one export (what ``backtest(store=...)`` reads)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._fs, self._root = _fs(url)
        with self._fs.open(_join(self._root, "manifest.json"), "r") as f:
            self.manifest = json.load(f)
        with self._fs.open(_join(self._root, "instruments.json"), "r") as f:
            self._instruments = {r["instrument_id"]: _instrument(r) for r in json.load(f)}
        self._cache: dict[str, tuple[pa.Table, np.ndarray]] = {}

    def instrument(self, instrument_id: str) -> Instrument:
        try:
            return self._instruments[instrument_id]
        except KeyError:
            raise KeyError(f"unknown instrument {instrument_id!r} in the sweep data export {self.url}") from None

    def _window(self, kind: str, instrument_id: str, start: Any, end: Any) -> pa.Table:
        span = self.manifest["tables"].get(kind, {}).get(instrument_id)
        if span is None:
            raise KeyError(f"{kind} of {instrument_id}: not in the sweep data export {self.url} "
                           "(the sweep's data spec did not select it)")
        if kind not in self._cache:  # the whole kind once per process: later runs only slice
            tbl = pq.read_table(_join(self._root, kind + ".parquet"), filesystem=self._fs)
            self._cache[kind] = (tbl, tbl.column("ts_event").to_numpy())
        tbl, ts = self._cache[kind]
        at, n = span
        ts = ts[at:at + n]
        lo = 0 if start is None else int(np.searchsorted(ts, to_ns(start), "left"))
        hi = n if end is None else int(np.searchsorted(ts, to_ns(end), "left"))
        return tbl.slice(at + lo, max(hi - lo, 0))

    def read_quotes(self, instrument_id: str, start: Any = None, end: Any = None, *, as_: str = "arrow") -> pa.Table:
        return _arrow_only(self._window("quotes", instrument_id, start, end), as_)

    def read_trades(self, instrument_id: str, start: Any = None, end: Any = None, *, as_: str = "arrow") -> pa.Table:
        return _arrow_only(self._window("trades", instrument_id, start, end), as_)

    def read_bars(self, instrument_id: str, bar_size: str = "1min", start: Any = None, end: Any = None, *,
                  price_type: str = "TRADE", adjusted: bool = False, as_: str = "arrow") -> pa.Table:
        if price_type != "TRADE" or adjusted:
            raise KeyError("sweep data exports hold raw TRADE bars only")
        return _arrow_only(self._window(f"bars_{bar_size}", instrument_id, start, end), as_)

    def __repr__(self) -> str:
        return f"ParquetSource({self.url!r}, rows={self.manifest['rows']})"


def _arrow_only(tbl: pa.Table, as_: str) -> pa.Table:
    if as_ != "arrow":
        raise ValueError("ParquetSource reads return Arrow tables only")
    return tbl


def _instrument(row: dict) -> Instrument:
    row = dict(row)
    for k in ("strike", "price_increment"):
        if row.get(k) is not None:
            row[k] = Decimal(row[k])
    if row.get("expiry"):
        row["expiry"] = date.fromisoformat(row["expiry"])
    return Instrument(**row)


_SOURCES: OrderedDict[str, ParquetSource] = OrderedDict()


def open_source(url: str) -> ParquetSource:
    """One :class:`ParquetSource` per export per process (workers keep the decoded tables between runs)."""
    src = _SOURCES.pop(url, None) or ParquetSource(url)
    _SOURCES[url] = src
    while len(_SOURCES) > 4:
        _SOURCES.popitem(last=False)
    return src


def window_spec(data: DataSpec, start: Any, end: Any) -> DataSpec:
    """The export's data spec narrowed to one run window (``None`` keeps the spec's bound)."""
    return replace(data, start=data.start if start is None else int(start),
                   end=data.end if end is None else int(end), options_of=())
