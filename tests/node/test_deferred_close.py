"""A reduce-only close the gate refuses while an order is still in flight (issue 12, item 4): with
nautilus's latency model on the venue an order stays SUBMITTED for 2.5 s, so ``cache.orders_open`` does
not list it. The refused close must be retried once that order is gone, and a cancel-all must reach the
in-flight order too (nautilus's own ``Strategy.cancel_all_orders`` cancels SUBMITTED orders), or the
strategy never ends flat. Real BacktestEngine, real gate."""

from __future__ import annotations

import pytest
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.objects import Price, Quantity

from workbench.engine.backtest import backtest
from workbench.engine.config import VenueSpec
from workbench.engine.gated import GatedStrategy, resolve_risk_config, strategy_config
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate

DATA = {"instrument_ids": ["DEMO.XNAS"]}
SLOW_ACK = VenueSpec(latency_ms=2500)  # quotes are 1 s apart: an order is in flight over two quotes
BUY_AT, SELL_AT, CLOSE_AT, CANCEL_AT = 10, 30, 31, 40  # quote numbers


class _CloseWhileInFlight(GatedStrategy):
    """Buys 100, then offers 50 far above the market (never fills) and, one quote later, while that
    offer is still in flight, closes the position reduce-only: the gate refuses (the working offer
    already reduces 50 of the 100). ``cancel_all`` first (the stop pattern: cancel-all then close-all),
    or cancel the offer later, once the venue acknowledged it. Either way the run must end flat."""

    def __init__(self, cancel_all: bool):
        # a fresh gate per run (the process-wide one of config/risk.yaml would carry one run's book into the next)
        super().__init__(strategy_config("QuoteReversion-000"), RiskGate(load_config(resolve_risk_config())))
        self.cancel_all, self.n, self.offer, self.close_decisions = cancel_all, 0, None, []

    def on_start(self) -> None:
        from nautilus_trader.model.identifiers import InstrumentId

        self.iid = InstrumentId.from_str("DEMO.XNAS")
        self.subscribe_quote_ticks(self.iid)

    def on_quote_tick(self, tick) -> None:
        self.n += 1
        if self.n == BUY_AT:
            self.submit_order(self.order_factory.market(self.iid, OrderSide.BUY, Quantity.from_int(100)))
        elif self.n == SELL_AT:
            self.offer = self.order_factory.limit(self.iid, OrderSide.SELL, Quantity.from_int(50),
                                                  Price(float(tick.ask_price) + 1.0, 2))
            self.submit_order(self.offer)
        elif self.n == CLOSE_AT:
            assert self.portfolio.net_position(self.iid) == 100
            (offer,) = self.orders_working(self.iid)
            assert offer.is_inflight and not self.cache.orders_open(strategy_id=self.id)  # the scenario
            if self.cancel_all:
                self.cancel_all_orders(self.iid)
            seen = len(self.decisions)
            self.close_all_positions(self.iid)
            self.close_decisions = self.decisions[seen:]
            self.closing_only = True
        elif self.n == CANCEL_AT and not self.cancel_all:
            (offer,) = self.orders_working(self.iid)
            assert offer.is_open  # acknowledged by now
            self.cancel_order(offer)


@pytest.mark.parametrize("cancel_all", [False, True], ids=["cancel-later", "cancel-all-first"])
def test_a_close_refused_while_an_order_is_in_flight_is_retried(seeded_quotes, cancel_all):
    store = seeded_quotes(200, 5)
    strategy = _CloseWhileInFlight(cancel_all)
    res = backtest(strategy, DATA, SLOW_ACK, store=store)
    engine = res.engine
    assert [d.approved for d in strategy.close_decisions] == [False]  # refused: the offer was in flight
    assert engine.portfolio.net_position(strategy.iid) == 0, "the refused close was never retried"
    orders = engine.cache.orders(strategy_id=strategy.id)
    assert not [o for o in orders if not o.is_closed]  # nothing left working at the venue
    closes = [o for o in orders if o.is_reduce_only]
    assert len(closes) == 1 and closes[0].filled_qty == 100  # retried once, after the offer was gone
