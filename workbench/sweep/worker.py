"""What runs on a worker: one point -> one row (metrics or the error), never an exception.

The same function runs serially in the client (``Sweep.run(client="serial")``): a row does not
depend on where it ran. Metrics are computed from the ``BacktestResult`` of the unchanged
``workbench.engine.backtest``; the only difference from a notebook backtest is the data source (the
Parquet export instead of the DuckDB store).
"""

from __future__ import annotations

import math
import os
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.engine.config import DataSpec, VenueSpec

# 5-minute buckets, 78 a regular session, 252 sessions a year
SHARPE_BUCKET = "5min"
SHARPE_ANNUAL = math.sqrt(252 * 78)
INTS = ("orders", "fills", "positions", "data_events")
METRICS = ("sharpe", "pnl", "return_pct", "max_drawdown_pct", "orders", "fills", "fill_rate", "positions",
           "commissions", "data_events")


@dataclass(frozen=True, slots=True)
class Task:
    """Everything a worker needs for one point (plain values; no store handle, no engine)."""

    index: int
    url: str                  # the Parquet export
    entries: list[dict]       # strategy entries with the point's params applied
    data: DataSpec            # the export's spec narrowed to the point's window
    venue: VenueSpec
    risk_config: str | None


def sharpe(equity: pd.Series, starting_balance: float) -> float | None:
    """Annualised Sharpe of 5-minute equity changes (as a fraction of the starting balance), over
    the buckets of New York regular hours between the first and last account event. ``None`` when
    undefined (fewer than two buckets or no variation): never NaN."""
    if len(equity) < 2 or not starting_balance > 0:
        return None
    eq = equity.astype(float)
    eq = eq[~eq.index.duplicated(keep="last")]
    buckets = eq.resample(SHARPE_BUCKET, label="right", closed="right").last().ffill()
    local = buckets.index.tz_convert("America/New_York")
    minutes = local.hour * 60 + local.minute
    regular = (local.dayofweek < 5) & (minutes > 9 * 60 + 30) & (minutes <= 16 * 60)
    r = (buckets.diff() / starting_balance)[regular].dropna().to_numpy()
    if len(r) < 2:
        return None
    sd = float(np.std(r, ddof=1))
    if not sd > 0:
        return None
    value = float(np.mean(r)) / sd * SHARPE_ANNUAL
    return round(value, 10) if math.isfinite(value) else None


def metrics_of(result: Any) -> dict[str, Any]:
    """The sweep's metrics of one :class:`BacktestResult` (finite numbers or None)."""
    s = result.summary()
    out: dict[str, Any] = {"sharpe": sharpe(result.equity_curve(), float(result.starting_balance))}
    for key in METRICS[1:]:
        v = int(s[key]) if key in INTS else float(s[key])
        out[key] = v if math.isfinite(v) else None
    return out


def metrics_from_row(row: Any) -> dict[str, Any] | None:
    """A run's metrics back from its result-frame row (NaN -> None, counts -> int); None if the run
    produced none (``orders`` is always set when the backtest ran)."""
    def missing(v: Any) -> bool:
        return v is None or bool(pd.isna(v))

    if missing(row["orders"]):
        return None
    return {m: None if missing(row[m]) else (int(row[m]) if m in INTS else float(row[m])) for m in METRICS}


def worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"local:{os.getpid()}"


def run_point(task: Task) -> dict[str, Any]:
    """Run one point; a failure is returned as the row's ``error`` (type, message, last frame)."""
    from workbench.engine import backtest
    from workbench.sweep.datacache import open_source

    t0 = time.perf_counter()
    row: dict[str, Any] = {"index": task.index, "metrics": None, "error": None, "worker": worker_name()}
    try:
        source = open_source(task.url)
        t1 = time.perf_counter()
        result = backtest(task.entries, task.data, task.venue, store=source, risk_config=task.risk_config)
        try:
            row["metrics"] = metrics_of(result)
        finally:
            result.close()
        row["backtest_s"] = time.perf_counter() - t1
    except Exception as exc:  # a failed point is a row, never a lost future
        frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        at = f" (at {os.path.basename(frame[0].filename)}:{frame[0].lineno})" if frame else ""
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500] + at
    row["duration_s"] = time.perf_counter() - t0
    return row
