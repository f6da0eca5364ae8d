"""`Replay`: time travel over a real nautilus backtest, for the notebook.

Forward = the real engine, run in chunks (``workbench.engine.stepper``). Backward = a fresh engine
re-executed from the start to the target event: nautilus cannot rewind, and a deterministic
re-run reaches exactly the state a straight run has there (``state_hash`` proves it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.engine.config import VenueSpec
from workbench.engine.stepper import Stepper
from workbench.errors import WorkbenchError


class ReplayError(WorkbenchError, ValueError):
    """A replay request that cannot be met (bad cursor, unknown parameter)."""


@dataclass(frozen=True, slots=True)
class Breakpoints:
    """Where ``run_until`` stops. Defaults: on any new order, fill or reject; no drawdown stop."""

    order: bool = True
    fill: bool = True
    reject: bool = True
    drawdown: float | None = None                     # stop once equity falls this far (currency) below its peak
    predicate: Callable[[Any], bool] | None = None    # called with the strategy after each event


class Replay:
    """A replay cursor over ``backtest(entry, data, venue, store=store, risk_config=risk)``.

    ``cursor`` is the index of the last processed event time (-1 = before the first event).
    """

    def __init__(self, entry: Any, data: Any, *, store: Any = None, venue: VenueSpec | None = None,
                 risk: str | None = None) -> None:
        from workbench.store import Store

        self.entry, self.data, self.venue, self.risk = entry, data, venue, risk
        self.store = store if store is not None else Store.open()
        self._stepper = self._fresh()

    def _fresh(self) -> Stepper:
        return Stepper(self.entry, self.data, self.venue, store=self.store, risk_config=self.risk)

    # -- cursor ------------------------------------------------------------------------------------
    @property
    def cursor(self) -> int:
        return self._stepper.k

    @property
    def n_events(self) -> int:
        return self._stepper.n_events

    @property
    def time(self) -> pd.Timestamp | None:
        k = self.cursor
        return pd.Timestamp(int(self._stepper.times[k]), tz="UTC") if k >= 0 else None

    @property
    def strategy(self) -> Any:
        return self._stepper.strategies[0]

    def step(self, n: int = 1) -> int:
        """Process the next ``n`` event times; returns the cursor."""
        if not n >= 1:
            raise ReplayError(f"step needs n >= 1, got {n!r}", where="Replay.step")
        self._stepper.advance_to(self.cursor + int(n))
        return self.cursor

    def seek(self, target: int | str | pd.Timestamp) -> int:
        """Move to an event index, or to the last event at or before a time; backwards re-executes."""
        k = self.index_at(target) if not isinstance(target, int) else target
        if not -1 <= k < self.n_events:
            raise ReplayError(f"seek target {target!r} outside 0..{self.n_events - 1}", where="Replay.seek")
        if k < self.cursor:
            self._stepper = self._fresh()
        self._stepper.advance_to(k)
        return self.cursor

    def index_at(self, when: str | pd.Timestamp) -> int:
        ts = pd.Timestamp(when)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(self._stepper.times.searchsorted(ts.value, side="right")) - 1

    def restart(self) -> int:
        self._stepper = self._fresh()
        return self.cursor

    def run_to_end(self) -> int:
        self._stepper.advance_to(self.n_events - 1)
        return self.cursor

    def run_until(self, breaks: Breakpoints | None = None, max_events: int | None = None) -> str | None:
        """Step one event at a time until a breakpoint hits (returns its name) or the data ends (None)."""
        b = breaks or Breakpoints()
        st = self._stepper
        limit = self.n_events - 1 if max_events is None else min(self.n_events - 1, self.cursor + max_events)
        peak = self.equity()
        while self.cursor < limit:
            seen = len(st.order_events)
            st.advance_to(self.cursor + 1)
            kinds = {e[0] for e in st.order_events[seen:]}
            if b.reject and kinds & {"Rejected", "Denied"}:
                return "reject"
            if b.fill and "Filled" in kinds:
                return "fill"
            if b.order and "Initialized" in kinds:
                return "order"
            if b.drawdown is not None:
                eq = self.equity()
                peak = max(peak, eq)
                if peak - eq > b.drawdown:
                    return "drawdown"
            if b.predicate is not None and b.predicate(self.strategy):
                return "predicate"
        return None

    # -- state -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self._stepper.state()

    def state_hash(self) -> str:
        return self._stepper.state_hash()

    def equity(self) -> float:
        """Total balance plus the open positions' unrealized P&L at the cursor (base currency)."""
        cache = self._stepper.engine.kernel.cache
        total = 0.0
        for v in self._stepper.venues:
            acct = cache.account_for_venue(Stepper.venue_id(v))
            if acct is not None:
                total += sum(b.total.as_double() for b in acct.balances().values())
        portfolio = self._stepper.engine.kernel.portfolio
        for v in self._stepper.venues:
            for money in (portfolio.unrealized_pnls(Stepper.venue_id(v)) or {}).values():
                total += money.as_double()
        return total

    def order_events(self) -> pd.DataFrame:
        """Order events so far (kind, ts_event, client order id), in the order nautilus emitted them."""
        return pd.DataFrame(self._stepper.order_events, columns=["kind", "ts_event", "client_order_id", "px"])

    def summary(self) -> str:
        s = self.state()
        when = self.time.isoformat() if self.time is not None else "start"
        return (f"replay at event {self.cursor + 1}/{self.n_events} ({when}): {len(s['orders'])} orders, "
                f"{s['fills']} fills, {len(s['gate'])} gate decisions, state {self.state_hash()}")

    def _repr_html_(self) -> str:  # cheap: counts only, no engine work
        import html
        st = self._stepper
        when = self.time.isoformat() if self.time is not None else "start"
        return (f"<b>Replay</b> event {self.cursor + 1}/{self.n_events} at {html.escape(when)} — "
                f"{len(st.order_events)} order events")

    def what_if(self, **config: Any) -> Replay:
        """Fork at the cursor: the same run with strategy config fields changed, advanced to here.

        The original stays where it is; compare both with ``compare(a, b)``."""
        entry = self.entry
        spec = dict(entry) if isinstance(entry, dict) else {"strategy_path": entry.strategy_path,
                                                            "config_path": entry.config_path,
                                                            "config": dict(entry.config)}
        unknown = set(config) - set(spec["config"]) - _config_fields(spec)
        if unknown:
            raise ReplayError(f"unknown strategy parameter(s) {sorted(unknown)}", where="Replay.what_if")
        spec["config"] = {**spec["config"], **config}
        fork = Replay(spec, self.data, store=self.store, venue=self.venue, risk=self.risk)
        fork.seek(self.cursor)
        return fork

    def report(self) -> Any:
        """The standard backtest result (P&L, fill rate, drawdown) of the whole run (runs to the end)."""
        return self._stepper.finish()


def _config_fields(spec: dict) -> set[str]:
    from nautilus_trader.common.config import resolve_config_path

    cls = resolve_config_path(spec["config_path"])
    return set(getattr(cls, "__struct_fields__", ()))


def compare(a: Replay, b: Replay) -> pd.DataFrame:
    """Side-by-side standard report of two replays run to the end (P&L, fill rate, drawdown, ...)."""
    return pd.DataFrame({"base": a.report().summary(), "what-if": b.report().summary()})
