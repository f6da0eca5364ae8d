"""Commands recorded offline (no node running) are in force when a gate + ControlChannel start."""

from workbench.ops.control import ControlChannel
from workbench.risk.control import issue
from workbench.store import Store


def test_offline_halt_is_in_force_at_start_and_later_reset_clears_it(rk, tmp_path):
    with Store.open(str(tmp_path / "wb.duckdb")) as store:
        issue(store, "halt", "GLOBAL", "fat finger", "ops")
        issue(store, "disable", "MM-002", "review", "ops")
        gate = rk.make_gate()
        ch = ControlChannel(gate, store)
        assert gate.evaluate(rk.intent(strategy="LT-001")).reasons[0] == "KILL_SWITCH"
        assert ch.sync() == 2  # nothing applied twice
        issue(store, "reset", "GLOBAL", "cleared", "ops")
        gate2 = rk.make_gate()
        ControlChannel(gate2, store)
        assert gate2.global_guard.state.name == "NORMAL"
        assert gate2.evaluate(rk.intent(strategy="LT-001", seq=2)).approved
        assert gate2.evaluate(rk.intent(strategy="MM-002", seq=3)).reasons[0] == "STRATEGY_DISABLED"
