"""Reports: HTML pages assembled from result objects (demo, backtests, comparisons)."""

from workbench.reports.html import Section, write_report

__all__ = ["Section", "write_report"]
