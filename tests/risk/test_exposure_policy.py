"""Exposure book, the policy decision table, calendar regimes and derisk playbooks."""

import math

import pandas as pd
import pytest

from workbench.risk.config import config_from_dict
from workbench.risk.exposure import Book
from workbench.risk.policy import RegimeClock, decide, derisk_intents
from workbench.risk.types import PolicyMode, Side


def _ts(text: str) -> int:
    return int(pd.Timestamp(text, tz="America/New_York").tz_convert("UTC").value)


def _book(rk, cfg, legs):
    """legs: (strategy, instrument, pos, px)."""
    b = Book(cfg.spec.equity)
    for n, (s, i, pos, px) in enumerate(legs):
        b.set_mark(i, rk.T0, px - 0.01, px + 0.01)
        leg = b.leg(s, i, cfg)
        b.apply_fill(f"f{n}", leg, 1 if pos > 0 else -1, abs(pos), px, None)
    return b


def test_gross_long_short_current_and_potential(rk):
    cfg = config_from_dict(rk.base_config())
    b = _book(rk, cfg, [("LT-001", rk.SPY, 1000, 100.0), ("MM-002", rk.QQQ, -500, 200.0)])
    assert b.gross_cur == pytest.approx(200_000) and b.long_cur == pytest.approx(100_000)
    assert b.short_cur == pytest.approx(100_000)
    leg = b.legs[("MM-002", rk.QQQ)]
    b.add_order(leg, "o1", "i1", -1, 300, 201.0, rk.T0)  # more short: potential grows
    b.add_order(leg, "o2", "i2", 1, 100, 199.0, rk.T0)  # a buy back does not
    assert b.gross_pot == pytest.approx(100_000 + 800 * 200.0)
    rep = b.snapshot(cfg)
    assert rep.gross_exposure_pct == pytest.approx(20.0) and rep.potential_exposure_pct == pytest.approx(26.0)
    assert rep.buckets["MM_PURE"]["potential_pct"] == pytest.approx(16.0)
    assert len(rep.to_frame()) == 2 and "gross 20.00%" in rep.summary()
    assert rep.plot().data  # plotly figure with traces


def test_partial_fills_realize_pnl_once_and_flip(rk):
    cfg = config_from_dict(rk.base_config())
    b = _book(rk, cfg, [("LT-001", rk.SPY, 100, 100.0)])
    leg = b.legs[("LT-001", rk.SPY)]
    assert b.apply_fill("x", leg, -1, 40, 101.0, None) and not b.apply_fill("x", leg, -1, 40, 101.0, None)
    assert leg.realized == pytest.approx(40.0) and leg.pos == 60
    b.apply_fill("y", leg, -1, 100, 102.0, None)  # closes 60 (+120), opens 40 short at 102
    assert leg.realized == pytest.approx(160.0) and leg.pos == -40 and leg.avg == 102.0


@pytest.mark.parametrize(
    "regime, gross, pot, mode, code",
    [
        ("OPEN", 120, 120, PolicyMode.NORMAL, "WITHIN"),  # seed A
        ("LATE", 115, 115, PolicyMode.SOFT_DERISK, "TOLERANCE"),  # seed B
        ("CLOSE", 110, 110, PolicyMode.HARD_DERISK, "TOLERANCE"),  # seed C
        ("OPEN", 131, 131, PolicyMode.HARD_DERISK, "HARD_CAP"),  # seed D
        ("MID", 85, 135, PolicyMode.THROTTLE_NEW_ORDERS, "POTENTIAL"),  # seed E
        ("OPEN", 126, 126, PolicyMode.THROTTLE_NEW_ORDERS, "POTENTIAL"),  # over tolerance, no derisk at OPEN
        ("MID", 119, 119, PolicyMode.NORMAL, "WITHIN"),
    ],
)
def test_decision_table_rows(rk, regime, gross, pot, mode, code):
    cfg = config_from_dict(
        rk.base_config(
            exposure={
                "buckets": {
                    "LT": {"target_pct": 80, "max_pct": 200},
                    "MM_PURE": {"target_pct": 20, "max_pct": 30},
                }
            }
        )
    )
    reg = next(r for r in cfg.spec.policy.regimes if r.name == regime)
    eq = cfg.spec.equity
    buckets = {"LT": [gross * eq / 100, pot * eq / 100]}
    assert decide(cfg, reg, eq, gross * eq / 100, pot * eq / 100, buckets) == (mode, code)


def test_bucket_rows(rk):
    cfg = config_from_dict(rk.base_config())
    eq = cfg.spec.equity
    mid = next(r for r in cfg.spec.policy.regimes if r.name == "MID")
    assert decide(cfg, mid, eq, 40_000, 40_000, {"MM_PURE": [310_000, 310_000]})[0] is PolicyMode.SOFT_DERISK
    assert decide(cfg, mid, eq, 40_000, 40_000, {"MM_PURE": [0, 310_000]}) == (
        PolicyMode.THROTTLE_NEW_ORDERS,
        "BUCKET_POTENTIAL",
    )


def test_regimes_follow_the_exchange_calendar_including_half_days(rk):
    clock = RegimeClock(config_from_dict(rk.base_config()))
    day = [("09:30", "OPEN"), ("09:50", "EARLY"), ("10:30", "MID"), ("15:46", "LATE"), ("15:58", "CLOSE")]
    for hhmm, name in day:
        assert clock.regime(_ts(f"2024-03-15 {hhmm}")).name == name
    # day after Thanksgiving: close 13:00, so LATE starts 12:45 and CLOSE 12:58
    assert clock.regime(_ts("2024-11-29 12:46")).name == "LATE"
    assert clock.regime(_ts("2024-11-29 12:59")).name == "CLOSE"
    assert clock.regime(_ts("2024-03-15 12:46")).name == "MID"
    assert clock.minutes_to_close(_ts("2024-11-29 12:46")) == pytest.approx(14.0)
    # outside the session and on a holiday: the configured outside_session regime
    assert clock.regime(_ts("2024-03-15 17:00")).name == "CLOSE"
    assert clock.regime(_ts("2024-12-25 11:00")).name == "CLOSE"
    assert math.isnan(clock.minutes_to_close(_ts("2024-12-25 11:00")))


def test_soft_playbook_quotes_near_touch_lowest_priority_first(rk):
    cfg = config_from_dict(
        rk.base_config(
            exposure={
                "buckets": {
                    "LT": {"target_pct": 80, "max_pct": 200},
                    "MM_PURE": {"target_pct": 20, "max_pct": 200},
                }
            }
        )
    )
    b = _book(rk, cfg, [("LT-001", rk.SPY, 10_000, 100.0), ("MM-002", rk.QQQ, -800, 200.0)])
    b.set_mark(rk.SPY, rk.T0, 99.95, 100.05)  # 10 cents wide
    b.set_mark(rk.QQQ, rk.T0, 199.90, 200.10)
    late = next(r for r in cfg.spec.policy.regimes if r.name == "LATE")  # tolerance 115; gross 116%
    out = derisk_intents(PolicyMode.SOFT_DERISK, cfg, b, late, rk.T0, 1)
    assert out[0].strategy_id == "MM-002" and out[0].side is Side.BUY  # priority 1 goes first
    assert float(out[0].price) == pytest.approx(199.91)  # bid + 1 tick, passive
    assert all(i.reduce_only and i.tag == "DERISK_SOFT" for i in out)
    reduced = sum(float(i.qty) * (100.0 if i.instrument_id == rk.SPY else 200.0) for i in out)
    assert reduced >= b.gross_cur - 114 / 100 * cfg.spec.equity - 1e-6  # back below tolerance - 1


def test_hard_playbook_crosses_in_10pct_chunks_and_does_not_stack(rk):
    cfg = config_from_dict(rk.base_config())
    b = _book(rk, cfg, [("LT-001", rk.SPY, 1001, 100.0)])
    close = next(r for r in cfg.spec.policy.regimes if r.name == "CLOSE")
    (first,) = derisk_intents(PolicyMode.HARD_DERISK, cfg, b, close, rk.T0, 1)
    assert first.side is Side.SELL and float(first.qty) == 101 and float(first.price) == 99.99  # hit the bid
    leg = b.legs[("LT-001", rk.SPY)]
    b.add_order(leg, "d1", first.intent_id, -1, 1001, 99.99, rk.T0)  # everything already working
    assert derisk_intents(PolicyMode.HARD_DERISK, cfg, b, close, rk.T0, 2) == []
    assert derisk_intents(PolicyMode.THROTTLE_NEW_ORDERS, cfg, b, close, rk.T0, 3) == []
