"""The DuckDB market-data store: one file, versioned schema, transactional writes.

>>> store = Store.open(":memory:")
>>> store.info()["bars"]
0

The store is the single source of truth every other capability reads from: ingest writes into
it, the engine bridge, the IB simulator and the vol toolkit read from it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.store.ledger import LedgerMixin
from workbench.store.model import Instrument
from workbench.store.reads import ReadsMixin
from workbench.store.schema import MIGRATIONS
from workbench.store.writes import WritesMixin

DEFAULT_PATH = Path("data") / "workbench.duckdb"
COUNTED_TABLES = {
    "instruments": "instruments",
    "bars": "bars",
    "quotes": "quotes",
    "trades": "trades",
    "chain_snapshots": "chain_snapshots",
    "chain_rows": "chain_rows",
    "open_interest": "open_interest",
    "corporate_actions": "corporate_actions",
    "revisions": "revisions",
    "ingests": "ingest_log",
    "requests": "request_ledger",
}


def resolve_path(path: str | os.PathLike | None) -> str:
    """``path`` if given, else ``$WORKBENCH_STORE``, else ``data/workbench.duckdb``."""
    if path is None:
        path = os.environ.get("WORKBENCH_STORE") or DEFAULT_PATH
    return str(path)


class _CoverageMixin:
    """Calendar coverage and the request ledger, as methods on :class:`Store`."""

    def present_dates(self, instrument_id: str, bar_size: str, start: Any, end: Any) -> list:
        from workbench.store.calendars import present_dates

        return present_dates(self, instrument_id, bar_size, start, end)

    def missing_windows(self, instrument_ids: str | list[str], bar_size: str, start: Any, end: Any) -> Any:
        from workbench.store.calendars import missing_windows

        return missing_windows(self, instrument_ids, bar_size, start, end)


class StoreError(WorkbenchError, OSError):
    """The store file cannot be opened (missing, not DuckDB, a directory, read-only, locked)."""


def _store_error(exc: Exception, path: str) -> StoreError:
    """Turn DuckDB's open error into what happened and what to do, on one line."""
    text = " ".join(str(exc).split())
    pid = re.search(r"PID (\d+)", text)
    if pid or "Conflicting lock" in text or "lock on file" in text:
        holder = f"process PID {pid.group(1)}" if pid else "another process"
        return StoreError(f"store is locked by {holder}", where=path,
                          hint=f"stop that process (e.g. a running node or notebook: kill {pid.group(1) if pid else '<PID>'}) "
                               "or use another --store")
    if "not a valid DuckDB database" in text:
        return StoreError("file exists but is not a DuckDB database", where=path,
                          hint="point --store at a .duckdb file made by wb ingest")
    if "Is a directory" in text:
        return StoreError("path is a directory, not a store file", where=path,
                          hint="add a file name, e.g. --store DIR/workbench.duckdb")
    if "Permission denied" in text or "Read-only file system" in text:
        return StoreError("cannot write the store here (permission denied)", where=path,
                          hint="choose a writable path with --store")
    return StoreError(f"cannot open the store: {text}", where=path)


LOCK_WAIT_S = 2.0  # Store.open's default retry of a store locked by another process


def _connect(path: str, read_only: bool, lock_wait_s: float) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retrying a lock held by another process (backoff 10 ms .. 0.2 s) until
    ``lock_wait_s`` has passed; then, or for any other failure, the one-line StoreError."""
    deadline = time.monotonic() + lock_wait_s if lock_wait_s > 0 else 0.0  # NaN/negative: no retry
    delay = 0.01
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.Error as exc:
            err = _store_error(exc, path)
            if "locked by" not in str(err) or time.monotonic() + delay > deadline:
                raise err from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class Store(WritesMixin, ReadsMixin, _CoverageMixin, LedgerMixin):
    """A handle on one DuckDB store file (or ``:memory:``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self.con = con
        self.path = path
        self._tx_depth = 0
        self._lock = threading.RLock()
        self._batch = None
        # instruments are never updated or deleted, so what this connection has seen stored stays
        # true; both caches are dropped on any rollback (a rolled-back insert must not linger)
        self._known_terms: dict[str, tuple] = {}
        self._known: set[Instrument] = set()  # equal (all fields) to one stored: nothing to check
        self._ikeys: dict[str, int] = {}

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, read_only: bool = False,
             must_exist: bool = False, lock_wait_s: float = LOCK_WAIT_S) -> Store:
        """Open (creating and migrating if needed) the store at ``path``.

        ``must_exist=True`` (read-only commands such as ``wb store info``) refuses a path with no
        file instead of creating an empty store there, so a typo is an error, not a new database.
        A file that is not DuckDB, a directory, an unwritable folder or a store locked by another
        process is a one-line :class:`StoreError` naming the path (and the PID holding the lock); a lock
        is first retried with backoff for ``lock_wait_s`` seconds (a running node holds the store only for
        short sessions: its start, a command poll, the journal merge at stop).
        """
        resolved = resolve_path(path)
        if resolved != ":memory:":
            if must_exist and not Path(resolved).is_file():
                raise StoreError("no store file here" if not Path(resolved).exists() else "not a file",
                                 where=resolved, hint="check --store / $WORKBENCH_STORE (wb ingest creates a store)")
            try:
                Path(resolved).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store folder: {exc.strerror}", where=resolved,
                                 hint="choose a writable path with --store") from exc
        con = _connect(resolved, read_only, lock_wait_s)
        con.execute("SET enable_progress_bar = false")
        store = cls(con, resolved)
        if not read_only:
            store.migrate()
        return store

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r}, schema v{self.schema_version})"

    # -- schema ----------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        row = self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0]
        return int(row[0])

    def migrate(self) -> list[int]:
        """Apply pending migrations, each atomically. Returns the versions applied."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description VARCHAR, "
            "applied_at TIMESTAMPTZ DEFAULT now())"
        )
        current = self.schema_version
        applied = []
        for version, description, sql in sorted(MIGRATIONS):
            if version <= current:
                continue
            with self.transaction():
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)",
                                 [version, description])
            applied.append(version)
        return applied

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing block; nested blocks join the outermost transaction."""
        with self._lock:
            outer = self._tx_depth == 0
            if outer:
                self.con.execute("BEGIN TRANSACTION")
            self._tx_depth += 1
            try:
                yield self.con
            except BaseException:
                self._tx_depth -= 1
                if outer:
                    self._known_terms.clear()
                    self._known.clear()
                    self._ikeys.clear()
                    self.con.execute("ROLLBACK")
                raise
            self._tx_depth -= 1
            if outer:
                self.con.execute("COMMIT")

    # -- instruments -----------------------------------------------------------------------------
    def upsert_instruments(self, instruments: list[Instrument]) -> int:
        """Insert new instruments; an existing id with different terms is an error, not an overwrite.

        One lookup and one insert for the whole list, so registering a chain of hundreds of
        contracts costs about as much as registering one.
        """
        if self._known.issuperset(instruments):  # a file ingest re-registers its instrument each time
            return 0
        unique = sorted(set(instruments), key=lambda i: i.instrument_id)
        terms = {i.instrument_id: _terms(i) for i in unique}
        for a, b in zip(unique, unique[1:], strict=False):
            if a.instrument_id == b.instrument_id and _terms(a) != _terms(b):
                raise ValueError(f"instrument {a.instrument_id}: given twice with different terms")
        if all(self._known_terms.get(i) == t for i, t in terms.items()):
            self._known.update(unique)
            return 0  # all stored with these terms already (seen by this connection): no round trip
        with self.transaction():
            cur = self.con.execute("SELECT * EXCLUDE (created_at, ikey) FROM instruments WHERE instrument_id IN "
                                   "(SELECT unnest(?))", [[i.instrument_id for i in unique]])
            names = [d[0] for d in cur.description]
            stored = {r[0]: Instrument(**dict(zip(names, r, strict=True))) for r in cur.fetchall()}
            new: dict[str, Instrument] = {}
            for inst in unique:
                existing = stored.get(inst.instrument_id)
                if existing is None:
                    new.setdefault(inst.instrument_id, inst)
                elif _terms(existing) != _terms(inst):
                    raise ValueError(
                        f"instrument {inst.instrument_id}: terms differ from the stored definition "
                        f"(stored {_terms(existing)}, new {_terms(inst)})"
                    )
            if new:
                rows = pd.DataFrame([i.to_row() for i in new.values()])
                cols = ", ".join(f'"{c}"' for c in rows.columns)
                # via arrow: its decimal type covers every strike (DuckDB's pandas scan sizes
                # DECIMAL from the first rows, so a strike >= 10,000 after 1,200 overflowed)
                self.con.register("_wb_instruments", pa.Table.from_pandas(rows, preserve_index=False))
                try:
                    self.con.execute(f"INSERT INTO instruments ({cols}) SELECT {cols} FROM _wb_instruments "
                                     "ORDER BY instrument_id")
                finally:
                    self.con.unregister("_wb_instruments")
            self._known_terms.update(terms)  # every one is now stored with exactly these terms
            self._known.update(unique)
        return len(new)

    def find_instrument(self, instrument_id: str) -> Instrument | None:
        cur = self.con.execute("SELECT * EXCLUDE (created_at, ikey) FROM instruments WHERE instrument_id = ?",
                               [instrument_id])
        row = next(iter(cur.fetchall()), None)
        if row is None:
            return None
        names = [d[0] for d in cur.description]
        return Instrument(**dict(zip(names, row, strict=True)))

    def instrument(self, instrument_id: str) -> Instrument:
        found = self.find_instrument(instrument_id)
        if found is None:
            raise KeyError(f"unknown instrument {instrument_id!r}; `wb store info` lists what is stored")
        return found

    def instrument_key(self, instrument_id: str) -> int:
        """The integer key of a registered instrument; unknown ids are an error naming the id."""
        key = self._ikeys.get(instrument_id)
        if key is not None:
            return key
        rows = self.con.execute("SELECT ikey FROM instruments WHERE instrument_id = ?", [instrument_id]).fetchall()
        if not rows:
            raise KeyError(f"unknown instrument {instrument_id!r}: register it with upsert_instruments first")
        key = self._ikeys[instrument_id] = int(rows[0][0])
        return key

    def instruments(self, asset_class: str | None = None, underlying: str | None = None) -> pd.DataFrame:
        sql = "SELECT * EXCLUDE (created_at, ikey) FROM instruments WHERE 1=1"
        params: list[Any] = []
        if asset_class:
            sql += " AND asset_class = ?"
            params.append(asset_class)
        if underlying:
            sql += " AND underlying = ?"
            params.append(underlying)
        return self.con.execute(sql + " ORDER BY instrument_id", params).df()

    # -- overview --------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Row counts per table and event-time ranges; what `wb store info` prints."""
        out: dict[str, Any] = {"path": self.path, "schema_version": self.schema_version}
        for key, table in COUNTED_TABLES.items():
            out[key] = int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        ranges = {}
        for table in ("bars", "quotes", "trades"):
            lo, hi = self.con.execute(f"SELECT min(ts_event), max(ts_event) FROM {table}").fetchall()[0]
            if lo is not None:
                ranges[table] = [pd.Timestamp(lo, unit="ns", tz="UTC").isoformat(),
                                 pd.Timestamp(hi, unit="ns", tz="UTC").isoformat()]
        lo, hi = self.con.execute("SELECT min(as_of), max(as_of) FROM chain_snapshots").fetchall()[0]
        if lo is not None:
            ranges["chain_snapshots"] = [pd.Timestamp(lo, unit="ns", tz="UTC").isoformat(),
                                         pd.Timestamp(hi, unit="ns", tz="UTC").isoformat()]
        # download times of the files behind the snapshots (as_of is the session they belong to)
        lo, hi = self.con.execute("SELECT min(downloaded_at), max(downloaded_at) FROM chain_snapshots").fetchall()[0]
        if lo is not None:
            ranges["chain_downloaded"] = [pd.Timestamp(lo, unit="ns", tz="UTC").isoformat(),
                                          pd.Timestamp(hi, unit="ns", tz="UTC").isoformat()]
        out["ranges"] = ranges
        return out


def _terms(inst: Instrument) -> tuple:
    row = inst.to_row()
    row.pop("source", None)
    return tuple(sorted((k, format(v.normalize(), "f") if isinstance(v, Decimal) else str(v)) for k, v in row.items()))
