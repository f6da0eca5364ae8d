"""The simulated account: cash, positions, valuations, IB account tags and the state file.

State is a JSON document (never pickle) written atomically (temp file + ``os.replace``) after every
change, so a crash leaves either the old or the new state, and a restarted simulator — or a client
reconnecting to it — sees the same orders, executions and positions.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from .model import SimExecution, SimOrder, SimPosition

STATE_VERSION = 1
CENT = Decimal("0.01")


@dataclass(frozen=True)
class AccountConfig:
    account: str = "DU1234567"
    initial_cash: Decimal = Decimal("1000000")
    currency: str = "USD"
    stock_init_margin: Decimal = Decimal("0.25")
    stock_maint_margin: Decimal = Decimal("0.25")
    deriv_init_margin: Decimal = Decimal("0.20")
    deriv_maint_margin: Decimal = Decimal("0.15")
    # IB "fixed" pricing: $0.005/share (min $1, max 1% of value); $0.65/option contract; $0.85/future.
    stock_per_share: Decimal = Decimal("0.005")
    stock_min: Decimal = Decimal("1.00")
    stock_max_pct: Decimal = Decimal("0.01")
    option_per_contract: Decimal = Decimal("0.65")
    future_per_contract: Decimal = Decimal("0.85")
    deriv_min: Decimal = Decimal("1.00")


@dataclass
class AccountState:
    """Everything the simulated broker must remember across restarts."""

    cash: Decimal
    next_order_id: int = 1
    next_perm_id: int = 1_000_000_001
    exec_seq: int = 0
    orders: dict[int, SimOrder] = field(default_factory=dict)  # keyed by perm_id
    executions: list[SimExecution] = field(default_factory=list)
    positions: dict[int, SimPosition] = field(default_factory=dict)
    realized: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)

    def to_json(self) -> dict:
        return {
            "version": STATE_VERSION, "cash": str(self.cash), "next_order_id": self.next_order_id,
            "next_perm_id": self.next_perm_id, "exec_seq": self.exec_seq,
            "orders": [o.to_json() for o in sorted(self.orders.values(), key=lambda o: o.perm_id)],
            "executions": [e.to_json() for e in self.executions],
            "positions": [p.to_json() for p in sorted(self.positions.values(), key=lambda p: p.con_id)],
            "realized": str(self.realized), "commissions": str(self.commissions),
        }

    @classmethod
    def from_json(cls, d: dict, source: str = "<state>") -> AccountState:
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"{source}: unsupported state version {d.get('version')!r} (expected {STATE_VERSION})")
        try:
            orders = [SimOrder.from_json(o) for o in d["orders"]]
            return cls(
                cash=Decimal(d["cash"]), next_order_id=int(d["next_order_id"]), next_perm_id=int(d["next_perm_id"]),
                exec_seq=int(d["exec_seq"]), orders={o.perm_id: o for o in orders},
                executions=[SimExecution.from_json(e) for e in d["executions"]],
                positions={p.con_id: p for p in (SimPosition.from_json(x) for x in d["positions"])},
                realized=Decimal(d["realized"]), commissions=Decimal(d.get("commissions", "0")),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"{source}: corrupt simulator state: {exc!r}") from exc


class StateFile:
    """Load/save :class:`AccountState` as JSON at ``path`` (atomic replace on save)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> AccountState | None:
        if not self.path.exists():
            return None
        with self.path.open(encoding="utf-8") as f:
            return AccountState.from_json(json.load(f), str(self.path))

    def save(self, state: AccountState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ibsim-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state.to_json(), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def commission(cfg: AccountConfig, sec_type: str, cum_qty: Decimal, cum_value: Decimal) -> Decimal:
    """Total commission for an order that has filled ``cum_qty`` for ``cum_value`` dollars so far.

    Each fill is charged the increase of this total, so IB's per-order minimum is paid once."""
    if cum_qty <= 0:
        return Decimal(0)
    if sec_type == "STK":
        raw = max(cfg.stock_per_share * cum_qty, cfg.stock_min)
        return min(raw, max(cfg.stock_max_pct * cum_value, cfg.stock_min))
    rate = cfg.option_per_contract if sec_type == "OPT" else cfg.future_per_contract
    return max(rate * cum_qty, cfg.deriv_min)


def apply_fill(state: AccountState, con_id: int, signed_qty: Decimal, price: Decimal, multiplier: int,
               fee: Decimal, is_future: bool) -> Decimal:
    """Update cash and the position for one fill; return the realized P&L of the fill (before fees).

    IB's avgCost includes the multiplier (an option bought at 1.35 has avgCost 135).  Futures are
    marked to market, so their notional does not move cash — only realized P&L and fees do."""
    pos = state.positions.get(con_id) or SimPosition(con_id)
    unit_cost = price * multiplier
    realized = Decimal(0)
    old = pos.qty
    if old == 0 or (old > 0) == (signed_qty > 0):
        new_qty = old + signed_qty
        pos.avg_cost = (pos.avg_cost * abs(old) + unit_cost * abs(signed_qty)) / abs(new_qty)
        pos.qty = new_qty
    else:
        closing = min(abs(signed_qty), abs(old))
        direction = 1 if old > 0 else -1
        realized = (unit_cost - pos.avg_cost) * closing * direction
        new_qty = old + signed_qty
        if new_qty == 0:
            pos.avg_cost = Decimal(0)
        elif (new_qty > 0) != (old > 0):
            pos.avg_cost = unit_cost  # flipped: the remainder opened at this fill's price
        pos.qty = new_qty
    pos.realized += realized
    if not is_future:
        state.cash -= signed_qty * unit_cost
    else:
        state.cash += realized
    state.cash -= fee
    state.realized += realized
    state.commissions += fee
    state.positions[con_id] = pos
    return realized
