"""Sweep results in the store: ``sweeps`` (one row per sweep) and ``sweep_runs`` (one per run).

Written by the client process only, once at the end of a sweep, in one short transaction (workers
never touch the DuckDB file). The tables are created on first use with ``IF NOT EXISTS``: they hold
derived results, not market data, and stores without them stay valid.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

DDL = """
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id    VARCHAR PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    name        VARCHAR,
    objective   VARCHAR NOT NULL,
    spec        JSON NOT NULL,        -- strategy entry, grid, walk-forward, venue, risk, data spec
    data_key    VARCHAR NOT NULL,     -- content hash of the exported data
    n_runs      INTEGER NOT NULL,
    n_failed    INTEGER NOT NULL,
    wall_s      DOUBLE
);
CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep_id     VARCHAR NOT NULL,
    run_index    INTEGER NOT NULL,
    run_id       VARCHAR NOT NULL,
    fold         INTEGER,
    phase        VARCHAR NOT NULL,    -- all | train | test
    window_start BIGINT,              -- UTC ns, NULL: the data spec's bound
    window_end   BIGINT,
    params       JSON NOT NULL,
    metrics      JSON,                -- NULL when the run failed
    objective    DOUBLE,
    duration_s   DOUBLE NOT NULL,
    worker       VARCHAR,
    error        VARCHAR,
    PRIMARY KEY (sweep_id, run_index)
);
"""


def is_read_only(store: Any) -> bool:
    return store.con.execute("SELECT current_setting('access_mode')").fetchall()[0][0] == "read_only"


def _num(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def save(store: Any, sweep_id: str, meta: dict[str, Any], runs: pd.DataFrame, params: list[str]) -> None:
    """Insert the sweep and all its runs atomically."""
    from workbench.sweep.worker import metrics_from_row

    rows = []
    for r in runs.to_dict("records"):
        d = {k: (None if _missing(v) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        metrics = metrics_from_row(d)
        rows.append([sweep_id, int(d["index"]), d["run_id"], None if d["fold"] is None else int(d["fold"]),
                     d["phase"], _int(d["window_start"]), _int(d["window_end"]),
                     json.dumps({p: d[p] for p in params}, default=str), None if metrics is None else json.dumps(metrics),
                     _num(d["objective"]), float(d["duration_s"]), d["worker"], d["error"]])
    with store.transaction() as con:
        for stmt in DDL.split(";"):
            if stmt.strip():
                con.execute(stmt)
        con.execute("INSERT INTO sweeps (sweep_id, name, objective, spec, data_key, n_runs, n_failed, wall_s) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [sweep_id, meta.get("name"), meta["objective"], json.dumps(meta["spec"], default=str),
                     meta["data_key"], len(rows), int(runs["error"].notna().sum()), _num(meta.get("wall_s"))])
        if rows:
            con.executemany("INSERT INTO sweep_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def load_runs(store: Any, sweep_id: str | None = None) -> pd.DataFrame:
    """Stored runs (of one sweep, or all), ordered by sweep then run index; empty if none yet."""
    exists = store.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'sweep_runs'"
                               ).fetchall()[0][0]
    if not exists:
        return pd.DataFrame()
    sql = "SELECT * FROM sweep_runs" + (" WHERE sweep_id = ?" if sweep_id else "") + " ORDER BY sweep_id, run_index"
    return store.con.execute(sql, [sweep_id] if sweep_id else []).df()
