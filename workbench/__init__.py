"""workbench: research and paper trading for equities and options on NautilusTrader.

The short public API; each name is imported on first use, so ``import workbench`` stays cheap
(nautilus and numba load only when the engine or the vol toolkit is touched).

>>> import workbench as wb
>>> store = wb.Store.open(":memory:")                         # doctest: +SKIP
>>> wb.generate_market(store)                                  # the demo market  # doctest: +SKIP
>>> wb.check_health(store, "DEMO").summary()                   # doctest: +SKIP
>>> wb.backtest(strategy_config, ["DEMO.XNAS"], store=store)   # doctest: +SKIP
>>> wb.VolSurface.from_store(store, "DEMO.XNAS")               # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Store": "workbench.store",
    "Instrument": "workbench.store",
    "ingest_lean": "workbench.ingest",
    "ingest_chain_file": "workbench.ingest",
    "ingest_csv": "workbench.ingest",
    "generate_market": "workbench.ingest.generator",
    "MarketConfig": "workbench.ingest.generator",
    "check_health": "workbench.health",
    "backtest": "workbench.engine",
    "DataSpec": "workbench.engine",
    "VenueSpec": "workbench.engine",
    "FillSpec": "workbench.engine",
    "export_catalog": "workbench.engine",
    "RiskGate": "workbench.risk",
    "load_risk_config": "workbench.risk",
    "VolSurface": "workbench.vol",
    "implied_vol": "workbench.vol",
    "run_demo": "workbench.demo",
}
_RENAMED = {"load_risk_config": "load_config"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
