"""Parameter sweeps and walk-forward on Dask: many backtests of one strategy entry at once, from a
laptop's cores to a cluster, without changing the notebook (docs/sweep.md).

>>> from workbench.sweep import Sweep, walk_forward
>>> result = Sweep(entry, grid={"entry_spreads": [2.0, 3.0]}, data=["DEMO.XNAS"]).run()   # doctest: +SKIP
"""

from workbench.sweep.config import load_sweep_config
from workbench.sweep.datacache import ParquetSource, export_data
from workbench.sweep.persist import load_runs
from workbench.sweep.result import SweepResult
from workbench.sweep.runner import Sweep, local_cluster
from workbench.sweep.spec import SweepError, WalkForward, walk_forward

__all__ = ["ParquetSource", "Sweep", "SweepError", "SweepResult", "WalkForward", "export_data", "load_runs",
           "load_sweep_config", "local_cluster", "walk_forward"]
