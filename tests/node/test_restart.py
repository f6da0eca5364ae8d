"""Restart hygiene: the discovery file a ``kill -9``-ed node leaves behind is taken over at the next
start (its pid is dead, or now another program), a live node's file is still refused. Real
ControlServer on 127.0.0.1, real processes for the pids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.ops.control import ControlError, ControlServer, request
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate
from workbench.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def parts():
    store = Store.open(":memory:")
    yield RiskGate(load_config(REPO / "config/risk.yaml")), store
    store.close()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _left_behind(path, pid: int, **extra) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": "http://127.0.0.1:1", "token": "old-token", "pid": pid, **extra}, f)


def _start_takes_over(parts, cf, capfd) -> None:
    server = ControlServer(*parts, control_file=cf).start()
    try:
        info = json.loads(cf.read_text())
        assert info["pid"] == os.getpid() and info["token"] == server.token != "old-token"
        assert request("GET", "/v1/state", control_file=cf)["global"] == "NORMAL"  # the new node answers
        err = capfd.readouterr().err
        assert err.count("taken over") == 1 and "stale" in err and "old-token" not in err
        assert server.took_over and "stale" in server.took_over
    finally:
        server.stop()
    assert not cf.exists()  # a clean stop still removes it


def test_a_killed_nodes_control_file_is_taken_over(parts, tmp_path, capfd):
    cf = tmp_path / "control.json"
    _left_behind(cf, _dead_pid(), started=1)
    _start_takes_over(parts, cf, capfd)


def test_a_reused_pid_running_another_program_is_stale(parts, tmp_path, capfd):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        cf = tmp_path / "control.json"
        _left_behind(cf, sleeper.pid, started=1)  # the recorded node started at another time
        _start_takes_over(parts, cf, capfd)
        _left_behind(cf, sleeper.pid)  # a file of an older version (no start time): `sleep` is no node
        _start_takes_over(parts, cf, capfd)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_live_nodes_control_file_is_still_refused(parts, tmp_path):
    cf = tmp_path / "control.json"
    first = ControlServer(*parts, control_file=cf).start()
    try:
        before = cf.read_text()
        with pytest.raises(ControlError, match=r"already exists \(node pid \d+ is running\)"):
            ControlServer(*parts, control_file=cf).start()
        assert cf.read_text() == before
    finally:
        first.stop()


def test_tests_never_touch_the_users_control_file(tmp_path_factory):
    from workbench.ops.control import default_control_file

    cf = default_control_file()  # tests/conftest.py points $WB_CONTROL_FILE into pytest's temp folder
    assert cf != Path.home() / ".workbench" / "control.json"
    assert tmp_path_factory.getbasetemp() in cf.parents
