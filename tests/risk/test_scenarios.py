"""Every data-driven scenario, through the pure gate and through a real nautilus backtest."""

import dataclasses

import pytest

from workbench.engine.gated_scenarios import run_scenario_backtest
from workbench.risk.scenario import Scenario, all_scenarios, run_pure

SCENARIOS = all_scenarios()
RUNNERS = {"pure": run_pure, "nautilus": run_scenario_backtest}


def test_the_seed_and_extra_scenarios_are_all_there():
    names = " ".join(s.name for s in SCENARIOS)
    for key in ("A:", "B:", "C:", "D:", "E:", "burst", "starvation", "Hot reload", "Duplicate"):
        assert key in names


@pytest.mark.parametrize("mode", sorted(RUNNERS))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.path.stem for s in SCENARIOS])
def test_scenario_passes(scenario: Scenario, mode: str):
    result = RUNNERS[mode](scenario)
    assert result.passed, result.line()
    if mode == "nautilus":
        rec = result.extra["reconciliation"]
        assert rec["orders"] > 0
        assert rec["unapproved_orders"] == rec["unapproved_cancels"] == rec["unapproved_modifies"] == 0


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_a_wrong_expectation_fails(mode: str):
    a = next(s for s in SCENARIOS if s.name.startswith("A:"))
    steps = list(a.steps)
    steps[-1] = {**steps[-1], "expect": {"policy_mode": "HARD_DERISK", "derisk": {"min": 1}}}
    result = RUNNERS[mode](dataclasses.replace(a, steps=tuple(steps)))
    assert not result.passed and "policy mode NORMAL != HARD_DERISK" in result.line()
    assert result.line().startswith("FAIL")
