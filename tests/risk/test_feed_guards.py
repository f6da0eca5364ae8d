"""A quote feeds the StormGuard of every strategy with a leg on its instrument, in strategy-id order (the
quote keeps that list, ``Quote.strategies``, instead of rebuilding it from its legs on every quote: a leg
opened later must join it)."""

from __future__ import annotations

from workbench.risk.types import Side


def test_a_quote_updates_every_strategy_on_the_instrument_in_id_order(rk):
    gate = rk.make_gate()
    # MM-002's leg first, LT-001's second: creation order is not the guards' order
    for n, sid in enumerate(("MM-002", "LT-001")):
        assert gate.on_fill(f"f{n}", None, rk.T0, 1000.0, 100.0, strategy_id=sid, instrument_id=rk.SPY,
                            side=Side.BUY)
    assert gate.book.quote(rk.SPY).strategies == ("LT-001", "MM-002")
    mid = 100.0
    for k in range(1, 8):  # down 1% a quote (within the bad-tick band): -7,000 per strategy at the end
        mid *= 0.99
        assert gate.on_quote(rk.SPY, rk.T0 + k * rk.MS, round(mid - 0.01, 2), round(mid + 0.01, 2))
    storm = [(e.scope, e.new) for e in gate.events if e.kind == "STORMGUARD"]
    strategies = [s for s, _ in storm if s != "GLOBAL"]
    assert strategies[:2] == ["LT-001", "MM-002"]  # both guards moved (WARM), on the same quote, in id order
    assert gate.guards["LT-001"].state == gate.guards["MM-002"].state != gate.guards["LT-001"].state.NORMAL
    assert ("GLOBAL", "WARM") in storm
