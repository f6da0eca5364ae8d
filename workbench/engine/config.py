"""Immutable run configuration: what data, which venue model."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class FillSpec:
    """Probabilistic fill model. ``seed`` makes it reproducible: the workbench builds a fresh
    nautilus FillModel per run and isolates Python's global ``random`` state around the run
    (nautilus's FillModel draws from the global generator)."""

    prob_fill_on_limit: float = 1.0
    prob_slippage: float = 0.0
    seed: int = 42


@dataclass(frozen=True, slots=True)
class VenueSpec:
    """How the simulated venue behaves. Defaults resemble an IB margin account on US equities."""

    oms_type: str = "NETTING"
    account_type: str = "MARGIN"
    starting_balance: Decimal = Decimal("1000000")
    currency: str = "USD"
    book_type: str = "L1_MBP"
    fill: FillSpec = field(default_factory=FillSpec)
    commission_per_unit: Decimal | None = Decimal("0.005")  # IB fixed: $/share, min $1 (None: free)
    latency_ms: float = 0.0
    bar_execution: bool = True


@dataclass(frozen=True, slots=True)
class DataSpec:
    """A selection of stored data to replay. Times are UTC unless they carry a zone."""

    instrument_ids: tuple[str, ...]
    start: Any = None
    end: Any = None
    quotes: bool = True
    trades: bool = False
    bars: tuple[str, ...] = ()
    extra_instruments: tuple[str, ...] = ()  # registered without data (e.g. options quoted later)
    options_of: tuple[str, ...] = ()         # underlyings whose stored options (and quotes) join the run

    @staticmethod
    def coerce(value: DataSpec | dict | str | list) -> DataSpec:
        if isinstance(value, DataSpec):
            return value
        if isinstance(value, str):
            return DataSpec((value,))
        if isinstance(value, list | tuple):
            return DataSpec(tuple(value))
        value = dict(value)
        ids = value.pop("instrument_ids")
        return DataSpec(tuple([ids] if isinstance(ids, str) else ids),
                        **{k: tuple(v) if k in ("bars", "extra_instruments", "options_of") else v for k, v in value.items()})
