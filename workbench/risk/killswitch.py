"""Kill switch and operator actions of the gate (mixed into :class:`~workbench.risk.gate.RiskGate`).

Every method takes the gate's lock, so activation is one point in the gate's total order: decisions
ordered after it see HALT. Events and cancel-all decisions are queued and delivered by
``_dispatch`` after the lock is released.
"""

from __future__ import annotations

import time

from workbench.risk.stormguard import StormGuard
from workbench.risk.types import Action, OrderIntent, RiskDecision, Side, StormState, exact_decimal

_HALT = StormState.HALT


class OperatorActions:
    """StormGuard transitions, kill switch (halt + cancel-all), reset, enable/disable."""

    def _transition(self, guard: StormGuard, change, ts: int, why: str) -> None:
        if change is None:
            return
        old, new = change
        reason = guard.halt_reason if new is _HALT else why
        self._emit(
            "STORMGUARD",
            guard.scope,
            old.name,
            new.name,
            reason,
            ts,
            {"drawdown_pct": guard.drawdown_pct, "pnl": guard.pnl},
        )
        if self.metrics is not None:
            self.metrics.storm[guard.scope] = int(new)
        if new is _HALT:
            if guard.scope == "GLOBAL":
                self.halt_seq = self._seq
            self._pending.append(("cancel", self._cancel_all(guard.scope, ts)))

    def _cancel_all(self, scope: str, ts: int) -> list[RiskDecision]:
        out = []
        for coid, o in sorted(self.book.orders.items()):
            if scope in ("GLOBAL", o.strategy):
                self._sys_seq += 1
                intent = OrderIntent.new(
                    o.strategy,
                    o.instrument,
                    Side.BUY if o.sign > 0 else Side.SELL,
                    exact_decimal(o.remaining, 1e-9),
                    None,
                    ts_event=ts,
                    seq=self._sys_seq,
                    action=Action.CANCEL,
                    target_id=coid,
                    tag="KILL_SWITCH",
                )
                t0 = time.perf_counter_ns()
                d = self._evaluate(intent)
                if self.metrics is not None:
                    self.metrics.observe(d.verdict, d.reasons, time.perf_counter_ns() - t0)
                out.append(d)
        return out

    def halt(
        self, reason: str, scope: str = "GLOBAL", ts: int | None = None, by: str = "operator"
    ) -> list[RiskDecision]:
        """Activate the kill switch for ``scope`` now; returns the cancel-all decisions."""
        if not reason:
            raise ValueError("halt: a reason is required")
        with self._lock:
            ts = self._market_ts if ts is None else ts
            g = self.global_guard if scope == "GLOBAL" else self.guards.setdefault(scope, StormGuard(scope))
            self._transition(g, g.halt(f"{by}: {reason}"), ts, reason)
            cancels = [d for kind, ds in self._pending if kind == "cancel" for d in ds]
        self._dispatch()
        return cancels

    def reset(self, reason: str, scope: str = "GLOBAL", ts: int | None = None, by: str = "operator") -> None:
        """Operator reset of a scope to NORMAL (the only way out of HALT). A reason is mandatory."""
        if not reason:
            raise ValueError("reset: a reason is required")
        with self._lock:
            ts = self._market_ts if ts is None else ts
            g = self.global_guard if scope == "GLOBAL" else self.guards.setdefault(scope, StormGuard(scope))
            change = g.reset()
            if change is not None:
                self._emit(
                    "STORMGUARD", scope, change[0].name, change[1].name, f"reset by {by}: {reason}", ts
                )
                if self.metrics is not None:
                    self.metrics.storm[scope] = 0
                if scope == "GLOBAL":
                    self.halt_seq = None
        self._dispatch()

    def is_enabled(self, strategy_id: str) -> bool:
        """The operator's switch for the strategy, else its config default (unknown strategies: False)."""
        strat = self.config.spec.strategies.get(strategy_id)
        return self._enabled.get(strategy_id, strat.enabled if strat is not None else False)

    def set_enabled(self, strategy_id: str, enabled: bool, reason: str, by: str = "operator") -> None:
        with self._lock:
            self._enabled[strategy_id] = enabled
            self._emit(
                "STRATEGY",
                strategy_id,
                "",
                "ENABLED" if enabled else "DISABLED",
                f"{by}: {reason}",
                self._market_ts,
            )
        self._dispatch()
