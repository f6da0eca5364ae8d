"""`workbench.backtest(...)`: a strategy + a data selection from the store + a venue model ->
a nautilus ``BacktestEngine`` run -> a :class:`BacktestResult`.

>>> result = backtest(strategy_config, {"instrument_ids": ["DEMO.XNAS"]}, store=store)  # doctest: +SKIP
>>> result.summary()                                                                      # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pyarrow as pa
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.models import FillModel, LatencyModel
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import ImportableStrategyConfig, RiskEngineConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AccountType, BookType, OmsType
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.instruments.base import Instrument as NautilusInstrument
from nautilus_trader.model.objects import Currency, Money
from nautilus_trader.trading.config import StrategyFactory
from nautilus_trader.trading.strategy import Strategy

from workbench.engine.config import DataSpec, VenueSpec
from workbench.engine.data import bars_from_arrow, quotes_from_arrow, trades_from_arrow
from workbench.engine.fees import IBFixedFeeModel
from workbench.engine.gated import GatedStrategy, RiskSupervisor, resolve_risk_config, using_gate
from workbench.engine.instruments import to_nautilus
from workbench.engine.orderlog import RunRecorder
from workbench.engine.result import BacktestResult
from workbench.risk.config import load_config
from workbench.risk.gate import RiskGate
from workbench.risk.journal import Journal


@contextmanager
def isolated_global_random() -> Any:
    """Nautilus's FillModel draws from Python's global ``random``: keep our runs from perturbing
    the user's generator, and the user's draws from perturbing our fills."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


def make_strategy(spec: Strategy | ImportableStrategyConfig | dict) -> Strategy:
    """A fresh strategy from an importable config (dict or object) — or the given instance."""
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, dict):
        spec = ImportableStrategyConfig(**spec)
    return StrategyFactory.create(spec)


def _currency(code: str) -> Currency:
    return USD if code == "USD" else Currency.from_str(code)


def build_engine(venue: VenueSpec, venues: Sequence[str], log_level: str = "ERROR",
                 trader_id: str = "WORKBENCH-001") -> BacktestEngine:
    """A BacktestEngine with one simulated venue per name, all built from the same spec."""
    config = BacktestEngineConfig(
        trader_id=TraderId(trader_id),
        logging=LoggingConfig(log_level=log_level, bypass_logging=log_level == "OFF"),
        risk_engine=RiskEngineConfig(bypass=False),
    )
    engine = BacktestEngine(config=config)
    ccy = _currency(venue.currency)
    for name in sorted(set(venues)):
        fill = FillModel(prob_fill_on_limit=venue.fill.prob_fill_on_limit, prob_slippage=venue.fill.prob_slippage,
                         random_seed=venue.fill.seed)
        fee = IBFixedFeeModel(per_share=venue.commission_per_unit) if venue.commission_per_unit else None
        latency = LatencyModel(int(venue.latency_ms * 1_000_000)) if venue.latency_ms else None
        engine.add_venue(
            venue=Venue(name), oms_type=OmsType[venue.oms_type], account_type=AccountType[venue.account_type],
            starting_balances=[Money(Decimal(venue.starting_balance), ccy)], base_currency=ccy,
            fill_model=fill, fee_model=fee, latency_model=latency, book_type=BookType[venue.book_type],
            bar_execution=venue.bar_execution,
        )
    return engine


@dataclass(frozen=True, slots=True)
class Batch:
    """One stream of stored data as nautilus objects, with the store rows it came from (the replay
    draws its price line from ``table`` without touching the objects)."""

    instrument: NautilusInstrument
    kind: str  # "quotes", "trades" or "bars"
    table: pa.Table
    items: list


def load_batches(store: Any, data: DataSpec) -> tuple[list[NautilusInstrument], list[Batch]]:
    """The selection's instruments (extra ones included, sorted by id) and its data streams, in the
    order both the backtest and the replay feed them: per instrument quotes, trades, then each bar size."""
    instruments, batches = [], []
    s, e = data.start, data.end
    for iid in sorted(set(data.instrument_ids) | set(data.extra_instruments)):
        inst = to_nautilus(store.instrument(iid))
        instruments.append(inst)
        if iid not in data.instrument_ids:
            continue
        if data.quotes:
            tbl = store.read_quotes(iid, s, e, as_="arrow")
            batches.append(Batch(inst, "quotes", tbl, quotes_from_arrow(tbl, inst)))
        if data.trades:
            tbl = store.read_trades(iid, s, e, as_="arrow")
            batches.append(Batch(inst, "trades", tbl, trades_from_arrow(tbl, inst)))
        for size in data.bars:
            tbl = store.read_bars(iid, size, s, e, price_type="TRADE", adjusted=False, as_="arrow")
            batches.append(Batch(inst, "bars", tbl, bars_from_arrow(tbl, inst, size)))
    return instruments, batches


def load_into(engine: BacktestEngine, store: Any, data: DataSpec) -> int:
    """Register instruments and add the selected data; returns the number of data objects."""
    instruments, batches = load_batches(store, data)
    for inst in instruments:
        engine.add_instrument(inst)
    for batch in batches:
        if batch.items:
            engine.add_data(batch.items, sort=False)
    engine.sort_data()
    return sum(len(b.items) for b in batches)


def expand_options(store: Any, data: DataSpec) -> DataSpec:
    """Resolve ``options_of`` into the stored option ids of those underlyings."""
    if not data.options_of:
        return data
    ids = list(data.instrument_ids)
    for und in data.options_of:
        ids += store.instruments(asset_class="OPTION", underlying=und)["instrument_id"].tolist()
    return replace(data, instrument_ids=tuple(dict.fromkeys(ids)), options_of=())


def backtest(
    strategy: Strategy | ImportableStrategyConfig | dict | Sequence[Any],
    data: DataSpec | dict | str | list,
    venue: VenueSpec | None = None,
    *,
    store: Any = None,
    log_level: str = "ERROR",
    risk_config: str | None = None,
    run_id: str | None = None,
) -> BacktestResult:
    """Run one backtest from the store and return its result object.

    ``strategy`` may be a nautilus ``Strategy`` instance, an ``ImportableStrategyConfig`` (or
    its dict form) — the form a live node config uses — or a list of them. The same call twice
    gives identical orders, fills and PnL, also with a probabilistic fill model.

    Strategies derived from ``GatedStrategy`` share one fresh risk gate built from ``risk_config``
    (default ``config/risk.yaml``): every order intent is approved, modified or rejected with a
    reason before it reaches the simulated venue; ``result.decisions`` holds them all.

    With a ``run_id`` the run is journaled into ``store`` under that id (decisions, fills, order
    lifecycle, run-end marks: ``risk_runs``/``risk_decisions``/``risk_order_events``), so
    ``workbench.reports.compare`` can set it against another backtest or a node run.
    """
    from workbench.store import Store

    venue = venue or VenueSpec()
    data = DataSpec.coerce(data)
    store = store if store is not None else Store.open()
    data = expand_options(store, data)
    specs = list(strategy) if isinstance(strategy, list | tuple) else [strategy]
    venues = [iid.rsplit(".", 1)[1] for iid in (*data.instrument_ids, *data.extra_instruments)]
    journal = Journal(store, run_id) if run_id else None
    # fresh per run: same inputs, same outputs
    gate = RiskGate(load_config(resolve_risk_config(risk_config)), journal=journal)
    with isolated_global_random():
        engine = build_engine(venue, venues, log_level)
        n_data = load_into(engine, store, data)
        recorder = RunRecorder(store, run_id, "BACKTEST", engine.kernel) if run_id else None
        with using_gate(gate):
            strategies = [make_strategy(s) for s in specs]
        for strat in strategies:
            engine.add_strategy(strat)
        gated = [s for s in strategies if isinstance(s, GatedStrategy)]
        if gated:  # derisk playbook, kill-switch cancel-all, nautilus TradingState behind the gate
            engine.add_actor(RiskSupervisor(gate, gated, risk_engine=engine.kernel.risk_engine,
                                            instrument_ids=list(data.instrument_ids)))
        random.seed(venue.fill.seed)  # FillModel seeded in __init__; re-seed right before the run
        engine.run()
    if recorder is not None:
        journal.flush()
        recorder.finish(data.instrument_ids)
        journal.close()  # lets go of the store's connection (the gate, kept by the engine, keeps the journal)
    result = BacktestResult(engine, venues=sorted(set(venues)), n_data=n_data, data=data, venue=venue,
                            decisions=[d for s in gated for d in s.decisions])
    result.run_id = run_id
    return result
