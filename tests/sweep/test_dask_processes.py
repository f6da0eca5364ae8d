"""A sweep on a separately started cluster: `dask scheduler` + two `dask worker` processes on
127.0.0.1 (free ports, bounded start-up, always stopped), reached by address, by
$WORKBENCH_DASK_SCHEDULER and from `wb sweep --scheduler`; a worker killed mid-sweep loses no run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.loopback import free_port
from tests.sweep.conftest import ENTRY, HOUR, serial_metrics
from workbench.cli.main import main
from workbench.sweep import Sweep, load_runs

DASK = str(Path(sys.executable).with_name("dask"))
REPO = Path(__file__).resolve().parents[2]


def _stop(procs: list[subprocess.Popen]) -> None:
    procs = procs[::-1]  # workers before the scheduler, so none waits on a scheduler that is gone
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    from distributed import Client

    logs = tmp_path_factory.mktemp("dasklogs")
    address = f"tcp://127.0.0.1:{free_port()}"
    common = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    procs = [subprocess.Popen([DASK, "scheduler", "--port", address.rsplit(":", 1)[1], *common],
                              cwd=logs, stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT)]
    try:
        for i in range(2):  # no nanny: a killed worker stays dead (a lost worker, not a restart)
            procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--name", f"w{i}",
                                           "--death-timeout", "60", *common], cwd=logs,
                                          stdout=open(logs / f"worker{i}.log", "w"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 120
        client = None
        while time.monotonic() < deadline:
            try:
                client = client or Client(address, timeout="5s", set_as_default=False)
                if len(client.scheduler_info(n_workers=-1)["workers"]) == 2:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"dask cluster at {address} not up within 120 s; logs in {logs}")
        yield address, client, procs
        client.close()
    finally:
        _stop(procs)


def test_sweep_by_scheduler_address_equals_serial_runs(demo_db, dask_cluster, tmp_path):
    address, client, _ = dask_cluster
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 3.0, 4.0]}, HOUR, store=demo_db, cache=str(tmp_path))
    result = sweep.run(scheduler=address, progress=False)
    frame = result.to_frame()
    assert frame["error"].isna().all() and set(frame["worker"]) <= set(client.scheduler_info(n_workers=-1)["workers"])
    assert [i for i in frame.index if result.metrics(i) != serial_metrics(demo_db, sweep, i)] == []
    assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2  # a cluster we did not start stays up


def test_environment_variable_and_cli_reach_the_scheduler(demo_db, dask_cluster, tmp_path, monkeypatch, capsys):
    address, _, _ = dask_cluster
    monkeypatch.setenv("WORKBENCH_DASK_SCHEDULER", address)
    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 3.0]}, HOUR, store=demo_db, cache=str(tmp_path), persist=False)
    assert sweep.run(progress=False).summary()["workers"] == 2

    monkeypatch.delenv("WORKBENCH_DASK_SCHEDULER")
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(f"base: {REPO / 'config' / 'backtest_demo.yaml'}\ngrid: {{entry_spreads: [2.0, 3.0]}}\n"
                   f"data: {{instrument_ids: [DEMO.XNAS], start: '{HOUR['start']}', end: '{HOUR['end']}'}}\n")
    before = len(load_runs(demo_db))
    rc = main(["--store", demo_db.path, "sweep", str(cfg), "--scheduler", address, "--quiet",
               "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "runs_per_s" in out and (tmp_path / "out" / "sweep.html").is_file()
    assert len(load_runs(demo_db)) == before + 2


def test_a_scheduler_without_workers_is_an_error_not_a_hang(demo_db, tmp_path, monkeypatch):
    from workbench.sweep import SweepError, runner

    port = free_port()
    sched = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                              "--dashboard-address", "127.0.0.1:0"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        monkeypatch.setattr(runner, "WORKER_WAIT_S", 1)
        sweep = Sweep(ENTRY, {"entry_spreads": [3.0]}, HOUR, store=demo_db, cache=str(tmp_path), persist=False)
        with pytest.raises(SweepError, match="no Dask worker joined"):
            sweep.run(scheduler=f"tcp://127.0.0.1:{port}", progress=False)
    finally:
        _stop([sched])


def test_a_worker_killed_mid_sweep_loses_no_run(demo_db, dask_cluster, tmp_path):
    address, _, procs = dask_cluster
    victim = procs[2]

    def kill_once(_row):
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)

    sweep = Sweep(ENTRY, {"entry_spreads": [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]}, HOUR, store=demo_db,
                  cache=str(tmp_path), persist=False)
    result = sweep.run(scheduler=address, progress=False, on_result=kill_once, retries=2)
    frame = result.to_frame()
    assert victim.returncode == -signal.SIGKILL
    assert len(frame) == 6 and frame["error"].isna().all(), frame["error"].tolist()
    assert result.metrics(5) == serial_metrics(demo_db, sweep, 5)
