"""Shared budget: quotas, a critical strategy's guaranteed minimum, consumption report."""

from workbench.risk.types import Reason


def _cfg(rk):
    return rk.base_config(
        defaults={
            "max_order_qty": 100000,
            "max_order_notional": 10_000_000,
            "max_instrument_notional": 10_000_000,
            "max_position_qty": 100000,
            "price_band_bps": 500,
        },
        exposure={
            "buckets": {
                "LT": {"target_pct": 80, "max_pct": 130},
                "MM_PURE": {"target_pct": 20, "max_pct": 130},
            }
        },
        budget={"total_pct": 100},
        strategies={
            "LT-001": {"bucket": "LT", "priority": 10, "critical": True, "guaranteed_pct": 40},
            "MM-002": {"bucket": "MM_PURE", "priority": 1, "quota_pct": 100},
            "MM-003": {"bucket": "MM_PURE", "priority": 1, "quota_pct": 20},
        },
    )


def test_greedy_strategy_cannot_starve_the_critical_one(rk):
    g = rk.make_gate(_cfg(rk))
    ds = [
        g.evaluate(rk.intent(strategy="MM-002", instrument=rk.QQQ, qty=500, price="190.00", seq=k))
        for k in range(8)
    ]  # 100k each at the 200 mark; pool 1M, 400k reserved for LT-001
    assert sum(d.approved for d in ds) == 6
    assert ds[6].reasons == (Reason.BUDGET_EXHAUSTED,) and ds[6].values["budget_available"] < 100_000
    lt = g.evaluate(rk.intent(strategy="LT-001", qty=3999, price="99.00", seq=50))
    assert lt.approved  # its 40% guaranteed minimum is still there


def test_quota_caps_a_strategy_and_reducing_orders_always_fit(rk):
    g = rk.make_gate(_cfg(rk))
    ok = g.evaluate(rk.intent(strategy="MM-003", instrument=rk.QQQ, qty=900, price="190.00", seq=1))
    over = g.evaluate(rk.intent(strategy="MM-003", instrument=rk.QQQ, qty=200, price="190.00", seq=2))
    assert ok.approved and over.reasons == (Reason.BUDGET_EXHAUSTED,)
    g.on_fill("F1", ok.client_order_id, rk.T0, 900, 190.0)
    sell = g.evaluate(
        rk.intent(strategy="MM-003", instrument=rk.QQQ, side="SELL", qty=900, price="199.98", seq=3)
    )
    assert sell.approved and sell.values["reducing"]


def test_consumption_report_and_chart(rk):
    g = rk.make_gate(_cfg(rk))
    for k in range(3):
        g.evaluate(
            rk.intent(strategy="MM-002", instrument=rk.QQQ, qty=500, price="190.00", seq=k, ts=rk.T0 + k)
        )
    rep = g.budget.report(g.config, g.book.strategies, g.config.spec.equity)
    log = rep.to_frame()
    assert list(log["strategy"]) == ["MM-002"] * 3 and log["used_after"].is_monotonic_increasing
    assert rep.table.set_index("strategy").loc["LT-001", "guaranteed"] == 400_000
    assert "budget pool 1,000,000" in rep.summary()
    fig = rep.plot()
    assert {t.name for t in fig.data} >= {"MM-002", "LT-001"}
