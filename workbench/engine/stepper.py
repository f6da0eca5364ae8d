"""A nautilus ``BacktestEngine`` that runs forward in chunks, for the notebook replay.

Nautilus has no rewind, so the stepper only ever moves forward: ``advance_to(k)`` runs the real
engine over the data up to the k-th distinct event time. Going back is the replay's job (a fresh
stepper re-executed from the start or from a checkpoint), which gives the same state because the
run is deterministic: fresh gate, fresh strategy, the fill model's draws from Python's global
``random`` kept in a private state between chunks.

Data is fed the way nautilus's streaming API wants it (``add_data(chunk)`` -> ``run(streaming=True)``
-> ``clear_data()``): nautilus's ``run`` scans its data list from index 0 for the start on every
call, so an engine holding the whole day made each late step cost O(day). The data objects are
loaded from the store once (:class:`Feed`) and shared by every re-execution and fork.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.trading.strategy import Strategy

from workbench.engine.backtest import build_engine, expand_options, load_batches, make_strategy
from workbench.engine.config import DataSpec, VenueSpec
from workbench.engine.gated import GatedStrategy, RiskSupervisor, resolve_risk_config, using_gate
from workbench.engine.orderlog import RunRecorder
from workbench.engine.result import BacktestResult
from workbench.risk.config import CompiledConfig, load_config
from workbench.risk.gate import RiskGate
from workbench.risk.journal import Journal

_PLAIN = (int, float, str, bool, type(None), Decimal)
EQUITY_POINTS = 500  # equity is sampled at fixed event indices (same for every path), ~this many per run


def _plain(v: Any) -> bool:
    """Strategy fields that are values (not engine objects whose repr carries an address)."""
    if isinstance(v, _PLAIN):
        return True
    if isinstance(v, list | tuple | set | frozenset):
        return all(isinstance(x, _PLAIN) for x in v)
    if isinstance(v, dict):
        return all(isinstance(x, _PLAIN) for x in (*v.keys(), *v.values()))
    return False


class Feed:
    """The replay's data as nautilus objects, sorted as ``engine.sort_data`` sorts them (stable on
    ``ts_init``, batches in ``load_into``'s order); ``times`` are the distinct event times (ns) and
    ``counts[k]`` the number of data objects processed once event ``k`` is done."""

    def __init__(self, store: Any, data: DataSpec | dict | str | list) -> None:
        self.spec = expand_options(store, DataSpec.coerce(data))
        self.instruments, batches = load_batches(store, self.spec)  # the backtest's loader, same order
        self.venues = sorted({str(inst.id.venue) for inst in self.instruments})
        self._line: tuple[np.ndarray, np.ndarray] | None = None  # the first instrument's price line
        for batch in batches:
            tbl = batch.table
            if batch.kind == "quotes":
                self._set_line(tbl, (tbl.column("bid").to_numpy() + tbl.column("ask").to_numpy()) / 2)
            elif batch.kind == "trades":
                self._set_line(tbl, tbl.column("price").to_numpy())
        self.samples = [b.items[0] for b in batches if b.items]  # one per stream: registers its data client
        self.items = sorted((d for b in batches for d in b.items), key=attrgetter("ts_init"))
        ts = np.fromiter((d.ts_init for d in self.items), dtype=np.int64, count=len(self.items))
        self.times = np.unique(ts)  # the engine processes all data of one ts together: one "event" each
        self.counts = np.searchsorted(ts, self.times, side="right")

    def _set_line(self, tbl: Any, price: np.ndarray) -> None:
        if self._line is None and tbl.num_rows:
            price = np.asarray(price, dtype=float)
            ok = np.isfinite(price)
            self._line = tbl.column("ts_event").to_numpy().astype(np.int64)[ok], price[ok]

    def mids(self) -> tuple[np.ndarray, np.ndarray]:
        """(ts, price) of the view's price line: the first instrument's quote mids, else its trade
        prices, else bar closes."""
        if self._line is not None:
            return self._line
        bars = [d for d in self.items if hasattr(d, "close")]
        return (np.fromiter((d.ts_init for d in bars), dtype=np.int64, count=len(bars)),
                np.fromiter((d.close.as_double() for d in bars), dtype=float, count=len(bars)))


class Stepper:
    """One forward-only engine run over a :class:`Feed`.

    ``swaps`` are (event index, risk config) pairs: the gate's config is swapped right after that
    event (a what-if on a risk limit), at that event's time — replayed identically on re-execution.
    """

    def __init__(self, strategy: ImportableStrategyConfig | dict | Sequence[Any], data: DataSpec | dict | str | list,
                 venue: VenueSpec | None = None, *, store: Any, risk_config: str | None = None,
                 log_level: str = "ERROR", feed: Feed | None = None,
                 swaps: Sequence[tuple[int, CompiledConfig]] = (), run_id: str | None = None) -> None:
        specs = list(strategy) if isinstance(strategy, list | tuple) else [strategy]
        if any(isinstance(s, Strategy) for s in specs):  # an instance cannot be rebuilt for a seek back
            raise TypeError("replay needs a strategy config (ImportableStrategyConfig or dict), not an instance")
        self.venue = venue or VenueSpec()
        self.feed = feed if feed is not None else Feed(store, data)
        self.data, self.venues = self.feed.spec, self.feed.venues
        self.times, self.counts = self.feed.times, self.feed.counts
        self.n_data = len(self.feed.items)
        self.swaps: list[tuple[int, CompiledConfig]] = []
        # with a run_id the run is journaled into the store as backtest(run_id=...) does (what-if forks too)
        self.journal = Journal(store, run_id) if run_id else None
        self.gate = RiskGate(load_config(resolve_risk_config(risk_config)), journal=self.journal)
        saved = random.getstate()
        try:
            self.engine = build_engine(self.venue, self.venues, log_level)
            for inst in self.feed.instruments:
                self.engine.add_instrument(inst)
            for sample in self.feed.samples:  # data clients and backtest subscriptions, then streamed
                self.engine.add_data([sample], sort=True)
            self.engine.clear_data()
            self.recorder = RunRecorder(store, run_id, "BACKTEST", self.engine.kernel) if run_id else None
            with using_gate(self.gate):
                self.strategies = [make_strategy(s) for s in specs]
        finally:
            random.setstate(saved)
        for strat in self.strategies:
            self.engine.add_strategy(strat)
        self.gated = [s for s in self.strategies if isinstance(s, GatedStrategy)]
        if self.gated:
            self.engine.add_actor(RiskSupervisor(self.gate, self.gated, risk_engine=self.engine.kernel.risk_engine,
                                                 instrument_ids=list(self.data.instrument_ids)))
        # a timeline of order events for the view and the breakpoints (kind, ts_event, order id, px, qty)
        self.order_events: list[tuple[str, int, str, float, float]] = []
        self.engine.kernel.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        # the gate's own event deque is bounded: keep the run's (kind, scope, old, new, reason, ts) here
        self.risk_events: list[tuple[str, str, str, str, str, int]] = []
        self.gate.listeners.append(lambda e: self.risk_events.append((e.kind, e.scope, e.old, e.new, e.reason,
                                                                        e.ts_event)))
        self.k = -1  # index of the last processed event time; -1 = not started
        self.every = max(1, -(-self.n_events // EQUITY_POINTS))
        self.equity_curve: list[tuple[int, float]] = []  # (ts, equity) after events every-1, 2*every-1, ...
        random.seed(self.venue.fill.seed)
        self._rng_state = random.getstate()  # the fill model's generator, private between chunks
        random.setstate(saved)
        self._ended = False
        for at, cfg in swaps:
            self.add_swap(at, cfg)

    def add_swap(self, at: int, cfg: CompiledConfig) -> None:
        """Swap the gate's config right after event ``at`` (-1: before the first event)."""
        if at < self.k:
            raise ValueError(f"config swap at event {at} is behind this run (at {self.k})")
        self.swaps = sorted([*self.swaps, (at, cfg)], key=lambda s: s[0])
        if at == self.k:
            self.gate.swap_config(cfg, ts=int(self.times[max(at, 0)]))

    def _on_order_event(self, event: Any) -> None:
        px, qty = getattr(event, "last_px", None), getattr(event, "last_qty", None)  # fills; others NaN
        signed = float("nan") if qty is None else qty.as_double() * (1 if event.order_side == OrderSide.BUY else -1)
        self.order_events.append((type(event).__name__.removeprefix("Order"), event.ts_event,
                                  str(event.client_order_id), px.as_double() if px is not None else float("nan"),
                                  signed))

    def mids(self) -> tuple[np.ndarray, np.ndarray]:
        return self.feed.mids()

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def n_events(self) -> int:
        return len(self.times)

    def advance_to(self, k: int) -> None:
        """Run the engine through event time ``k`` (inclusive). Forward only."""
        k = min(int(k), self.n_events - 1)
        while self.k < k:
            # stop at the next equity sample and at the next config swap, so both sit at fixed events
            nxt = min(k, (self.k + 1) // self.every * self.every + self.every - 1)
            nxt = min([nxt] + [s for s, _ in self.swaps if self.k < s < nxt])
            self._run_chunk(nxt)
            if (nxt + 1) % self.every == 0:
                self.equity_curve.append((int(self.times[nxt]), self.equity()))
            for at, cfg in self.swaps:
                if at == nxt:
                    self.gate.swap_config(cfg, ts=int(self.times[at]))

    def _run_chunk(self, k: int) -> None:
        lo = int(self.counts[self.k]) if self.k >= 0 else 0
        saved = random.getstate()
        random.setstate(self._rng_state)
        try:
            self.engine.add_data(self.feed.items[lo:int(self.counts[k])], validate=False, sort=True)
            with using_gate(self.gate):
                # Timestamps, not ints: nautilus passes both through pd.to_datetime, ~150 us for an int
                self.engine.run(start=pd.Timestamp(int(self.times[self.k + 1]), tz="UTC"),
                                end=pd.Timestamp(int(self.times[k]), tz="UTC"), streaming=True)
        finally:
            self.engine.clear_data()
            self._rng_state = random.getstate()
            random.setstate(saved)
        self.k = k

    def finish(self) -> BacktestResult:
        """Run to the end of the data, close the run and return the standard result object."""
        self.advance_to(self.n_events - 1)
        if not self._ended:
            saved = random.getstate()
            random.setstate(self._rng_state)
            try:
                self.engine.end()
            finally:
                random.setstate(saved)
            self._ended = True
            if self.recorder is not None:
                self.journal.flush()
                self.recorder.finish(self.data.instrument_ids)
                self.journal.close()  # as backtest(): a parked or kept engine must not hold the store's connection
        return BacktestResult(self.engine, venues=self.venues, n_data=self.n_data, data=self.data, venue=self.venue,
                              decisions=[d for s in self.gated for d in s.decisions])

    # -- state ------------------------------------------------------------------------------------
    def equity(self) -> float:
        """Total balance plus the open positions' unrealized P&L (base currency)."""
        cache, portfolio = self.engine.kernel.cache, self.engine.kernel.portfolio
        total = 0.0
        for v in self.venues:
            acct = cache.account_for_venue(self.venue_id(v))
            if acct is not None:
                total += sum(b.total.as_double() for b in acct.balances().values())
            for money in (portfolio.unrealized_pnls(self.venue_id(v)) or {}).values():
                total += money.as_double()
        return total

    def state(self) -> dict[str, Any]:
        """Everything a decision can depend on, as plain comparable values."""
        cache = self.engine.kernel.cache
        orders = sorted((str(o.client_order_id), o.status_string(), str(o.quantity), str(o.filled_qty),
                         str(o.avg_px)) for o in cache.orders())
        positions = sorted((str(p.id), str(p.signed_qty), str(p.avg_px_open), str(p.realized_pnl))
                           for p in cache.positions())
        balances = []
        for v in self.venues:
            acct = cache.account_for_venue(self.venue_id(v))
            if acct is not None:
                balances += sorted(str(b) for b in acct.balances().values())
        fills = sum(len([e for e in o.events if type(e).__name__ == "OrderFilled"]) for o in cache.orders())
        fields = [sorted((k, repr(v)) for k, v in vars(s).items() if _plain(v)) for s in self.strategies]
        # decisions without wall_ns (a wall-clock stamp, differs between any two runs)
        gate = [(d.intent.intent_id, str(d.intent.action), str(d.verdict), tuple(map(str, d.reasons)),
                 str(d.approved_qty), d.decision_seq) for s in self.gated for d in s.decisions]
        return {"k": self.k, "orders": orders, "positions": positions, "balances": balances, "fills": fills,
                "strategy": fields, "gate": gate, "risk_events": list(self.risk_events)}

    @staticmethod
    def venue_id(name: str) -> Any:
        from nautilus_trader.model.identifiers import Venue
        return Venue(name)

    def state_hash(self) -> str:
        return hashlib.sha256(repr(self.state()).encode()).hexdigest()[:16]
