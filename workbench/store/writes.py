"""Idempotent, revision-aware writes.

Every write goes through :meth:`WritesMixin._merge`, inside the current ingest batch:

- rows whose key is new are inserted,
- rows identical to what is stored are counted as unchanged (re-ingesting a file is a no-op),
- rows whose key exists with different values are *revisions*: the stored row is kept and the
  new values are recorded in ``revisions`` with the ingest id, never silently overwritten.

A batch is one transaction: if anything in it fails, the store is exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

BAR_VALUES = ("open", "high", "low", "close", "volume")
QUOTE_VALUES = ("bid", "ask", "bid_size", "ask_size", "exchange")
TRADE_VALUES = ("price", "size", "exchange", "condition")
CHAIN_VALUES = ("expiry", "strike", "right", "bid", "ask", "bid_size", "ask_size", "last", "volume",
                "open_interest", "iv", "delta", "gamma", "vega", "theta", "rho", "forward")
CHAIN_OPTIONAL = tuple(c for c in CHAIN_VALUES if c not in ("expiry", "strike", "right"))
BAR_SIZES = ("1s", "5s", "1min", "5min", "15min", "30min", "1h", "1d")
BULK_CHECKPOINT = "1GiB"  # WAL between checkpoints inside a multi-file ingest (see deferred_checkpoints)


@dataclass
class MergeCounts:
    """What one write did: ``inserted + unchanged + revised == rows_in``."""

    rows_in: int = 0
    inserted: int = 0
    unchanged: int = 0
    revised: int = 0

    def __iadd__(self, other: MergeCounts) -> MergeCounts:
        self.rows_in += other.rows_in
        self.inserted += other.inserted
        self.unchanged += other.unchanged
        self.revised += other.revised
        return self


@dataclass
class IngestBatch:
    """An open ingest: one transaction and one ``ingest_log`` row."""

    ingest_id: int
    source: str
    counts: MergeCounts = field(default_factory=MergeCounts)
    repairs: dict[str, int] = field(default_factory=dict)

    def repaired(self, policy: str, n: int) -> None:
        if n:
            self.repairs[policy] = self.repairs.get(policy, 0) + int(n)


def to_arrow(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.to_arrow()
    if isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"expected a pandas/polars DataFrame or pyarrow Table, got {type(frame).__name__}")


def _require(tbl: pa.Table, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in tbl.column_names]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)} (have {', '.join(tbl.column_names)})")


class WritesMixin:
    con: Any
    _batch: IngestBatch | None
    _threads: int | None = None  # DuckDB's thread count, read once (restored after single-threaded appends)
    _pinned: bool = False  # inside a single-threaded block: nested ones leave the setting alone

    @contextmanager
    def ingest(self, source: str, path: str | None = None, sha256: str | None = None) -> Iterator[IngestBatch]:
        """Open an ingest batch; nested writes join it. Commits and logs on success only."""
        if self._batch is not None:  # joined by an outer batch
            yield self._batch
            return
        with self.transaction():
            ingest_id = int(self.con.execute("SELECT nextval('ingest_id_seq')").fetchall()[0][0])
            batch = IngestBatch(ingest_id, source)
            started = datetime.now(UTC)
            self._batch = batch
            try:
                yield batch
            finally:
                self._batch = None
            c = batch.counts
            self.con.execute(
                "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'OK', ?, ?)",
                [ingest_id, source, path, sha256, c.rows_in, c.inserted, c.unchanged, c.revised,
                 json.dumps(batch.repairs, sort_keys=True), started, datetime.now(UTC)],
            )

    # -- public writes ---------------------------------------------------------------------------
    def write_bars(self, instrument_id: str, bar_size: str, frame: Any, *, price_type: str | None = "TRADE",
                   source: str = "user") -> MergeCounts:
        """Bars with columns ts_event (UTC ns, bar open), open, high, low, close, volume.

        ``price_type=None``: each row names its own in a ``price_type`` column, so the BID and ASK
        bars of one quote file are one merge (one statement) instead of two."""
        if bar_size not in BAR_SIZES:
            raise ValueError(f"bar_size {bar_size!r} not in {BAR_SIZES}")
        tbl = to_arrow(frame)
        _require(tbl, ("ts_event", "open", "high", "low", "close", "volume"), f"bars for {instrument_id}")
        consts = {"instrument_id": instrument_id, "bar_size": bar_size}
        keys: tuple[str, ...] = ("ts_event",)
        if price_type is None:
            _require(tbl, ("price_type",), f"bars for {instrument_id} (price_type=None)")
            keys = ("price_type", "ts_event")
        else:
            consts["price_type"] = price_type
        tags = {"ikey": self.instrument_key(instrument_id)}
        return self._merge("bars", consts, keys, BAR_VALUES, tbl, source, extra_tags=tags)

    def write_quotes(self, instrument_id: str, frame: Any, *, source: str = "user") -> MergeCounts:
        """Top-of-book quotes: ts_event, bid, ask, bid_size, ask_size [, seq, exchange]."""
        self.instrument_key(instrument_id)  # unknown instruments are rejected, by name
        tbl = with_seq(_with_optional(to_arrow(frame), ("exchange",), pa.string()))
        _require(tbl, ("ts_event", "bid", "ask", "bid_size", "ask_size"), f"quotes for {instrument_id}")
        consts = {"instrument_id": instrument_id}
        return self._merge("quotes", consts, ("ts_event", "seq"), QUOTE_VALUES, tbl, source)

    def write_many(self, table: str, frame: Any, *, source: str = "user", bar_size: str | None = None,
                   price_type: str = "TRADE") -> MergeCounts:
        """Rows of many instruments in one merge; ``frame`` carries an ``instrument_id`` column.

        ``table`` is one of bars (needs ``bar_size``), quotes, trades, open_interest. Same
        semantics as the single-instrument writes; an option chain's ~2,000 contracts cost one
        merge instead of 2,000.
        """
        tbl = to_arrow(frame)
        _require(tbl, ("instrument_id", "ts_event"), table)
        keys = self._instrument_keys(tbl.column("instrument_id"))
        consts: dict[str, Any] = {}
        if table == "bars":
            if bar_size not in BAR_SIZES:
                raise ValueError(f"bar_size {bar_size!r} not in {BAR_SIZES}")
            _require(tbl, ("open", "high", "low", "close", "volume"), "bars")
            consts = {"bar_size": bar_size, "price_type": price_type}
            tbl = tbl.append_column("ikey", keys)  # fixed per instrument: rides along as a value
            key_cols, values = ("instrument_id", "ts_event"), (*BAR_VALUES, "ikey")
        elif table in ("quotes", "trades"):
            opt = ("exchange",) if table == "quotes" else ("exchange", "condition")
            tbl = _with_optional(tbl, opt, pa.string())
            _require(tbl, ("bid", "ask", "bid_size", "ask_size") if table == "quotes" else ("price", "size"), table)
            if "seq" not in tbl.column_names:  # a stable sort keeps arrival order within a timestamp
                tbl = with_seq(tbl.sort_by([("instrument_id", "ascending"), ("ts_event", "ascending")]),
                                by="instrument_id")
            key_cols, values = ("instrument_id", "ts_event", "seq"), QUOTE_VALUES if table == "quotes" else TRADE_VALUES
        elif table == "open_interest":
            _require(tbl, ("open_interest",), table)
            key_cols, values = ("instrument_id", "ts_event"), ("open_interest",)
        else:
            raise ValueError(f"write_many: table {table!r} not in bars, quotes, trades, open_interest")
        return self._merge(table, consts, key_cols, values, tbl, source)

    def _instrument_keys(self, ids: Any) -> pa.Array:
        """Per-row instrument keys; any unknown id is an error naming it."""
        unique = pc.unique(ids)
        rows = dict(self.con.execute("SELECT instrument_id, ikey FROM instruments WHERE instrument_id IN "
                                     "(SELECT unnest(?::VARCHAR[]))", [unique.to_pylist()]).fetchall())
        missing = sorted(i for i in unique.to_pylist() if i not in rows)
        if missing:
            raise KeyError(f"unknown instrument(s) {', '.join(missing[:5])}: register them with upsert_instruments first")
        lut = pa.array([rows[i] for i in unique.to_pylist()], pa.int32())
        return lut.take(pc.index_in(ids, value_set=unique))

    def write_trades(self, instrument_id: str, frame: Any, *, source: str = "user") -> MergeCounts:
        """Trades: ts_event, price, size [, seq, exchange, condition]."""
        self.instrument_key(instrument_id)  # unknown instruments are rejected, by name
        tbl = with_seq(_with_optional(to_arrow(frame), ("exchange", "condition"), pa.string()))
        _require(tbl, ("ts_event", "price", "size"), f"trades for {instrument_id}")
        consts = {"instrument_id": instrument_id}
        return self._merge("trades", consts, ("ts_event", "seq"), TRADE_VALUES, tbl, source)

    def write_open_interest(self, instrument_id: str, frame: Any, *, source: str = "user") -> MergeCounts:
        self.instrument_key(instrument_id)  # unknown instruments are rejected, by name
        tbl = to_arrow(frame)
        _require(tbl, ("ts_event", "open_interest"), f"open interest for {instrument_id}")
        consts = {"instrument_id": instrument_id}
        return self._merge("open_interest", consts, ("ts_event",), ("open_interest",), tbl, source)

    def write_corporate_actions(self, instrument_id: str, frame: Any, *, source: str = "user") -> MergeCounts:
        """Split/dividend factors: date, price_factor, split_factor [, reference_price]."""
        self.instrument_key(instrument_id)  # unknown instruments are rejected, by name
        tbl = _with_optional(to_arrow(frame), ("reference_price",), pa.float64())
        _require(tbl, ("date", "price_factor", "split_factor"), f"factors for {instrument_id}")
        consts = {"instrument_id": instrument_id}
        values = ("price_factor", "split_factor", "reference_price")
        return self._merge("corporate_actions", consts, ("date",), values, tbl, source, with_ingest_id=False)

    def write_chain(self, underlying: str, as_of: int, underlying_price: float | None, frame: Any, *,
                    source: str = "user", downloaded_at: int | None = None) -> MergeCounts:
        """One option-chain snapshot: per contract instrument_id, expiry, strike, right and quotes/greeks.
        ``downloaded_at`` (UTC ns): when the file was saved; a later download of the same snapshot keeps
        the latest time."""
        tbl = _with_optional(to_arrow(frame), CHAIN_OPTIONAL, pa.float64())
        _require(tbl, ("instrument_id", "expiry", "strike", "right"), f"chain {underlying}@{as_of}")
        with self.ingest(source) as batch:
            row = self.con.execute(
                "SELECT snapshot_id FROM chain_snapshots WHERE underlying = ? AND as_of = ? AND source = ?",
                [underlying, int(as_of), source]).fetchall()
            row = row[0] if row else None
            if row is None:
                snap = int(self.con.execute("SELECT nextval('snapshot_id_seq')").fetchall()[0][0])
                self.con.execute("INSERT INTO chain_snapshots (snapshot_id, underlying, as_of, underlying_price, "
                                 "source, ingest_id, downloaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [snap, underlying, int(as_of), underlying_price, source, batch.ingest_id,
                                  downloaded_at])
            else:
                snap = int(row[0])
                if downloaded_at is not None:
                    self.con.execute("UPDATE chain_snapshots SET downloaded_at = greatest(coalesce(downloaded_at, ?), ?)"
                                     " WHERE snapshot_id = ?", [int(downloaded_at), int(downloaded_at), snap])
            return self._merge("chain_rows", {"snapshot_id": snap}, ("instrument_id",), CHAIN_VALUES, tbl,
                               source, with_ingest_id=False)

    # -- the merge -------------------------------------------------------------------------------
    def _merge(self, table: str, key_consts: dict[str, Any], keys: tuple[str, ...], values: tuple[str, ...],
               tbl: pa.Table, source: str, *, with_ingest_id: bool = True,
               extra_tags: dict[str, Any] | None = None) -> MergeCounts:
        """Merge ``tbl`` into ``table`` under the key ``key_consts + keys`` (see module doc)."""
        with self.ingest(source) as batch:
            counts = MergeCounts(rows_in=tbl.num_rows)
            if tbl.num_rows == 0:
                return counts
            tags = {"source": source} if table != "chain_rows" else {}
            if with_ingest_id:
                tags["ingest_id"] = batch.ingest_id
            tags.update(extra_tags or {})
            all_keys = (*key_consts, *keys)
            consts_sql = ", ".join(f"{_lit(v)} AS {_q(k)}" for k, v in {**key_consts, **tags}.items())
            stage = f"SELECT {consts_sql}, {', '.join(_q(c) for c in (*keys, *values))} FROM _wb_stage"
            cols = ", ".join(_q(c) for c in (*all_keys, *values, *tags))
            # DuckDB reads the Arrow table through its replacement scan of this local variable (the
            # name in the SQL): no register/unregister round trips (~1 ms CPU per merge, measured)
            _wb_stage = tbl  # noqa: F841
            staged = False
            try:
                proven_unique = _sorted_unique(tbl, keys, bool(key_consts.get("instrument_id")))
                target = self._target(table, key_consts, keys, tbl)
                existing = 1
                if proven_unique:
                    # the bulk path (first delivery of a time range): straight from Arrow, no staging
                    # copy, and the "nothing stored in range yet" test in the same statement
                    with self._single_threaded(tbl.num_rows):
                        n = self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM ({stage}) "
                                             f"WHERE NOT EXISTS (SELECT 1 FROM {target})").fetchall()[0][0]
                    existing = 0 if n else 1  # rows were given, so 0 inserted means some are stored
                    counts.inserted = int(n)
                if existing:
                    staged = True
                    self.con.execute(f"CREATE OR REPLACE TEMP TABLE _wb_s AS {stage}")
                    if not proven_unique:
                        self._check_unique(table, all_keys)
                    self._merge_staged(table, target, all_keys, values, cols, existing, batch.ingest_id, counts,
                                       tbl)
            finally:
                if staged:
                    self.con.execute("DROP TABLE IF EXISTS _wb_s")
            batch.counts += counts
            return counts

    @contextmanager
    def one_thread(self) -> Iterator[None]:
        """DuckDB on one thread for the whole block (a multi-file ingest: its reader thread is the
        parallelism, and DuckDB's second thread on small statements only adds CPU)."""
        with self._single_threaded(1 << 62):
            yield

    @contextmanager
    def deferred_checkpoints(self) -> Iterator[None]:
        """Checkpoint at most every ``BULK_CHECKPOINT`` of WAL for the whole block (a multi-file
        ingest), then restore the setting. With DuckDB's default 16 MiB a file ingest checkpoints
        every few files; each checkpoint re-reads what was appended since, and an in-memory store
        pays it too for no durability at all (measured: ~90 ms CPU each, ~170 ms of a 1.6 s Lean
        ingest). Every file still commits on its own; a file store checkpoints later (next commit
        over 16 MiB of WAL, or at close) and its WAL may grow to ``BULK_CHECKPOINT`` meanwhile."""
        old = self.con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
        self.con.execute(f"SET checkpoint_threshold = '{BULK_CHECKPOINT}'")
        try:
            yield
        finally:
            self.con.execute(f"SET checkpoint_threshold = {_lit(str(old))}")

    @contextmanager
    def _single_threaded(self, rows: int) -> Iterator[None]:
        """Run a bulk append of one row group or more on one DuckDB thread: appending Arrow rows in
        insertion order on two threads costs twice the CPU for no wall-clock gain (measured: 0.11
        vs 0.057 CPU-s per 460k tick trades; on a loaded machine 2x the wall time as well)."""
        if rows < 122_880 or self._pinned:  # below one row group DuckDB appends on one thread anyway
            yield
            return
        threads = self._threads
        if threads is None:
            threads = self._threads = int(self.con.execute("SELECT current_setting('threads')").fetchall()[0][0])
        if threads <= 1:
            yield
            return
        self.con.execute("SET threads = 1")
        self._pinned = True
        try:
            yield
        finally:
            self._pinned = False
            self.con.execute(f"SET threads = {threads}")

    def _target(self, table: str, key_consts: dict[str, Any], keys: tuple[str, ...], tbl: pa.Table) -> str:
        """The stored rows this write can collide with (constant keys, ids and the time range)."""
        conds = [f"{_q(k)} = {_lit(v)}" for k, v in key_consts.items()]
        if "instrument_id" in keys:  # a multi-instrument write
            conds.append("instrument_id IN (SELECT DISTINCT instrument_id FROM _wb_stage)")
        for k in keys:  # a per-row group key (price_type): its few values as literals
            if k not in ("instrument_id", "ts_event", "seq"):
                values = pc.unique(tbl.column(k)).drop_null().to_pylist()
                conds.append(f"{_q(k)} IN ({', '.join(_lit(v) for v in values) or 'NULL'})")
        if "ts_event" in keys:
            bounds = pc.min_max(tbl.column("ts_event"))
            conds.append(f"ts_event BETWEEN {int(bounds['min'].as_py())} AND {int(bounds['max'].as_py())}")
        return f"(SELECT * FROM {table} WHERE {' AND '.join(conds) or 'TRUE'})"

    def _merge_staged(self, table: str, target: str, all_keys: tuple[str, ...], values: tuple[str, ...], cols: str,
                      existing: int, ingest_id: int, counts: MergeCounts, _wb_stage: pa.Table) -> None:
        """The general path: ``_wb_s`` (staged rows) against ``target``, which may read ``_wb_stage``
        (the Arrow rows, found by DuckDB's replacement scan as a local of this frame)."""
        join = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in all_keys)
        matched = 0 if existing == 0 else int(self.con.execute(
            f"SELECT count(*) FROM _wb_s s JOIN {target} t ON {join}").fetchall()[0][0])
        if matched:
            differs = " OR ".join(f"s.{_q(v)} IS DISTINCT FROM t.{_q(v)}" for v in values)
            key_obj = ", ".join(f"'{k}': s.{_q(k)}" for k in all_keys)
            old_obj = ", ".join(f"'{v}': t.{_q(v)}" for v in values)
            new_obj = ", ".join(f"'{v}': s.{_q(v)}" for v in values)
            counts.revised = int(self.con.execute(
                f"INSERT INTO revisions (table_name, key, old_values, new_values, ingest_id) "
                f"SELECT '{table}', to_json({{{key_obj}}}), to_json({{{old_obj}}}), to_json({{{new_obj}}}), "
                f"{ingest_id} FROM _wb_s s JOIN {target} t ON {join} WHERE {differs}").fetchall()[0][0])
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _wb_s s "
                             f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {join})")
        else:
            self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _wb_s")
        counts.inserted = counts.rows_in - matched
        counts.unchanged = matched - counts.revised

    def _check_unique(self, table: str, all_keys: tuple[str, ...]) -> None:
        key_sql = ", ".join(_q(k) for k in all_keys)
        dup = self.con.execute(f"SELECT {key_sql}, count(*) AS n FROM _wb_s GROUP BY ALL HAVING n > 1 "
                               f"ORDER BY ALL LIMIT 1").fetchall()
        dup = dup[0] if dup else None
        if dup is not None:
            raise ValueError(f"{table}: duplicate key {dict(zip(all_keys, dup[:-1], strict=True))} "
                             f"appears {dup[-1]} times in one write")


def _sorted_unique(tbl: pa.Table, keys: tuple[str, ...], single_instrument: bool) -> bool:
    """Cheap proof of key uniqueness for the common case: one instrument, rows strictly increasing
    in (ts_event[, seq]), optionally after one leading group key (a quote file's BID then ASK bars:
    each group one contiguous run, increasing within it). False means "not proven" (the SQL check
    then decides), not "duplicate"."""
    if not single_instrument or tbl.num_rows < 2 or "ts_event" not in keys:
        return False
    at = keys.index("ts_event")
    groups, after = keys[:at], keys[at + 1:]
    if len(groups) > 1 or len(after) > 1:
        return False
    dt = np.diff(tbl.column("ts_event").to_numpy())
    ok = dt > 0
    if after:
        ok |= (dt == 0) & (np.diff(tbl.column(after[0]).to_numpy()) > 0)
    if not groups:
        return bool(ok.all())
    coded = pc.dictionary_encode(tbl.column(groups[0])).combine_chunks()
    codes = coded.indices.to_numpy(zero_copy_only=False)
    change = codes[1:] != codes[:-1]
    # as many runs as distinct values: no group value comes back after another one
    return int(change.sum()) + 1 == len(coded.dictionary) and bool((ok | change).all())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"unsupported constant {value!r}")
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _with_optional(tbl: pa.Table, cols: tuple[str, ...], typ: pa.DataType) -> pa.Table:
    for c in cols:
        if c not in tbl.column_names:
            tbl = tbl.append_column(c, pa.nulls(tbl.num_rows, typ))
    return tbl


def with_seq(tbl: pa.Table, by: str | None = None) -> pa.Table:
    """Number events sharing a timestamp in arrival order (0, 1, 2…) unless the source gave seq
    (a reader may number them itself, off the writing thread: the writes then keep its column)."""
    if "seq" in tbl.column_names:
        return tbl
    ts = tbl.column("ts_event").to_numpy()
    n = len(ts)
    seq = np.zeros(n, dtype=np.int32)
    if n:
        same = np.empty(n, dtype=bool)
        same[0] = False
        same[1:] = ts[1:] == ts[:-1]
        if by is not None:  # runs restart where the instrument changes
            ids = tbl.column(by).to_numpy(zero_copy_only=False)
            same[1:] &= ids[1:] == ids[:-1]
        # running count within each run of equal timestamps (input is time-ordered)
        idx = np.arange(n)
        run_start = np.maximum.accumulate(np.where(same, 0, idx))
        seq = (idx - run_start).astype(np.int32)
    return tbl.append_column("seq", pa.array(seq))
