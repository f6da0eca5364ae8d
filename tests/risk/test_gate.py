"""The gate's decisions, one validator at a time, on a real (pure) gate."""

from decimal import Decimal

from workbench.risk.types import Action, PolicyMode, Reason, StormState, Verdict


def test_approve_records_validator_values_and_counts_exposure(rk):
    g = rk.make_gate()
    d = g.evaluate(rk.intent(qty=100, price="100.00"))
    assert d.verdict is Verdict.APPROVE and d.reasons == (Reason.OK,)
    assert d.approved_qty == Decimal(100) and d.client_order_id == d.intent.client_order_id
    assert d.values["band_limit_bps"] == 50 and d.values["max_order_qty"] == 1000
    assert d.values["regime"] == "MID" and d.config_version == 0
    assert g.book.gross_pot == 100 * 100.0 and g.book.gross_cur == 0.0


def test_price_band_against_the_touch(rk):
    g = rk.make_gate()
    ok = g.evaluate(rk.intent(price="100.50", seq=1))  # 49 bps through the ask 100.01
    bad = g.evaluate(rk.intent(price="100.52", seq=2))  # 51 bps
    sell_bad = g.evaluate(rk.intent(side="SELL", price="99.48", seq=3))
    assert ok.approved and not bad.approved and not sell_bad.approved
    assert bad.reasons == (Reason.PRICE_BAND,) and bad.values["band_bps"] > 50


def test_size_is_clipped_to_qty_and_notional_limits(rk):
    g = rk.make_gate()
    d = g.evaluate(rk.intent(qty=5000, price="100.00"))
    # max_order_qty 1000, then max_order_notional 50_000 / 100 = 500
    assert d.verdict is Verdict.APPROVE_MODIFIED and d.approved_qty == Decimal(500)
    assert d.changes["qty"][0] == "5000" and Reason.SIZE_CLIPPED in d.reasons
    no_clip = rk.make_gate(rk.base_config(clip_to_limits=False))
    d2 = no_clip.evaluate(rk.intent(qty=5000, price="100.00"))
    assert d2.verdict is Verdict.REJECT and {Reason.MAX_ORDER_QTY, Reason.MAX_ORDER_NOTIONAL} <= set(
        d2.reasons
    )


def test_instrument_notional_and_position_limits_count_working_orders(rk):
    g = rk.make_gate()
    for k in range(3):
        assert g.evaluate(rk.intent(qty=500, price="100.00", seq=k)).approved  # 1500 working
    d = g.evaluate(rk.intent(qty=10, price="100.00", seq=9))
    assert not d.approved and Reason.POSITION_LIMIT in d.reasons and d.values["worst_position"] == 1510
    g2 = rk.make_gate()
    for k in range(3):
        g2.evaluate(rk.intent(instrument=rk.QQQ, qty=250, price="200.00", seq=k))  # 150k potential
    d2 = g2.evaluate(rk.intent(instrument=rk.QQQ, qty=250, price="200.00", seq=9))  # 200k > ... = 200k ok?
    assert d2.approved
    d3 = g2.evaluate(rk.intent(instrument=rk.QQQ, qty=1, price="200.00", seq=10))
    assert Reason.MAX_INSTRUMENT_NOTIONAL in d3.reasons


def test_rate_window_warns_then_blocks_in_exchange_time(rk):
    g = rk.make_gate(rk.base_config(rate={"window_s": 1, "soft_cap": 5, "warn_frac": 0.8}))
    ds = [g.evaluate(rk.intent(qty=1, price="99.00", seq=k, ts=rk.T0 + k * rk.MS)) for k in range(7)]
    assert [d.verdict for d in ds].count(Verdict.APPROVE) == 5
    assert Reason.RATE_LIMIT_WARN in ds[4].reasons and ds[5].reasons == (Reason.RATE_LIMIT,)
    later = g.evaluate(rk.intent(qty=1, price="99.00", seq=99, ts=rk.T0 + 2_000 * rk.MS))
    assert later.approved  # the window slid past


def test_duplicate_intent_never_makes_a_second_order(rk):
    g = rk.make_gate()
    i = rk.intent(qty=10)
    first, again = g.evaluate(i), g.evaluate(i)
    assert first.approved and again.verdict is Verdict.REJECT and again.reasons == (Reason.DUPLICATE_INTENT,)
    assert again.values["first_decision_seq"] == first.decision_seq
    assert len(g.book.orders) == 1
    # same fields, different sequence: a different wish, a different id
    assert rk.intent(qty=10, seq=2).intent_id != i.intent_id


def test_fills_apply_exactly_once(rk):
    g = rk.make_gate()
    d = g.evaluate(rk.intent(qty=100, price="100.02"))
    coid = d.client_order_id
    assert g.on_fill("T1", coid, rk.T0, 40, 100.01)
    assert not g.on_fill("T1", coid, rk.T0, 40, 100.01)  # replayed partial fill
    assert g.on_fill("T2", coid, rk.T0, 60, 100.01)
    leg = g.book.legs[("MM-002", rk.SPY)]
    assert leg.pos == 100 and leg.open_buy == 0 and coid not in g.book.orders


def test_cancel_and_modify_pass_the_gate(rk):
    g = rk.make_gate()
    d = g.evaluate(rk.intent(qty=100, price="99.00"))
    mod = g.evaluate(
        rk.intent(qty=300, price="99.10", action=Action.MODIFY, target_id=d.client_order_id, seq=2)
    )
    assert mod.approved and g.book.orders[d.client_order_id].remaining == 300
    assert mod.client_order_id == d.client_order_id
    bad_mod = g.evaluate(rk.intent(qty=5000, price="99.10", action=Action.MODIFY, target_id="nope", seq=3))
    assert bad_mod.reasons == (Reason.UNKNOWN_ORDER,)
    c = g.evaluate(rk.intent(qty=300, price=None, action=Action.CANCEL, target_id=d.client_order_id, seq=4))
    assert c.approved and c.reasons == (Reason.CANCEL_ALLOWED,)
    other = g.evaluate(
        rk.intent(
            strategy="LT-001", qty=1, price=None, action=Action.CANCEL, target_id=d.client_order_id, seq=5
        )
    )
    assert other.reasons == (Reason.UNKNOWN_ORDER,)  # a strategy cannot cancel another's order


def test_preconditions(rk):
    g = rk.make_gate()
    assert g.evaluate(rk.intent(strategy="ZZ-009")).reasons == (Reason.UNKNOWN_STRATEGY,)
    assert g.evaluate(rk.intent(instrument="IWM.XNAS")).reasons == (Reason.NO_MARKET_DATA,)
    assert g.evaluate(rk.intent(qty=0, seq=3)).reasons == (Reason.BAD_INTENT,)
    g.on_quote(rk.SPY, rk.T0 + 5_000 * rk.MS, 99.99, 100.01)
    assert g.evaluate(rk.intent(seq=4)).reasons == (Reason.STALE_INTENT,)  # 5 s behind the book
    g.set_enabled("MM-002", False, "test")
    assert g.evaluate(rk.intent(seq=5, ts=rk.T0 + 5_000 * rk.MS)).reasons == (Reason.STRATEGY_DISABLED,)


def _position(g, rk, strategy, qty, px="100.01"):
    d = g.evaluate(rk.intent(strategy=strategy, qty=qty, price=px, seq=qty))
    assert d.approved, d.summary()
    g.on_fill(f"F-{d.intent.intent_id}", d.client_order_id, rk.T0, float(d.approved_qty), float(px))


def test_stormguard_multiplier_shrinks_limits_and_halt_cancels_all(rk):
    g = rk.make_gate()
    _position(g, rk, "LT-001", 450)  # 45k long SPY
    rest = g.evaluate(rk.intent(strategy="MM-002", qty=10, price="99.00", seq=50))
    assert rest.approved
    cancelled = []
    g.cancel_handlers.append(cancelled.extend)
    g.on_quote(rk.SPY, rk.T0 + rk.MS, 87.99, 88.01)  # bad tick filter: held back
    assert g.global_guard.state is StormState.NORMAL
    for k in range(2, 5):  # confirmed: LT loses ~5.4k = -0.54%
        g.on_quote(rk.SPY, rk.T0 + k * rk.MS, 87.99, 88.01)
    assert g.guards["LT-001"].state is StormState.WARM
    d = g.evaluate(rk.intent(strategy="LT-001", qty=1000, price="88.01", ts=rk.T0 + 5 * rk.MS, seq=60))
    assert d.values["storm_multiplier"] == 0.5 and d.values["max_order_notional"] == 25_000
    assert d.approved_qty == Decimal(284)  # floor(25_000 / 88.01)
    g.halt("desk call", ts=rk.T0 + 6 * rk.MS)
    assert [c.intent.target_id for c in cancelled] == sorted(g.book.orders)
    assert all(c.approved and c.intent.tag == "KILL_SWITCH" for c in cancelled)
    after = g.evaluate(rk.intent(strategy="MM-002", qty=1, price="88.00", ts=rk.T0 + 7 * rk.MS, seq=70))
    assert after.reasons == (Reason.KILL_SWITCH,) and after.storm_state is StormState.HALT
    kinds = [(e.kind, e.scope, e.new) for e in g.events]
    assert ("STORMGUARD", "GLOBAL", "HALT") in kinds and ("BAD_TICK", rk.SPY, "88.0") in kinds


def test_reduce_only_states_and_policy_allow_reducing_orders(rk):
    cfg = rk.base_config(stormguard={"reduce_only_states": ["WARM", "STORM"]})
    g = rk.make_gate(cfg)
    _position(g, rk, "LT-001", 450)
    for k in range(1, 5):
        g.on_quote(rk.SPY, rk.T0 + k * rk.MS, 87.99, 88.01)
    assert g.guards["LT-001"].state is StormState.WARM
    more = g.evaluate(rk.intent(strategy="LT-001", qty=10, price="88.01", ts=rk.T0 + 5 * rk.MS, seq=1))
    less = g.evaluate(
        rk.intent(strategy="LT-001", side="SELL", qty=100, price="87.99", ts=rk.T0 + 5 * rk.MS, seq=2)
    )
    assert more.reasons == (Reason.STORM_REDUCE_ONLY,) and less.approved and less.values["reducing"]


def test_policy_throttle_rejects_increasing_orders_only(rk):
    cfg = rk.base_config(
        defaults={
            "max_order_qty": 100000,
            "max_order_notional": 10_000_000,
            "max_instrument_notional": 10_000_000,
            "max_position_qty": 100000,
            "price_band_bps": 50,
        },
        exposure={
            "buckets": {
                "LT": {"target_pct": 80, "max_pct": 130},
                "MM_PURE": {"target_pct": 20, "max_pct": 40},
            }
        },
    )
    g = rk.make_gate(cfg)
    _position(g, rk, "LT-001", 11_000)  # 110% gross
    d = g.evaluate(rk.intent(strategy="LT-001", qty=1000, price="100.01", seq=7))  # potential 120% >= 120
    assert d.reasons == (Reason.POLICY_THROTTLE,) and d.values["potential_gross_pct"] >= 120
    assert g.mode is PolicyMode.NORMAL
    sell = g.evaluate(rk.intent(strategy="LT-001", side="SELL", qty=1000, price="99.99", seq=8))
    assert sell.approved
