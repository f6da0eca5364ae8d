"""The store shared with a running node (workbench/node/sharedstore.py), with a second real process
holding DuckDB's lock: a session waits for it (bounded), the change stamp sees other writers and not our
own, and a run's journal database merges into the store under its run id."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from workbench.node.sharedstore import SharedStore, merge_journal, preload_source
from workbench.risk.journal import Journal
from workbench.store import Store
from workbench.store.store import StoreError

HOLD = """
import sys, time
from workbench.store import Store
s = Store.open(sys.argv[1])
s.con.execute("CREATE TABLE IF NOT EXISTS other_writer (x INT)")
s.con.execute("INSERT INTO other_writer VALUES (1)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
s.close()
"""


@pytest.fixture
def store_file(tmp_path, seeded_quotes):
    path = tmp_path / "s.duckdb"
    src = seeded_quotes(100, 1)
    with Store.open(str(path)) as s:
        s.upsert_instruments([src.instrument("DEMO.XNAS")])
        s.write_quotes("DEMO.XNAS", src.read_quotes("DEMO.XNAS"), source="test")
    return path


def _holder(path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_session_waits_for_another_process_to_release_the_lock(store_file):
    shared = SharedStore(str(store_file))
    assert not shared.changed()
    holder = _holder(store_file, 1.0)
    try:
        with pytest.raises(StoreError, match="locked"):
            with shared.session(wait_s=0.1):
                pass
        t0 = time.monotonic()
        with shared.session(wait_s=20) as s:  # the holder lets go after ~1 s
            assert s.con.execute("SELECT count(*) FROM other_writer").fetchall()[0][0] == 1
        assert time.monotonic() - t0 > 0.2
    finally:
        holder.wait(timeout=30)
    assert not shared.changed()  # our own session (and its checkpoint) is not news
    _holder(store_file, 0).wait(timeout=30)
    assert shared.changed()  # another process wrote: the node's poller opens the store to look


def test_merge_journal_and_preload(store_file, tmp_path):
    con = duckdb.connect(str(tmp_path / "journal.duckdb"))
    j = Journal(con, "run-x")
    j.fill("f1", "RK-1", "S-1", "DEMO.XNAS", "BUY", 100, 10.5, 1)
    j.flush()
    con.close()
    shared = SharedStore(str(store_file))
    assert merge_journal(shared, tmp_path / "journal.duckdb")["risk_fills"] == 1
    with shared.session() as s:
        assert s.con.execute("SELECT count(*) FROM risk_fills WHERE run_id = 'run-x'").fetchall()[0][0] == 1
        q = s.read_quotes("DEMO.XNAS")
        ts = q["ts_event"].astype("int64").to_numpy() if q["ts_event"].dtype.kind != "i" else q["ts_event"].to_numpy()
        src = preload_source(s, ["DEMO.XNAS"], int(ts[10]), int(ts[20]))
    got = src.quotes("DEMO.XNAS", 0, 1 << 62)
    assert len(got) == 10 and int(got.ts[0]) == int(ts[10])
