"""The store shared with a running node: opened per use, never held.

DuckDB lets one process write a file at a time, and a read-only connection blocks writers too, so a
node that kept the store open made `wb risk halt` (the offline kill switch), the notebook and other `wb`
commands fail with "Conflicting lock is held". Here every use is short:

* the embedded simulator's quotes are read once at start into memory (:func:`preload_source`);
* operator commands are read only when the store file changed (:meth:`SharedStore.changed`, a ``stat``
  of the file and its WAL, no lock), through one short session;
* the gate's journal goes to a run database of the node's own (``runs/<run_id>/journal.duckdb``),
  merged into the store in one transaction at stop (:func:`merge_journal`).

A session that finds the file locked by another process retries with backoff for ``wait_s`` seconds.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from workbench.store.store import Store


class SharedStore:
    """A store path opened for one block at a time: ``with shared.session() as store: ...``."""

    def __init__(self, path: str, wait_s: float = 5.0):
        self.path = str(path)
        self.wait_s = wait_s
        self._seen = self._stamp()

    def __repr__(self) -> str:
        return f"SharedStore({self.path!r})"

    def _stamp(self) -> tuple:
        out = []
        for p in (self.path, self.path + ".wal"):
            try:
                st = os.stat(p)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def changed(self) -> bool:
        """True when someone wrote the store since our last session (cheap: no lock is taken)."""
        return self._stamp() != self._seen

    @contextlib.contextmanager
    def session(self, wait_s: float | None = None):
        """The store open read-write for this block only; a lock held by another process is retried
        (backoff up to 0.2 s) for ``wait_s`` seconds, then the one-line StoreError is raised."""
        store = Store.open(self.path, must_exist=True, lock_wait_s=self.wait_s if wait_s is None else wait_s)
        try:
            yield store
        finally:
            store.close()
            self._seen = self._stamp()  # our own write (and close checkpoint) is not news


def preload_source(store: Store, instrument_ids: list[str], start_ns: int, end_ns: int):
    """A simulator MarketSource holding ``[start_ns, end_ns)`` of the instruments' stored quotes (bars
    become quotes where no quotes are stored, as the simulator's StoreSource does), so the simulator
    never needs the store again."""
    from workbench.ibsim.market import MemorySource, StoreSource

    src, mem = StoreSource(store), MemorySource()
    for iid in instrument_ids:
        q = src.quotes(iid, start_ns, end_ns)
        if len(q):
            mem.add_quotes(iid, q.ts, q.bid, q.ask, q.bid_size, q.ask_size)
    return mem


def merge_journal(shared: SharedStore, journal_db: Path) -> dict[str, int]:
    """Copy the run database's journal tables into the store in one transaction; rows per table."""
    from workbench.risk.schema import ensure_schema

    out = {}
    with shared.session(wait_s=max(shared.wait_s, 10.0)) as store:
        ensure_schema(store.con)
        store.con.execute("ATTACH '" + str(journal_db).replace("'", "''") + "' AS run_journal (READ_ONLY)")
        try:
            tables = [r[0] for r in store.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'run_journal' "
                "AND table_name LIKE 'risk_%' ORDER BY table_name").fetchall()]
            with store.transaction():  # all or nothing; a run id is new, so its rows are appended once
                for table in tables:
                    n = store.con.execute(f"SELECT count(*) FROM run_journal.{table}").fetchall()[0][0]
                    if n:
                        cols = _common_columns(store.con, table)
                        store.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM run_journal.{table}")
                    out[table] = int(n)
        finally:
            store.con.execute("DETACH run_journal")
    return out


def _common_columns(con, table: str) -> str:
    """The columns both the store's and the run database's ``table`` have (a store made by an older
    version may lack a newer column; the run folder keeps the full journal)."""
    rows = con.execute("SELECT database_name, column_name FROM duckdb_columns() WHERE table_name = ? "
                       "AND schema_name = 'main' ORDER BY column_index", [table]).fetchall()
    run = {c for db, c in rows if db == "run_journal"}
    return ", ".join(f'"{c}"' for db, c in rows if db != "run_journal" and c in run)
