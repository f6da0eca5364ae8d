"""Broker-side records: orders, executions and positions as the simulated IB account holds them.

Quantities and prices that leave the simulator as money are ``Decimal``; the JSON state file
stores them as strings so a restart reproduces them exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal

ACTIVE_STATUSES = ("PendingSubmit", "PreSubmitted", "Submitted")
DONE_STATUSES = ("Filled", "Cancelled", "ApiCancelled", "Inactive")


@dataclass
class SimOrder:
    """A working or finished order.  ``status`` uses IB's order-status vocabulary."""

    order_id: int
    client_id: int
    perm_id: int
    account: str
    con_id: int
    action: str  # BUY | SELL
    total_qty: Decimal
    order_type: str  # MKT | LMT | STP | STP LMT
    lmt_price: float | None = None
    aux_price: float | None = None
    tif: str = "DAY"
    order_ref: str = ""
    oca_group: str = ""
    parent_id: int = 0
    outside_rth: bool = False
    status: str = "PendingSubmit"
    filled: Decimal = Decimal(0)
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    submitted_ns: int = 0
    completed_ns: int = 0
    stop_triggered: bool = False
    why_held: str = ""
    warning: str = ""

    @property
    def remaining(self) -> Decimal:
        return self.total_qty - self.filled

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def sign(self) -> int:
        return 1 if self.action == "BUY" else -1

    def to_json(self) -> dict:
        d = asdict(self)
        d["total_qty"] = str(self.total_qty)
        d["filled"] = str(self.filled)
        return d

    @classmethod
    def from_json(cls, d: dict) -> SimOrder:
        d = dict(d)
        d["total_qty"] = Decimal(d["total_qty"])
        d["filled"] = Decimal(d["filled"])
        return cls(**d)


@dataclass
class SimExecution:
    """One fill.  ``time_ns`` is the simulated exchange time of the fill (UTC ns)."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    account: str
    con_id: int
    side: str  # BOT | SLD
    shares: Decimal
    price: float
    cum_qty: Decimal
    avg_price: float
    time_ns: int
    exchange: str = "ISLAND"
    order_ref: str = ""
    commission: Decimal = Decimal(0)
    realized_pnl: Decimal | None = None
    liquidity: int = 2  # 1 added, 2 removed (IB's lastLiquidity codes)

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("shares", "cum_qty", "commission"):
            d[k] = str(d[k])
        d["realized_pnl"] = None if self.realized_pnl is None else str(self.realized_pnl)
        return d

    @classmethod
    def from_json(cls, d: dict) -> SimExecution:
        d = dict(d)
        for k in ("shares", "cum_qty", "commission"):
            d[k] = Decimal(d[k])
        d["realized_pnl"] = None if d.get("realized_pnl") is None else Decimal(d["realized_pnl"])
        return cls(**d)


@dataclass
class SimPosition:
    con_id: int
    qty: Decimal = Decimal(0)
    avg_cost: Decimal = Decimal(0)  # per share/contract incl. multiplier, as IB reports avgCost
    realized: Decimal = Decimal(0)

    def to_json(self) -> dict:
        return {"con_id": self.con_id, "qty": str(self.qty), "avg_cost": str(self.avg_cost),
                "realized": str(self.realized)}

    @classmethod
    def from_json(cls, d: dict) -> SimPosition:
        return cls(int(d["con_id"]), Decimal(d["qty"]), Decimal(d["avg_cost"]), Decimal(d["realized"]))


@dataclass
class WhatIf:
    """Margin/commission preview returned for ``order.whatIf = True`` (nothing is placed)."""

    init_margin_before: Decimal
    maint_margin_before: Decimal
    equity_with_loan_before: Decimal
    init_margin_change: Decimal
    maint_margin_change: Decimal
    equity_with_loan_change: Decimal
    commission: Decimal
    warning: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def init_margin_after(self) -> Decimal:
        return self.init_margin_before + self.init_margin_change

    @property
    def maint_margin_after(self) -> Decimal:
        return self.maint_margin_before + self.maint_margin_change

    @property
    def equity_with_loan_after(self) -> Decimal:
        return self.equity_with_loan_before + self.equity_with_loan_change
