"""/metrics ``node_unapproved_orders`` while the node runs: a PAPER node (`wb node run`, its own process,
the embedded simulator over loopback) whose strategy once hands an order to nautilus around the gate; the
gauge shows it before the node stops (it used to be computed only at finish, so a running node always
showed 0), and the summary counts the same order."""

from __future__ import annotations

import json
import subprocess

import yaml
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.trading.strategy import Strategy

from strategies.quote_reversion import QuoteReversion
from tests.node.test_node_http import _control, _get, _metric, _until, reap
from tests.node.test_node_run import ROOT, WB, node_env

BYPASS_AT = 20  # quotes


class BypassOnce(QuoteReversion):
    """QuoteReversion that once hands an order straight to nautilus (no intent, no decision)."""

    sneaked = False

    def on_quote_tick(self, tick) -> None:
        super().on_quote_tick(tick)
        if not self.sneaked and self._n == BYPASS_AT:
            self.sneaked = True
            Strategy.submit_order(self, self.order_factory.market(self.instrument_id, OrderSide.BUY,
                                                                   self.instrument.make_qty(1)))


def test_metrics_show_an_unapproved_order_while_the_node_runs(demo_store, tmp_path):
    doc = yaml.safe_load((ROOT / "config/node_paper.yaml").read_text())
    doc["speed"] = 120.0
    doc["strategies"][0]["strategy_path"] = "tests.node.test_unapproved_live:BypassOnce"
    risk = yaml.safe_load((ROOT / "config/risk.yaml").read_text())  # the shipped limits, plus this strategy id
    risk["strategies"]["BypassOnce-000"] = risk["strategies"]["QuoteReversion-000"]
    doc["risk"] = str(tmp_path / "risk.yaml")
    (tmp_path / "risk.yaml").write_text(yaml.safe_dump(risk, sort_keys=False))
    cfg = tmp_path / "node_paper.yaml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    node = subprocess.Popen([WB, "--store", str(demo_store), "node", "run", str(cfg), "--duration", "25", "--json",
                             "--http-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**node_env(tmp_path), "PYTHONPATH": str(ROOT)})  # this module, importable
    try:
        url = _until(lambda: _control(tmp_path / "control.json"), 60, "the discovery file")["url"]
        metrics = _until(lambda: _metric(m := _get(f"{url}/metrics")[1], "node_unapproved_orders") > 0 and m,
                         20, "node_unapproved_orders > 0 while the node runs")
        assert _metric(metrics, "node_unapproved_orders") == 1
        assert node.poll() is None  # scraped from the running node, not after its stop
        out, err = node.communicate(timeout=120)
    finally:
        reap(node)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["unapproved_orders"] == 1, summary
    assert any("without an approved gate decision" in e for e in summary["errors"]), summary
