"""Store.open retries a store another process holds briefly (a running node's short sessions), and after
``lock_wait_s`` names the holder's PID in one line. The holder is a real second process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.store import Store
from workbench.store.store import StoreError

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
if sys.argv[2] == "release":
    time.sleep(0.4)
    con.close()
    print("released", flush=True)
sys.stdin.read()  # held (or done) until the test closes stdin
"""


def _hold(path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "wb.duckdb"
    Store.open(p).close()
    return p


def test_open_waits_for_a_brief_lock_to_be_released(path):
    proc = _hold(path, "release")
    try:
        with Store.open(path) as store:  # before the retry: "store is locked by process PID ..."
            assert store.schema_version > 0
        assert proc.stdout.readline().strip() == "released"  # it really was held when we first tried
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_open_gives_up_with_the_holder_pid(path):
    proc = _hold(path, "keep")
    try:
        with pytest.raises(StoreError) as err:
            Store.open(path, lock_wait_s=0.2)
        msg = err.value.one_line()
        assert f"PID {proc.pid}" in msg and "\n" not in msg
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
