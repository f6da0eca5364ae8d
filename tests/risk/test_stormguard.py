from workbench.risk.config import BadTickSpec, StormSpec
from workbench.risk.stormguard import BadTickFilter, StormGuard
from workbench.risk.types import StormState as S

SPEC = StormSpec()  # -0.5 / -1.0 / -1.5, hysteresis 0.1
CAP = 1_000_000.0


def test_escalates_through_states_and_can_jump_to_halt():
    g = StormGuard("X")
    assert g.update(-4_000, CAP, SPEC) is None
    assert g.update(-5_000, CAP, SPEC) == (S.NORMAL, S.WARM)
    assert g.update(-10_000, CAP, SPEC) == (S.WARM, S.STORM)
    g2 = StormGuard("Y")
    assert g2.update(-20_000, CAP, SPEC) == (S.NORMAL, S.HALT)
    assert "drawdown" in g2.halt_reason


def test_drawdown_is_from_the_high_water_mark():
    g = StormGuard("X")
    g.update(20_000, CAP, SPEC)
    assert g.update(14_000, CAP, SPEC) == (S.NORMAL, S.WARM)  # -0.6% from the peak, still +1.4% on the day
    assert abs(g.drawdown_pct + 0.6) < 1e-9


def test_hysteresis_prevents_flapping():
    g = StormGuard("X")
    g.update(-5_000, CAP, SPEC)
    assert g.state is S.WARM
    assert g.update(-4_500, CAP, SPEC) is None  # -0.45% is inside the hysteresis band
    assert g.update(-3_900, CAP, SPEC) == (S.WARM, S.NORMAL)


def test_halt_is_sticky_until_reset_which_rebases():
    g = StormGuard("X")
    g.update(-16_000, CAP, SPEC)
    assert g.state is S.HALT
    assert g.update(50_000, CAP, SPEC) is None and g.state is S.HALT
    assert g.reset() == (S.HALT, S.NORMAL)
    assert g.update(45_000, CAP, SPEC) == (S.NORMAL, S.WARM)  # measured from the PnL at reset (50k)


def test_operator_halt():
    g = StormGuard("X")
    assert g.halt("manual") == (S.NORMAL, S.HALT)
    assert g.halt("again") is None


def test_bad_tick_needs_confirmation_by_ticks():
    spec = BadTickSpec(max_jump_bps=100, confirm_ticks=3, confirm_window_ms=10_000)
    f = BadTickFilter()
    assert f.accept(0, 99.99, 100.01, spec)
    assert not f.accept(1, 89.99, 90.01, spec)  # -10%: suspect
    assert f.accept(2, 100.00, 100.02, spec)  # back to normal: the print was a bad tick
    assert not f.accept(3, 89.99, 90.01, spec)
    assert not f.accept(4, 90.00, 90.02, spec)
    assert f.accept(5, 89.98, 90.00, spec)  # third tick at the new level confirms it
    assert abs(f.last_mid - 89.99) < 1e-9


def test_bad_tick_confirmed_by_time_window_and_crossed_quotes_rejected():
    spec = BadTickSpec(max_jump_bps=100, confirm_ticks=10, confirm_window_ms=500)
    f = BadTickFilter()
    assert f.accept(0, 99.99, 100.01, spec)
    assert not f.accept(1_000_000, 109.99, 110.01, spec)
    assert f.accept(600_000_000, 110.0, 110.02, spec)  # persisted 599 ms >= 500 ms window
    assert not f.accept(700_000_000, 110.05, 110.0, spec)  # crossed
    assert not f.accept(800_000_000, 0.0, 110.0, spec)
