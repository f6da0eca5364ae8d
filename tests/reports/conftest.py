"""Hand-written journals: rows written straight into the risk tables, so each metric can be checked
against numbers worked out by hand (docs/reports.md defines them)."""

from __future__ import annotations

import json

import pytest

from workbench.risk.schema import ensure_schema

S = 1_000_000_000  # ns per second
MS = 1_000_000


def write_run(con, run_id: str, mode: str, intents: list[dict], events: list[tuple], marks: dict | None = None):
    """``intents``: dicts with key, action, side, qty, price, verdict, reasons, ts, md (ts, bid, ask),
    coid; ``events``: (coid, kind, ts_recv, qty, price, commission, reason, (md_ts, bid, ask), side)."""
    ensure_schema(con)
    con.execute("INSERT INTO risk_runs (run_id, mode, started_ns, ended_ns, label, marks) VALUES (?, ?, 0, 1, '', ?)",
                [run_id, mode, json.dumps({k: list(v) for k, v in (marks or {}).items()})])
    for n, i in enumerate(intents, 1):
        md_ts, bid, ask = i.get("md", (0, None, None))
        con.execute(
            "INSERT INTO risk_decisions (run_id, decision_seq, intent_id, client_order_id, strategy_id, instrument_id, "
            "action, side, qty, price, approved_qty, tag, verdict, reasons, validator_values, changes, config_version, "
            "storm_state, policy_mode, ts_event, wall_ns, match_key, md_ts, md_bid, md_ask) "
            "VALUES (?, ?, ?, ?, 'S-001', 'X.XNAS', ?, ?, ?, ?, ?, '', ?, ?, '{}', '{}', 1, 'NORMAL', 'NORMAL', ?, 0, "
            "?, ?, ?, ?)",
            [run_id, n, f"{run_id}-{n}", i["coid"], i.get("action", "NEW"), i["side"], i["qty"], i.get("price"),
             None if i.get("verdict") == "REJECT" else i["qty"], i.get("verdict", "APPROVE"),
             i.get("reasons", ["OK"]), i["ts"], i["key"], md_ts, bid, ask])
    for n, (coid, kind, t, qty, px, comm, reason, md, side) in enumerate(events, 1):
        con.execute("INSERT INTO risk_order_events VALUES (?, ?, ?, 'S-001', 'X.XNAS', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?)", [run_id, n, coid, side, kind, t, t, qty, px, comm, reason, *md])


@pytest.fixture
def con():
    import duckdb

    c = duckdb.connect()
    yield c
    c.close()
