"""The simulated account's valuation: marks, margins, IB account tags and what-if impacts.

A mixin of :class:`workbench.ibsim.broker.Broker` (split out of broker.py: it only reads the broker's
books, account state, contracts and config, and never changes them).
"""

from __future__ import annotations

from decimal import Decimal

from .account import commission, money
from .contracts import SimContract
from .model import WhatIf
from .requests import PlaceOrderReq


class AccountValuation:
    """Needs ``books`` (con id -> latest quote), ``state`` (AccountState), ``config`` (BrokerConfig) and
    ``contract(con_id)`` from the class it is mixed into."""

    def mark(self, con_id: int) -> float | None:
        b = self.books.get(con_id)
        if b is not None:
            return (b.bid + b.ask) / 2.0
        fills = [e.price for e in self.state.executions if e.con_id == con_id]
        return fills[-1] if fills else None

    def _rates(self, c: SimContract) -> tuple[Decimal, Decimal]:
        a = self.config.account
        return (a.stock_init_margin, a.stock_maint_margin) if c.sec_type == "STK" else (a.deriv_init_margin,
                                                                                         a.deriv_maint_margin)

    def valuation(self) -> dict[str, Decimal]:
        """Net liquidation, gross position value, margins, unrealized P&L from the latest marks."""
        gross = Decimal(0)
        stock_value = Decimal(0)
        init = Decimal(0)
        maint = Decimal(0)
        unreal = Decimal(0)
        fut_unreal = Decimal(0)
        for pos in self.state.positions.values():
            if pos.qty == 0:
                continue
            c = self.contract(pos.con_id)
            px = self.mark(pos.con_id)
            unit = Decimal(str(px)) * c.multiplier_value if px is not None else pos.avg_cost
            value = unit * pos.qty
            u = (unit - pos.avg_cost) * pos.qty
            unreal += u
            i_rate, m_rate = self._rates(c)
            init += abs(value) * i_rate
            maint += abs(value) * m_rate
            gross += abs(value)
            if c.sec_type == "FUT":
                fut_unreal += u
            else:
                stock_value += value
        net_liq = self.state.cash + stock_value + fut_unreal
        return dict(NetLiquidation=net_liq, TotalCashValue=self.state.cash, GrossPositionValue=gross,
                    InitMarginReq=init, MaintMarginReq=maint, UnrealizedPnL=unreal, RealizedPnL=self.state.realized)

    def account_tags(self) -> dict[str, str]:
        """IB account-summary / account-value tags (monetary values in USD, 2 decimals)."""
        v = self.valuation()
        nl, init, maint = v["NetLiquidation"], v["InitMarginReq"], v["MaintMarginReq"]
        avail = nl - init
        tags = {
            "NetLiquidation": nl, "TotalCashValue": v["TotalCashValue"], "SettledCash": v["TotalCashValue"],
            "AccruedCash": Decimal(0), "BuyingPower": max(avail, Decimal(0)) * 4, "EquityWithLoanValue": nl,
            "PreviousDayEquityWithLoanValue": nl, "GrossPositionValue": v["GrossPositionValue"],
            "RegTEquity": nl, "RegTMargin": init, "SMA": max(avail, Decimal(0)),
            "InitMarginReq": init, "MaintMarginReq": maint, "AvailableFunds": avail, "ExcessLiquidity": nl - maint,
            "FullInitMarginReq": init, "FullMaintMarginReq": maint, "FullAvailableFunds": avail,
            "FullExcessLiquidity": nl - maint, "LookAheadInitMarginReq": init, "LookAheadMaintMarginReq": maint,
            "LookAheadAvailableFunds": avail, "LookAheadExcessLiquidity": nl - maint,
            "UnrealizedPnL": v["UnrealizedPnL"], "RealizedPnL": v["RealizedPnL"],
        }
        out = {k: str(money(x)) for k, x in tags.items()}
        out["Cushion"] = str(((nl - maint) / nl).quantize(Decimal("0.0001"))) if nl else "0"
        out["DayTradesRemaining"] = "-1"
        out["Leverage-S"] = str((v["GrossPositionValue"] / nl).quantize(Decimal("0.01"))) if nl else "0"
        return out

    def what_if(self, req: PlaceOrderReq, c: SimContract) -> WhatIf:
        """Margin and commission impact of ``req`` if it filled completely at the current mark."""
        v = self.valuation()
        px = req.lmt_price if req.order_type in ("LMT", "STP LMT") else self.mark(c.con_id)
        if px is None:
            px = req.aux_price or 0.0
        unit = Decimal(str(px)) * c.multiplier_value
        pos = self.state.positions.get(c.con_id)
        old_qty = pos.qty if pos else Decimal(0)
        signed = req.total_qty if req.action == "BUY" else -req.total_qty
        i_rate, m_rate = self._rates(c)
        d_init = (abs(old_qty + signed) - abs(old_qty)) * unit * i_rate
        d_maint = (abs(old_qty + signed) - abs(old_qty)) * unit * m_rate
        fee = commission(self.config.account, c.sec_type, req.total_qty, req.total_qty * unit)
        return WhatIf(v["InitMarginReq"], v["MaintMarginReq"], v["NetLiquidation"], d_init, d_maint, -fee, fee)
