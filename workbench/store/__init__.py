"""DuckDB market-data store: instruments, bars, quotes, trades, option chains, lineage.

>>> from workbench.store import Store
>>> store = Store.open(":memory:")
"""

from workbench.store.calendars import missing_windows, present_dates
from workbench.store.model import Instrument, option_symbol
from workbench.store.store import Store
from workbench.store.timeutil import to_ns
from workbench.store.writes import MergeCounts

__all__ = ["Instrument", "MergeCounts", "Store", "missing_windows", "option_symbol", "present_dates", "to_ns"]
