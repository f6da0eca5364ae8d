"""Market and execution events of the gate (mixed into :class:`~workbench.risk.gate.RiskGate`): quotes,
fills, closed orders. Each takes the gate's lock, so it is one point in the gate's total order; events
it raises are delivered by ``_dispatch`` after the lock is released.
"""

from __future__ import annotations

import logging

from workbench.numbers import is_finite, is_positive
from workbench.risk.config import CompiledConfig
from workbench.risk.stormguard import BadTickFilter, StormGuard
from workbench.risk.types import Side

_log = logging.getLogger(__name__)


class MarketEvents:
    # (tick, result) of the last nautilus QuoteTick applied by on_quote_tick: one tuple, so a reader never
    # pairs a tick with another tick's result
    _last_tick: tuple = (None, False)

    def _bad_feed(self, kind: str, what: str) -> bool:
        # a NaN folded into a mark or P&L would poison every later comparison: refuse, log, count
        _log.warning("risk feed: refused %s", what)
        if self.metrics is not None:
            self.metrics.bad_feed[kind] = self.metrics.bad_feed.get(kind, 0) + 1
        return False

    def on_quote_tick(self, tick) -> bool:
        """:meth:`on_quote` for a nautilus ``QuoteTick``. The node hands the same tick object to each
        subscriber (the strategies and the RiskSupervisor): the second one gets the first's result without
        converting the tick again (the gate would drop it as a duplicate anyway). The tick is kept
        referenced, so a new tick can never reuse its identity."""
        last, ok = self._last_tick
        if tick is last:
            return ok
        ok = self.on_quote(tick.instrument_id.value, tick.ts_event, tick.bid_price.as_double(),
                           tick.ask_price.as_double())
        self._last_tick = (tick, ok)
        return ok

    def on_quote(self, instrument_id: str, ts: int, bid: float, ask: float) -> bool:
        """Apply a top-of-book update; returns False if the bad-tick filter held it back or a price
        is not a finite number (refused, logged, counted in ``metrics.bad_feed``)."""
        if not (is_finite(bid) and is_finite(ask)):
            return self._bad_feed("quote", f"quote {instrument_id} bid={bid!r} ask={ask!r}: not finite")
        with self._lock:
            cfg = self._active[0]
            f = self.filters.get(instrument_id)
            if f is None:
                f = self.filters[instrument_id] = BadTickFilter()
            raw = (ts, bid, ask)
            if f.last_raw == raw:  # the same tick delivered twice (two subscribers) counts once
                return f.last_ok
            f.last_raw = raw
            if not f.accept(ts, bid, ask, cfg.spec.stormguard.bad_tick):
                if f.pend_count == 1:
                    self._emit(
                        "BAD_TICK",
                        instrument_id,
                        f"{f.last_mid}",
                        f"{(bid + ask) / 2}",
                        "held for confirmation",
                        ts,
                    )
                ok = False
            else:
                if ts > self._market_ts:
                    self._market_ts = ts
                q = self.book.set_mark(instrument_id, ts, bid, ask)
                self._update_guards(cfg, q.strategies, ts)
                ok = True
            f.last_ok = ok
        self._dispatch()
        return ok

    def on_fill(
        self,
        fill_id: str,
        client_order_id: str | None,
        ts: int,
        qty: float,
        price: float,
        *,
        strategy_id: str | None = None,
        instrument_id: str | None = None,
        side: Side | None = None,
    ) -> bool:
        """Apply a (partial) fill exactly once (dedupe on ``fill_id``); False if already applied or the
        quantity is not a finite number > 0 / the price not finite (refused, logged, counted)."""
        if not (is_positive(qty) and is_finite(price)):
            return self._bad_feed("fill", f"fill {fill_id} qty={qty!r} price={price!r}: not a finite fill")
        with self._lock:
            cfg = self._active[0]
            if fill_id in self.book.fills_seen:
                return False
            o = self.book.orders.get(client_order_id or "")
            sid = o.strategy if o else strategy_id
            iid = o.instrument if o else instrument_id
            sign = o.sign if o else (1 if Side(side) is Side.BUY else -1)
            if sid is None or iid is None:
                raise ValueError(
                    f"fill {fill_id}: unknown order {client_order_id!r} needs strategy_id and instrument_id"
                )
            leg = self.book.leg(sid, iid, cfg)
            applied = self.book.apply_fill(fill_id, leg, sign, float(qty), float(price), client_order_id)
            if applied:
                if self.journal is not None:
                    self.journal.fill(
                        fill_id, client_order_id, sid, iid, "BUY" if sign > 0 else "SELL", qty, price, ts
                    )
                self._update_guards(cfg, (sid,), ts)
        self._dispatch()
        return applied

    def adopt_order(
        self,
        client_order_id: str,
        strategy_id: str,
        instrument_id: str,
        side: Side,
        qty: float,
        price: float,
        ts: int,
    ) -> bool:
        """Book a working order this gate did not decide: one a restarted node found at the broker (its
        reconciliation). Counted like any working order (position, exposure) and known to a cancel (not
        UNKNOWN_ORDER). False if already booked, or the size/price is not finite (refused, logged, counted)."""
        if not (is_positive(qty) and is_finite(price)):
            return self._bad_feed("order", f"adopt {client_order_id} qty={qty!r} price={price!r}: not finite")
        with self._lock:
            if client_order_id in self.book.orders:
                return False
            leg = self.book.leg(strategy_id, instrument_id, self._active[0])
            sign = 1 if Side(side) is Side.BUY else -1
            self.book.add_order(leg, client_order_id, client_order_id.removeprefix("RK-"), sign, float(qty),
                                float(price), ts)
        return True

    def on_order_closed(self, client_order_id: str) -> bool:
        """A working order ended without (further) fills: canceled, expired, rejected or denied."""
        with self._lock:
            return self.book.close_order(client_order_id)

    def book_sync(self, client_order_id: str, leaves_qty: float) -> None:
        """Align a working order's remaining size with the venue's view (after an update or a modify
        reject), so exposure never drifts from what is really working."""
        with self._lock:
            if client_order_id in self.book.orders:
                self.book.change_order(client_order_id, leaves_qty)

    def _update_guards(self, cfg: CompiledConfig, strategies: tuple[str, ...], ts: int) -> None:
        """The StormGuards of ``strategies`` (sorted, distinct), then the global one, fed the new P&L."""
        spec = cfg.spec.stormguard
        for sid in strategies:
            g = self.guards.get(sid)
            if g is None:
                g = self.guards[sid] = StormGuard(sid)
            change = g.update(self.book.strategy_pnl(sid), cfg.capital(sid), spec)
            if change is not None:  # almost never: no call for the quotes that change nothing
                self._transition(g, change, ts, "drawdown")
        g = self.global_guard
        change = g.update(self.book.total_pnl, cfg.spec.equity, spec)
        if change is not None:
            self._transition(g, change, ts, "drawdown")
