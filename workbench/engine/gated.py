"""NautilusTrader integration of the risk gate: every order path of a strategy goes through it.

``GatedStrategy`` is the base class for workbench strategies. Its own API is intent-based
(:meth:`GatedStrategy.submit_intent`), and it *overrides* nautilus' order methods — ``submit_order``,
``modify_order``, ``cancel_order``, ``cancel_orders``, ``cancel_all_orders`` (and therefore
``close_position`` / ``close_all_positions``, which call ``submit_order``) — so a strategy that calls
the plain nautilus API is gated too. Nothing reaches nautilus' ``ExecutionEngine`` without an approved
:class:`~workbench.risk.types.RiskDecision` whose id is the order's client order id.

The same strategy object runs in a ``BacktestEngine``, a sandbox paper node and a live node: only the
execution client differs, so BACKTEST, PAPER and REAL share this code path.

``RiskSupervisor`` (an ``Actor``; :mod:`workbench.engine.supervisor`, re-exported here) owns the
cross-strategy duties: it runs the derisk playbook on market time and routes its intents to the owning
strategies (so they are gated like any intent), executes kill-switch cancel-alls, and mirrors the kill
switch into nautilus' own ``TradingState`` (HALTED on a global HALT, REDUCING while the global StormGuard
state is reduce-only, ACTIVE after an operator reset) as the last line of defence. Nautilus' RiskEngine skips notional checks on MARGIN
accounts, so it is never relied on for limits.

Wiring::

    gate = RiskGate(load_config("config/risk.yaml"))
    strategy = MyStrategy(StrategyConfig(strategy_id="MM-001"), gate)   # subclass of GatedStrategy
    engine.add_strategy(strategy)
    engine.add_actor(RiskSupervisor(gate, [strategy], risk_engine=engine.kernel.risk_engine))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import OrderSide, OrderStatus, OrderType
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.trading.strategy import Strategy

from workbench.engine.supervisor import RiskSupervisor  # noqa: F401 - re-exported: its import path before the split
from workbench.errors import WorkbenchError
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate
from workbench.risk.types import Action, OrderIntent, RiskDecision, Side

_CLOSED = (OrderCanceled, OrderExpired, OrderRejected, OrderDenied)
_ENDS = (*_CLOSED, OrderFilled)  # events after which an order may have stopped working


_ACTIVE: ContextVar[RiskGate | None] = ContextVar("workbench_active_gate", default=None)
_BY_PATH: dict[str, RiskGate] = {}
REPO = Path(__file__).resolve().parents[2]
DEFAULT_RISK_CONFIG = "config/risk.yaml"


def active_gate() -> RiskGate | None:
    return _ACTIVE.get()


@contextmanager
def using_gate(gate: RiskGate) -> Iterator[RiskGate]:
    """Strategies constructed inside this block share ``gate`` (one budget, one kill switch)."""
    token = _ACTIVE.set(gate)
    try:
        yield gate
    finally:
        _ACTIVE.reset(token)


def resolve_risk_config(path: str | None = None) -> Path:
    """A risk config path; relative paths are tried in the cwd, then at the repo root."""
    p = Path(path or DEFAULT_RISK_CONFIG)
    if not p.is_absolute() and not p.exists():
        p = REPO / p
    return p.resolve()


def gate_for(path: str | None = None) -> RiskGate:
    """The process-wide gate for a risk config file, so every strategy of a live node built from
    the same file shares one gate (one budget, one kill switch)."""
    p = resolve_risk_config(path)
    key = str(p)
    if key not in _BY_PATH:
        _BY_PATH[key] = RiskGate(load_config(p))
    return _BY_PATH[key]


def strategy_config(strategy_id: str, config_cls=StrategyConfig, **kwargs):
    """A nautilus config whose strategy id is exactly ``strategy_id`` ("NAME-TAG", e.g. "LT-001"), the
    key the risk config uses. (Nautilus builds the id as ``f"{strategy_id}-{order_id_tag}"``.)"""
    name, _, tag = strategy_id.rpartition("-")
    if not name or not tag:
        raise ValueError(f"strategy id {strategy_id!r}: expected NAME-TAG, e.g. LT-001")
    return config_cls(strategy_id=name, order_id_tag=tag, **kwargs)


class GateRefusal(WorkbenchError, RuntimeError):
    """Raised for order paths the gate cannot vouch for (e.g. contingent order lists)."""


class GatedStrategy(Strategy):
    """A nautilus ``Strategy`` whose every order action is decided by a :class:`RiskGate`.

    Subclasses call :meth:`intent` + :meth:`submit_intent` (or the plain nautilus methods, which are
    converted into intents). ``decisions`` keeps every decision this strategy received, in order.
    """

    def __init__(self, config, gate: RiskGate | None = None):
        super().__init__(config)
        # Built from an ImportableStrategyConfig (notebook, run file, live node) there is no gate
        # argument: use the run's shared gate, else the one for the config's risk file.
        self.gate = gate or active_gate() or gate_for(getattr(config, "risk_config", None))
        self.decisions: list[RiskDecision] = []
        self._seq = 0
        # Reduce-only closes the gate refused while this strategy's orders on the instrument were still
        # working (e.g. cancel-all then close-all on stop): retried once the last of them is closed.
        self._deferred_closes: set[InstrumentId] = set()
        # Orders handed to nautilus and not yet submitted to the venue (INITIALIZED): neither
        # ``cache.orders_open`` nor ``cache.orders_inflight`` lists them; see :meth:`orders_working`.
        self._unsubmitted: dict[ClientOrderId, InstrumentId] = {}
        # approved cancels of orders not yet acknowledged by the venue: sent on the ack (see _perform)
        self._cancel_on_ack: set[ClientOrderId] = set()
        # Set by a stopping node before its market exit: orders that are not reduce-only are dropped here
        # (no intent, no order), so a strategy still receiving quotes cannot re-open behind the close.
        self.closing_only = False

    # -- intents -------------------------------------------------------------------------------------
    def intent(
        self,
        instrument_id: InstrumentId | str,
        side: Side | str,
        qty,
        price=None,
        *,
        action: Action | str = Action.NEW,
        target_id: str | None = None,
        tag: str = "",
    ) -> OrderIntent:
        """Build an intent stamped with the engine clock (exchange time in a backtest), a sequence and
        the instrument's latest quote (exchange time, bid, ask): the inputs of its cross-run match key."""
        self._seq += 1
        iid = instrument_id if isinstance(instrument_id, InstrumentId) else InstrumentId.from_str(instrument_id)
        q = self.cache.quote_tick(iid)
        return OrderIntent.new(
            self.id.value,
            str(instrument_id),
            side,
            Decimal(str(qty)),
            None if price is None else Decimal(str(price)),
            ts_event=self.clock.timestamp_ns(),
            seq=self._seq,
            action=action,
            target_id=target_id,
            tag=tag,
            market=None if q is None else (q.ts_event, q.bid_price.as_double(), q.ask_price.as_double()),
        )

    def submit_intent(self, intent: OrderIntent) -> RiskDecision:
        """Decide ``intent`` and, if approved, perform it on nautilus. Returns the decision."""
        if intent.strategy_id != self.id.value:
            raise ValueError(
                f"intent {intent.intent_id} belongs to {intent.strategy_id}, not {self.id.value}"
            )
        d = self.gate.evaluate(intent)
        self.decisions.append(d)
        if d.approved:
            self._perform(d)
        return d

    def _perform(self, d: RiskDecision) -> None:
        i = d.intent
        if i.action is Action.CANCEL:
            order = self.cache.order(ClientOrderId(i.target_id))
            if order is not None and order.is_open:
                Strategy.cancel_order(self, order)
            elif order is not None and not order.is_closed:
                # not yet acknowledged (INITIALIZED, SUBMITTED): IB routes a cancel by the venue's order id,
                # which only the ack brings (its client drops the cancel, leaving the order PENDING_CANCEL
                # here); the cancel is sent when the ack arrives (handle_event)
                self._cancel_on_ack.add(order.client_order_id)
            return
        instrument = self.cache.instrument(InstrumentId.from_str(i.instrument_id))
        if instrument is None:
            raise ValueError(f"intent {i.intent_id}: instrument {i.instrument_id} not in the nautilus cache")
        qty = instrument.make_qty(d.approved_qty)
        if i.action is Action.MODIFY:
            order = self.cache.order(ClientOrderId(i.target_id))
            price = None if i.price is None else instrument.make_price(i.price)
            Strategy.modify_order(self, order, quantity=qty, price=price)
            return
        side = OrderSide.BUY if i.side is Side.BUY else OrderSide.SELL
        coid = ClientOrderId(i.client_order_id)
        if i.price is None:
            order = self.order_factory.market(
                instrument.id,
                side,
                qty,
                reduce_only=i.reduce_only,
                client_order_id=coid,
                tags=[i.tag] if i.tag else None,
            )
        else:
            order = self.order_factory.limit(
                instrument.id,
                side,
                qty,
                instrument.make_price(i.price),
                reduce_only=i.reduce_only,
                client_order_id=coid,
                tags=[i.tag] if i.tag else None,
            )
        self._unsubmitted[coid] = instrument.id
        Strategy.submit_order(self, order)

    def orders_working(self, instrument_id: InstrumentId | str | None = None) -> list:
        """This strategy's orders that may still fill: working at the venue (open), in flight (submitted,
        pending update or cancel: not yet acknowledged) and handed to nautilus but not yet submitted.
        ``cache.orders_open`` alone misses the last two, so a signal arriving before the venue's ack
        sent a second order (the live double order of issue 12). Sorted by client order id."""
        iid = InstrumentId.from_str(instrument_id) if isinstance(instrument_id, str) else instrument_id
        found = {o.client_order_id: o for o in self.cache.orders_open(instrument_id=iid, strategy_id=self.id)}
        for o in self.cache.orders_inflight(instrument_id=iid, strategy_id=self.id):
            found[o.client_order_id] = o
        for o in self._unsubmitted_orders(iid):
            found[o.client_order_id] = o
        return [found[k] for k in sorted(found, key=lambda c: c.value)]

    def has_orders_working(self, instrument_id: InstrumentId | str | None = None) -> bool:
        """``bool(orders_working(instrument_id))`` without building the list: a strategy asks on every
        quote, and the cache's counts cost a fraction of its order lists."""
        iid = InstrumentId.from_str(instrument_id) if isinstance(instrument_id, str) else instrument_id
        sid = self.id
        return bool(self.cache.orders_open_count(instrument_id=iid, strategy_id=sid)
                    or self.cache.orders_inflight_count(instrument_id=iid, strategy_id=sid)
                    or (self._unsubmitted and self._unsubmitted_orders(iid)))

    def _unsubmitted_orders(self, iid: InstrumentId | None) -> list:
        """The orders of ``_unsubmitted`` still INITIALIZED (on ``iid``, or all); forgets the others."""
        out = []
        for coid, oid in list(self._unsubmitted.items()):
            o = self.cache.order(coid)
            if o is None or o.status != OrderStatus.INITIALIZED:  # submitted or closed: the cache indexes it
                del self._unsubmitted[coid]
            elif iid is None or oid == iid:
                out.append(o)
        return out

    # -- the nautilus order API, gated ---------------------------------------------------------------
    def submit_order(self, order, position_id=None, client_id=None, params=None):
        """Direct nautilus submission: converted into an intent and gated (the order object itself is
        replaced by one carrying the approved size and the intent-derived client order id)."""
        if self.closing_only and not order.is_reduce_only:
            return
        price = order.price if order.order_type == OrderType.LIMIT else None
        if order.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            raise GateRefusal(f"{order.client_order_id}: only LIMIT and MARKET orders pass the risk gate")
        side = Side.BUY if order.side == OrderSide.BUY else Side.SELL
        intent = self.intent(
            order.instrument_id,
            side,
            order.quantity.as_decimal(),
            None if price is None else price.as_decimal(),
            tag="DIRECT",
        )
        if order.is_reduce_only:
            intent = OrderIntent.new(
                intent.strategy_id,
                intent.instrument_id,
                intent.side,
                intent.qty,
                intent.price,
                ts_event=intent.ts_event,
                seq=intent.seq,
                tag=intent.tag,
                reduce_only=True,
                market=(intent.md_ts, intent.md_bid, intent.md_ask),
            )
        d = self.submit_intent(intent)
        # working *or in flight*: a close refused while an order is not yet acknowledged (invisible to
        # ``cache.orders_open``) must be retried too, or the strategy never ends flat
        if not d.approved and order.is_reduce_only and self.has_orders_working(order.instrument_id):
            self._deferred_closes.add(order.instrument_id)

    def submit_order_list(self, order_list, position_id=None, client_id=None, params=None):
        raise GateRefusal(
            "contingent order lists are not supported by the risk gate; submit orders one by one"
        )

    def modify_order(self, order, quantity=None, price=None, trigger_price=None, client_id=None, params=None):
        qty = (quantity or order.leaves_qty).as_decimal()
        px = price if price is not None else (order.price if order.has_price else None)
        side = Side.BUY if order.side == OrderSide.BUY else Side.SELL
        self.submit_intent(
            self.intent(
                order.instrument_id,
                side,
                qty,
                None if px is None else px.as_decimal(),
                action=Action.MODIFY,
                target_id=order.client_order_id.value,
            )
        )

    def cancel_order(self, order, client_id=None, params=None):
        side = Side.BUY if order.side == OrderSide.BUY else Side.SELL
        self.submit_intent(
            self.intent(
                order.instrument_id,
                side,
                order.leaves_qty.as_decimal(),
                None,
                action=Action.CANCEL,
                target_id=order.client_order_id.value,
            )
        )

    def cancel_orders(self, orders, client_id=None, params=None):
        for order in orders:
            self.cancel_order(order)

    def cancel_all_orders(
        self, instrument_id, order_side=OrderSide.NO_ORDER_SIDE, client_id=None, params=None
    ):
        # open and in-flight orders, as nautilus's own cancel_all_orders (in-flight ones are cancelled on
        # their ack, see _perform); not those already being cancelled (no second intent per quote)
        for order in self.orders_working(instrument_id):
            if order.status == OrderStatus.PENDING_CANCEL or order.client_order_id in self._cancel_on_ack:
                continue
            if order_side == OrderSide.NO_ORDER_SIDE or order.side == order_side:
                self.cancel_order(order)

    def _cancel_deferred(self, coid: ClientOrderId) -> None:
        """An order whose approved cancel waited for the venue's ack: cancelled once it is working there
        (accepted, partly filled), forgotten once it ended (filled, rejected, ...)."""
        order = self.cache.order(coid)
        if order is None or order.is_closed:
            self._cancel_on_ack.discard(coid)
        elif order.is_open and order.venue_order_id is not None:
            self._cancel_on_ack.discard(coid)
            if not order.is_pending_cancel:
                Strategy.cancel_order(self, order)

    # -- feeding the gate ----------------------------------------------------------------------------
    def handle_quote_tick(self, tick: QuoteTick):
        # The gate sees the quote before the strategy decides on it: "state as of the intent's time".
        self.gate.on_quote_tick(tick)  # applied once per tick, whichever subscriber comes first
        super().handle_quote_tick(tick)

    def handle_event(self, event):
        if isinstance(event, OrderFilled):
            self.gate.on_fill(
                f"{event.client_order_id.value}:{event.trade_id.value}",
                event.client_order_id.value,
                event.ts_event,
                event.last_qty.as_double(),
                event.last_px.as_double(),
                strategy_id=self.id.value,
                instrument_id=event.instrument_id.value,
                side=Side.BUY if event.order_side == OrderSide.BUY else Side.SELL,
            )
        if isinstance(event, _CLOSED):
            self.gate.on_order_closed(event.client_order_id.value)
        if isinstance(event, _ENDS):  # a fill may end the last working order too
            iid = event.instrument_id
            if (
                iid in self._deferred_closes
                and self.is_running  # not after stop: the venue may already be gone
                and not self.has_orders_working(iid)  # not while another order is still in flight
            ):
                self._deferred_closes.discard(iid)
                self.close_all_positions(iid)  # through submit_order: gated like any other order
        elif isinstance(event, OrderUpdated | OrderModifyRejected):
            order = self.cache.order(event.client_order_id)
            if order is not None and order.client_order_id.value in self.gate.book.orders:
                self.gate.book_sync(order.client_order_id.value, order.leaves_qty.as_double())
        super().handle_event(event)
        # after the strategy saw the ack: its cancel's events follow it, not precede it
        if self._cancel_on_ack and getattr(event, "client_order_id", None) in self._cancel_on_ack:
            self._cancel_deferred(event.client_order_id)
