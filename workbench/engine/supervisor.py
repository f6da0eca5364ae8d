"""``RiskSupervisor``: the cross-strategy duties of the risk gate inside nautilus (split out of
``workbench.engine.gated``, which re-exports it).

It runs the derisk playbook on market time and routes its intents to the owning strategies (so they are
gated like any intent), executes kill-switch cancel-alls, and mirrors the kill switch into nautilus' own
``TradingState`` (HALTED on a global HALT, REDUCING while the global StormGuard state is reduce-only,
ACTIVE after an operator reset) as the last line of defence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import TradingState
from nautilus_trader.model.identifiers import InstrumentId

from workbench.risk.gate import RiskGate
from workbench.risk.types import RiskDecision, RiskEvent, StormState

if TYPE_CHECKING:  # gated.py imports this module (and re-exports RiskSupervisor)
    from workbench.engine.gated import GatedStrategy


class RiskSupervisor(Actor):
    """Derisk playbook on market time, kill-switch cancel-all, and nautilus ``TradingState`` mirroring. On a
    live node also ``adopt`` at start: a restart's reconciled working orders booked into the gate."""

    def __init__(
        self,
        gate: RiskGate,
        strategies: list[GatedStrategy],
        *,
        risk_engine=None,
        instrument_ids: list[str] | None = None,
        derisk_interval_ms: int = 1000,
        adopt: Callable[[RiskSupervisor], list[str]] | None = None,
    ):
        super().__init__(ActorConfig(component_id="RiskSupervisor"))
        self.gate = gate
        self.strategies = {s.id.value: s for s in strategies}
        self.risk_engine = risk_engine
        self.instrument_ids = sorted(instrument_ids or [])
        self.interval_ns = derisk_interval_ms * 1_000_000
        self._next_derisk = 0
        self.derisk_decisions: list[RiskDecision] = []
        self.trading_states: list[tuple[int, str]] = []
        # a live node's (workbench/node/recovery.py adopt_reconciled): books what reconciliation gave the
        # strategies into the gate at start; returns one line per item (kept in ``adopted``)
        self.adopt = adopt
        self.adopted: list[str] = []
        gate.listeners.append(self._on_risk_event)
        gate.cancel_handlers.append(self._on_cancel_all)

    def on_start(self):
        # actors start before strategies, and a live node starts the trader only after reconciliation
        self.adopted = self.adopt(self) if self.adopt is not None else []
        if self.adopted:
            self.log.warning(f"adopted from the broker's reconciled state: {self.adopted}")
        for iid in self.instrument_ids:
            # the strategies' tick-by-tick BidAsk stream (docs/node.md): IB's default reqMktData would add
            # a second stream of one quote per field update, stamped with the node's wall clock
            self.subscribe_quote_ticks(InstrumentId.from_str(iid), params={"batch_quotes": False})

    def on_quote_tick(self, tick: QuoteTick):
        self.gate.on_quote_tick(tick)  # once per tick with the strategies' feed (RiskGate.on_quote_tick)
        ts = tick.ts_event
        if ts >= self._next_derisk:  # run_derisk's own test, here: no call on the quotes between steps
            self.run_derisk(ts)

    def run_derisk(self, ts: int) -> list[RiskDecision]:
        """One playbook step (at most one per ``derisk_interval_ms`` of exchange time): its intents go
        to the owning strategies and through the gate. Returns the decisions."""
        if ts < self._next_derisk:
            return []
        self._next_derisk = ts + self.interval_ns
        out = []
        for intent in self.gate.derisk(ts):
            strategy = self.strategies.get(intent.strategy_id)
            if strategy is not None:
                out.append(strategy.submit_intent(intent))
        self.derisk_decisions.extend(out)
        return out

    def _on_cancel_all(self, decisions: list[RiskDecision]) -> None:
        for d in decisions:
            strategy = self.strategies.get(d.intent.strategy_id)
            if strategy is not None and d.approved:
                strategy.decisions.append(d)
                strategy._perform(d)

    def _on_risk_event(self, e: RiskEvent) -> None:
        if e.kind != "STORMGUARD" or e.scope != "GLOBAL" or self.risk_engine is None:
            return
        new = StormState[e.new]
        if new is StormState.HALT:
            state = TradingState.HALTED
        elif int(new) in self.gate.config.reduce_only:
            state = TradingState.REDUCING
        else:
            state = TradingState.ACTIVE
        self.risk_engine.set_trading_state(state)
        self.trading_states.append((e.ts_event, state.name))
