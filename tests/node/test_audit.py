"""``unapproved_orders``: orders nautilus created whose client order id has no approved gate decision.
The node's count is 0 on every run (tests/node/test_node_run.py); here an order that bypasses the gate is
counted, in a real BacktestEngine with the same OrderAudit the node attaches to its message bus."""

from __future__ import annotations

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.trading.strategy import Strategy

from strategies.quote_reversion import QuoteReversion, QuoteReversionConfig
from workbench.engine.backtest import build_engine, load_into
from workbench.engine.config import DataSpec, VenueSpec
from workbench.engine.gated import using_gate
from workbench.node.telemetry import NodeCounters, OrderAudit
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate
from workbench.risk.metrics import RiskMetrics


class _Bypass(QuoteReversion):
    """QuoteReversion that once hands an order straight to nautilus, around the gate."""

    sneaked = False

    def on_quote_tick(self, tick) -> None:
        super().on_quote_tick(tick)
        if not self.sneaked and self._n == 300:
            self.sneaked = True
            order = self.order_factory.market(self.instrument_id, OrderSide.BUY, self.instrument.make_qty(1))
            Strategy.submit_order(self, order)  # the nautilus base method: no intent, no decision


def _run(strategy_cls, store):
    engine = build_engine(VenueSpec(), ["XNAS"])
    load_into(engine, store, DataSpec.coerce({"instrument_ids": ["DEMO.XNAS"]}))
    with using_gate(RiskGate(load_config("config/risk.yaml"), metrics=RiskMetrics())):
        strategy = strategy_cls(QuoteReversionConfig(instrument_id="DEMO.XNAS", warmup=50))
    engine.add_strategy(strategy)
    counters = NodeCounters()
    audit = OrderAudit(engine.kernel, [strategy], counters)
    engine.run()
    audit.drain_decisions()
    return audit, counters


def test_an_order_around_the_gate_is_counted_as_unapproved(seeded_quotes):
    store = seeded_quotes(2000, 3)
    audit, counters = _run(QuoteReversion, store)
    assert counters.counts["orders"] > 3 and audit.unapproved() == []  # every order has its approval
    audit, counters = _run(_Bypass, store)
    bad = audit.unapproved()
    assert len(bad) == 1 and not bad[0].startswith("RK-") and counters.unapproved == 1
    assert counters.counts["quotes"] == 2000 and sum(counters.decisions.values()) > 0


def test_a_closing_only_strategy_opens_nothing(seeded_quotes):
    """What a stopping node sets before its market exit: new orders that are not reduce-only never become
    intents or orders (REAL runs re-opened a position after the exit had made them flat)."""

    class _Closing(QuoteReversion):
        def on_start(self) -> None:
            super().on_start()
            self.closing_only = True

    audit, counters = _run(_Closing, seeded_quotes(2000, 3))
    assert counters.counts["quotes"] == 2000 and counters.counts["orders"] == 0
    assert sum(counters.decisions.values()) == 0


def test_tick_to_submit_runs_from_the_quote_the_decision_used(seeded_quotes):
    """The latency starts at the receipt stamp (``ts_init``) of the quote the strategy was handling when it
    created the order, on the kernel clock that also stamps the submission: in a backtest the clock stands at
    that quote until the order is submitted, so every sample is exactly 0 (a start taken from another quote,
    or from another clock, is not). The per-quote handler only counts, so this is all that times orders."""
    audit, counters = _run(QuoteReversion, seeded_quotes(2000, 3))
    assert counters.counts["quotes"] == 2000
    assert 3 < len(counters.samples_s) <= counters.counts["orders"]
    assert set(counters.samples_s) == {0.0}
    assert counters.latency_summary_ms()["n"] == len(counters.samples_s)
