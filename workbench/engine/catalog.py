"""Export a store selection to a nautilus ``ParquetDataCatalog`` so ``BacktestNode`` run configs
(and anything else in the nautilus ecosystem) can read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from workbench.engine.config import DataSpec
from workbench.engine.data import load_bars, load_quotes, load_trades
from workbench.engine.instruments import to_nautilus


def export_catalog(store: Any, data: DataSpec | dict | str | list, path: str | Path) -> ParquetDataCatalog:
    """Write instruments and the selected quotes/trades/bars; returns the catalog."""
    data = DataSpec.coerce(data)
    Path(path).mkdir(parents=True, exist_ok=True)
    catalog = ParquetDataCatalog(str(path))
    for iid in sorted(set(data.instrument_ids) | set(data.extra_instruments)):
        inst = to_nautilus(store.instrument(iid))
        catalog.write_data([inst])
        if iid not in data.instrument_ids:
            continue
        if data.quotes and (quotes := load_quotes(store, inst, data.start, data.end)):
            catalog.write_data(quotes)
        if data.trades and (trades := load_trades(store, inst, data.start, data.end)):
            catalog.write_data(trades)
        for size in data.bars:
            if bars := load_bars(store, inst, size, data.start, data.end):
                catalog.write_data(bars)
    return catalog
