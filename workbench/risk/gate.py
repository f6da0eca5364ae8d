"""The risk gate: the one place an order intent becomes (or does not become) an order.

Ordering guarantee
------------------
Every mutation (quote, fill, order closed, kill switch, reset, enable/disable, config swap) and every
decision runs under one lock, so they form a single total order — the gate is *linearizable*. A
decision sees exactly the events that precede it in that order, and nothing that follows. In a
backtest that order is the engine's event order; live, it is the order the node's event loop hands
events to the gate. An intent is evaluated against the market state as of its ``ts_event``: quotes
carry exchange time, and an intent older than the newest applied quote by more than
``max_intent_lag_ms`` is rejected (``STALE_INTENT``) rather than judged against a book it never saw.

Kill switch: the global HALT flag is checked first in :meth:`RiskGate.evaluate` under that lock, and
activation sets it under the same lock, so no approval can be ordered after the activation point.
The config is one immutable object captured once per decision; a swap replaces the reference and
rewrites the config numbers the compiled chain reads from the book (``Book.configure``), both under
the lock, so a decision sees the old or the new config, never a mix.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from fastrlock.rlock import FastRLock

from workbench.risk import layout as lay
from workbench.risk._core import GateCore
from workbench.risk.budget import SharedBudget
from workbench.risk.config import CompiledConfig
from workbench.risk.exposure import Book
from workbench.risk.feed import MarketEvents
from workbench.risk.journal import Journal
from workbench.risk.kernels import chain, chain_c, count_rate, count_rate_c, policy
from workbench.risk.killswitch import OperatorActions
from workbench.risk.layout import CODES
from workbench.risk.metrics import RiskMetrics
from workbench.risk.outcome import reasons_of
from workbench.risk.policy import RegimeClock, derisk_intents, explain
from workbench.risk.stormguard import BadTickFilter, StormGuard
from workbench.risk.types import (
    OrderIntent,
    PolicyMode,
    Reason,
    RiskDecision,
    RiskEvent,
    Verdict,
)


def entry(kernel):
    """The compiled entry point of a single-signature kernel. Calling it skips numba's per-call type
    dispatch, about 0.4 us with a dozen arguments, which is most of a decision's budget; the caller
    guarantees the argument types (C-contiguous float64/int64 arrays, Python ints and floats). Under
    ``NUMBA_DISABLE_JIT`` there is nothing compiled and the plain function is returned."""
    overloads = getattr(kernel, "overloads", None)
    if not overloads:
        return getattr(kernel, "py_func", kernel)
    return next(iter(overloads.values())).entry_point


_APPROVE, _MODIFIED, _REJECT = Verdict.APPROVE, Verdict.APPROVE_MODIFIED, Verdict.REJECT
_MODES = tuple(PolicyMode)
_OK = (Reason.OK,)
# Events that must reach the journal at once, not at the next batch flush.
_DURABLE = frozenset({"STORMGUARD", "CONFIG", "STRATEGY"})
_CHAIN = entry(chain)
_COUNT_RATE = entry(count_rate)
# the C entries the compiled gate calls by address (none under NUMBA_DISABLE_JIT: the callables above)
_CHAIN_C = chain_c.address if chain_c is not None else 0
_COUNT_RATE_C = count_rate_c.address if count_rate_c is not None else 0


class RiskGate(GateCore, OperatorActions, MarketEvents):
    """Owns the risk state and decides on intents. See the module docstring for the guarantees.

    ``listeners`` receive every :class:`RiskEvent`; ``cancel_handlers`` receive the approved CANCEL
    decisions a kill switch produces (the runner executes them). Both are called *after* the lock is
    released, so a handler may call back into the gate.

    The per-decision path allocates no object the cyclic GC tracks (decisions, intents and open
    orders are untracked structs, values are bytes, reason tuples are shared), so collections during
    trading only see the few objects the market events create and stay in the microseconds.
    """

    def __init__(
        self,
        config: CompiledConfig,
        *,
        journal: Journal | None = None,
        metrics: RiskMetrics | None = None,
        wall_clock: Callable[[], int] = time.time_ns,
    ):
        # re-entrant like threading.RLock, at a third of the cost when uncontended (every decision takes it)
        self._lock = FastRLock()
        self._activate(config, RegimeClock(config))
        self.book = Book(config.spec.equity)
        self.book.configure(config)
        self.journal = journal
        self.metrics = metrics
        self.wall = wall_clock
        self.global_guard = StormGuard("GLOBAL")
        self.guards: dict[str, StormGuard] = {}
        self.filters: dict[str, BadTickFilter] = {}
        self.budget = SharedBudget(self.book)
        # intent id -> (first decision_seq << 2 | verdict): one int per intent, nothing for the GC.
        self._decided: dict[str, int] = {}
        self._enabled: dict[str, bool] = {}
        self._seq = 0
        self._sys_seq = 0
        self._market_ts = 0
        self.mode = PolicyMode.NORMAL
        self.halt_seq: int | None = None
        self.events: deque[RiskEvent] = deque(maxlen=10_000)
        self.listeners: list[Callable[[RiskEvent], None]] = []
        self.cancel_handlers: list[Callable[[list[RiskDecision]], None]] = []
        self._pending: list = []
        self._bind_kernels(_CHAIN, _CHAIN_C, _COUNT_RATE, _COUNT_RATE_C)  # the compiled kernels and C entries

    # -- configuration -------------------------------------------------------------------------------
    @property
    def config(self) -> CompiledConfig:
        return self._active[0]

    def swap_config(self, config: CompiledConfig, ts: int = 0) -> None:
        """Atomically replace the config (validated, versioned by the caller: see ``hotconfig``)."""
        with self._lock:
            old = self._active[0]
            self._activate(config, RegimeClock(config))
            self.book.configure(config)
            self._emit(
                "CONFIG",
                "GLOBAL",
                f"v{old.version}",
                f"v{config.version}",
                "config applied",
                ts,
                {"hash": config.content_hash},
            )
        self._dispatch()

    # -- decisions: evaluate / _evaluate / _reject are compiled in GateCore (_core.pyx) --------------
    def _outcome(self, cfg: CompiledConfig, res: int) -> tuple:
        """(status, verdict, reasons, mode) of a chain result word, cached per config."""
        bits = res & lay.OUTCOME
        if bits & lay.REJECTS:
            verdict = _REJECT
        else:
            verdict = _MODIFIED if bits & lay.CLIPPED else _APPROVE
        reasons = reasons_of(cfg.validators, bits) or _OK
        mode = _MODES[(bits >> lay.MODE_SHIFT) & 3]
        out = cfg.outcomes[bits] = ((bits >> lay.STATUS_SHIFT) & 3, verdict, reasons, mode)
        return out

    def _early_reject(self, intent, status: int, storm) -> RiskDecision:
        if status == lay.ST_NO_MARKET_DATA:
            return self._reject(intent, Reason.NO_MARKET_DATA, storm)
        if status == lay.ST_REDUCE_ONLY:
            return self._reject(
                intent, Reason.INVALID_INTENT, storm, {"reduce_only": "would not reduce the position"}
            )
        return self._reject(intent, Reason.STORM_REDUCE_ONLY, storm, {"storm": storm.name})

    def _policy(self, cfg: CompiledConfig, clock: RegimeClock, ts: int) -> PolicyMode:
        b = self.book
        mode, code = policy(b.F, b.R, clock.index(ts))
        if _MODES[mode] is not self.mode:
            self._policy_changed(cfg, clock, ts, _MODES[mode], code, b.gross_cur, b.gross_pot)
        return self.mode

    def _policy_changed(self, cfg, clock, ts: int, mode: PolicyMode, code: int, gross_cur, gross_pot) -> None:
        why = explain(CODES[code], cfg, clock.regime(ts), cfg.spec.equity, gross_cur, gross_pot)
        self._emit("POLICY", "GLOBAL", self.mode.name, mode.name, why, ts)
        self.mode = mode
        if self.metrics is not None:
            self.metrics.policy_mode = int(mode)

    def derisk(self, ts: int) -> list[OrderIntent]:
        """The playbook intents for the policy mode at ``ts`` (not yet decided: submit them through the
        owning strategy so they pass :meth:`evaluate` like any other order)."""
        with self._lock:
            cfg, clock = self._active
            mode = self._policy(cfg, clock, ts)
            intents = derisk_intents(mode, cfg, self.book, clock.regime(ts), ts, self._sys_seq + 1)
            self._sys_seq += len(intents)
        self._dispatch()
        return intents

    # -- events --------------------------------------------------------------------------------------
    def _emit(self, kind, scope, old, new, reason, ts, detail=None) -> None:
        e = RiskEvent(
            kind=kind,
            scope=scope,
            old=old,
            new=new,
            reason=reason,
            ts_event=ts,
            wall_ns=self.wall(),
            detail=detail or {},
        )
        self.events.append(e)
        if self.journal is not None:
            self.journal.event(e)
        self._pending.append(("event", e))

    def _dispatch(self) -> None:
        """Deliver queued events and kill-switch cancels outside the lock, in order."""
        if not self._pending:  # the common case (every quote): nothing queued, no lock, no allocation. A
            return  # thread that queues after this read delivers its items by its own _dispatch call
        with self._lock:
            pending, self._pending = self._pending, []
        for kind, item in pending:
            if kind == "event":
                for fn in self.listeners:
                    fn(item)
            else:
                for fn in self.cancel_handlers:
                    fn(item)
        if self.journal is not None and any(k == "cancel" or item.kind in _DURABLE for k, item in pending):
            self.journal.flush()
