"""After a `kill -9` the restarted REAL node takes over what the killed one left at the broker: nautilus's
reconciliation gives the working orders and the position to the gated strategy that claims the instrument
(``external_order_claims``, injected at build: the run file's entry is unchanged) instead of ``EXTERNAL``,
the gate books them (RiskSupervisor, ``adopt_reconciled``), and the stop cancels and closes them like any
other: it ends flat, with no residual and no order left working or sent twice. Before, the restarted node
only reported the broker's position as a residual. Real processes: `wb gateway sim --state` and
`wb node run` over loopback."""

from __future__ import annotations

from pathlib import Path

import yaml
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

from benchmarks.crash import Campaign
from workbench.engine.gated import GatedStrategy

ROOT = Path(__file__).resolve().parents[2]


def test_a_restarted_node_adopts_the_killed_runs_position_and_ends_flat(demo_store, tmp_path):
    entry = yaml.safe_load((ROOT / "config/node_real.yaml").read_text())["strategies"][0]
    entry["config"].update(warmup=30, order_ttl_quotes=20)  # trades within a short incarnation
    with Campaign(demo_store, tmp_path, entry, replay_from="2024-03-04 15:00", speed=120.0, seed=3,
                  kill_after_s=(0.2, 1.5), settle_s=5.0) as c:
        for _ in range(4):  # until a kill leaves something at the broker (the first usually does)
            left = c.trial()["broker"]
            if left and (left["position"] or left["open_orders"]):
                break
        final = c.finish(duration_s=3.0)
    assert left["position"] or left["open_orders"], c.trials  # the restart had something to take over
    summary, broker = final["summary"], final["broker"]
    assert final["restart_diff"] == [], final  # reconciled: the node's view is the broker's
    assert summary["residual_positions"] == {} and summary["errors"] == [], summary
    assert broker["position"] == 0 and final["orphan_orders"] == [], broker  # flat at the broker too
    assert broker["duplicate_orders"] == 0 and summary["unapproved_orders"] == 0, (broker, summary)
    assert final["rc"] == 0


class Bidder(GatedStrategy):
    """Bids 100 one dollar under the market once, at its 5th quote, and leaves the order working (it never
    fills in a short run)."""

    def on_start(self) -> None:
        self.iid, self.n = InstrumentId.from_str(self.config.instrument_id), 0
        self.subscribe_quote_ticks(self.iid, params={"batch_quotes": False})

    def on_quote_tick(self, tick) -> None:
        self.n += 1
        if self.n == 5:
            self.submit_order(self.order_factory.limit(self.iid, OrderSide.BUY, Quantity.from_int(100),
                                                       Price(float(tick.bid_price) - 1.0, 2)))


def test_a_restarted_node_cancels_the_order_the_killed_run_left_working(demo_store, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the node process imports Bidder from this module
    risk = yaml.safe_load((ROOT / "config/risk.yaml").read_text())  # the shipped limits, plus Bidder-000
    risk["strategies"]["Bidder-000"] = risk["strategies"]["QuoteReversion-000"]
    (tmp_path / "risk.yaml").write_text(yaml.safe_dump(risk, sort_keys=False))
    entry = {"strategy_path": "tests.node.test_crash_adopt:Bidder",
             "config_path": "strategies.quote_reversion:QuoteReversionConfig", "config": {"instrument_id": "DEMO.XNAS"}}
    with Campaign(demo_store, tmp_path / "campaign", entry, replay_from="2024-03-04 15:00", speed=60.0, seed=1,
                  kill_after_s=(0.2, 0.5), settle_s=5.0) as c:
        run_file = yaml.safe_load(c.cfg.read_text())
        c.cfg.write_text(yaml.safe_dump({**run_file, "risk": str(tmp_path / "risk.yaml")}, sort_keys=False))
        left = c.trial()["broker"]
        final = c.finish(duration_s=3.0)
    assert len(left["open_orders"]) == 1 and left["position"] == 0, left  # the killed run's working bid
    summary, broker = final["summary"], final["broker"]
    assert final["restart_diff"] == [], final
    (adopted,) = [a for a in summary["adopted"] if a.startswith("order ")]  # booked into the restarted gate
    assert left["open_orders"][0] in adopted, summary["adopted"]
    assert final["orphan_orders"] == [] and broker["position"] == 0, broker  # cancelled at stop, both bids
    assert broker["orders"] == 2 and broker["duplicate_orders"] == 0, broker
    assert summary["errors"] == [] and summary["residual_positions"] == {}, summary
