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
The config is one immutable object captured once per decision; a swap replaces the reference, so a
decision sees the old or the new config, never a mix.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from workbench.risk.budget import SharedBudget
from workbench.risk.config import CompiledConfig
from workbench.risk.exposure import Book
from workbench.risk.journal import Journal
from workbench.risk.killswitch import OperatorActions
from workbench.risk.metrics import RiskMetrics
from workbench.risk.policy import RegimeClock, decide, derisk_intents, explain
from workbench.risk.stormguard import BadTickFilter, StormGuard
from workbench.risk.types import (
    Action,
    OrderIntent,
    PolicyMode,
    Reason,
    RiskDecision,
    RiskEvent,
    Side,
    StormState,
    Verdict,
)
from workbench.risk.validators import Ctx, to_decimal_qty

_APPROVE, _MODIFIED, _REJECT = Verdict.APPROVE, Verdict.APPROVE_MODIFIED, Verdict.REJECT
_HALT = StormState.HALT
_OK = (Reason.OK,)
_DUP = (Reason.DUPLICATE_INTENT,)
# Events that must reach the journal at once, not at the next batch flush.
_DURABLE = frozenset({"STORMGUARD", "CONFIG", "STRATEGY"})


class RiskGate(OperatorActions):
    """Owns the risk state and decides on intents. See the module docstring for the guarantees.

    ``listeners`` receive every :class:`RiskEvent`; ``cancel_handlers`` receive the approved CANCEL
    decisions a kill switch produces (the runner executes them). Both are called *after* the lock is
    released, so a handler may call back into the gate.
    """

    def __init__(
        self,
        config: CompiledConfig,
        *,
        journal: Journal | None = None,
        metrics: RiskMetrics | None = None,
        wall_clock: Callable[[], int] = time.time_ns,
    ):
        self._lock = threading.RLock()
        self._active = (config, RegimeClock(config))
        self.book = Book(config.spec.equity)
        self.journal = journal
        self.metrics = metrics
        self.wall = wall_clock
        self.global_guard = StormGuard("GLOBAL")
        self.guards: dict[str, StormGuard] = {}
        self.filters: dict[str, BadTickFilter] = {}
        self.budget = SharedBudget()
        self._rate: dict[str, deque] = {}
        self._grate: deque = deque()
        self._decided: dict[str, RiskDecision] = {}
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
        self._ctx = Ctx()

    # -- configuration -------------------------------------------------------------------------------
    @property
    def config(self) -> CompiledConfig:
        return self._active[0]

    def swap_config(self, config: CompiledConfig, ts: int = 0) -> None:
        """Atomically replace the config (validated, versioned by the caller: see ``hotconfig``)."""
        with self._lock:
            old = self._active[0]
            self._active = (config, RegimeClock(config))
            self.book.equity = config.spec.equity
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

    # -- decisions -----------------------------------------------------------------------------------
    def evaluate(self, intent: OrderIntent) -> RiskDecision:
        t0 = time.perf_counter_ns()
        with self._lock:
            d = self._evaluate(intent)
        if self.metrics is not None:
            self.metrics.observe(d.verdict, d.reasons, time.perf_counter_ns() - t0)
        if self._pending:
            self._dispatch()
        j = self.journal
        if j is not None and j.due:
            j.flush()  # outside the gate lock: other threads keep deciding during the write
        return d

    def _decision(self, intent, cfg, verdict, reasons, values, changes, qty, storm, mode) -> RiskDecision:
        self._seq += 1
        d = RiskDecision(
            intent=intent,
            verdict=verdict,
            reasons=reasons,
            values=values,
            changes=changes,
            approved_qty=qty,
            config_version=cfg.version,
            storm_state=storm,
            policy_mode=mode,
            decision_seq=self._seq,
            wall_ns=self.wall(),
        )
        # The first decision is the one duplicates cite; ints and a str only, so the GC never scans it.
        self._decided.setdefault(intent.intent_id, (d.decision_seq, verdict))
        if self.journal is not None:
            self.journal.decision(d)
        return d

    def _reject(self, intent, cfg, reason: Reason, storm, values: dict | None = None) -> RiskDecision:
        return self._decision(intent, cfg, _REJECT, (reason,), values or {}, {}, None, storm, self.mode)

    def _evaluate(self, intent: OrderIntent) -> RiskDecision:
        cfg, clock = self._active
        sid = intent.strategy_id
        guard = self.guards.get(sid)
        storm = max(self.global_guard.state, guard.state) if guard is not None else self.global_guard.state
        first = self._decided.get(intent.intent_id)
        if first is not None:
            return self._decision(
                intent,
                cfg,
                _REJECT,
                _DUP,
                {"first_decision_seq": first[0], "first_verdict": first[1]},
                {},
                None,
                storm,
                self.mode,
            )
        action = intent.action
        if action is Action.CANCEL:
            o = self.book.orders.get(intent.target_id or "")
            if o is None or o.strategy != sid:
                return self._reject(intent, cfg, Reason.UNKNOWN_ORDER, storm, {})
            self._count_rate(cfg, sid, intent.ts_event)
            return self._decision(
                intent, cfg, _APPROVE, (Reason.CANCEL_ALLOWED,), {}, {}, intent.qty, storm, self.mode
            )

        if self.global_guard.state is _HALT:
            return self._reject(
                intent, cfg, Reason.KILL_SWITCH, storm, {"halt_reason": self.global_guard.halt_reason}
            )
        strat = cfg.spec.strategies.get(sid)
        if strat is None:
            return self._reject(intent, cfg, Reason.UNKNOWN_STRATEGY, storm)
        if guard is None:
            guard = self.guards[sid] = StormGuard(sid)
        if guard.state is _HALT:
            return self._reject(
                intent, cfg, Reason.STRATEGY_HALTED, storm, {"halt_reason": guard.halt_reason}
            )
        if not self._enabled.get(sid, strat.enabled):
            return self._reject(intent, cfg, Reason.STRATEGY_DISABLED, storm)
        q = intent.qty_f
        if not q > 0.0 or intent.px_f <= 0.0:
            return self._reject(
                intent,
                cfg,
                Reason.INVALID_INTENT,
                storm,
                {"qty": str(intent.qty), "price": str(intent.price)},
            )
        ts = intent.ts_event
        if ts < self._market_ts - cfg.lag_ns:
            return self._reject(
                intent, cfg, Reason.STALE_INTENT, storm, {"intent_ts": ts, "market_ts": self._market_ts}
            )
        quote = self.book.quotes.get(intent.instrument_id)
        if quote is None or quote.bid <= 0.0:
            return self._reject(intent, cfg, Reason.NO_MARKET_DATA, storm)
        book = self.book
        leg = book.leg(sid, intent.instrument_id, cfg)
        base_buy, base_sell = leg.open_buy, leg.open_sell
        target = None
        if action is Action.MODIFY:
            target = book.orders.get(intent.target_id or "")
            if target is None or target.strategy != sid or target.sign != intent.sign:
                return self._reject(intent, cfg, Reason.UNKNOWN_ORDER, storm)
            if target.sign > 0:
                base_buy -= target.remaining
            else:
                base_sell -= target.remaining
        sign = intent.sign
        pos = leg.pos
        working_reduce = base_sell if pos > 0 else base_buy
        reducing = (pos * sign < 0) and q <= abs(pos) - working_reduce + 1e-9
        if intent.reduce_only and not reducing:
            return self._reject(
                intent, cfg, Reason.INVALID_INTENT, storm, {"reduce_only": "would not reduce the position"}
            )
        if storm in cfg.reduce_only and not reducing:
            return self._reject(intent, cfg, Reason.STORM_REDUCE_ONLY, storm, {"storm": storm.name})
        regime = clock.regime(ts)
        mode = self._policy(cfg, regime, ts)
        ins = cfg.instrument(intent.instrument_id)
        c = self._ctx  # one scratch object per gate: evaluations are serialized by the lock
        c.cfg, c.book, c.gate, c.intent, c.leg, c.quote = cfg, book, self, intent, leg, quote
        c.sign, c.q, c.q0, c.mark, c.imult, c.lot = sign, q, q, quote.mark, ins.multiplier, ins.lot
        px = intent.px_f
        c.px = px if px == px else (quote.ask if sign > 0 else quote.bid)  # NaN: market order at the touch
        c.lim, c.mult, c.reducing = cfg.limits(sid, intent.instrument_id), cfg.multipliers[storm], reducing
        c.base_buy, c.base_sell, c.pot_after = base_buy, base_sell, None
        c.values = {"storm_multiplier": c.mult, "regime": regime.name, "reducing": reducing}
        c.changes, c.rejects, c.warns = {}, [], []
        c.ts, c.regime, c.mode, c.clip = ts, regime, mode, cfg.spec.clip_to_limits
        for check in cfg.validators:
            check(c)
        c.gate = c.book = c.leg = c.quote = None  # the scratch object must not keep a gate alive (cycle)
        if c.rejects:
            return self._decision(
                intent, cfg, _REJECT, tuple(dict.fromkeys(c.rejects)), c.values, c.changes, None, storm, mode
            )
        verdict = _MODIFIED if c.changes else _APPROVE
        qty = intent.qty if not c.changes else to_decimal_qty(c.q, ins.lot)
        reasons = tuple(c.warns) if c.warns else _OK
        d = self._decision(intent, cfg, verdict, reasons, c.values, c.changes, qty, storm, mode)
        # Commit: the approved order now counts toward rate, exposure and budget.
        self._count_rate(cfg, sid, ts)
        before = leg.pot
        if target is None:
            book.add_order(leg, intent.client_order_id, intent.intent_id, sign, c.q, c.px, ts)
        else:
            book.change_order(target.client_order_id, c.q, c.px)
        if leg.pot != before:
            self.budget.record(
                ts, sid, intent.intent_id, leg.pot - before, leg.cells[1][0], True, intent.tag or action
            )
        return d

    def _policy(self, cfg: CompiledConfig, regime, ts: int) -> PolicyMode:
        b = self.book
        eq = cfg.spec.equity
        mode, code = decide(cfg, regime, eq, b.gross_cur, b.gross_pot, b.buckets)
        if mode is not self.mode:
            self._emit(
                "POLICY",
                "GLOBAL",
                self.mode.name,
                mode.name,
                explain(code, cfg, regime, eq, b.gross_cur, b.gross_pot),
                ts,
            )
            self.mode = mode
            if self.metrics is not None:
                self.metrics.policy_mode = int(mode)
        return mode

    # -- rate windows (exchange time) ----------------------------------------------------------------
    def _rate_counts(self, cfg: CompiledConfig, sid: str, ts: int):
        win_ns, cap, warn, gwin_ns, gcap, gwarn = cfg.rate_window(sid)
        w = self._rate.get(sid)
        if w is None:
            w = self._rate[sid] = deque()
        lo = ts - win_ns
        while w and w[0] <= lo:
            w.popleft()
        glo = ts - gwin_ns
        gw = self._grate
        while gw and gw[0] <= glo:
            gw.popleft()
        return len(w), cap, len(gw), gcap, warn, gwarn

    def _count_rate(self, cfg: CompiledConfig, sid: str, ts: int) -> None:
        w = self._rate.get(sid)
        if w is None:
            w = self._rate[sid] = deque()
        w.append(ts)
        self._grate.append(ts)

    # -- market and execution events -----------------------------------------------------------------
    def on_quote(self, instrument_id: str, ts: int, bid: float, ask: float) -> bool:
        """Apply a top-of-book update; returns False if the bad-tick filter held it back."""
        with self._lock:
            cfg = self._active[0]
            f = self.filters.get(instrument_id)
            if f is None:
                f = self.filters[instrument_id] = BadTickFilter()
            raw = (ts, bid, ask)
            if f.last_raw == raw:  # the same tick delivered twice (two subscribers) counts once
                return f.last_ok
            f.last_raw = raw
            if not f.accept(ts, bid, ask, cfg.spec.stormguard.bad_tick):
                if f.pend_count == 1:
                    self._emit(
                        "BAD_TICK",
                        instrument_id,
                        f"{f.last_mid}",
                        f"{(bid + ask) / 2}",
                        "held for confirmation",
                        ts,
                    )
                ok = False
            else:
                if ts > self._market_ts:
                    self._market_ts = ts
                q = self.book.set_mark(instrument_id, ts, bid, ask)
                self._update_guards(cfg, {leg.strategy for leg in q.legs}, ts)
                ok = True
            f.last_ok = ok
        self._dispatch()
        return ok

    def on_fill(
        self,
        fill_id: str,
        client_order_id: str | None,
        ts: int,
        qty: float,
        price: float,
        *,
        strategy_id: str | None = None,
        instrument_id: str | None = None,
        side: Side | None = None,
    ) -> bool:
        """Apply a (partial) fill exactly once (dedupe on ``fill_id``); False if already applied."""
        with self._lock:
            cfg = self._active[0]
            if fill_id in self.book.fills_seen:
                return False
            o = self.book.orders.get(client_order_id or "")
            sid = o.strategy if o else strategy_id
            iid = o.instrument if o else instrument_id
            sign = o.sign if o else (1 if Side(side) is Side.BUY else -1)
            if sid is None or iid is None:
                raise ValueError(
                    f"fill {fill_id}: unknown order {client_order_id!r} needs strategy_id and instrument_id"
                )
            leg = self.book.leg(sid, iid, cfg)
            applied = self.book.apply_fill(fill_id, leg, sign, float(qty), float(price), client_order_id)
            if applied:
                if self.journal is not None:
                    self.journal.fill(
                        fill_id, client_order_id, sid, iid, "BUY" if sign > 0 else "SELL", qty, price, ts
                    )
                self._update_guards(cfg, {sid}, ts)
        self._dispatch()
        return applied

    def on_order_closed(self, client_order_id: str) -> bool:
        """A working order ended without (further) fills: canceled, expired, rejected or denied."""
        with self._lock:
            return self.book.close_order(client_order_id)

    def book_sync(self, client_order_id: str, leaves_qty: float) -> None:
        """Align a working order's remaining size with the venue's view (after an update or a modify
        reject), so exposure never drifts from what is really working."""
        with self._lock:
            if client_order_id in self.book.orders:
                self.book.change_order(client_order_id, leaves_qty)

    def _update_guards(self, cfg: CompiledConfig, strategies, ts: int) -> None:
        spec = cfg.spec.stormguard
        for sid in sorted(strategies):
            g = self.guards.get(sid)
            if g is None:
                g = self.guards[sid] = StormGuard(sid)
            self._transition(g, g.update(self.book.strategy_pnl(sid), cfg.capital(sid), spec), ts, "drawdown")
        g = self.global_guard
        self._transition(g, g.update(self.book.total_pnl, cfg.spec.equity, spec), ts, "drawdown")

    def derisk(self, ts: int) -> list[OrderIntent]:
        """The playbook intents for the policy mode at ``ts`` (not yet decided: submit them through the
        owning strategy so they pass :meth:`evaluate` like any other order)."""
        with self._lock:
            cfg, clock = self._active
            regime = clock.regime(ts)
            mode = self._policy(cfg, regime, ts)
            intents = derisk_intents(mode, cfg, self.book, regime, ts, self._sys_seq + 1)
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
