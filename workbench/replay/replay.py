"""`Replay`: time travel over a real nautilus backtest, for the notebook.

Forward = the real engine, run in chunks (``workbench.engine.stepper``). Nautilus cannot rewind or
copy an engine, so a seek resumes the *checkpoint* nearest below the target: every engine a seek
leaves behind is kept (up to ``CHECKPOINTS``) at its event, still live, and a fresh engine starts at
-1. A deterministic re-run from any of them reaches exactly the state a straight run has at the
target (``state_hash`` proves it). See docs/replay.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.engine.config import VenueSpec
from workbench.engine.stepper import Feed, Stepper
from workbench.errors import WorkbenchError
from workbench.risk.config import CompiledConfig, config_from_dict
from workbench.sweep.spec import SweepError, apply_params, check_param_names

CHUNK = 2_000  # events per engine call when nothing has to stop in between (a play frame checks time after each)
CHECKPOINTS = 16  # live engines kept where seeks left them (each holds its engine, ~3 MB, not the data)
PREPARE = 12  # prepare()'s default: evenly spaced engines, any seek then runs <= n_events / 13 events


class ReplayError(WorkbenchError, ValueError):
    """A replay request that cannot be met (bad cursor, unknown parameter)."""


@dataclass(frozen=True, slots=True)
class Breakpoints:
    """Where ``run_until`` stops. Defaults: on any new order, fill, reject or kill switch (the gate's
    global HALT); no drawdown stop."""

    order: bool = True
    fill: bool = True
    reject: bool = True
    kill_switch: bool = True
    drawdown: float | None = None                     # stop once equity falls this far (currency) below its peak
    predicate: Callable[[Any], bool] | None = None    # called with the strategy after each event


class Replay:
    """A replay cursor over ``backtest(entry, data, venue, store=store, risk_config=risk)``.

    ``cursor`` is the index of the last processed event time (-1 = before the first event).
    """

    def __init__(self, entry: Any, data: Any, *, store: Any = None, venue: VenueSpec | None = None,
                 risk: str | None = None, feed: Feed | None = None, log_level: str = "OFF",
                 _swaps: tuple[tuple[int, CompiledConfig], ...] = ()) -> None:
        from workbench.store import Store

        self.entry, self.data, self.venue, self.risk = entry, data, venue, risk
        # nautilus's own logging off by default: once it is initialised in a process, nautilus formats a
        # debug line for every tick (even when filtered), ~15% of a replay's engine time; the view's log
        # shows the run's timeline instead. "ERROR" brings nautilus's lines back.
        self.log_level = log_level
        self.store = store if store is not None else Store.open()
        self._feed = feed if feed is not None else Feed(self.store, data)  # loaded once, shared
        self._swaps = _swaps  # what-if risk limits: (event, config) swapped in on every re-execution
        self._parked: list[Stepper] = []
        self._stepper = self._fresh()

    def _fresh(self, run_id: str | None = None) -> Stepper:
        return Stepper(self.entry, self.data, self.venue, store=self.store, risk_config=self.risk,
                       feed=self._feed, swaps=self._swaps, run_id=run_id, log_level=self.log_level)

    def _goto(self, k: int) -> None:
        """Advance the live engine nearest below ``k`` (current, a checkpoint, or a fresh one) to ``k``."""
        live = [s for s in (self._stepper, *self._parked) if s.k <= k and not s.ended]
        best = max(live, key=lambda s: s.k) if live else None
        if best is None:
            best = self._fresh()
        if best is not self._stepper:
            if best in self._parked:
                self._parked.remove(best)
            self._park(self._stepper)
            self._stepper = best
        best.advance_to(k)

    def _park(self, st: Stepper) -> None:
        """Keep ``st`` as a checkpoint; over the limit, drop the one closest to its lower neighbour
        (the checkpoints stay spread over the run)."""
        if st.ended or st.k < 0:
            return
        parked = sorted([*self._parked, st], key=lambda s: s.k)
        while len(parked) > CHECKPOINTS:
            gaps = [s.k - (parked[i - 1].k if i else -1) for i, s in enumerate(parked)]
            parked.pop(gaps.index(min(gaps)))
        self._parked = parked

    def prepare(self, checkpoints: int = PREPARE) -> list[int]:
        """Keep live engines at ``checkpoints`` evenly spaced events, so that any later seek resumes
        within ``n_events / (checkpoints + 1)`` events. Each is re-executed from the start (nautilus
        cannot copy an engine): this costs about ``checkpoints / 2`` full runs, once."""
        if not 1 <= checkpoints <= CHECKPOINTS:
            raise ReplayError(f"checkpoints must be 1..{CHECKPOINTS}, got {checkpoints!r}", where="Replay.prepare")
        have = {s.k for s in (self._stepper, *self._parked)}
        for i in range(1, checkpoints + 1):
            k = self.n_events * i // (checkpoints + 1) - 1
            if k >= 0 and k not in have:
                st = self._fresh()
                st.advance_to(k)
                self._park(st)
        return self.checkpoints

    @property
    def feed(self) -> Feed:
        """The loaded data; pass it as ``Replay(..., feed=replay.feed)`` to share it (no reload)."""
        return self._feed

    @property
    def checkpoints(self) -> list[int]:
        """Events at which a live engine is kept (a backward seek resumes the nearest below)."""
        return sorted(s.k for s in self._parked)

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
        self._goto(min(self.cursor + int(n), self.n_events - 1))
        return self.cursor

    def seek(self, target: int | str | pd.Timestamp) -> int:
        """Move to an event index, or to the last event at or before a time; backwards resumes the
        nearest checkpoint below (or re-executes from the start)."""
        k = self.index_at(target) if not isinstance(target, int) else target
        if not -1 <= k < self.n_events:
            raise ReplayError(f"seek target {target!r} outside 0..{self.n_events - 1}", where="Replay.seek")
        self._goto(k)
        return self.cursor

    def index_at(self, when: str | pd.Timestamp) -> int:
        ts = pd.Timestamp(when)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return int(self._stepper.times.searchsorted(ts.value, side="right")) - 1

    def restart(self) -> int:
        self._goto(-1)
        return self.cursor

    def run_to_end(self) -> int:
        self._goto(self.n_events - 1)
        return self.cursor

    def run_until(self, breaks: Breakpoints | None = None, max_events: int | None = None,
                  budget_s: float | None = None) -> str | None:
        """Run until a breakpoint hits (returns its name), ``max_events`` are done, ``budget_s`` seconds
        have passed (a play frame) or the data ends (None). With any breakpoint set the engine moves one
        event at a time (the stop is exact); with none, in chunks of ``CHUNK`` events."""
        b = breaks or Breakpoints()
        self._goto(self.cursor)  # an ended run (after report()) continues on a live engine
        st = self._stepper
        limit = self.n_events - 1 if max_events is None else min(self.n_events - 1, self.cursor + max_events)
        deadline = time.monotonic() + budget_s if budget_s is not None else float("inf")
        if not (b.order or b.fill or b.reject or b.kill_switch or b.drawdown is not None or b.predicate):
            while self.cursor < limit and time.monotonic() < deadline:
                st.advance_to(min(limit, self.cursor + CHUNK))
            return None
        peak = self.equity()
        while self.cursor < limit and time.monotonic() < deadline:
            seen, risk_seen = len(st.order_events), len(st.risk_events)
            st.advance_to(self.cursor + 1)
            kinds = {e[0] for e in st.order_events[seen:]}
            if b.kill_switch and any(e[:2] == ("STORMGUARD", "GLOBAL") and e[3] == "HALT"
                                     for e in st.risk_events[risk_seen:]):
                return "kill_switch"
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
        return self._stepper.equity()

    def order_events(self) -> pd.DataFrame:
        """Order events so far (kind, ts_event, client order id, fill price, signed fill qty), in the
        order nautilus emitted them."""
        return pd.DataFrame(self._stepper.order_events,
                            columns=["kind", "ts_event", "client_order_id", "px", "qty"])

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

    def what_if(self, risk: dict[str, Any] | None = None, **params: Any) -> Replay:
        """Fork at the cursor; the original stays where it is. Compare with ``compare(a, b)``.

        ``risk={"defaults.max_position_qty": 200, "stormguard.halt_pct": -0.3}`` changes risk limits
        (dotted paths into the risk config, validated like a file) from the cursor on: the fork is the
        same run up to here and the gate's config is swapped at the cursor's event time, exactly as a
        hot config change in a live node. Strategy parameters (``entry_spreads=1.5``) are config fields,
        frozen for a run: that fork is the whole run with the new value, advanced to the cursor."""
        entry = self.entry
        if params:
            # the sweep's own checks and config rewrite: one definition of "a strategy parameter" ("name", or
            # "<i>.name" for strategy i of a list entry); its messages say "grid.": here they are kwargs
            try:
                check_param_names(entry, params)
                entries = apply_params(entry, params)
            except SweepError as exc:
                raise ReplayError(exc.what.removeprefix("grid."), where="Replay.what_if") from None
            entry = entries if isinstance(entry, list | tuple) else entries[0]
        swaps = self._swaps
        if risk:
            cfg = _with_limits(self._stepper.gate.config, risk)
            swaps = (*swaps, (self.cursor, cfg))
        fork = Replay(entry, self.data, store=self.store, venue=self.venue, risk=self.risk, feed=self._feed,
                      log_level=self.log_level, _swaps=swaps)
        if risk and not params:  # same run below the cursor: the fork takes over this run's checkpoints
            for st in [s for s in self._parked if s.k <= self.cursor]:
                self._parked.remove(st)
                st.add_swap(self.cursor, swaps[-1][1])
                fork._park(st)
        fork.seek(self.cursor)
        return fork

    def report(self) -> Any:
        """The standard backtest result (P&L, fill rate, drawdown) of the whole run (runs to the end)."""
        self._goto(self.n_events - 1)
        return self._stepper.finish()

    def save(self, run_id: str | None = None) -> str:
        """Journal the whole run into the store under ``run_id`` (a re-execution, what-if swaps
        included), as ``backtest(run_id=...)`` does, so ``workbench.reports.compare`` reads it."""
        import uuid

        run_id = run_id or f"replay-{uuid.uuid4().hex[:12]}"
        self._fresh(run_id=run_id).finish()
        return run_id


def _with_limits(cfg: CompiledConfig, changes: dict[str, Any]) -> CompiledConfig:
    """``cfg`` with dotted-path fields replaced, validated as a config file is, next version."""
    import msgspec

    data = msgspec.to_builtins(cfg.spec)
    for path, value in changes.items():
        node, keys = data, path.split(".")
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or keys[-1] not in node:
            raise ReplayError(f"unknown risk limit {path!r}", where="Replay.what_if",
                              hint="a dotted path into config/risk.yaml, e.g. defaults.max_position_qty")
        node[keys[-1]] = value
    return config_from_dict(data).with_version(cfg.version + 1)


def compare(a: Replay, b: Replay) -> pd.DataFrame:
    """Side-by-side standard report of two replays run to the end (P&L, fill rate, drawdown, ...)."""
    return pd.DataFrame({"base": a.report().summary(), "what-if": b.report().summary()})


def compare_stored(a: Replay, b: Replay, run_a: str | None = None, run_b: str | None = None) -> Any:
    """Journal both runs into the store (:meth:`Replay.save`) and compare them with
    ``workbench.reports.compare``: matched intents, first divergence, P&L attribution."""
    from workbench.reports import compare as compare_runs

    return compare_runs(a.save(run_a), b.save(run_b), store=a.store)
