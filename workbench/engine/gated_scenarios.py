"""Risk scenarios through a real nautilus ``BacktestEngine`` (the ``nautilus`` mode of
``wb risk scenarios``): quotes are engine data, scripted intents become nautilus orders via
``GatedStrategy``, and every order, cancel and modify is reconciled against recorded approvals."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, TradingState
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider

from workbench.engine.gated import GatedStrategy, RiskSupervisor, strategy_config
from workbench.engine.reconcile import reconcile
from workbench.risk.gate import RiskGate
from workbench.risk.scenario import ScenarioDriver, ScenarioResult, new_gate, quote_of


class ScenarioStrategy(GatedStrategy):
    """A strategy whose decisions come from a scenario script (the director calls ``submit_intent``)."""

    def __init__(self, strategy_id: str, gate: RiskGate, instrument_ids: list[str]):
        super().__init__(strategy_config(strategy_id), gate)
        self._instrument_ids = instrument_ids

    def on_start(self):
        for iid in self._instrument_ids:
            self.subscribe_quote_ticks(InstrumentId.from_str(iid))


class ScenarioDirector(Actor):
    """Fires scenario actions from clock alerts, 1 µs after the quotes of their time were delivered."""

    def __init__(self, actions: list[tuple[int, Callable[[int], None]]]):
        super().__init__(ActorConfig(component_id="ScenarioDirector"))
        self._actions = actions

    def on_start(self):
        for n, (ts, _) in enumerate(self._actions):
            self.clock.set_time_alert_ns(f"scenario-{n:05d}", ts, self._fire)

    def _fire(self, event):
        n = int(event.name.rsplit("-", 1)[1])
        self._actions[n][1](event.ts_event)


def run_scenario_backtest(scenario) -> ScenarioResult:
    """Run a :class:`~workbench.risk.scenario.Scenario` through a real nautilus ``BacktestEngine``:
    quotes are engine data, intents become nautilus orders via ``GatedStrategy``, fills come from the
    simulated venue, the kill switch drives nautilus' ``TradingState``. Adds the reconciliation check
    (0 unapproved orders, cancels and modifies)."""
    gate, registry = new_gate(scenario)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    venue = Venue("XNAS")
    engine.add_venue(
        venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(scenario.config["equity"], USD)],
        default_leverage=Decimal(4),
    )
    instruments = {
        iid: TestInstrumentProvider.equity(iid.split(".")[0], iid.split(".")[1])
        for iid in scenario.instruments
    }
    for inst in instruments.values():
        engine.add_instrument(inst)
    strategies = [ScenarioStrategy(sid, gate, scenario.instruments) for sid in scenario.strategies]
    by_id = {s.id.value: s for s in strategies}
    supervisor = RiskSupervisor(gate, strategies, risk_engine=engine.kernel.risk_engine, derisk_interval_ms=0)
    driver = ScenarioDriver(
        scenario,
        gate,
        registry,
        submit=lambda i: by_id[i.strategy_id].submit_intent(i),
        derisk=lambda ts: supervisor.run_derisk(ts),
        trading_state=lambda: TradingState(engine.kernel.risk_engine.trading_state).name,
    )
    ticks, actions = [], []
    mids = dict(scenario.mids)

    def tick(iid: str, ts: int, value) -> None:
        bid, ask = quote_of(value)
        inst = instruments[iid]
        ticks.append(
            QuoteTick(
                inst.id,
                inst.make_price(bid),
                inst.make_price(ask),
                Quantity.from_int(1_000_000),
                Quantity.from_int(1_000_000),
                ts,
                ts,
            )
        )

    for i, step in enumerate(scenario.steps):
        ts = scenario.ts(step["at"])
        repeat = int(step.get("repeat", 1))
        for k in range(repeat):
            for iid, mid in sorted((step.get("quote") or {}).items()):
                mids[iid] = mid
                tick(iid, ts + k * 1_000_000, mid)
        if not step.get("quote"):
            for iid in scenario.instruments:
                tick(iid, ts, mids[iid])
        ts += (repeat - 1) * 1_000_000
        if "burst" in step:
            b = step["burst"]
            times = driver.burst_times(step, ts)
            for k, t in enumerate(times):
                if k < len(b.get("path", [])):
                    tick(b["path_instrument"], t, b["path"][k])
                actions.append((t + 1_000, lambda t, i=i, step=step, k=k: driver.burst_intent(i, step, k, t)))
            actions.append((times[-1] + 2_000, lambda t, i=i, step=step: driver.burst_finish(i, step)))
        else:
            actions.append((ts + 1_000, lambda t, i=i, step=step: driver.run_step(i, step, t)))
    engine.add_data(ticks)
    for s in strategies:
        engine.add_strategy(s)
    engine.add_actor(supervisor)
    engine.add_actor(ScenarioDirector(actions))
    engine.run(end=pd.Timestamp(actions[-1][0] + 10**9, tz="UTC"))
    driver.final_checks()
    decisions = [d for s in strategies for d in s.decisions]
    rec = reconcile(engine.cache.orders(), decisions)
    failures = list(driver.failures) + [
        f"reconciliation: {k}={v}" for k, v in rec.items() if k != "orders" and v
    ]
    engine.dispose()
    # Nautilus' Cython components are invisible to the cycle collector; cut our links into them so the
    # in-memory DuckDB connection is really released.
    registry.con.close()
    registry.con = registry.store = registry.gate = None
    gate.listeners.clear()
    gate.cancel_handlers.clear()
    return ScenarioResult(
        scenario.name, "nautilus", tuple(failures), len(driver.all), {"reconciliation": rec}
    )
