"""Quote mean reversion: post passive limit orders against short-term deviations of the mid.

``decide`` is a pure function of the market state (mid, its EMA and spread, current position)
-> a target order or nothing, so it can be tested without an engine; the nautilus strategy only
feeds it quotes and turns its intent into a limit order at the touch. As a ``GatedStrategy``,
every order, cancel and modify passes the workbench risk gate first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Price, Quantity

from workbench.engine.gated import GatedStrategy


class QuoteReversionConfig(StrategyConfig, frozen=True):
    instrument_id: str
    trade_size: Decimal = Decimal("100")
    max_position: Decimal = Decimal("500")
    ema_alpha: float = 0.02        # ~50-quote memory
    entry_spreads: float = 3.0     # deviation of mid from its EMA, in spreads, to trade
    warmup: int = 200              # quotes before the first decision
    order_ttl_quotes: int = 50     # cancel an unfilled order after this many quotes
    risk_config: str | None = None # risk limits file (default config/risk.yaml); every order is gated


@dataclass(frozen=True, slots=True)
class MarketState:
    bid: float
    ask: float
    ema: float
    position: float


@dataclass(frozen=True, slots=True)
class Intent:
    side: str      # "BUY" | "SELL"
    price: float   # limit price (at the touch on our side)
    quantity: float


def decide(state: MarketState, cfg: QuoteReversionConfig) -> Intent | None:
    """Buy at the bid when the mid is far below its EMA, sell at the ask when far above."""
    spread = max(state.ask - state.bid, 1e-9)
    dev = ((state.bid + state.ask) / 2 - state.ema) / spread
    size, cap = float(cfg.trade_size), float(cfg.max_position)
    if dev <= -cfg.entry_spreads and state.position + size <= cap:
        return Intent("BUY", state.bid, size)
    if dev >= cfg.entry_spreads and state.position - size >= -cap:
        return Intent("SELL", state.ask, size)
    return None


class QuoteReversionLogic:
    """The strategy's quote handling, for any nautilus ``Strategy`` it is mixed into: ``QuoteReversion``
    (gated) and the node benchmark's plain-nautilus anchor (``benchmarks.node_probe.RawQuoteReversion``)
    run the same code; each says what counts as an order still working (``_orders_working``)."""

    def __init__(self, config: QuoteReversionConfig) -> None:
        super().__init__(config)
        self.instrument_id = InstrumentId.from_str(config.instrument_id)
        self._ema: float | None = None
        self._n = 0
        self._working_since: int | None = None

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.instrument_id)
        # Live IB: tick-by-tick BidAsk (one QuoteTick per NBBO change, as stored) instead of reqMktData's
        # one tick per bid/ask/size field, which ran quote-counted parameters ~2.5x faster than the
        # backtest (docs/node.md). The backtest ignores the param.
        self.subscribe_quote_ticks(self.instrument_id, params={"batch_quotes": False})

    def on_quote_tick(self, tick: QuoteTick) -> None:
        bid, ask = float(tick.bid_price), float(tick.ask_price)
        mid = (bid + ask) / 2
        a = self.config.ema_alpha
        self._ema = mid if self._ema is None else a * mid + (1 - a) * self._ema
        self._n += 1
        if self._orders_working():
            if self._working_since is not None and self._n - self._working_since >= self.config.order_ttl_quotes:
                self.cancel_all_orders(self.instrument_id)
            return
        if self._n < self.config.warmup or ask <= bid:
            return
        position = float(self.portfolio.net_position(self.instrument_id))
        intent = decide(MarketState(bid, ask, self._ema, position), self.config)
        if intent is None:
            return
        order = self.order_factory.limit(
            instrument_id=self.instrument_id,
            order_side=OrderSide[intent.side],
            quantity=Quantity(intent.quantity, self.instrument.size_precision),
            price=Price(intent.price, self.instrument.price_precision),
            time_in_force=TimeInForce.GTC,
            post_only=False,
        )
        self.submit_order(order)
        self._working_since = self._n

    def _orders_working(self) -> bool:
        raise NotImplementedError


class QuoteReversion(QuoteReversionLogic, GatedStrategy):
    def _orders_working(self) -> bool:
        # working AND in-flight orders: one not yet acknowledged still counts (no double order live)
        return self.has_orders_working(self.instrument_id)

    def on_stop(self) -> None:
        self.cancel_all_orders(self.instrument_id)
        self.close_all_positions(self.instrument_id)
