"""The node's run journal survives a crash and merges into older stores.

* order events are flushed into ``runs/<id>/journal.duckdb`` during the run (every second, with the
  decisions), so a `kill -9` keeps them: before, they were written at stop only;
* a store whose ``risk_order_events`` still has the first layout's ``ts_init`` (NOT NULL) gets ``ts_recv``
  added in place and the merge succeeds (it failed on the NOT NULL column)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from workbench.ingest.generator import MarketConfig, generate_market
from workbench.node.sharedstore import SharedStore, merge_journal
from workbench.risk.runlog import register_run, write_order_events
from workbench.risk.schema import ensure_schema
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]
WB = str(Path(sys.executable).with_name("wb"))


def _events(run_dir: Path) -> list[dict]:
    try:
        text = (run_dir / "events.jsonl").read_text()
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def test_order_events_are_in_the_run_journal_after_kill_minus_9(tmp_path):
    store_path = tmp_path / "store.duckdb"
    with Store.open(store_path) as store:
        generate_market(store, MarketConfig(n_sessions=1))
    cfg = tmp_path / "node_paper.yaml"
    cfg.write_text((ROOT / "config/node_paper.yaml").read_text().replace("speed: 10.0", "speed: 120.0")
                   + f"runs_dir: {tmp_path / 'runs'}\n")
    proc = subprocess.Popen([WB, "--store", str(store_path), "node", "run", str(cfg), "--duration", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
                            env={**os.environ, "WB_CONTROL_FILE": str(tmp_path / "control.json")})
    try:
        deadline = time.monotonic() + 60
        filled = []
        while time.monotonic() < deadline and not filled:
            runs = list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else []
            filled = [e for r in runs for e in _events(r) if e.get("event") == "OrderFilled"]
            time.sleep(0.2)
        assert filled, "the node never filled an order"
        time.sleep(2.5)  # > the 1 s flush period: the fill's events are due in the run journal
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert not (run_dir / "summary.json").exists()  # it really died mid-run
    con = duckdb.connect(str(run_dir / "journal.duckdb"), read_only=True)  # WAL replayed on open
    kinds = dict(con.execute("SELECT kind, count(*) FROM risk_order_events GROUP BY kind").fetchall())
    fills = con.execute("SELECT client_order_id FROM risk_order_events WHERE kind = 'FILLED'").fetchall()
    con.close()
    assert kinds.get("SUBMITTED", 0) > 0 and kinds.get("FILLED", 0) > 0, kinds
    assert filled[0]["client_order_id"] in {c for (c,) in fills}


OLD_LAYOUT = """CREATE TABLE risk_order_events (
    run_id VARCHAR NOT NULL, event_seq BIGINT NOT NULL, client_order_id VARCHAR NOT NULL, strategy_id VARCHAR,
    instrument_id VARCHAR NOT NULL, side VARCHAR, kind VARCHAR NOT NULL, ts_event BIGINT NOT NULL,
    ts_init BIGINT NOT NULL, qty DOUBLE, price DOUBLE, commission DOUBLE, reason VARCHAR, md_ts BIGINT,
    md_bid DOUBLE, md_ask DOUBLE, PRIMARY KEY (run_id, event_seq))"""

ROW = (1, "RK-1", "S-001", "X.XNAS", "BUY", "FILLED", 10, 20, 100.0, 50.0, 0.5, None, 9, 49.9, 50.1)


@pytest.fixture
def old_store(tmp_path) -> Path:
    path = tmp_path / "old.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    con.execute(OLD_LAYOUT)  # as a store written before ts_recv, with one old run's event
    con.execute("INSERT INTO risk_order_events VALUES ('old', 1, 'RK-0', 'S-001', 'X.XNAS', NULL, 'SUBMITTED', "
                "5, 7, NULL, NULL, NULL, NULL, 4, 49.9, 50.1)")
    con.close()
    return path


def test_a_run_journal_merges_into_a_store_with_the_old_ts_init_layout(old_store, tmp_path):
    journal = tmp_path / "journal.duckdb"
    con = duckdb.connect(str(journal))
    ensure_schema(con)
    register_run(con, "new", "PAPER")
    write_order_events(con, "new", [ROW])
    con.close()
    merged = merge_journal(SharedStore(str(old_store)), journal)  # failed: ts_init NOT NULL, no ts_recv
    assert merged["risk_order_events"] == 1
    with Store.open(old_store, read_only=True) as s:
        rows = s.con.execute("SELECT run_id, ts_recv, qty FROM risk_order_events ORDER BY run_id").fetchall()
    # the old row keeps its time in the new column; the new row has its own
    assert rows == [("new", 20, 100.0), ("old", 7, None)]
