"""Data health and lineage: calendar gaps, OHLC sanity, bad prices, crossed/locked quotes,
duplicates, return outliers, chain snapshots without underlying data or gone stale, and the
repairs applied during ingest.

>>> from workbench.health import check_health
>>> report = check_health(store, "SPY")
>>> print(report.summary()); report.ok
"""

from workbench.health.checks import check_health
from workbench.health.report import SEVERITIES, Finding, HealthReport

__all__ = ["SEVERITIES", "Finding", "HealthReport", "check_health"]
