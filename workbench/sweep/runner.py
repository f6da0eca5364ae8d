"""`Sweep(...).run()`: fan a grid (and walk-forward windows) of backtests out over Dask.

>>> sweep = Sweep(DEMO_STRATEGY, grid={"entry_spreads": [2.0, 3.0], "ema_alpha": [0.01, 0.02]},
...               data={"instrument_ids": ["DEMO.XNAS"]}, store=store)        # doctest: +SKIP
>>> result = sweep.run()               # LocalCluster, one process per core   # doctest: +SKIP
>>> result.best(3); result.plot(); result.rerun(result.best(1).index[0])     # doctest: +SKIP

Where it runs: ``run(client)`` uses the given ``distributed.Client``; ``run(scheduler="tcp://host:8786")``
or ``$WORKBENCH_DASK_SCHEDULER`` connects to a running scheduler; otherwise a ``LocalCluster``
(processes, ``threads_per_worker=1`` — nautilus engines are not thread-safe to share — bound to
127.0.0.1, no dashboard) is started for the run and closed after it, also on Ctrl-C.
``run(client="serial")`` runs the same worker function in this process.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pandas as pd

from workbench.engine.config import DataSpec, VenueSpec
from workbench.sweep.datacache import Export, export_data, window_spec
from workbench.sweep.spec import (
    Point,
    SweepError,
    WalkForward,
    apply_params,
    check_param_names,
    expand_grid,
    make_points,
)
from workbench.sweep.worker import METRICS, Task, run_point

ENV_SCHEDULER = "WORKBENCH_DASK_SCHEDULER"
WORKER_WAIT_S = 60


class Sweep:
    """A grid of backtests of one strategy entry (the form ``backtest`` and live node configs take).

    ``grid`` maps config fields of the strategy to the values to try; ``walk_forward`` (see
    :func:`~workbench.sweep.spec.walk_forward`) runs every grid point on each fold's train and test
    window (``Sweep(entry, walk_forward(...), data)``: the entry as it is, on every fold)    window. ``objective`` is a metric name (``sharpe``, ``pnl``, ``return_pct``, ...; higher is better)
    or a callable ``metrics dict -> float`` evaluated in the client. ``risk`` is a risk limits file
    (default ``config/risk.yaml``). Results go to the store unless ``persist=False``.
    """

    def __init__(self, entry: Any, grid: dict[str, Any] | WalkForward, data: DataSpec | dict | str | list, *,
                 walk_forward: WalkForward | None = None, objective: str | Callable[[dict], float] = "sharpe",
                 venue: VenueSpec | dict | None = None, risk: str | None = None, store: Any = None,
                 cache: str | None = None, persist: bool = True, name: str | None = None) -> None:
        self.entry = entry
        if isinstance(grid, WalkForward):  # Sweep(entry, walk_forward(...), data): the entry as it is, rolled
            if walk_forward is not None:
                raise SweepError("walk_forward given twice (as grid and as walk_forward=)")
            grid, walk_forward = {}, grid
        if walk_forward is not None and not isinstance(walk_forward, WalkForward):
            raise SweepError("walk_forward: build it with workbench.sweep.walk_forward(train=, test=, step=)")
        self.walk_forward = walk_forward
        self.grid = dict(grid) if isinstance(grid, dict) else grid
        if self.grid or walk_forward is None:
            expand_grid(self.grid)
        apply_params(entry, {k: None for k in self.grid})  # strategy index check on the keys
        check_param_names(entry, self.grid)
        if not (callable(objective) or objective in METRICS):
            raise SweepError(f"objective: {objective!r} is not a metric; choose one of {', '.join(METRICS)} "
                             "or pass a callable")
        self.objective = objective
        self.venue = _venue(venue)
        self.risk = risk
        if risk is not None:
            from workbench.engine.gated import resolve_risk_config
            from workbench.risk.config import load_config

            load_config(resolve_risk_config(risk))  # a bad limits file is one error now, not N failed runs
        try:
            self.data = DataSpec.coerce(data)
        except (TypeError, KeyError) as exc:
            raise SweepError(f"data: {exc}") from exc
        self._store = store
        self.cache = cache
        self.persist = persist
        self.name = name
        self.export: Export | None = None

    # -- preparation -----------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            from workbench.store import Store

            self._store = Store.open()
        return self._store

    def prepare(self) -> Export:
        """Export the data (or find the identical export in the cache)."""
        if self.persist:
            from workbench.sweep.persist import is_read_only

            if is_read_only(self.store):
                raise SweepError("the store is open read-only, so the sweep's runs cannot be stored",
                                 where=str(self.store.path), hint="open it read-write or pass persist=False")
        try:
            self.export = export_data(self.store, self.data, self.cache)
        except KeyError as exc:
            raise SweepError(f"data: {exc.args[0]}", hint="`wb store info` lists what is stored") from exc
        return self.export

    def points(self, export: Export | None = None) -> list[Point]:
        export = export or self.export or self.prepare()
        return make_points(self.grid, self.walk_forward, export.sessions)

    def task(self, point: Point, export: Export | None = None) -> Task:
        export = export or self.export or self.prepare()
        return Task(point.index, export.url, apply_params(self.entry, point.params),
                    window_spec(export.data, point.start, point.end), self.venue, self.risk)

    def score(self, metrics: dict | None) -> tuple[float | None, str | None]:
        """``(objective, error)``: a callable objective that raises fails that row, not the sweep."""
        if metrics is None:
            return None, None
        try:
            value = self.objective(dict(metrics)) if callable(self.objective) else metrics.get(self.objective)
            value = None if value is None else float(value)
        except Exception as exc:  # user code: keep the runs, name the failure on the row
            return None, f"objective {self.objective_name}: {type(exc).__name__}: {' '.join(str(exc).split())}"
        return (value if value is not None and math.isfinite(value) else None), None

    # -- running ---------------------------------------------------------------------------------
    def run(self, client: Any = None, *, scheduler: str | None = None, workers: int | None = None,
            retries: int = 2, progress: bool = True, on_result: Callable[[dict], None] | None = None) -> Any:
        """Run every point and return a :class:`~workbench.sweep.result.SweepResult`.

        ``retries``: Dask re-runs a point whose worker was lost (the point itself never raises: a
        failing backtest comes back as a row with its ``error``). ``on_result(row)`` is called in
        the client as each run finishes. Ctrl-C cancels the outstanding runs, closes a cluster this
        call started and re-raises ``KeyboardInterrupt``.
        """
        from workbench.sweep.result import SweepResult

        export = self.prepare()  # every run: the data is hashed again, so a changed store is a new export
        points = self.points(export)
        tasks = [self.task(p, export) for p in points]
        sweep_id = uuid.uuid4().hex[:12]
        t0 = time.perf_counter()
        if isinstance(client, str) and client != "serial":  # run("tcp://host:8786")
            client, scheduler = None, scheduler or client
        if isinstance(client, str):
            rows = _serial(tasks, progress, on_result)
            n_workers = 1
        else:
            rows, n_workers = _distributed(tasks, client, scheduler, workers, retries, progress, on_result, sweep_id)
        wall = time.perf_counter() - t0
        frame = self._frame(points, rows, sweep_id)
        result = SweepResult(self, frame, sweep_id=sweep_id, wall_s=wall, workers=n_workers, export=export)
        if self.persist:
            from workbench.sweep.persist import save

            save(self.store, sweep_id, {"name": self.name, "objective": self.objective_name, "spec": self.spec(),
                                        "data_key": export.key, "wall_s": wall}, frame, self.param_names)
        return result

    @property
    def param_names(self) -> list[str]:
        return list(self.grid)

    @property
    def objective_name(self) -> str:
        return self.objective if isinstance(self.objective, str) else getattr(self.objective, "__name__", "custom")

    def spec(self) -> dict[str, Any]:
        """What defines the sweep, as plain values (stored with its runs)."""
        wf = self.walk_forward
        return {"entries": apply_params(self.entry, {}), "grid": self.grid,
                "walk_forward": None if wf is None else {"train": wf.train, "test": wf.test, "step": wf.step},
                "data": asdict(self.export.data) if self.export else asdict(self.data),
                "venue": asdict(self.venue), "risk": self.risk, "objective": self.objective_name}

    def _frame(self, points: list[Point], rows: dict[int, dict], sweep_id: str) -> pd.DataFrame:
        out = []
        for p in points:
            row = rows[p.index]
            metrics = row.get("metrics")
            objective, objective_error = self.score(metrics)
            out.append({"index": p.index, "run_id": f"{sweep_id}-{p.index:05d}", "fold": p.fold, "phase": p.phase,
                        "window_start": p.start, "window_end": p.end,
                        "start": None if p.start is None else pd.Timestamp(p.start, unit="ns", tz="UTC"),
                        **p.params, **{m: (metrics or {}).get(m) for m in METRICS},
                        "objective": objective, "duration_s": row.get("duration_s", 0.0),
                        "backtest_s": row.get("backtest_s"), "worker": row.get("worker"),
                        "error": row.get("error") or objective_error})
        frame = pd.DataFrame(out).set_index("index", drop=False)
        frame.index.name = None
        return frame


def _venue(venue: VenueSpec | dict | None) -> VenueSpec:
    if venue is None or isinstance(venue, VenueSpec):
        return venue or VenueSpec()
    if not isinstance(venue, dict):
        raise SweepError(f"venue: expected a VenueSpec or a mapping, got {type(venue).__name__}")
    from workbench.engine.runconfig import RunConfigError
    from workbench.engine.runconfig import _venue as venue_from_mapping  # the run files' reading, not a twin

    try:
        return venue_from_mapping(venue, "sweep")
    except (RunConfigError, TypeError) as exc:
        raise SweepError(f"venue: {exc}") from exc


def _bar(total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="run", disable=not progress)


def _serial(tasks: list[Task], progress: bool, on_result: Callable | None) -> dict[int, dict]:
    rows = {}
    with _bar(len(tasks), progress) as bar:
        for task in tasks:
            rows[task.index] = run_point(task)
            bar.update(1)
            if on_result:
                on_result(rows[task.index])
    return rows


def connect(client: Any = None, scheduler: str | None = None, workers: int | None = None) -> tuple[Any, list]:
    """The client to use and what this call started (to close afterwards, client first)."""
    from distributed import Client

    if client is not None:
        return client, []
    address = scheduler or os.environ.get(ENV_SCHEDULER)
    if address:
        try:
            c = Client(address, timeout="15s", set_as_default=False)
        except OSError as exc:
            raise SweepError(f"cannot reach the Dask scheduler: {exc}", where=address,
                             hint=f"start one (`dask scheduler`) or unset {ENV_SCHEDULER}") from exc
        return c, [c]
    cluster = local_cluster(workers or os.cpu_count() or 1)
    return Client(cluster, set_as_default=False), [cluster]


def local_cluster(n_workers: int) -> Any:
    """Worker processes (one engine each; nautilus engines are not shared across threads) on
    127.0.0.1, no dashboard; the scheduler's health endpoint on a free loopback port (its default,
    8787, may be taken by another cluster on the machine)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1, host="127.0.0.1",
                        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        silence_logs=40)


def _distributed(tasks: list[Task], client: Any, scheduler: str | None, workers: int | None, retries: int,
                 progress: bool, on_result: Callable | None, sweep_id: str) -> tuple[dict[int, dict], int]:
    from distributed import as_completed

    client, started = connect(client, scheduler, workers)
    if started and started[0] is not client:
        started.insert(0, client)
    futures: list = []
    try:
        try:  # a scheduler without workers would hold the runs forever
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError as exc:
            raise SweepError(f"no Dask worker joined the scheduler within {WORKER_WAIT_S} s",
                             where=str(client.scheduler.address),
                             hint="start workers (`dask worker ADDRESS`) or run without --scheduler") from exc
        n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        futures = [client.submit(run_point, t, key=f"wb-sweep-{sweep_id}-{t.index:05d}", pure=False,
                                 retries=retries) for t in tasks]
        index = {f.key: t.index for f, t in zip(futures, tasks, strict=True)}
        rows: dict[int, dict] = {}
        with _bar(len(tasks), progress) as bar:
            for fut in as_completed(futures, loop=client.loop):
                i = index[fut.key]
                if fut.status == "finished":
                    rows[i] = fut.result()
                else:  # lost more often than retries/allowed-failures allow, or cancelled elsewhere
                    exc = fut.exception() if fut.status == "error" else None
                    rows[i] = {"index": i, "metrics": None, "duration_s": 0.0, "worker": None,
                               "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}" if exc
                               else f"future {fut.status}"}
                bar.update(1)
                if on_result:
                    on_result(rows[i])
        return rows, n_workers
    except BaseException:
        if futures:
            client.cancel(futures, force=True)
        raise
    finally:
        for obj in started:
            obj.close()
