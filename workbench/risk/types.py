"""The vocabulary of the gate: what a strategy asks for and what risk answers.

An :class:`OrderIntent` is a strategy's *wish* (new order, modify, cancel). It is immutable and its id is
derived from its content, so the same wish computed twice (a replayed event, a retried callback) has the
same id and the gate can refuse to turn it into a second order. A :class:`RiskDecision` is the gate's
answer with every reason and the numbers each validator looked at, so an auditor can replay the "why".

Example::

    intent = OrderIntent.new("MM-1", "SPY.XNAS", Side.BUY, Decimal("100"), Decimal("500.01"),
                             ts_event=1_700_000_000_000_000_000, seq=7)
    decision = gate.evaluate(intent)
    if decision.approved:
        send(decision.client_order_id, decision.approved_qty)
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from enum import IntEnum, StrEnum

import msgspec

COID_PREFIX = "RK-"  # client order ids of the gate's orders: the prefix, then the intent id


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Action(StrEnum):
    NEW = "NEW"
    MODIFY = "MODIFY"
    CANCEL = "CANCEL"


class Verdict(StrEnum):
    APPROVE = "APPROVE"
    APPROVE_MODIFIED = "APPROVE_MODIFIED"
    REJECT = "REJECT"


class StormState(IntEnum):
    """Ordered so that ``max()`` of two states is the more severe one."""

    NORMAL = 0
    WARM = 1
    STORM = 2
    HALT = 3


class PolicyMode(IntEnum):
    NORMAL = 0
    THROTTLE_NEW_ORDERS = 1
    SOFT_DERISK = 2
    HARD_DERISK = 3


class Reason(StrEnum):
    """Reason codes. Every decision carries at least one; docs/risk.md explains each."""

    OK = "OK"
    CANCEL_ALLOWED = "CANCEL_ALLOWED"
    KILL_SWITCH = "KILL_SWITCH"
    STRATEGY_HALTED = "STRATEGY_HALTED"
    STRATEGY_DISABLED = "STRATEGY_DISABLED"
    UNKNOWN_STRATEGY = "UNKNOWN_STRATEGY"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    INVALID_INTENT = "INVALID_INTENT"  # well-formed numbers, impossible request (reduce_only that grows)
    BAD_INTENT = "BAD_INTENT"  # a quantity or limit price that is not a positive finite number
    STALE_INTENT = "STALE_INTENT"
    NO_MARKET_DATA = "NO_MARKET_DATA"
    PRICE_BAND = "PRICE_BAND"
    SIZE_CLIPPED = "SIZE_CLIPPED"
    MAX_ORDER_QTY = "MAX_ORDER_QTY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    MAX_INSTRUMENT_NOTIONAL = "MAX_INSTRUMENT_NOTIONAL"
    POSITION_LIMIT = "POSITION_LIMIT"
    RATE_LIMIT_WARN = "RATE_LIMIT_WARN"
    RATE_LIMIT = "RATE_LIMIT"
    STORM_REDUCE_ONLY = "STORM_REDUCE_ONLY"
    GROSS_EXPOSURE_CAP = "GROSS_EXPOSURE_CAP"
    BUCKET_LIMIT = "BUCKET_LIMIT"
    GROUP_LIMIT = "GROUP_LIMIT"
    POLICY_THROTTLE = "POLICY_THROTTLE"
    POLICY_DERISK = "POLICY_DERISK"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"


class OrderIntent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A strategy's request. Build it with :meth:`new`, which derives ``intent_id`` from the content.

    (``gc=False``: intents and decisions hold no reference cycles, and keeping millions of them out of
    the cyclic garbage collector's scans is what keeps the gate's tail latency flat.)

    ``price=None`` means a market order (the price band then uses the touch). ``target_id`` names the
    client order id a MODIFY/CANCEL acts on. ``ts_event`` is *exchange* time in UTC ns: every check is
    evaluated as of that time, never wall time. ``seq`` disambiguates several intents a strategy emits
    on one event.
    """

    intent_id: str
    strategy_id: str
    instrument_id: str
    action: Action
    side: Side
    qty: Decimal
    price: Decimal | None
    ts_event: int
    seq: int
    target_id: str | None = None
    tag: str = ""
    reduce_only: bool = False
    # Float views of qty/price (NaN = market) computed once at construction for the gate's hot path;
    # the Decimals above stay the source of truth at the order edge.
    qty_f: float = 0.0
    px_f: float = float("nan")
    sign: int = 1
    # The quote the decision saw (exchange time ns, bid, ask; 0/NaN when none): what makes the same
    # decision recognisable in a backtest and a live run, whose ts_event clocks differ. The journal
    # hashes them with the request into ``match_key`` (workbench/risk/journal.py, MATCH_KEY_SQL).
    md_ts: int = 0
    md_bid: float = float("nan")
    md_ask: float = float("nan")

    @classmethod
    def new(
        cls,
        strategy_id: str,
        instrument_id: str,
        side: Side | str,
        qty: Decimal | int | str,
        price: Decimal | str | None,
        *,
        ts_event: int,
        seq: int = 0,
        action: Action | str = Action.NEW,
        target_id: str | None = None,
        tag: str = "",
        reduce_only: bool = False,
        market: tuple[int, float, float] | None = None,
    ) -> OrderIntent:
        """``market`` = (ts_event, bid, ask) of the quote the decision was made on (see ``match_key``)."""
        side = Side(side)
        action = Action(action)
        qty = Decimal(qty)
        price = None if price is None else Decimal(price)
        # The dedupe key: every field that makes two intents "the same wish". Decimal is normalised so
        # that 100 and 100.00 hash alike.
        key = "|".join(
            (
                strategy_id,
                instrument_id,
                action.value,
                side.value,
                str(qty.normalize()),
                "MKT" if price is None else str(price.normalize()),
                str(int(ts_event)),
                str(int(seq)),
                target_id or "",
                tag,
                "R" if reduce_only else "",
            )
        )
        intent_id = hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
        return cls(
            intent_id=intent_id,
            strategy_id=strategy_id,
            instrument_id=instrument_id,
            action=action,
            side=side,
            qty=qty,
            price=price,
            ts_event=int(ts_event),
            seq=int(seq),
            target_id=target_id,
            tag=tag,
            reduce_only=reduce_only,
            # NaN means "market" in px_f, so a bad given price (NaN, inf, <= 0) must not become NaN:
            # 0.0 makes the gate reject it BAD_INTENT; a non-finite qty likewise (inf would clip)
            qty_f=float(qty) if qty.is_finite() else 0.0,
            px_f=float("nan") if price is None else (float(price) if price.is_finite() else 0.0),
            sign=1 if side is Side.BUY else -1,
            md_ts=0 if market is None else int(market[0]),
            md_bid=float("nan") if market is None else float(market[1]),
            md_ask=float("nan") if market is None else float(market[2]),
        )

    @property
    def client_order_id(self) -> str:
        """The broker-facing order id for a NEW intent: a pure function of the dedupe key, so a replayed
        intent can only ever map onto the same order."""
        return COID_PREFIX + self.intent_id


def exact_decimal(x: float, step: float) -> Decimal:
    """A float rounded onto a ``step`` grid as an exact Decimal, without exponent notation (1000, not
    1E+3), for the order edge."""
    d = Decimal(repr(round(round(x / step) * step, 10)))
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


class RiskDecision(msgspec.Struct, frozen=True, gc=False):
    """The gate's answer. ``changes`` lists what an APPROVE_MODIFIED altered, e.g.
    ``{"qty": ["500", "200"]}``; ``values`` holds the number each validator compared and its limit.

    A decision that reached the validators stores its values as the compiled chain's raw row (bytes,
    one copy, no Python float per value) and :attr:`values` builds the dict when read; the early
    rejects store their small dict as is.
    """

    intent: OrderIntent
    verdict: Verdict
    reasons: tuple[str, ...]
    raw_values: dict | bytes
    changes: dict
    approved_qty: Decimal | None
    config_version: int
    storm_state: StormState
    policy_mode: PolicyMode
    decision_seq: int
    wall_ns: int

    @property
    def values(self) -> dict:
        """Each validator's compared number and limit (a fresh dict per read)."""
        v = self.raw_values
        if type(v) is bytes:
            from workbench.risk.outcome import decode_values  # here: outcome imports this module

            return decode_values(v)
        return v

    @property
    def approved(self) -> bool:
        return self.verdict is not Verdict.REJECT

    @property
    def client_order_id(self) -> str:
        i = self.intent
        return i.target_id if i.action is not Action.NEW and i.target_id else i.client_order_id

    def summary(self) -> str:
        i = self.intent
        px = "MKT" if i.price is None else str(i.price)
        return (
            f"{self.verdict.value:<16} {i.action.value:<6} {i.strategy_id} {i.instrument_id} {i.side.value} "
            f"{i.qty}@{px} -> qty={self.approved_qty} reasons={','.join(self.reasons)} "
            f"cfg=v{self.config_version} storm={self.storm_state.name} policy={self.policy_mode.name}"
        )


class RiskEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Something the operator must be able to see: a StormGuard transition, a kill switch, a reset,
    a config change, a policy-mode change, a bad tick. Delivered to listeners and journaled."""

    kind: str
    scope: str
    old: str
    new: str
    reason: str
    ts_event: int
    wall_ns: int
    detail: dict = {}


class OpenOrder(msgspec.Struct, gc=False):
    """A working order. (``gc=False``: only strings and numbers, and tens of thousands may be alive.)"""

    client_order_id: str
    intent_id: str
    strategy: str
    instrument: str
    sign: int
    remaining: float
    price: float
    ts: int
    row: int  # the leg's row in the book
