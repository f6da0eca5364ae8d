"""Order handling and matching for the simulated IB account.

The broker is synchronous and transport-free: the gateway feeds it requests and quotes on the
simulated clock and fans the :class:`Event` objects it returns out to connected clients.

Matching model (deliberately simple, documented in docs/ibsim.md):

* An order is acknowledged ``ack_latency_ms`` after placement and can fill from
  ``fill_latency_ms`` after placement (both on the simulated clock); with both 0 it is acknowledged
  and matched against the current book on arrival.
* Buys trade at the ask, sells at the bid.  A market order takes what is displayed; a limit order
  takes what is displayed at or better than its limit; a stop becomes a market (stop-limit: a limit)
  order once the ask (buys) rises to / the bid (sells) falls to the stop.
* Displayed size is liquidity: each quote's size can be consumed once, so an order larger than the
  displayed size fills partially and continues on later quotes.  IOC remainders are cancelled.
* Three switches make it fill as nautilus's sandbox does (docs/ibsim.md, "Filling like the sandbox"):
  ``market_remainder`` (a market order's rest beyond the displayed size), ``consume_displayed`` and
  ``passive_fill`` (the price and size of a resting limit order a later quote reaches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .account import AccountConfig, AccountState, StateFile, apply_fill, commission, money
from .contracts import ContractCatalog, SimContract
from .model import SimExecution, SimOrder
from .requests import PlaceOrderReq
from .valuation import AccountValuation

NS = 1_000_000_000
SUPPORTED_TYPES = ("MKT", "LMT", "STP", "STP LMT")
SUPPORTED_TIF = ("DAY", "GTC", "IOC")
MARKET_REMAINDERS = ("work", "cancel", "rest")
PASSIVE_FILLS = ("touch", "limit")


@dataclass(frozen=True)
class BrokerConfig:
    account: AccountConfig = field(default_factory=AccountConfig)
    ack_latency_ms: float = 2.0
    fill_latency_ms: float = 5.0
    # the rest of a market order larger than the displayed size (one of MARKET_REMAINDERS): "work" fills on
    # later quotes (as IB); "cancel" cancels it; "rest" leaves it open, never matched again and without an
    # event, as nautilus's sandbox does (its live matching engine fills a market order once, on arrival)
    market_remainder: str = "work"
    # True: a quote's displayed size is taken once by all orders together (as a real book); False: every
    # order may take up to the full displayed size of each quote, as nautilus (liquidity_consumption=False)
    consume_displayed: bool = True
    # a resting limit order that a later quote reaches: "touch" fills at that quote's price, up to its size;
    # "limit" at the order's limit, in full (nautilus's L1 maker fill: the market moved through the price);
    # meant with zero latency: an order still inside its fill latency when a newer quote comes counts as resting
    passive_fill: str = "touch"

    def __post_init__(self) -> None:  # fail closed: an unknown mode must not silently mean "work"
        if self.market_remainder not in MARKET_REMAINDERS:
            raise ValueError(f"market_remainder must be one of {MARKET_REMAINDERS}, got {self.market_remainder!r}")
        if self.passive_fill not in PASSIVE_FILLS:
            raise ValueError(f"passive_fill must be one of {PASSIVE_FILLS}, got {self.passive_fill!r}")
        if not isinstance(self.consume_displayed, bool):
            raise ValueError(f"consume_displayed must be true or false, got {self.consume_displayed!r}")


@dataclass
class Book:
    ts: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    avail_bid: float
    avail_ask: float
    # consume_displayed=False: what each order (perm id) has taken of this quote, per side of the book
    taken: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """Something clients must hear about.  ``kind``: order | exec | position | error."""

    kind: str
    order: SimOrder | None = None
    execution: SimExecution | None = None
    con_id: int = 0
    client_id: int = -1
    code: int = 0
    text: str = ""
    req_id: int = -1


class Reject(Exception):
    """IB refuses a request; ``code``/``text`` are what TWS would send as the error message."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


class Broker(AccountValuation):
    def __init__(self, catalog: ContractCatalog, config: BrokerConfig | None = None,
                 state_file: StateFile | None = None) -> None:
        self.catalog = catalog
        self.config = config or BrokerConfig()
        self.state_file = state_file
        loaded = state_file.load() if state_file else None
        self.state = loaded or AccountState(cash=self.config.account.initial_cash)
        self.books: dict[int, Book] = {}
        self.reject_next: str | None = None  # fault: reject the next order with this reason
        self.extra_fill_delay_ns = 0  # fault: delay fills
        self._active_ids: set[int] | None = None  # conIds with working orders (cache, reset by save())

    # ------------------------------------------------------------------ persistence / lookup

    def save(self) -> None:
        self._active_ids = None  # every state change passes through here
        if self.state_file is not None:
            self.state_file.save(self.state)

    @property
    def account(self) -> str:
        return self.config.account.account

    def orders(self, client_id: int | None = None, active: bool | None = None) -> list[SimOrder]:
        out = [o for o in self.state.orders.values()
               if (client_id is None or o.client_id == client_id) and (active is None or o.is_active == active)]
        return sorted(out, key=lambda o: o.perm_id)

    def find_order(self, client_id: int, order_id: int) -> SimOrder | None:
        for o in self.state.orders.values():
            if o.client_id == client_id and o.order_id == order_id:
                return o
        return None

    def contract(self, con_id: int) -> SimContract:
        c = self.catalog.get(con_id)
        if c is None:
            raise KeyError(f"conId {con_id} is not in the simulator's contract catalog")
        return c

    # ------------------------------------------------------------------ orders

    def place(self, req: PlaceOrderReq, client_id: int, contract: SimContract, now_ns: int) -> list[Event]:
        """Place a new order or modify a working one (same client and order id)."""
        existing = self.find_order(client_id, req.order_id)
        self._validate(req, contract)
        if existing is not None:
            if not existing.is_active:
                raise Reject(104, f"Can't modify a filled order. Order {req.order_id} is {existing.status}.")
            if req.total_qty < existing.filled:
                raise Reject(321, "Error validating request.-'bO' : cause - totalQuantity below filled quantity")
            existing.total_qty, existing.lmt_price, existing.aux_price = req.total_qty, req.lmt_price, req.aux_price
            existing.order_type, existing.tif, existing.order_ref = req.order_type, req.tif, req.order_ref
            self.save()
            return [Event("order", order=existing, client_id=client_id)]
        if self.reject_next is not None:
            reason, self.reject_next = self.reject_next, None
            raise Reject(201, f"Order rejected - reason:{reason}")
        self._check_buying_power(req, contract)
        st = self.state
        o = SimOrder(
            order_id=req.order_id, client_id=client_id, perm_id=st.next_perm_id, account=req.account or self.account,
            con_id=contract.con_id, action=req.action, total_qty=req.total_qty, order_type=req.order_type,
            lmt_price=req.lmt_price, aux_price=req.aux_price, tif=req.tif, order_ref=req.order_ref,
            oca_group=req.oca_group, parent_id=req.parent_id, outside_rth=req.outside_rth, status="PreSubmitted",
            submitted_ns=now_ns,
        )
        st.next_perm_id += 1
        st.next_order_id = max(st.next_order_id, req.order_id + 1)
        st.orders[o.perm_id] = o
        self.save()
        events = [Event("order", order=o, client_id=client_id)]
        if self.config.ack_latency_ms <= 0 and self.config.fill_latency_ms <= 0 and not self._is_held_stop(o):
            # zero latency: acknowledged and matched against the current book on arrival, as nautilus's
            # sandbox does (a PAPER/REAL pair configured to fill identically, docs/node.md)
            o.status = "Submitted"
            events.append(Event("order", order=o, client_id=client_id))
            if o.con_id in self.books:
                events += self.match(o.con_id, now_ns)
        return events

    def _validate(self, req: PlaceOrderReq, contract: SimContract) -> None:
        if req.order_type not in SUPPORTED_TYPES:
            raise Reject(321, f"Error validating request.-'bO' : cause - order type {req.order_type!r} is not "
                              f"supported by the simulator (supported: {', '.join(SUPPORTED_TYPES)})")
        if req.tif not in SUPPORTED_TIF:
            raise Reject(321, f"Error validating request.-'bO' : cause - time in force {req.tif!r} is not supported")
        if req.order_type in ("LMT", "STP LMT") and req.lmt_price is None:
            raise Reject(321, "Error validating request.-'bO' : cause - The limit price (lmtPrice) is missing")
        if req.order_type in ("STP", "STP LMT") and req.aux_price is None:
            raise Reject(321, "Error validating request.-'bO' : cause - The stop price (auxPrice) is missing")
        if req.account and req.account != self.account:
            raise Reject(321, f"Error validating request.-'bO' : cause - account {req.account!r} is not managed")
        if contract.sec_type == "IND":
            raise Reject(201, "Order rejected - reason:Indices are not tradable")
        for price in (req.lmt_price, req.aux_price):
            if price is not None and abs(round(price / contract.min_tick) * contract.min_tick - price) > 1e-9:
                raise Reject(110, f"The price does not conform to the minimum price variation for this contract "
                                  f"({price} vs tick {contract.min_tick}).")

    def cancel(self, client_id: int, order_id: int, now_ns: int) -> list[Event]:
        o = self.find_order(client_id, order_id)
        if o is None:
            raise Reject(10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        if not o.is_active:
            raise Reject(161, f"Cancel attempted when order is not in a cancellable state.  Order permId ={o.perm_id}")
        return self._cancel(o, now_ns, "")

    def _cancel(self, o: SimOrder, now_ns: int, reason: str) -> list[Event]:
        o.status = "Cancelled"
        o.completed_ns = now_ns
        self.save()
        # TWS sends error 202 before the Cancelled status; ib_async logs the cancel reason from it.
        return [Event("error", client_id=o.client_id, req_id=o.order_id, code=202,
                      text=f"Order Canceled - reason:{reason}"),
                Event("order", order=o, client_id=o.client_id)]

    def global_cancel(self, now_ns: int) -> list[Event]:
        events: list[Event] = []
        for o in self.orders(active=True):
            events += self._cancel(o, now_ns, "")
        return events

    # ------------------------------------------------------------------ margin (valuation: valuation.py)

    def _check_buying_power(self, req: PlaceOrderReq, c: SimContract) -> None:
        w = self.what_if(req, c)
        if w.init_margin_change > 0 and w.init_margin_before + w.init_margin_change > w.equity_with_loan_before:
            raise Reject(201, "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
                              f"POSITION YOUR EQUITY WITH LOAN VALUE [{money(w.equity_with_loan_before)} USD] MUST "
                              f"EXCEED THE INITIAL MARGIN [{money(w.init_margin_after)} USD]")

    # ------------------------------------------------------------------ matching

    def on_quote(self, con_id: int, ts: int, bid: float, ask: float, bid_size: float, ask_size: float) -> list[Event]:
        self.books[con_id] = Book(ts, bid, ask, bid_size, ask_size, bid_size, ask_size)
        if self._active_ids is None:
            self._active_ids = {o.con_id for o in self.state.orders.values() if o.is_active}
        return self.match(con_id, ts) if con_id in self._active_ids else []

    def on_time(self, now_ns: int) -> list[Event]:
        """Acknowledge orders whose ack latency has passed and retry matching on current books."""
        events: list[Event] = []
        ack = int(self.config.ack_latency_ms * 1e6)
        for o in self.orders(active=True):
            if o.status == "PreSubmitted" and now_ns >= o.submitted_ns + ack and not self._is_held_stop(o):
                o.status = "Submitted"
                events.append(Event("order", order=o, client_id=o.client_id))
        for con_id in sorted({o.con_id for o in self.orders(active=True)}):
            if con_id in self.books:
                events += self.match(con_id, now_ns)
        if events:
            self.save()
        return events

    def _resting(self, o: SimOrder) -> bool:
        """market_remainder "rest": a market order that has filled once is not matched again (it stays
        open until cancelled), as in nautilus's sandbox, whose matching engine fills a market order on
        arrival only and, the order still SUBMITTED in the node's cache then, skips its slip-to-next-tick
        fill for the rest (backtest/engine.pyx, OrderMatchingEngine.apply_fills: ``order.is_open_c()``)."""
        return self.config.market_remainder == "rest" and o.order_type == "MKT" and o.filled > 0

    @staticmethod
    def _is_held_stop(o: SimOrder) -> bool:
        return o.order_type in ("STP", "STP LMT") and not o.stop_triggered

    def match(self, con_id: int, now_ns: int) -> list[Event]:
        book = self.books[con_id]
        c = self.contract(con_id)
        delay = int(self.config.fill_latency_ms * 1e6) + self.extra_fill_delay_ns
        events: list[Event] = []
        working = [o for o in self.orders(active=True) if o.con_id == con_id]
        for o in sorted(working, key=lambda o: (o.submitted_ns, o.perm_id)):
            if now_ns < o.submitted_ns + delay or self._resting(o):
                continue
            if self._is_held_stop(o):
                hit = book.ask >= o.aux_price if o.action == "BUY" else book.bid <= o.aux_price
                if not hit:
                    continue
                o.stop_triggered = True
                if o.status == "PreSubmitted":
                    o.status = "Submitted"
                    events.append(Event("order", order=o, client_id=o.client_id))
            limit = o.lmt_price if o.order_type in ("LMT", "STP LMT") else None
            if o.action == "BUY":
                price, avail = book.ask, book.avail_ask
                ok = limit is None or price <= limit + 1e-12
            else:
                price, avail = book.bid, book.avail_bid
                ok = limit is None or price >= limit - 1e-12
            if not self.config.consume_displayed:  # this order's own share: the full size less its own takes
                avail = (book.ask_size if o.action == "BUY" else book.bid_size) - book.taken.get(o.perm_id, 0.0)
            if ok and o.order_type == "LMT" and book.ts > o.submitted_ns and self.config.passive_fill == "limit":
                price, avail = limit, float(o.remaining)  # a quote newer than the order came to it: maker fill
            if ok and avail > 0 and price > 0:
                qty = min(o.remaining, Decimal(str(avail)))
                if not self.config.consume_displayed:
                    book.taken[o.perm_id] = book.taken.get(o.perm_id, 0.0) + float(qty)
                elif o.action == "BUY":
                    book.avail_ask -= float(qty)
                else:
                    book.avail_bid -= float(qty)
                events += self._fill(o, c, qty, price, max(now_ns, book.ts))
            if o.is_active and o.tif == "IOC" and now_ns >= o.submitted_ns + delay:
                events += self._cancel(o, now_ns, "IOC remainder")
            elif (o.is_active and o.filled > 0 and o.order_type == "MKT"
                  and self.config.market_remainder == "cancel"):
                events += self._cancel(o, now_ns, "market order remainder beyond the displayed size")
        return events

    def _fill(self, o: SimOrder, c: SimContract, qty: Decimal, price: float, ts: int) -> list[Event]:
        st = self.state
        mult = c.multiplier_value
        px = Decimal(str(price))
        prev_qty = o.filled
        prev_value = Decimal(str(o.avg_fill_price)) * prev_qty * mult
        cum_value = prev_value + px * qty * mult
        fee = commission(self.config.account, c.sec_type, prev_qty + qty, cum_value) - commission(
            self.config.account, c.sec_type, prev_qty, prev_value)
        fee = fee.quantize(Decimal("0.0001"))
        o.filled = prev_qty + qty
        o.avg_fill_price = float(cum_value / (o.filled * mult))
        o.last_fill_price = price
        signed = qty if o.action == "BUY" else -qty
        realized = apply_fill(st, c.con_id, signed, px, mult, fee, c.sec_type == "FUT")
        st.exec_seq += 1
        e = SimExecution(
            exec_id=f"{o.perm_id:08x}.{st.exec_seq:08x}.01.01", order_id=o.order_id, client_id=o.client_id,
            perm_id=o.perm_id, account=o.account, con_id=c.con_id, side="BOT" if o.action == "BUY" else "SLD",
            shares=qty, price=price, cum_qty=o.filled, avg_price=o.avg_fill_price, time_ns=ts,
            exchange=c.primary_exchange or c.exchange, order_ref=o.order_ref, commission=fee,
            realized_pnl=realized if realized != 0 else None,
        )
        st.executions.append(e)
        if o.remaining == 0:
            o.status = "Filled"
            o.completed_ns = ts
        self.save()
        return [Event("exec", execution=e, order=o, client_id=o.client_id),
                Event("order", order=o, client_id=o.client_id),
                Event("position", con_id=c.con_id)]
