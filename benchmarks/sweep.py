"""Sweep suite: one grid on the demo market, run serially in-process (the anchor), on a 1-worker and a
2-worker LocalCluster; same sweep object, same process, same data.

- ``sweep_parallel_efficiency``: runs/s with 2 workers over 2 x runs/s with 1 worker (goal >= 0.8).
- ``sweep_mismatch_vs_serial``: points of either cluster run whose metrics differ from the serial
  backtest of the same point straight from the DuckDB store (goal 0).
- ``sweep_overhead_per_run_ms``: 1-worker wall time per run minus the time of the backtest call
  itself (timed inside the worker, same run): scheduling, transfer, opening the Parquet export,
  metrics and result handling in the client (goal <= 50). The serial in-process time per run is
  printed beside it (``serial_in_process_ms``).

Workers are warmed first (imports, nautilus layout probes, the Parquet export read once) so the
timed part is steady-state; 1- and 2-worker runs alternate ``SWEEP_ROUNDS`` times (default 3, best
round of each kept) so other load on the machine hits both alike. ``SWEEP_POINTS`` (default 12) and
``SWEEP_WINDOW_H`` (default 2) size it. Every round's rows count towards the mismatch.
"""

from __future__ import annotations

import os
import time

import pandas as pd

from benchmarks.lines import metric

ENTRY = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
         "config_path": "strategies.quote_reversion:QuoteReversionConfig",
         "config": {"instrument_id": "DEMO.XNAS", "trade_size": 100, "max_position": 500}}


def _serial(store, sweep, points):
    from workbench.engine import backtest
    from workbench.sweep.worker import metrics_of

    metrics, seconds = {}, 0.0
    for p in points:
        task = sweep.task(p)
        t = time.perf_counter()
        result = backtest(task.entries, task.data, task.venue, store=store, risk_config=task.risk_config)
        metrics[p.index] = metrics_of(result)
        seconds += time.perf_counter() - t
        result.close()
    return metrics, seconds


def _timed_rounds(sweep, warm_task, rounds):
    """Both clusters up and warm, then 1-worker and 2-worker runs alternated ``rounds`` times: the
    machine's other load hits both alike; the best round of each is kept."""
    from distributed import Client

    from workbench.sweep.runner import local_cluster
    from workbench.sweep.worker import run_point

    clusters = {n: local_cluster(n) for n in (1, 2)}
    clients = {n: Client(c, set_as_default=False) for n, c in clusters.items()}
    try:
        for client in clients.values():
            client.run(run_point, warm_task)  # every worker: imports, layout probe, export read
        best: dict[int, tuple[float, object]] = {}
        results = []
        for r in range(rounds):
            # the order alternates per round, so drift or warm-up favours neither side
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                client = clients[n]
                t = time.perf_counter()
                result = sweep.run(client, progress=False)
                wall = time.perf_counter() - t
                results.append(result)
                if n not in best or wall < best[n][0]:
                    best[n] = (wall, result)
        return best, results
    finally:
        for n in clients:
            clients[n].close()
            clusters[n].close()


def run() -> list[dict]:
    import tempfile

    from workbench.ingest.generator import MarketConfig, generate_market
    from workbench.store import Store
    from workbench.sweep import Sweep

    n_points = int(os.environ.get("SWEEP_POINTS", "12"))
    hours = int(os.environ.get("SWEEP_WINDOW_H", "2"))
    store = Store.open(":memory:")
    generate_market(store, MarketConfig(n_sessions=1))
    data = {"instrument_ids": ["DEMO.XNAS"], "start": "2024-03-04 14:30",
            "end": f"2024-03-04 {14 + hours}:30"}
    spreads = [round(1.5 + 0.25 * i, 2) for i in range(n_points)]
    with tempfile.TemporaryDirectory() as cache:
        sweep = Sweep(ENTRY, {"entry_spreads": spreads}, data, store=store, cache=cache, persist=False)
        points = sweep.points()
        _serial(store, sweep, points[:1])  # warm this process like the workers
        serial, serial_s = _serial(store, sweep, points)
        best, results = _timed_rounds(sweep, sweep.task(points[0]), int(os.environ.get("SWEEP_ROUNDS", "3")))
    (wall1, one), (wall2, _) = best[1], best[2]

    def mismatches(result):
        frame = result.to_frame()
        return sum(result.metrics(i) != serial[i] or pd.notna(frame.loc[i, "error"]) for i in frame.index)

    n = len(points)
    rps1, rps2 = n / wall1, n / wall2
    inside_ms = float(one.to_frame()["backtest_s"].sum()) / n * 1e3  # the backtest itself, timed in the worker
    overhead = wall1 / n * 1e3 - inside_ms
    return [
        metric("sweep_parallel_efficiency", rps2 / (2 * rps1), "ratio",
               "ideal linear scaling: runs/s with 2 workers = 2 x runs/s with 1 worker", 1.0,
               higher_is_better=True, goal=0.8, runs=n, runs_per_s_1_worker=round(rps1, 3),
               runs_per_s_2_workers=round(rps2, 3), cores_ours=2, cores_anchor=1),
        metric("sweep_mismatch_vs_serial", float(sum(mismatches(r) for r in results)), "points",
               "serial in-process backtest of each point from the DuckDB store", None,
               higher_is_better=False, goal=0, runs=n * len(results)),
        metric("sweep_overhead_per_run_ms", overhead, "ms", "backtest per run inside the worker (ms)", inside_ms,
               higher_is_better=False, goal=50, runs=n, wall_1_worker_s=round(wall1, 3),
               serial_in_process_ms=round(serial_s / n * 1e3, 1)),
    ]
