"""Point-in-time exposure report of the risk book (``Book.snapshot``)."""

from __future__ import annotations

import pandas as pd

from workbench.risk.config import CompiledConfig


class ExposureReport:
    """A point-in-time exposure breakdown (``arch``-style: ``summary()``, ``to_frame()``, ``plot()``)."""

    def __init__(
        self,
        ts,
        equity,
        gross_cur,
        gross_pot,
        long_cur,
        short_cur,
        bucket_cur,
        bucket_pot,
        group_pot,
        legs: pd.DataFrame,
        cfg: CompiledConfig,
    ):
        self.ts, self.equity = ts, equity
        pct = 100.0 / equity
        self.gross_exposure_pct = gross_cur * pct
        self.potential_exposure_pct = gross_pot * pct
        self.long_gross_pct = long_cur * pct
        self.short_gross_pct = short_cur * pct
        self.buckets = {
            b: {
                "current_pct": bucket_cur.get(b, 0.0) * pct,
                "potential_pct": bucket_pot.get(b, 0.0) * pct,
                "target_pct": spec.target_pct,
                "max_pct": spec.max_pct,
            }
            for b, spec in cfg.spec.exposure.buckets.items()
        }
        self.group_exposure_pct = {g: v * pct for g, v in sorted(group_pot.items())}
        self.legs = legs

    def to_frame(self) -> pd.DataFrame:
        return self.legs.copy()

    def summary(self) -> str:
        lines = [
            f"gross {self.gross_exposure_pct:.2f}% (long {self.long_gross_pct:.2f}% / short "
            f"{self.short_gross_pct:.2f}%), potential {self.potential_exposure_pct:.2f}% of equity "
            f"{self.equity:,.0f}"
        ]
        for b, v in self.buckets.items():
            lines.append(
                f"  {b:<8} current {v['current_pct']:.2f}% potential {v['potential_pct']:.2f}% "
                f"target {v['target_pct']}% max {v['max_pct']}%"
            )
        return "\n".join(lines)

    def plot(self):
        import plotly.graph_objects as go

        names = list(self.buckets)
        fig = go.Figure()
        fig.add_bar(name="current %", x=names, y=[self.buckets[b]["current_pct"] for b in names])
        fig.add_bar(name="potential %", x=names, y=[self.buckets[b]["potential_pct"] for b in names])
        fig.add_scatter(name="max %", x=names, y=[self.buckets[b]["max_pct"] for b in names], mode="markers")
        fig.update_layout(title="Exposure by bucket (% equity)", barmode="group")
        return fig
