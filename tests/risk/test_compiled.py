"""The compiled decision core: rate rings that outgrow their first size, values rows that decode under
the config they were made with, and a hot path that leaves nothing for the cyclic GC."""

import gc

from workbench.risk.config import config_from_dict
from workbench.risk.types import Action, Reason


def _roomy(rk, rate_cap: int) -> dict:
    """Limits nothing but the strategy's order rate reaches."""
    huge = 10**9
    return rk.base_config(
        defaults={
            "max_order_qty": 10,
            "max_order_notional": huge,
            "max_instrument_notional": huge,
            "max_position_qty": huge,
            "price_band_bps": 50,
        },
        rate={"window_s": 10, "soft_cap": rate_cap, "warn_frac": 1.0},
        global_rate={"window_s": 10, "soft_cap": 10 * rate_cap},
        budget={"total_pct": huge},
        exposure={
            "hard_cap_pct": huge,
            "buckets": {
                "LT": {"target_pct": 1, "max_pct": huge},
                "MM_PURE": {"target_pct": 1, "max_pct": huge},
            },
        },
        policy={
            "regimes": [{"name": "ALL", "start": "open+0m", "tolerance_pct": huge, "allow_derisk": False}],
            "outside_session": "ALL",
        },
    )


def test_rate_windows_keep_counting_past_the_first_ring_size(rk):
    cap = 3000  # the rings start with room for 1024 timestamps and must widen twice, keeping order
    cfg = _roomy(rk, cap)
    g = rk.make_gate(cfg)
    ds = [g.evaluate(rk.intent(qty=1, price="99.00", seq=k, ts=rk.T0 + k)) for k in range(cap + 1)]
    assert all(d.approved for d in ds[:cap]) and ds[cap].reasons == (Reason.RATE_LIMIT,)
    assert ds[cap - 1].values["rate_count"] == cap - 1 and ds[cap].values["rate_count"] == cap
    # cancels count too; once the window slides past the first approvals they drop out in order
    c = g.evaluate(
        rk.intent(qty=1, price=None, action=Action.CANCEL, target_id=ds[0].client_order_id, seq=10**6)
    )
    assert c.approved
    later = g.evaluate(rk.intent(qty=1, price="99.00", seq=10**6 + 1, ts=rk.T0 + 10**10 + 99))
    assert later.approved and later.values["rate_count"] == cap + 1 - 100


def test_values_decode_with_the_chain_order_they_were_made_under(rk):
    g = rk.make_gate()
    first = g.evaluate(rk.intent(qty=10, seq=1))
    order = ["budget", "price_band", "order_size"]
    g.swap_config(config_from_dict(rk.base_config(validators=order)).with_version(1))
    second = g.evaluate(rk.intent(qty=10, seq=2))
    base = ["storm_multiplier", "regime", "reducing"]
    assert list(first.values)[:5] == base + ["max_order_qty", "max_order_notional"]
    assert list(second.values) == base + [
        "budget_delta",
        "budget_available",
        "band_bps",
        "band_limit_bps",
        "max_order_qty",
        "max_order_notional",
        "order_notional",
    ]
    assert first.values["rate_count"] == 0 and isinstance(first.values["rate_count"], int)
    assert first.values == first.values and first.values is not first.values  # a fresh dict per read


def test_deciding_creates_nothing_the_cyclic_gc_tracks(rk):
    g = rk.make_gate(_roomy(rk, 10_000))
    for k in range(50):  # warm: legs, strategy rows, cached outcomes
        g.evaluate(rk.intent(qty=1, price="99.00", seq=k))
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        ds = [g.evaluate(rk.intent(qty=1, price="99.00", seq=100 + k)) for k in range(500)]
        ds += [
            g.evaluate(
                rk.intent(qty=1, price=None, action=Action.CANCEL, target_id=d.client_order_id, seq=10**4 + k)
            )
            for k, d in enumerate(ds[:200])
        ]
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert all(d.approved for d in ds)
    assert grown < 10, grown  # the list above, not one object per decision
    assert not any(
        gc.is_tracked(x) for x in (ds[0], ds[0].raw_values, g.book.orders[ds[300].client_order_id])
    )
