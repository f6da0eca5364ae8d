"""BacktestResult P&L is marked to market: an open position at the end counts at the last price."""

from __future__ import annotations

from decimal import Decimal

import pytest
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

from workbench.engine import VenueSpec, backtest


class BuyAndHoldConfig(StrategyConfig, frozen=True):
    instrument_id: str = "DEMO.XNAS"
    qty: int = 100


class BuyAndHold(Strategy):
    """Buys once at market on the first quote and never sells: the run ends long."""

    def __init__(self, config: BuyAndHoldConfig) -> None:
        super().__init__(config)
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.bought = False

    def on_start(self) -> None:
        self.subscribe_quote_ticks(self.iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if not self.bought:
            self.bought = True
            self.submit_order(self.order_factory.market(self.iid, OrderSide.BUY, Quantity.from_int(self.config.qty)))


def test_open_position_at_the_end_is_marked_to_market(quote_store):
    result = backtest(BuyAndHold(BuyAndHoldConfig()), ["DEMO.XNAS"], VenueSpec(), store=quote_store)
    try:
        assert len(result.fills) == 1
        entry = float(result.fills["last_px"].iloc[0])
        last_bid = float(quote_store.read_quotes("DEMO.XNAS")["bid"].iloc[-1])  # a long is marked at the bid
        commission = result.summary()["commissions"]
        assert commission > 0
        # the account balance only moved by the commission: that is the realised part
        assert float(result.realised_pnl) == pytest.approx(-commission, abs=0.01)
        assert float(result.unrealised_pnl) == pytest.approx(100 * (last_bid - entry), abs=0.01)
        assert result.unrealised_pnl != 0  # the random walk moved: the test can tell the two apart
        assert result.pnl == result.realised_pnl + result.unrealised_pnl
        s = result.summary()
        assert s["pnl"] == pytest.approx(float(result.pnl))
        assert s["realised_pnl"] == pytest.approx(float(result.realised_pnl))
        assert s["return_pct"] == pytest.approx(float(result.pnl) / 1_000_000 * 100, abs=1e-4)
        # the equity curve ends at the marked equity, so a loss on the open position is a drawdown
        eq = result.equity_curve()
        assert float(eq.iloc[-1]) == pytest.approx(1_000_000 + float(result.pnl), abs=0.01)
        if result.pnl < 0:
            assert s["max_drawdown_pct"] <= float(result.pnl) / 1_000_000 * 100 + 1e-9
        assert isinstance(result.pnl, Decimal)
    finally:
        result.close()
