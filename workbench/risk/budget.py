"""The shared risk budget: several strategies draw potential gross notional from one pool.

Policy, in order:

* **quota** — a strategy may hold at most ``quota_pct`` of the pool;
* **guaranteed minimum** — for every *critical* strategy, the unused part of its ``guaranteed_pct``
  is reserved: no other strategy can take it, so a greedy strategy cannot starve a critical one;
* **priority** — when exposure must come down, the derisk playbook takes it from the lowest priority
  first (see :mod:`workbench.risk.policy`); reports sort by it.

Consumption is measured as each strategy's *potential* notional (positions plus all working orders),
the same number the exposure checks use; only increases are charged, a reducing order always fits.
Every charge and every refusal is logged (who, when in exchange time, how much, why) for the report.
"""

from __future__ import annotations

from collections import deque

import pandas as pd

from workbench.risk.config import CompiledConfig
from workbench.risk.exposure import Book
from workbench.risk.outcome import commit_record
from workbench.risk.types import RiskDecision


class SharedBudget:
    """The budget's log and report. The check itself is the ``budget`` validator, compiled into the
    chain (:mod:`workbench.risk.validators`), and each strategy's peak is kept in the book."""

    def __init__(self, book: Book, max_log: int = 200_000):
        self.book = book
        # Approved decisions that moved a strategy's potential; their values rows carry the amounts.
        self.log: deque[RiskDecision] = deque(maxlen=max_log)
        self.refused: dict[str, int] = {}

    @property
    def peak(self) -> dict[str, float]:
        return self.book.strategy_peaks()

    def report(self, cfg: CompiledConfig, used: dict[str, list[float]], equity: float) -> BudgetReport:
        rows = []
        for d in self.log:
            i = d.intent
            _, _, delta, used_after = commit_record(d.raw_values)
            rows.append((i.ts_event, i.strategy_id, i.intent_id, delta, used_after, True, i.tag or i.action))
        return BudgetReport(
            cfg,
            {s: c[0] for s, c in used.items()},
            equity,
            rows,
            self.peak,
            dict(self.refused),
        )


class BudgetReport:
    """Who consumed how much, when and why (``summary()``, ``to_frame()``, ``plot()``)."""

    _COLS = ["ts_event", "strategy", "intent_id", "delta", "used_after", "approved", "why"]

    def __init__(self, cfg, used, equity, log, peak, refused):
        self.total = cfg.spec.budget.total_pct * equity / 100.0
        self.log = pd.DataFrame(log, columns=self._COLS)
        rows = []
        for sid, s in sorted(cfg.spec.strategies.items(), key=lambda kv: (-kv[1].priority, kv[0])):
            rows.append(
                {
                    "strategy": sid,
                    "priority": s.priority,
                    "critical": s.critical,
                    "quota": s.quota_pct * self.total / 100.0,
                    "guaranteed": s.guaranteed_pct * self.total / 100.0,
                    "used": used.get(sid, 0.0),
                    "peak": peak.get(sid, 0.0),
                    "refused": refused.get(sid, 0),
                }
            )
        self.table = pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        return self.log.copy()

    def summary(self) -> str:
        return f"budget pool {self.total:,.0f}\n" + self.table.to_string(index=False)

    def plot(self):
        import plotly.graph_objects as go

        fig = go.Figure()
        ok = self.log[self.log["approved"]]
        for sid in self.table["strategy"]:
            part = ok[ok["strategy"] == sid]
            fig.add_scatter(
                x=pd.to_datetime(part["ts_event"], utc=True),
                y=part["used_after"],
                name=sid,
                mode="lines",
                line_shape="hv",
            )
        bad = self.log[~self.log["approved"]]
        if len(bad):
            fig.add_scatter(
                x=pd.to_datetime(bad["ts_event"], utc=True),
                y=bad["used_after"],
                mode="markers",
                name="refused",
                marker_symbol="x",
            )
        for row in self.table.itertuples():
            if row.guaranteed > 0:
                fig.add_hline(y=row.guaranteed, line_dash="dot", annotation_text=f"{row.strategy} guaranteed")
        fig.update_layout(title="Shared risk budget: potential notional per strategy", yaxis_title="notional")
        return fig
