"""Journal a nautilus run for comparison reports: its registry row and every order's lifecycle.

One recorder per run, backtest or live node alike: it subscribes to the kernel's order events and
writes each (submitted, accepted, rejected/denied with the reason, filled with price and commission,
canceled, expired, updated) with the time the node handled it (``ts_recv``: the kernel clock the
strategies' decisions are stamped with, simulated in a backtest, wall time live; not the event's own
``ts_init``, which in PAPER is the sandbox exchange's clock, advanced by quotes and so behind the node's)
and the instrument's latest quote at that moment (the *arrival* quote of an acknowledgement).
The rows are buffered and written in one transaction per
:meth:`RunRecorder.flush`; :meth:`RunRecorder.finish` also stores the run-end marks.

    recorder = RunRecorder(store, run_id, "BACKTEST", engine.kernel)
    engine.run()
    recorder.finish(instrument_ids)
"""

from __future__ import annotations

import math

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId

from workbench.risk.runlog import finish_run, register_run, write_order_events

# nautilus event class -> the journal's kind; other order events (initialized, pending, emulated ...)
# carry nothing the reports use.
KINDS = {
    "OrderSubmitted": "SUBMITTED",
    "OrderAccepted": "ACCEPTED",
    "OrderRejected": "REJECTED",
    "OrderDenied": "DENIED",
    "OrderFilled": "FILLED",
    "OrderCanceled": "CANCELED",
    "OrderExpired": "EXPIRED",
    "OrderUpdated": "UPDATED",
    "OrderModifyRejected": "MODIFY_REJECTED",
    "OrderCancelRejected": "CANCEL_REJECTED",
}
_NAN = float("nan")


class RunRecorder:
    """Registers ``run_id`` and journals its order events (see the module docstring)."""

    def __init__(self, store, run_id: str, mode: str, kernel, *, label: str = "", flush_every: int = 20_000):
        self.store, self.run_id = store, run_id
        self.cache, self.clock, self._msgbus = kernel.cache, kernel.clock, kernel.msgbus
        msgbus = self._msgbus
        self.flush_every = flush_every
        self._rows: list[tuple] = []
        self._seq = 0
        self.first_quotes: dict[str, tuple[int, float, float]] = {}
        register_run(store, run_id, mode, label)
        msgbus.subscribe(topic="events.order.*", handler=self.on_event)
        msgbus.subscribe(topic="data.quotes.*", handler=self.on_quote)

    def on_quote(self, q) -> None:
        iid = q.instrument_id.value
        if iid not in self.first_quotes:
            self.first_quotes[iid] = (q.ts_event, q.bid_price.as_double(), q.ask_price.as_double())

    def on_event(self, ev) -> None:
        kind = KINDS.get(type(ev).__name__)
        if kind is None:
            return
        qty = price = commission = _NAN
        side = None
        if kind == "FILLED":
            qty, price = ev.last_qty.as_double(), ev.last_px.as_double()
            commission = ev.commission.as_double() if ev.commission is not None else 0.0
            side = "BUY" if ev.order_side == OrderSide.BUY else "SELL"
        q = self.cache.quote_tick(ev.instrument_id)
        md = (q.ts_event, q.bid_price.as_double(), q.ask_price.as_double()) if q is not None else (0, _NAN, _NAN)
        self._seq += 1
        self._rows.append((self._seq, ev.client_order_id.value, ev.strategy_id.value, ev.instrument_id.value,
                           side, kind, ev.ts_event, self.clock.timestamp_ns(), qty, price, commission,
                           getattr(ev, "reason", None), *md))
        if len(self._rows) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        rows, self._rows = self._rows, []
        try:
            write_order_events(self.store, self.run_id, rows)
        except BaseException:
            self._rows[:0] = rows
            raise

    def finish(self, instrument_ids) -> None:
        """Write what is buffered and the run-end marks (each instrument's last quote in the cache), then
        let go of the kernel and the store: a kernel kept alive (nautilus' strategies reference it) must not
        keep the store's connection alive to interpreter exit (DuckDB reports it as a leak on stderr)."""
        self.flush()
        marks = {}
        for iid in sorted({str(i) for i in instrument_ids}):
            q = self.cache.quote_tick(InstrumentId.from_str(iid))
            if q is not None:
                b, a = q.bid_price.as_double(), q.ask_price.as_double()
                if math.isfinite(b) and math.isfinite(a):
                    marks[iid] = (q.ts_event, b, a)
        finish_run(self.store, self.run_id, marks, self.first_quotes)
        self._msgbus.unsubscribe(topic="events.order.*", handler=self.on_event)
        self._msgbus.unsubscribe(topic="data.quotes.*", handler=self.on_quote)
        self.store = self.cache = self.clock = self._msgbus = None
