"""Weekly short put near a target delta, delta-hedged in the underlying.

Each decision is a pure function (``choose_put``, ``hedge_order``) of the market state, so it
can be tested without an engine and behaves identically in backtest, paper and live. The
nautilus strategy feeds it quotes:

- while flat in options, sell ``contracts`` of the put whose Black-Scholes-Merton delta (IV
  inverted from the option mid) is closest to ``target_delta`` among expiries ``min_dte..max_dte``
  days out, with a limit at the bid;
- on every underlying quote, re-hedge the book's share delta when it drifts more than
  ``hedge_band`` shares from flat (limit at the touch, so the hedge crosses the spread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OptionKind, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import OptionContract
from nautilus_trader.model.objects import Price, Quantity

from workbench.engine.gated import GatedStrategy
from workbench.vol.greeks import bsm_greeks
from workbench.vol.iv import bsm_implied_vol

NS_PER_YEAR = 365.0 * 86_400 * 1e9


class ShortPutConfig(StrategyConfig, frozen=True):
    underlying_id: str
    target_delta: float = -0.30
    min_dte: float = 5.0
    max_dte: float = 16.0
    contracts: int = 1
    hedge_band: float = 10.0      # shares of delta tolerated before re-hedging
    rate: float = 0.045           # continuous, for the IV inversion
    div_yield: float = 0.012
    risk_config: str | None = None  # risk limits file (default config/risk.yaml); every order is gated


@dataclass(frozen=True, slots=True)
class PutQuote:
    instrument_id: str
    strike: float
    expiry_ns: int
    bid: float
    ask: float


def put_deltas(puts: list[PutQuote], spot: float, now_ns: int, cfg: ShortPutConfig) -> tuple[np.ndarray, np.ndarray]:
    """(delta, iv) per put; NaN where the mid has no valid implied vol."""
    k = np.array([p.strike for p in puts])
    t = np.array([(p.expiry_ns - now_ns) / NS_PER_YEAR for p in puts])
    mid = np.array([(p.bid + p.ask) / 2 for p in puts])
    iv = bsm_implied_vol(mid, spot, k, t, cfg.rate, cfg.div_yield, False)
    delta = bsm_greeks(spot, k, t, cfg.rate, cfg.div_yield, np.nan_to_num(iv, nan=0.2), False).delta
    return np.where(np.isfinite(iv), delta, np.nan), iv


def choose_put(puts: list[PutQuote], spot: float, now_ns: int, cfg: ShortPutConfig) -> tuple[PutQuote, float] | None:
    """The tradable put (bid > 0) in the DTE window with delta closest to the target; ties -> lower strike."""
    dte = np.array([(p.expiry_ns - now_ns) / 86_400e9 for p in puts]) if puts else np.array([])
    keep = [i for i, p in enumerate(puts) if p.bid > 0 and cfg.min_dte <= dte[i] <= cfg.max_dte]
    if not keep:
        return None
    cands = [puts[i] for i in keep]
    delta, iv = put_deltas(cands, spot, now_ns, cfg)
    ok = np.isfinite(delta)
    if not ok.any():
        return None
    dist = np.where(ok, np.abs(delta - cfg.target_delta), np.inf)
    order = np.lexsort(([c.strike for c in cands], dist))
    best = int(order[0])
    return cands[best], float(iv[best])


def hedge_order(option_delta_shares: float, stock_position: float, band: float) -> float:
    """Shares to trade (signed) so that stock offsets the options' share delta; 0 inside the band."""
    target = -round(option_delta_shares)
    diff = target - stock_position
    return float(diff) if abs(diff) > band else 0.0


class ShortPutDeltaHedge(GatedStrategy):
    def __init__(self, config: ShortPutConfig) -> None:
        super().__init__(config)
        self.underlying_id = InstrumentId.from_str(config.underlying_id)
        self._puts: dict[InstrumentId, PutQuote] = {}
        self._short: tuple[InstrumentId, float] | None = None  # (put id, its IV at sale)

    def on_start(self) -> None:
        self.underlying = self.cache.instrument(self.underlying_id)
        root = self.underlying_id.symbol.value
        self._options = {i.id: i for i in self.cache.instruments(venue=self.underlying_id.venue)
                         if isinstance(i, OptionContract) and i.underlying == root and i.option_kind == OptionKind.PUT}
        self.subscribe_quote_ticks(self.underlying_id)
        for iid in sorted(self._options, key=str):
            self.subscribe_quote_ticks(iid)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        if tick.instrument_id != self.underlying_id:
            inst = self._options[tick.instrument_id]
            self._puts[tick.instrument_id] = PutQuote(str(inst.id), float(inst.strike_price), inst.expiration_ns,
                                                      float(tick.bid_price), float(tick.ask_price))
            return
        spot = (float(tick.bid_price) + float(tick.ask_price)) / 2
        if self.cache.orders_open(strategy_id=self.id):
            return
        if self._short is None:
            self._sell_put(spot, tick.ts_event)
        else:
            self._hedge(tick, spot)

    def _sell_put(self, spot: float, now_ns: int) -> None:
        live = [q for q in self._puts.values() if q.expiry_ns > now_ns]
        choice = choose_put(sorted(live, key=lambda q: q.instrument_id), spot, now_ns, self.config)
        if choice is None:
            return
        put, iv = choice
        inst = self._options[InstrumentId.from_str(put.instrument_id)]
        self.submit_order(self.order_factory.limit(
            instrument_id=inst.id, order_side=OrderSide.SELL, quantity=Quantity.from_int(self.config.contracts),
            price=Price(put.bid, inst.price_precision), time_in_force=TimeInForce.DAY))
        self._short = (inst.id, iv)

    def _hedge(self, tick: QuoteTick, spot: float) -> None:
        put_id, iv = self._short
        inst = self._options[put_id]
        contracts = float(self.portfolio.net_position(put_id))
        if contracts == 0:
            return
        t = (inst.expiration_ns - tick.ts_event) / NS_PER_YEAR
        if t <= 0:
            return
        g = bsm_greeks(spot, float(inst.strike_price), t, self.config.rate, self.config.div_yield, iv, False)
        option_delta = float(g.delta) * contracts * float(inst.multiplier)
        qty = hedge_order(option_delta, float(self.portfolio.net_position(self.underlying_id)),
                          self.config.hedge_band)
        if qty == 0:
            return
        side = OrderSide.BUY if qty > 0 else OrderSide.SELL
        px = tick.ask_price if qty > 0 else tick.bid_price
        self.submit_order(self.order_factory.limit(
            instrument_id=self.underlying_id, order_side=side, quantity=Quantity.from_int(int(abs(qty))),
            price=px, time_in_force=TimeInForce.DAY))

    def on_stop(self) -> None:
        self.cancel_all_orders(self.underlying_id)
        self.close_all_positions(self.underlying_id)


__all__ = ["PutQuote", "ShortPutConfig", "ShortPutDeltaHedge", "choose_put", "hedge_order"]
