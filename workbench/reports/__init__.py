"""Reports: HTML pages assembled from result objects (demo, backtests) and run comparisons
(``compare(run_a, run_b)``: BACKTEST, PAPER and REAL journals intent by intent, docs/reports.md)."""

from workbench.reports.compare import Comparison, compare
from workbench.reports.html import Section, write_report

__all__ = ["Comparison", "Section", "compare", "write_report"]
