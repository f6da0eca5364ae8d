"""`compare(run_a, run_b, store=...)`: two journaled runs (BACKTEST, PAPER, REAL in any pairing) set
side by side intent by intent, with execution metrics and an exact P&L attribution (docs/reports.md).

>>> c = compare("bt-1", "paper-7", store=store)      # doctest: +SKIP
>>> c.summary(); c.attribution(); c.to_frame()       # doctest: +SKIP
>>> c.to_html("data/reports/compare.html")            # doctest: +SKIP
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.reports import attribution as attr
from workbench.reports.matching import aggregates, first_divergence, match, per_intent, rejects
from workbench.reports.runs import RunData, load_run

_COLORS = {"matched": "#2ca02c", "only_a": "#1f77b4", "only_b": "#d62728"}


class Comparison:
    """Run A against run B. Everything is computed once, here; the views below only format it."""

    def __init__(self, a: RunData, b: RunData, mark: dict | None = None):
        self.a, self.b = a, b
        ia, ib = per_intent(a), per_intent(b)
        self.intents = match(ia, ib)
        self.marks = attr.common_marks(a, b, mark)
        self.attr = attr.attribute(a, b, self.intents, self.marks)
        self.curves = attr.curves(a, b, self.marks)
        self.divergence = first_divergence(self.intents)
        self.stats = {"a": aggregates(ia, a), "b": aggregates(ib, b)}
        self.reject_counts = pd.DataFrame({"A": rejects(ia), "B": rejects(ib)}).fillna(0).astype(int)
        counts = self.intents["status"].value_counts()
        self.matched, self.only_a, self.only_b = (int(counts.get(k, 0)) for k in ("matched", "only_a", "only_b"))

    # -- numbers ---------------------------------------------------------------------------------
    @property
    def match_pct(self) -> float:
        """Matched intents as a share of all distinct intents of both runs (100 = identical decisions)."""
        n = self.matched + self.only_a + self.only_b
        return 100.0 * self.matched / n if n else 100.0

    def attribution(self) -> pd.Series:
        return self.attr.copy()

    def summary(self) -> pd.DataFrame:
        """Matching, execution aggregates and P&L of both runs, one metric per row (columns A, B)."""
        rows: dict[str, tuple] = {
            "run_id": (self.a.run_id, self.b.run_id), "mode": (self.a.mode, self.b.mode),
            "matched_intents": (self.matched, self.matched), "unmatched_intents": (self.only_a, self.only_b),
            "match_pct": (round(self.match_pct, 4),) * 2,
        }
        for k in self.stats["a"]:
            rows[k] = (self.stats["a"][k], self.stats["b"][k])
        c = self.curves
        rows["pnl"] = (self.attr["pnl_a"], self.attr["pnl_b"])
        rows["max_drawdown_usd"] = (float(c["drawdown_a"].min()), float(c["drawdown_b"].min()))
        rows["tracking_error_usd"] = (attr.tracking_error(c),) * 2
        return pd.DataFrame(rows, index=["A", "B"]).T

    def to_frame(self) -> pd.DataFrame:
        """One row per intent (matched, only_a, only_b) on the market timeline, both sides' metrics."""
        return self.intents.copy()

    def worst_slippage(self, n: int = 10) -> pd.DataFrame:
        """Matched intents with the largest slippage gap B - A against the decision-time mid."""
        m = self.intents[self.intents["status"] == "matched"].copy()
        m["slip_gap_bps"] = m["slip_decision_bps_b"] - m["slip_decision_bps_a"]
        m = m[np.isfinite(m["slip_gap_bps"])]
        return m.reindex(m["slip_gap_bps"].abs().sort_values(ascending=False).index).head(n)

    # -- views -----------------------------------------------------------------------------------
    def headline(self) -> str:
        t = self.attr
        lines = [f"A {self.a.run_id} ({self.a.mode}) vs B {self.b.run_id} ({self.b.mode}): "
                 f"{self.matched} matched, {self.only_a} only in A, {self.only_b} only in B "
                 f"({self.match_pct:.2f}% matched)",
                 "final marks: " + ", ".join(f"{k} {v:.6g}" for k, v in sorted(self.marks.items())),
                 f"P&L A {t['pnl_a']:.2f}, B {t['pnl_b']:.2f}, A-B {t['total_diff']:.2f} = fill-gap "
                 f"{t['fill_gap']:.2f} + cost-gap {t['cost_gap']:.2f} + commissions {t['commissions']:.2f} + "
                 f"decision divergence {t['decision_divergence']:.2f} (residual {t['residual']:.2e})"]
        for k, v in (self.divergence or {}).items():
            when = pd.Timestamp(v["t_market"], tz="UTC")
            lines.append(f"{k.replace('_', ' ')}: {when} " + ", ".join(f"{x}={y}" for x, y in v.items()
                                                                          if x != "t_market"))
        if not self.divergence:
            lines.append("no divergence: every intent matched with the same verdict and filled quantity")
        lines += [f"note ({r.run_id}): {n}" for r in (self.a, self.b) for n in r.notes]
        return "\n".join(lines)

    def plot(self) -> go.Figure:
        """P&L of both runs, their difference, and the intent timeline (first divergence marked)."""
        # plain numpy arrays: plotly deep-copies its inputs, and object arrays (strings, Timestamps) element by
        # element, which was most of the report's time at 10,000 intents
        c = self.curves
        t = c["t"].to_numpy("datetime64[ns]")
        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.45, 0.3, 0.25], vertical_spacing=0.04,
                            subplot_titles=("P&L (USD, at the common final mark)", "A - B (USD)", "intents"))
        fig.add_trace(go.Scatter(x=t, y=c["pnl_a"].to_numpy(), name=f"A {self.a.run_id}", line={"shape": "hv"}), 1, 1)
        fig.add_trace(go.Scatter(x=t, y=c["pnl_b"].to_numpy(), name=f"B {self.b.run_id}", line={"shape": "hv"}), 1, 1)
        fig.add_trace(go.Scatter(x=t, y=c["diff"].to_numpy(), name="A - B", line={"shape": "hv", "color": "#555"}),
                      2, 1)
        for k, status in enumerate(_COLORS):
            x = self.intents.loc[self.intents["status"] == status, "t_market"].to_numpy("datetime64[ns]")
            fig.add_trace(go.Scattergl(x=x, y=np.full(len(x), k), mode="markers", name=status,
                                       marker={"size": 4, "color": _COLORS[status]}), 3, 1)
        fig.update_yaxes(tickvals=list(range(len(_COLORS))), ticktext=list(_COLORS), row=3, col=1)
        first = (self.divergence or {}).get("first_unmatched") or (self.divergence or {}).get("first_outcome_gap")
        if first:  # one shape across the three panels (add_vline per row costs a layout update each)
            x = pd.Timestamp(first["t_market"], tz="UTC")
            fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                          line={"color": "#d62728", "dash": "dot"})
        fig.update_layout(height=640, template="plotly_white", margin={"l": 50, "r": 20, "t": 40, "b": 30},
                          title="Run comparison")
        return fig

    def _distributions(self) -> go.Figure:
        fig = make_subplots(rows=1, cols=2, subplot_titles=("slippage vs decision mid (bps)",
                                                            "time to fill, market clock (ms)"))
        for sfx, name in (("_a", "A"), ("_b", "B")):
            slip = self.intents[f"slip_decision_bps{sfx}"].to_numpy()
            fill = self.intents[f"time_to_fill_mkt_ms{sfx}"].to_numpy()
            fig.add_trace(go.Histogram(x=slip[np.isfinite(slip)], name=f"{name} slippage", opacity=0.6), 1, 1)
            fig.add_trace(go.Box(y=fill[np.isfinite(fill)], name=f"{name} time to fill"), 1, 2)
        fig.update_layout(height=360, template="plotly_white", barmode="overlay")
        return fig

    def to_html(self, path: str | Path) -> Path:
        """A self-contained page (plotly embedded, opens offline)."""
        from workbench.reports.html import Section, write_report

        cols = ["t_market", "status", "action", "side", "qty", "price", "verdict_a", "verdict_b", "filled_a",
                "filled_b", "vwap_a", "vwap_b", "slip_decision_bps_a", "slip_decision_bps_b"]
        return write_report(path, f"Compare {self.a.run_id} vs {self.b.run_id}", [
            Section("Overview", text=self.headline()),
            Section("Summary", table=self.summary()),
            Section("P&L attribution (A - B, USD)", table=self.attribution()),
            Section("P&L and intents", figure=self.plot()),
            Section("Distributions", figure=self._distributions()),
            Section("Rejects by reason", table=self.reject_counts),
            Section("Worst slippage gaps (matched intents)", table=self.worst_slippage()[cols]),
            Section("Intents (first 60 on the market timeline)", table=self.intents[cols].head(60)),
        ])

    def _repr_html_(self) -> str:
        return (f"<pre>{html.escape(self.headline())}</pre>" + self.summary().to_html(border=0)
                + self.attribution().to_frame().to_html(border=0))

    def __repr__(self) -> str:
        return (f"Comparison({self.a.run_id} vs {self.b.run_id}: matched={self.matched}, only_a={self.only_a}, "
                f"only_b={self.only_b}, pnl_diff={self.attr['total_diff']:.2f})")


def compare(run_a: str, run_b: str, *, store=None, mark: dict | None = None) -> Comparison:
    """Compare two journaled runs of ``store`` (default: the default store, read-only). ``mark``
    overrides the common final mark per instrument (default: the later run-end quote's mid)."""
    if store is None:
        from workbench.store import Store

        with Store.open(read_only=True, must_exist=True) as s:
            return Comparison(load_run(s, run_a), load_run(s, run_b), mark)
    return Comparison(load_run(store, run_a), load_run(store, run_b), mark)
