"""Reports: HTML pages assembled from result objects (demo, backtests; PAPER-vs-REAL comparisons are planned)."""

from workbench.reports.html import Section, write_report

__all__ = ["Section", "write_report"]
