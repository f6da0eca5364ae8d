"""Broker faults against a REAL node (`wb node run`, real nautilus IB clients) over loopback: the
simulator's scenario files drop the connection, report 1100 -> 1101 (data lost) and reject orders.
The node survives, resubscribes, counts its reconnects, shows not-ready while disconnected, never sends
an order twice (counted at the broker), and its circuit breaker opens, half-opens and closes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import yaml

from benchmarks.loopback import free_port, listening, node_run, wait_until
from workbench.node.recovery import broker_view
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]
WB = str(Path(sys.executable).with_name("wb"))
SPEED = 120.0  # simulated seconds per wall second: scenario times below are wall seconds x 120


def _entry() -> dict:
    entry = yaml.safe_load((ROOT / "config/node_real.yaml").read_text())["strategies"][0]
    entry["config"].update(warmup=30, order_ttl_quotes=20)  # trades sooner and more often (tests/node/test_crash)
    return entry


def _run(tmp_path: Path, store: Path, doc: dict, duration_s: float) -> tuple[dict, list[dict]]:
    # stop_timeout_s 15: the wait ends as soon as the node is flat; the 5 s default was missed once on a loaded
    # 2-core machine, and these tests are about faults (the stop's own bound is tested in test_node_run)
    summary, proc = node_run(store, {"mode": "real", "speed": SPEED, "runs_dir": str(tmp_path / "runs"),
                                     "stop_timeout_s": 15.0, "strategies": [_entry()], **doc}, duration_s, tmp_path,
                             timeout_s=120)
    assert summary is not None, proc.stderr[-2000:]  # exit 3 when the summary lists errors (a reject is one)
    events = [json.loads(line) for line in (Path(summary["run_dir"]) / "events.jsonl").read_text().splitlines()]
    return summary, events


def _wall(event: dict) -> float:
    """The event log line's wall-clock stamp, in seconds."""
    return datetime.fromisoformat(event["ts"]).timestamp()


def _run_against_sim(tmp_path: Path, store: Path, faults: list[dict], duration_s: float,
                     doc: dict | None = None) -> tuple[dict, list[dict], dict]:
    """The simulator as its own process with a scenario and a state file (the broker's own count of the orders
    it got), a REAL node against it; returns the node's summary, its events and the broker's view."""
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(yaml.safe_dump(faults))
    port, state = free_port(), tmp_path / "broker.json"
    sim = subprocess.Popen([WB, "--store", str(store), "gateway", "sim", "--port", str(port), "--replay-from",
                            "2024-03-04 15:00", "--speed", str(SPEED), "--scenario", str(scenario),
                            "--state", str(state)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: listening(port) or sim.poll() is not None, 20)
        node_store = tmp_path / "node.duckdb"
        Store.open(str(node_store)).close()
        summary, events = _run(tmp_path, node_store, {"port": port, **(doc or {})}, duration_s)
    finally:
        sim.kill()
        sim.wait()
    return summary, events, broker_view(state)


def test_disconnect_and_1100_1101_the_node_reconnects_resubscribes_and_never_resends(demo_store, tmp_path):
    # timed from the node's first order, not the simulator's start: on a loaded machine the node's start-up
    # alone took longer than a fixed offset allowed, and the cut came before it traded (or after it stopped)
    summary, events, broker = _run_against_sim(tmp_path, demo_store, [
        {"from": "first_order", "at": f"+{int(2 * SPEED)}s", "action": "drop_connection"},  # the socket cut
        {"from": "first_order", "at": f"+{int(8 * SPEED)}s", "action": "connectivity_loss", "seconds": 60,
         "data_lost": True},
    ], 22.0)
    ready = [e for e in events if e["kind"] == "readiness"]
    first_ready = next(i for i, e in enumerate(ready) if e["ready"])
    lost = [i for i, e in enumerate(ready) if i > first_ready and "clients not connected" in e["reasons"]
            and "clients not connected" not in ready[i - 1]["reasons"]]
    assert len(lost) == 2, ready  # /ready went not-ready at the cut and at the 1100 ...
    assert all(any(e["ready"] for e in ready[i:]) for i in lost)  # ... and ready again after each
    assert summary["reconnects"] == 2, summary
    # resubscribed after 1101 (the simulator dropped the subscriptions): quotes still flow at the end
    assert ready[-1]["ready"], ready[-1]
    assert broker["duplicate_orders"] == 0 and broker["orders"] == summary["orders"] > 0, (broker, summary)
    assert summary["unapproved_orders"] == 0, summary
    # fills the broker made while the link was down are reconciled after each reconnect: the stop ends flat
    # and the broker agrees (before, the node kept such an order working and ended apart from the broker)
    assert sum(1 for e in events if e["kind"] == "reconciled" and e.get("after") == "reconnect") == 2
    assert summary["errors"] == [] and summary["residual_positions"] == {}, summary
    assert broker["position"] == 0 and broker["open_orders"] == [], broker


def test_reject_burst_opens_the_breaker_which_half_opens_and_closes(demo_store, tmp_path):
    scenario = tmp_path / "rejects.yaml"
    # every order in wall seconds ~1..5 is rejected (the one-shot reject re-armed each simulated second)
    scenario.write_text(yaml.safe_dump([{"at": f"+{int(1 * SPEED)}s", "action": "reject_next_order",
                                         "reason": "Simulated margin check", "every": "1s",
                                         "times": int(4 * SPEED)}]))
    summary, events = _run(tmp_path, demo_store, {"sim_scenario": str(scenario), "breaker_rejects": 3,
                                              "breaker_window_s": 30.0, "breaker_cooldown_s": 1.5}, 12.0)
    breaker = [e["event"] for e in events if e["kind"] == "breaker"]
    assert breaker[0] == "open" and breaker[-1] == "closed", breaker
    assert "half_open" in breaker and "trial" in breaker
    assert summary["breaker_opens"] == breaker.count("open") >= 1
    # while open, new orders are refused by the gate with the breaker's reason: journaled decisions
    refused = [e for e in events if e["kind"] == "decision" and "STRATEGY_DISABLED" in e["reasons"]]
    assert refused, "the strategy never tried while the breaker was open"
    rejected = [e for e in events if e["kind"] == "order" and e["event"] == "OrderRejected"]
    opened = [e["ts"] for e in events if e["kind"] == "breaker" and e["event"] == "open"][0]
    assert len([e for e in rejected if e["ts"] <= opened]) == 3  # opened at the third reject, not later
    # /ready said why while the breaker was not closed, and was ready again at the end
    ready = [e for e in events if e["kind"] == "readiness"]
    assert any(any("circuit breaker open" in r for r in e["reasons"]) for e in ready), ready
    assert any(any("circuit breaker half-open" in r for r in e["reasons"]) for e in ready), ready
    assert ready[-1]["ready"], ready[-1]
    # after the close it trades again, and the stop still ends flat
    closed = [e["ts"] for e in events if e["kind"] == "breaker" and e["event"] == "closed"][-1]
    assert any(e["kind"] == "order" and e["event"] == "OrderFilled" and e["ts"] > closed for e in events)
    assert summary["residual_positions"] == {} and summary["unapproved_orders"] == 0, summary
    assert all(e.startswith("OrderRejected") for e in summary["errors"]), summary["errors"]
    with Store.open(str(demo_store), read_only=True) as store:  # the breaker's switches are in the journal
        rows = store.con.execute("SELECT count(*) FROM risk_events WHERE run_id = ? AND reason LIKE "
                                 "'%circuit breaker open%'", [summary["run_id"]]).fetchone()[0]
    assert rows >= 1


def test_slow_acks_and_slow_fills_never_double_send_and_the_stop_ends_flat(demo_store, tmp_path):
    # from its first order on, every order's placeOrder waits 1.5 wall seconds at the gateway before it is
    # handled (no ack, no fill meanwhile: the order is in flight), and fills come 30 simulated seconds late.
    # A strategy that counted only acknowledged orders would send again on every quote of that wait; a cancel
    # sent while the place is still stalled reaches the gateway first.
    summary, events, broker = _run_against_sim(tmp_path, demo_store, [
        {"from": "first_order", "at": "+1s", "action": "stall_request", "request": "place_order", "seconds": 1.5,
         "every": "1s", "times": int(8 * SPEED)},
        {"from": "first_order", "at": "+0s", "action": "delay_fills", "seconds": 30},
    ], 14.0)
    orders = [e for e in events if e["kind"] == "order"]
    submitted = [e for e in orders if e["event"] == "OrderSubmitted"]
    accepted = {e["client_order_id"]: _wall(e) for e in orders if e["event"] == "OrderAccepted"}
    slow = [e for e in submitted if accepted.get(e["client_order_id"], 0) - _wall(e) > 1.0]
    assert slow, "no order waited for its acknowledgement"  # the fault did happen
    assert broker["duplicate_orders"] == 0 and broker["orders"] == summary["orders"] > 0, (broker, summary)
    assert summary["unapproved_orders"] == 0, summary
    assert summary["residual_positions"] == {}, summary
    assert broker["position"] == 0 and broker["open_orders"] == [], broker
