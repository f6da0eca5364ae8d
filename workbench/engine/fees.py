"""IB-style fixed commissions for the simulated venue.

Nautilus's ``PerContractFeeModel`` takes a ``Money`` per unit, and ``Money`` in USD has cent
precision, so IB's $0.005/share would round to $0.01 and double the cost. This model keeps the
rate as a Decimal and rounds only the fill's total:

- stocks: ``per_share`` x shares, at least ``min_per_order``, at most ``max_pct`` of trade value;
- options: ``per_contract`` x contracts, at least ``min_per_order``.

The minimum is applied per fill (IB applies it per order): a partially filled order can cost a
little more here than at IB; documented in docs/backtesting.md.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.enums import InstrumentClass
from nautilus_trader.model.objects import Money

CENT = Decimal("0.01")


class IBFixedFeeModel(FeeModel):
    def __init__(self, per_share: Decimal = Decimal("0.005"), per_contract: Decimal = Decimal("0.65"),
                 min_per_order: Decimal = Decimal("1.00"), max_pct: Decimal = Decimal("0.01")) -> None:
        super().__init__()
        self.per_share = Decimal(per_share)
        self.per_contract = Decimal(per_contract)
        self.min_per_order = Decimal(min_per_order)
        self.max_pct = Decimal(max_pct)

    def commission(self, qty: Decimal, price: Decimal, multiplier: Decimal, is_option: bool) -> Decimal:
        """The commission in account currency for one fill (pure, testable without an engine)."""
        if is_option:
            fee = max(self.per_contract * qty, self.min_per_order)
        else:
            fee = max(self.per_share * qty, self.min_per_order)
            fee = min(fee, self.max_pct * qty * price * multiplier)
        return fee.quantize(CENT, rounding=ROUND_HALF_UP)

    def get_commission(self, order, fill_qty, fill_px, instrument) -> Money:  # noqa: ANN001 - nautilus types
        is_option = instrument.instrument_class == InstrumentClass.OPTION
        fee = self.commission(fill_qty.as_decimal(), fill_px.as_decimal(), instrument.multiplier.as_decimal(),
                              is_option)
        return Money(fee, instrument.quote_currency)
