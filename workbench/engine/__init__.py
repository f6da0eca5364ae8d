"""Engine bridge: the only package that imports nautilus internals.

Store records -> nautilus instruments and data; `backtest(...)` runs a BacktestEngine on a data
selection and returns a :class:`BacktestResult`; `export_catalog` writes a ParquetDataCatalog.
"""

from workbench.engine.backtest import backtest, build_engine, make_strategy
from workbench.engine.catalog import export_catalog
from workbench.engine.config import DataSpec, FillSpec, VenueSpec
from workbench.engine.result import BacktestResult

__all__ = ["BacktestResult", "DataSpec", "FillSpec", "VenueSpec", "backtest", "build_engine", "export_catalog", "make_strategy"]
