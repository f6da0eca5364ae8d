"""Export a store selection to a nautilus ``ParquetDataCatalog`` so ``BacktestNode`` run configs
(and anything else in the nautilus ecosystem) can read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from workbench.engine.backtest import load_batches
from workbench.engine.config import DataSpec


def export_catalog(store: Any, data: DataSpec | dict | str | list, path: str | Path) -> ParquetDataCatalog:
    """Write instruments and the selected quotes/trades/bars; returns the catalog. The store is read the
    way a backtest reads it (``load_batches``: one loading loop for both)."""
    data = DataSpec.coerce(data)
    Path(path).mkdir(parents=True, exist_ok=True)
    catalog = ParquetDataCatalog(str(path))
    instruments, batches = load_batches(store, data)
    for inst in instruments:
        catalog.write_data([inst])
    for batch in batches:
        if batch.items:  # an empty stream writes no file (as before)
            catalog.write_data(batch.items)
    return catalog
