"""Crash recovery: `kill -9` a REAL node (`wb node run`) at random points while it trades against a
simulator running as its own process (`wb gateway sim --state`), restart it with the same run file, and
check with nautilus's live reconciliation that the restarted node holds the broker's position and working
orders, that the broker never got an order twice, and that every process is gone afterwards.
(The 20-trial campaign is `python -m benchmarks node`.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from benchmarks.crash import Campaign, compare
from workbench.node.recovery import broker_view, coid_of

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_minus_9_three_times_then_restart_reconciles_without_duplicates(demo_store, tmp_path):
    entry = yaml.safe_load((ROOT / "config/node_real.yaml").read_text())["strategies"][0]
    # the shipped entry, trading sooner and more often so each short incarnation has orders in flight
    entry["config"].update(warmup=30, order_ttl_quotes=20)
    pids = []
    with Campaign(demo_store, tmp_path, entry, replay_from="2024-03-04 15:00", speed=120.0, seed=3,
                  kill_after_s=(0.2, 1.5), settle_s=5.0) as c:
        pids.append(c.sim.pid)
        for _ in range(3):
            rec = c.trial()
            assert rec["broker"] is None or rec["broker"]["duplicate_orders"] == 0, rec
        final = c.finish(duration_s=3.0)
    assert all(t["traded"] for t in c.trials), c.trials  # each process was killed after placing orders
    # every restart after a kill: the reconciled node agrees with the broker (position, working orders)
    assert [t["restart_diff"] for t in c.trials[1:]] == [[], []], c.trials
    assert final["restart_diff"] == [], final
    broker = final["broker"]
    assert broker["orders"] > 0, "the node never traded: nothing was recovered"
    assert broker["duplicate_orders"] == 0, broker
    # the clean stop's final position is the broker's, and flat: the restart adopted what the last kill left
    # (tests/node/test_crash_adopt.py), so its stop cancelled and closed it like its own
    assert final["end_position_matches"], final
    assert final["summary"]["residual_positions"] == {} and final["orphan_orders"] == [], final
    assert not any(_alive(p) for p in pids)


def test_broker_view_counts_a_resent_client_order_id_as_a_duplicate(tmp_path):
    """The duplicate count the campaign relies on: the same client order id accepted twice (under two IB
    order ids) is one duplicate; the adapter's ``:orderId`` suffix is not part of the id."""
    def order(oid, ref, status="Submitted"):
        return {"order_id": oid, "client_id": 11, "order_ref": ref, "status": status}

    state = tmp_path / "s.json"
    orders = [order(1, "RK-a:1", "Filled"), order(2, "RK-b:2"), order(3, "RK-a:3", "Cancelled")]
    state.write_text(json.dumps({"orders": orders, "positions": [{"qty": "-300"}, {"qty": "100"}]}))
    view = broker_view(state)
    assert view == {"position": -200.0, "open_orders": ["RK-b"], "orders": 3, "duplicate_orders": 1}
    assert coid_of("RK-a:17") == "RK-a" and coid_of("no-suffix") == "no-suffix"
    assert compare({"position": -200.0, "open_orders": [["RK-b", "ACCEPTED"]]}, view) == []
    diff = compare({"position": 0.0, "open_orders": []}, view)
    assert len(diff) == 2 and diff[0].startswith("position") and diff[1].startswith("open orders")
