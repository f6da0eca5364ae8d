"""A nautilus ``BacktestEngine`` that runs forward in chunks, for the notebook replay.

Nautilus has no rewind, so the stepper only ever moves forward: ``advance_to(k)`` runs the real
engine (``run(start, end, streaming=True)``) over the data up to the k-th distinct event time.
Going back is the replay's job: it builds a fresh stepper and re-executes from the start, which
gives the same state because the run is deterministic (fresh gate, fresh strategy, the fill
model's draws from Python's global ``random`` kept in a private state between chunks).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from nautilus_trader.config import ImportableStrategyConfig
from nautilus_trader.trading.strategy import Strategy

from workbench.engine.backtest import build_engine, expand_options, load_into, make_strategy
from workbench.engine.config import DataSpec, VenueSpec
from workbench.engine.gated import GatedStrategy, RiskSupervisor, resolve_risk_config, using_gate
from workbench.engine.result import BacktestResult
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate

_PLAIN = (int, float, str, bool, type(None), Decimal)


def _plain(v: Any) -> bool:
    """Strategy fields that are values (not engine objects whose repr carries an address)."""
    if isinstance(v, _PLAIN):
        return True
    if isinstance(v, list | tuple | set | frozenset):
        return all(isinstance(x, _PLAIN) for x in v)
    if isinstance(v, dict):
        return all(isinstance(x, _PLAIN) for x in (*v.keys(), *v.values()))
    return False


class Stepper:
    """One forward-only engine run; ``times`` are the distinct event times (ns) of its data."""

    def __init__(self, strategy: ImportableStrategyConfig | dict | Sequence[Any], data: DataSpec | dict | str | list,
                 venue: VenueSpec | None = None, *, store: Any, risk_config: str | None = None,
                 log_level: str = "ERROR") -> None:
        specs = list(strategy) if isinstance(strategy, list | tuple) else [strategy]
        if any(isinstance(s, Strategy) for s in specs):  # an instance cannot be rebuilt for a seek back
            raise TypeError("replay needs a strategy config (ImportableStrategyConfig or dict), not an instance")
        self.venue = venue or VenueSpec()
        self.data = expand_options(store, DataSpec.coerce(data))
        self.venues = sorted({iid.rsplit(".", 1)[1] for iid in (*self.data.instrument_ids,
                                                                 *self.data.extra_instruments)})
        self.gate = RiskGate(load_config(resolve_risk_config(risk_config)))
        saved = random.getstate()
        try:
            self.engine = build_engine(self.venue, self.venues, log_level)
            self.n_data = load_into(self.engine, store, self.data)
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
        # a timeline of order events for the view and the breakpoints (kind, ts_event, order id)
        self.order_events: list[tuple[str, int, str, float]] = []
        self.engine.kernel.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        ts = np.fromiter((d.ts_init for d in self.engine.data), dtype=np.int64, count=len(self.engine.data))
        self.times = np.unique(ts)  # the engine processes all data of one ts together: one "event" each
        self.counts = np.searchsorted(ts, self.times, side="right")  # data processed once time k is done
        self.k = -1  # index of the last processed event time; -1 = not started
        random.seed(self.venue.fill.seed)
        self._rng_state = random.getstate()  # the fill model's generator, private between chunks
        random.setstate(saved)
        self._ended = False

    def _on_order_event(self, event: Any) -> None:
        px = getattr(event, "last_px", None)  # fills carry their price; others NaN
        self.order_events.append((type(event).__name__.removeprefix("Order"), event.ts_event,
                                  str(event.client_order_id), px.as_double() if px is not None else float("nan")))

    def mids(self) -> tuple[np.ndarray, np.ndarray]:
        """(ts, mid) of the quote data, for the view's price line."""
        q = [d for d in self.engine.data if hasattr(d, "bid_price")]
        ts = np.fromiter((d.ts_init for d in q), dtype=np.int64, count=len(q))
        mid = np.fromiter(((d.bid_price.as_double() + d.ask_price.as_double()) / 2 for d in q), dtype=float,
                          count=len(q))
        return ts, mid

    @property
    def n_events(self) -> int:
        return len(self.times)

    def advance_to(self, k: int) -> None:
        """Run the engine through event time ``k`` (inclusive). Forward only."""
        k = min(int(k), self.n_events - 1)
        if k <= self.k:
            return
        start = int(self.times[self.k + 1]) if self.k >= 0 else int(self.times[0])
        saved = random.getstate()
        random.setstate(self._rng_state)
        try:
            with using_gate(self.gate):
                self.engine.run(start=start, end=int(self.times[k]), streaming=True)
        finally:
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
        return BacktestResult(self.engine, venues=self.venues, n_data=self.n_data, data=self.data, venue=self.venue,
                              decisions=[d for s in self.gated for d in s.decisions])

    # -- state ------------------------------------------------------------------------------------
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
                "strategy": fields, "gate": gate}

    @staticmethod
    def venue_id(name: str) -> Any:
        from nautilus_trader.model.identifiers import Venue
        return Venue(name)

    def state_hash(self) -> str:
        return hashlib.sha256(repr(self.state()).encode()).hexdigest()[:16]
