"""Measurement pieces the node suite adds to a node through its ordinary ``strategies`` entries.

``NodeProbe`` is a strategy that never trades: it listens on the node's message bus and records, for a
fixed wall-clock window starting at the first quote,
- every quote (wall receipt ``ts_init``; exchange second, bid, ask),
- every order: the quote the decision used (the latest quote in the cache when the order was initialised,
  i.e. the quote the strategy was handling) and the wall time the order was handed to the execution client
  (``OrderSubmitted``, published by the IB exec client right after ``placeOrder`` / by the sandbox after it
  accepted the command), so ``tick_to_submit = submitted_wall - quote.ts_init`` on one clock (LiveClock,
  UNIX ns),
- whether the order's client order id was approved by the risk gate (it is in the gate's book of live
  approved orders when it is submitted),
- process CPU seconds over the window (the same window for every arm), and those of the process's
  children over the same window (the embedded simulator runs as a child process of either arm).

``RawQuoteReversion`` is the anchor: ``strategies.quote_reversion``'s logic (the same
``QuoteReversionLogic``) on a plain nautilus ``Strategy`` — no risk gate, no workbench wrapper.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from strategies.quote_reversion import QuoteReversionLogic


def children_cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by the live child processes of ``pid`` (default: this
    process), from /proc; 0.0 where /proc is not available."""
    pid = os.getpid() if pid is None else pid
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        entries = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return 0.0
    for d in entries:
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # exited meanwhile
            continue
        rest = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) ": state ppid ... utime stime
        if int(rest[1]) == pid:
            total += int(rest[11]) + int(rest[12])
    return total / tick


class NodeProbeConfig(StrategyConfig, frozen=True):
    instrument_id: str  # the node reads every entry's instrument_id; the probe uses it to read the cache
    out: str = ""  # JSON file written at stop
    window_s: float = 10.0  # wall seconds measured, from the first quote
    gated: bool = True  # look the risk gate up (ours) or not (raw anchor)


class NodeProbe(Strategy):
    def __init__(self, config: NodeProbeConfig) -> None:
        super().__init__(config)
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.gate = None
        if config.gated:
            from workbench.engine.gated import active_gate, gate_for

            self.gate = active_gate() or gate_for(None)  # the gate GatedStrategy resolves the same way
        self.quotes: list[tuple[int, int, float, float]] = []  # (ts_init wall ns, exchange s, bid, ask)
        self.index: dict[int, int] = {}
        self.orders: dict[str, dict] = {}
        self.events: list[tuple[int, str, str, float]] = []  # (quote index, "fill"|"close", coid, signed qty)
        self.t_end: int | None = None
        self.cpu0 = self.cpu1 = 0.0
        self.child_cpu0 = self.child_cpu1 = 0.0
        self.wall0 = self.wall1 = 0

    def on_start(self) -> None:
        self.msgbus.subscribe(topic="data.quotes.*", handler=self._on_quote)
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)

    def _open(self) -> bool:
        return self.t_end is not None and self.clock.timestamp_ns() <= self.t_end

    def _on_quote(self, q: QuoteTick) -> None:
        now = self.clock.timestamp_ns()
        if self.t_end is None:
            self.t_end = now + int(self.config.window_s * 1e9)
            self.cpu0, self.wall0, self.child_cpu0 = time.process_time(), now, children_cpu_s()
        if now > self.t_end:
            if not self.wall1:
                self._close_window(now)
            return
        self.index[q.ts_init] = len(self.quotes)
        self.quotes.append((q.ts_init, q.ts_event // 1_000_000_000, q.bid_price.as_double(),
                            q.ask_price.as_double()))

    def _q_index(self, q) -> int:
        """Index of the quote being handled (the probe may see it before or after the strategy does)."""
        return self.index.get(q.ts_init, len(self.quotes))

    def _on_order_event(self, ev) -> None:
        name = type(ev).__name__
        coid = ev.client_order_id.value
        if not self._open():
            return
        q = self.cache.quote_tick(self.iid)
        if q is None:
            return
        if name in ("OrderFilled", "OrderCanceled", "OrderRejected", "OrderDenied", "OrderExpired"):
            if name == "OrderFilled":
                signed = float(ev.last_qty) * (1 if ev.order_side == OrderSide.BUY else -1)
                self.events.append((self._q_index(q), "fill", coid, signed))
            order = self.cache.order(ev.client_order_id)
            if name != "OrderFilled" or (order is not None and order.is_closed):
                self.events.append((self._q_index(q), "close", coid, 0.0))
        if name == "OrderInitialized":
            self.orders[coid] = {
                "q_index": self._q_index(q), "q_ts_init": q.ts_init,
                "q_sec": q.ts_event // 1_000_000_000, "q_bid": q.bid_price.as_double(),
                "q_ask": q.ask_price.as_double(), "side": "BUY" if ev.side == OrderSide.BUY else "SELL",
                "qty": float(ev.quantity), "price": float(ev.options["price"]) if ev.options.get("price") else None,
                "reduce_only": bool(ev.reduce_only), "submitted": None, "approved": None,
            }
        elif name == "OrderSubmitted" and coid in self.orders:
            rec = self.orders[coid]
            rec["submitted"] = self.clock.timestamp_ns()
            if self.gate is not None:
                rec["approved"] = coid in self.gate.book.orders

    def _close_window(self, now: int) -> None:
        self.cpu1, self.wall1, self.child_cpu1 = time.process_time(), now, children_cpu_s()

    def on_stop(self) -> None:
        if not self.wall1:
            self._close_window(self.clock.timestamp_ns())
        if self.config.out:
            Path(self.config.out).write_text(json.dumps({
                "quotes": self.quotes, "orders": self.orders, "events": self.events, "cpu_s": self.cpu1 - self.cpu0,
                "children_cpu_s": self.child_cpu1 - self.child_cpu0, "wall_s": (self.wall1 - self.wall0) / 1e9}))


class RawQuoteReversion(QuoteReversionLogic, Strategy):
    """QuoteReversion's on_quote_tick on a plain nautilus Strategy (the anchor: no gate, no wrapper)."""

    def _orders_working(self) -> bool:
        # working or in flight (the plain-nautilus form of GatedStrategy.orders_working): no double order
        # (counts, as GatedStrategy.has_orders_working asks: the anchor does no more work per quote than ours)
        return bool(self.cache.orders_open_count(instrument_id=self.instrument_id, strategy_id=self.id)
                    or self.cache.orders_inflight_count(instrument_id=self.instrument_id, strategy_id=self.id))
