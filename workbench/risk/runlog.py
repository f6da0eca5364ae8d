"""The run registry and order-lifecycle journal: what comparison reports read besides the decisions.

Every journaled run (a ``wb backtest``, a ``wb node run``) has a row in ``risk_runs``: its id, mode
(BACKTEST, PAPER, REAL), wall-clock start/end and, at the end, the last quote of each instrument (the
*run-end marks* a comparison values open positions at). ``risk_order_events`` holds each order's
lifecycle (submitted, accepted, rejected with reason, filled with price and commission, canceled ...) on
the run's nautilus clock, with the instrument's latest quote when the event was handled. The nautilus
side that fills it is :class:`workbench.engine.orderlog.RunRecorder`.

>>> register_run(store, "bt-1", "BACKTEST")                          # doctest: +SKIP
>>> finish_run(store, "bt-1", {"SPY.XNAS": (ts, 500.01, 500.03)})    # doctest: +SKIP
>>> list_runs(store)                                                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time

import pandas as pd
import pyarrow as pa

from workbench.errors import WorkbenchError
from workbench.risk.journal import connection, transaction
from workbench.risk.schema import columns, ensure_schema

MODES = ("BACKTEST", "PAPER", "REAL")
EVENT_COLUMNS = ("event_seq", "client_order_id", "strategy_id", "instrument_id", "side", "kind", "ts_event",
                 "ts_recv", "qty", "price", "commission", "reason", "md_ts", "md_bid", "md_ask")


def register_run(store_or_con, run_id: str, mode: str, label: str = "") -> None:
    """Record the start of run ``run_id`` (an id already registered is an error: ids are unique)."""
    mode = str(mode).upper()
    if mode not in MODES:
        raise WorkbenchError(f"run mode {mode!r}: expected one of {', '.join(MODES)}", where=f"run {run_id}")
    con = connection(store_or_con)
    ensure_schema(con)
    if con.execute("SELECT 1 FROM risk_runs WHERE run_id = ?", [run_id]).fetchone():
        raise WorkbenchError("run id already journaled", where=f"run {run_id}", hint="use a fresh run id")
    with transaction(store_or_con):
        con.execute("INSERT INTO risk_runs (run_id, mode, started_ns, label) VALUES (?, ?, ?, ?)",
                    [run_id, mode, time.time_ns(), label])


def _quotes_json(quotes: dict[str, tuple[int, float, float]]) -> str:
    # a non-finite or crossed quote is left out (a mark must be a real price)
    return json.dumps({k: [int(ts), float(b), float(a)] for k, (ts, b, a) in sorted(quotes.items())
                       if math.isfinite(b) and math.isfinite(a) and 0 < b <= a})


def finish_run(store_or_con, run_id: str, marks: dict[str, tuple[int, float, float]],
               first_quotes: dict[str, tuple[int, float, float]] | None = None) -> None:
    """Record the end of the run, its last quote per instrument (``{instrument: (ts_event, bid, ask)}``,
    the run-end marks) and the first quote it saw of each (where a backtest of the same stretch starts)."""
    con = connection(store_or_con)
    with transaction(store_or_con):
        con.execute("UPDATE risk_runs SET ended_ns = ?, marks = ?, first_quotes = ? WHERE run_id = ?",
                    [time.time_ns(), _quotes_json(marks), _quotes_json(first_quotes or {}), run_id])


def run_window(store_or_con, run_id: str) -> tuple[int, int] | None:
    """(first, last) quote exchange time of a finished run, over its instruments; None if unknown.
    A backtest over ``[first, last]`` sees the quotes the run saw: the way to set a backtest beside a
    node run of the same stretch of the market."""
    con = connection(store_or_con)
    if "first_quotes" not in columns(con).get("risk_runs", ()):
        return None  # a store from before run windows were journaled (opened read-only: not migrated)
    row = con.execute("SELECT first_quotes, marks FROM risk_runs WHERE run_id = ?", [run_id]).fetchone()
    if not row or not row[0] or not row[1]:
        return None
    first, last = json.loads(row[0]), json.loads(row[1])
    if not first or not last:
        return None
    return min(v[0] for v in first.values()), max(v[0] for v in last.values())


def write_order_events(store_or_con, run_id: str, rows: list[tuple]) -> None:
    """Append order-lifecycle rows (tuples in :data:`EVENT_COLUMNS` order) in one transaction."""
    if not rows:
        return
    con = connection(store_or_con)
    cols = list(zip(*rows, strict=True))
    buf = pa.table({name: list(col) for name, col in zip(EVENT_COLUMNS, cols, strict=True)})  # noqa: F841
    names = ", ".join(EVENT_COLUMNS)
    with transaction(store_or_con):
        con.execute(f"INSERT INTO risk_order_events (run_id, {names}) SELECT ?, {names} FROM buf", [run_id])


def list_runs(store_or_con) -> pd.DataFrame:
    """Every journaled run, newest first: run id, mode, start/end (UTC), decisions, fills. Runs that
    journaled decisions without registering (older stores) are listed with mode ``UNKNOWN``."""
    con = connection(store_or_con)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "risk_decisions" not in tables:
        return pd.DataFrame(columns=["run_id", "mode", "started", "ended", "decisions", "order_events"])
    runs = ("SELECT run_id, mode, started_ns, ended_ns FROM risk_runs" if "risk_runs" in tables
            else "SELECT NULL::VARCHAR AS run_id, NULL AS mode, NULL::BIGINT AS started_ns, NULL::BIGINT AS ended_ns "
                 "WHERE false")
    events = ("SELECT run_id, count(*) AS n FROM risk_order_events GROUP BY run_id" if "risk_order_events" in tables
              else "SELECT NULL::VARCHAR AS run_id, 0 AS n WHERE false")
    df = con.execute(f"""
        WITH r AS ({runs}), e AS ({events}),
        d AS (SELECT run_id, count(*) AS n, min(wall_ns) AS first_ns, max(wall_ns) AS last_ns
              FROM risk_decisions GROUP BY run_id),
        ids AS (SELECT run_id FROM r UNION SELECT run_id FROM d)
        SELECT ids.run_id, coalesce(r.mode, 'UNKNOWN') AS mode,
               make_timestamp(coalesce(r.started_ns, d.first_ns) // 1000) AS started,
               make_timestamp(coalesce(r.ended_ns, d.last_ns) // 1000) AS ended,
               coalesce(d.n, 0) AS decisions, coalesce(e.n, 0) AS order_events
        FROM ids LEFT JOIN r USING (run_id) LEFT JOIN d USING (run_id) LEFT JOIN e USING (run_id)
        ORDER BY started DESC NULLS LAST, run_id
    """).df()
    return df
