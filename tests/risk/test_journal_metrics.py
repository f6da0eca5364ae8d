"""Audit journal in the real store, query helpers, Prometheus registry."""

import json

from prometheus_client import generate_latest

from workbench.risk.journal import DecisionLog, Journal
from workbench.risk.metrics import RiskMetrics
from workbench.risk.schema import RISK_DDL


def test_every_decision_event_and_fill_is_journaled(rk, store):
    journal = Journal(store, run_id="t1")
    metrics = RiskMetrics()
    g = rk.make_gate(journal=journal, metrics=metrics)
    a = g.evaluate(rk.intent(qty=5000, price="100.00", seq=1))  # clipped
    g.evaluate(rk.intent(price="120.00", seq=2))  # price band
    g.evaluate(rk.intent(qty=5000, price="100.00", seq=1))  # duplicate
    g.on_fill("T-1", a.client_order_id, rk.T0, 200, 100.0)
    g.on_fill("T-1", a.client_order_id, rk.T0, 200, 100.0)
    g.halt("end of test")  # durable event -> flushes
    frame = DecisionLog.load(store, "t1").to_frame()
    assert list(frame["verdict"][:3]) == ["APPROVE_MODIFIED", "REJECT", "REJECT"]
    first = frame.iloc[0]
    assert first["intent_id"] == a.intent.intent_id and str(first["approved_qty"]).startswith("500")
    assert first["validator_values"]["max_order_qty"] == 1000 and first["changes"]["qty"][0] == "5000"
    assert first["storm_state"] == "NORMAL" and first["config_version"] == 0 and first["ts_event"] == rk.T0
    assert frame.iloc[-1]["reasons"] == ["CANCEL_ALLOWED"]  # the kill switch's cancel-all
    hist = DecisionLog.load(store, "t1").reasons_histogram()
    assert hist.set_index(["verdict", "reason"])["count"][("REJECT", "PRICE_BAND")] == 1
    assert store.con.execute("SELECT count(*) FROM risk_fills WHERE run_id='t1'").fetchone()[0] == 1
    ev = store.con.execute(
        "SELECT kind, scope, new, reason, detail FROM risk_events WHERE kind='STORMGUARD'"
    ).fetchall()
    assert ev[0][:3] == ("STORMGUARD", "GLOBAL", "HALT") and "end of test" in ev[0][3]
    assert "drawdown_pct" in json.loads(ev[0][4])
    text = generate_latest(metrics.registry).decode()
    assert 'risk_decisions_total{decision="REJECT",reason="DUPLICATE_INTENT"} 1.0' in text
    assert 'stormguard_state{scope="GLOBAL"} 3.0' in text
    assert "risk_decision_latency_seconds_count 4.0" in text


def test_flush_is_all_or_nothing(rk, store):
    journal = Journal(store, run_id="t2")
    g = rk.make_gate(journal=journal)
    g.evaluate(rk.intent(seq=1))
    journal.flush()
    g2 = rk.make_gate(journal=journal)  # a second gate reusing the run id: decision_seq 1 again
    g2.evaluate(rk.intent(seq=1))
    g2.evaluate(rk.intent(seq=2))
    try:
        journal.flush()
    except Exception:  # noqa: BLE001 - the primary key violation is the point
        pass
    n = store.con.execute("SELECT count(*) FROM risk_decisions WHERE run_id='t2'").fetchone()[0]
    assert n == 1  # neither row of the failed batch landed


def test_ddl_is_idempotent(store):
    store.con.execute(RISK_DDL)
    store.con.execute(RISK_DDL)
