"""StormGuard: a drawdown-driven state machine per strategy and for the whole book, plus the bad-tick
filter that stops a single wrong print from tripping it.

States escalate NORMAL -> WARM -> STORM -> HALT as the drawdown from the high-water mark (in % of the
scope's capital) crosses the configured thresholds; a big loss may jump straight to HALT. They
de-escalate only after the drawdown recovers past a threshold *plus a hysteresis*, so a PnL hovering on
a threshold does not flap. HALT never de-escalates by itself: it is the kill switch and needs
:meth:`StormGuard.reset` with a reason. A reset re-bases the high-water mark to the PnL at that moment,
otherwise the same drawdown would re-trip the switch on the next tick.
"""

from __future__ import annotations

from workbench.risk.config import BadTickSpec, StormSpec
from workbench.risk.types import StormState

_NORMAL, _WARM, _STORM, _HALT = StormState.NORMAL, StormState.WARM, StormState.STORM, StormState.HALT


def level_for(drawdown_pct: float, spec: StormSpec) -> StormState:
    # written as `not dd > threshold` so a NaN drawdown (bad P&L or capital) maps to HALT, not NORMAL
    if not drawdown_pct > spec.halt_pct:
        return _HALT
    if not drawdown_pct > spec.storm_pct:
        return _STORM
    if not drawdown_pct > spec.warm_pct:
        return _WARM
    return _NORMAL


class StormGuard:
    """The FSM of one scope ("GLOBAL" or a strategy id). Mutated only under the gate's lock."""

    __slots__ = ("scope", "state", "peak_pnl", "pnl", "drawdown_pct", "halt_reason")

    def __init__(self, scope: str):
        self.scope = scope
        self.state = _NORMAL
        self.peak_pnl = 0.0
        self.pnl = 0.0
        self.drawdown_pct = 0.0
        self.halt_reason = ""

    def update(self, pnl: float, capital: float, spec: StormSpec) -> tuple[StormState, StormState] | None:
        """Feed the scope's PnL; returns (old, new) when the state changes."""
        self.pnl = pnl
        if pnl > self.peak_pnl:
            self.peak_pnl = pnl
        dd = (pnl - self.peak_pnl) / capital * 100.0
        self.drawdown_pct = dd
        old = self.state
        if old is _HALT:
            return None
        target = level_for(dd, spec)
        if target > old:
            new = target
        else:
            # De-escalate only once the drawdown is clear of the threshold by the hysteresis.
            new = max(target, level_for(dd - spec.recover_hysteresis_pct, spec))
            if new >= old:
                return None
        self.state = new
        if new is _HALT:
            self.halt_reason = f"drawdown {dd:.3f}% <= {spec.halt_pct}%"
        return old, new

    def halt(self, reason: str) -> tuple[StormState, StormState] | None:
        old = self.state
        if old is _HALT:
            return None
        self.state = _HALT
        self.halt_reason = reason
        return old, _HALT

    def reset(self) -> tuple[StormState, StormState] | None:
        old = self.state
        self.state = _NORMAL
        self.peak_pnl = self.pnl
        self.drawdown_pct = 0.0
        self.halt_reason = ""
        return (old, _NORMAL) if old is not _NORMAL else None


class BadTickFilter:
    """Rejects a quote whose mid jumps more than ``max_jump_bps`` from the last accepted mid until the
    new level is confirmed by ``confirm_ticks`` consecutive quotes near it, or persists for
    ``confirm_window_ms`` of exchange time. Crossed or non-positive quotes are always rejected.
    """

    __slots__ = ("last_mid", "pend_mid", "pend_ts", "pend_count", "last_raw", "last_ok")

    def __init__(self):
        self.last_raw: tuple | None = None
        self.last_ok = False
        self.last_mid = 0.0
        self.pend_mid = 0.0
        self.pend_ts = 0
        self.pend_count = 0

    def accept(self, ts: int, bid: float, ask: float, spec: BadTickSpec) -> bool:
        if not (0.0 < bid <= ask):
            return False
        mid = (bid + ask) * 0.5
        last = self.last_mid
        limit = spec.max_jump_bps * 1e-4
        if last == 0.0 or abs(mid / last - 1.0) <= limit:
            self.last_mid = mid
            self.pend_count = 0
            return True
        if self.pend_count and abs(mid / self.pend_mid - 1.0) <= limit:
            self.pend_count += 1
            if self.pend_count >= spec.confirm_ticks or ts - self.pend_ts >= spec.confirm_window_ms * 1e6:
                self.last_mid = mid
                self.pend_count = 0
                return True
            return False
        # A new suspect level: start confirming it (one tick may already be enough if configured so).
        self.pend_mid, self.pend_ts, self.pend_count = mid, ts, 1
        if spec.confirm_ticks <= 1:
            self.last_mid = mid
            self.pend_count = 0
            return True
        return False
