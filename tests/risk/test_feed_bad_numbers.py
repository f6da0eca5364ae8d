"""Non-finite feed numbers are refused (logged, counted), never folded into marks or P&L; a NaN
drawdown is the worst state; a bad intent price is rejected, never a market order."""

from decimal import Decimal

import pytest

from workbench.risk.config import config_from_dict
from workbench.risk.metrics import RiskMetrics
from workbench.risk.stormguard import level_for
from workbench.risk.types import StormState


def test_non_finite_quote_is_refused_and_counted(rk):
    gate = rk.make_gate(metrics=RiskMetrics())
    before = gate.book.quotes[rk.SPY]
    assert gate.on_quote(rk.SPY, rk.T0 + 1, float("nan"), 100.01) is False
    assert gate.on_quote(rk.SPY, rk.T0 + 2, 99.99, float("inf")) is False
    assert gate.book.quotes[rk.SPY] == before
    assert gate.metrics.bad_feed["quote"] == 2


@pytest.mark.parametrize(
    "qty,price",
    [(float("nan"), 100.0), (10.0, float("nan")), (float("inf"), 100.0), (10.0, float("-inf")), (0.0, 100.0)],
)
def test_non_finite_fill_is_refused_not_folded_into_pnl(rk, qty, price):
    gate = rk.make_gate(metrics=RiskMetrics())
    d = gate.evaluate(rk.intent(qty=10, price="100.01"))
    assert d.approved
    coid = rk.intent(qty=10, price="100.01").client_order_id
    assert gate.on_fill("f1", coid, rk.T0, qty, price) is False
    assert "f1" not in gate.book.fills_seen
    assert gate.book.total_pnl == gate.book.total_pnl  # not NaN
    assert gate.metrics.bad_feed["fill"] == 1
    assert gate.on_fill("f1", coid, rk.T0, 10.0, 100.01) is True  # the good fill still applies


def test_nan_drawdown_is_the_worst_state(rk):
    spec = config_from_dict(rk.base_config()).spec.stormguard
    assert level_for(float("nan"), spec) is StormState.HALT


@pytest.mark.parametrize("price", ["NaN", "Infinity", "-Infinity", "0", "-1"])
def test_bad_limit_price_is_rejected_not_a_market_order(rk, price):
    gate = rk.make_gate()
    d = gate.evaluate(rk.intent(qty=10, price=Decimal(price)))
    assert not d.approved and d.reasons == ("BAD_INTENT",)


@pytest.mark.parametrize("qty", ["NaN", "Infinity"])
def test_bad_quantity_is_rejected(rk, qty):
    gate = rk.make_gate()
    d = gate.evaluate(rk.intent(qty=Decimal(qty), price="100.00"))
    assert not d.approved and d.reasons == ("BAD_INTENT",)
