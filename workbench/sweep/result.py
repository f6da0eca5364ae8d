"""The result of a sweep: one row per run, ranking, robustness views, plots and drill-down."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from workbench.sweep import robust


class SweepResult:
    """Runs of one sweep (``to_frame()``), the best of them, and whether the best is robust.

    ``rerun(i)`` runs point ``i`` again, alone in this process, and returns the full
    ``BacktestResult`` (fills, orders, equity, tearsheet) — its metrics equal the sweep row's.
    """

    def __init__(self, sweep: Any, frame: pd.DataFrame, *, sweep_id: str, wall_s: float, workers: int,
                 export: Any) -> None:
        self.sweep = sweep
        self.export = export  # the data these runs read (a later run of the sweep may read newer data)
        self.frame = frame
        self.sweep_id = sweep_id
        self.wall_s = wall_s
        self.workers = workers
        self.params = sweep.param_names

    @property
    def walk_forward(self) -> bool:
        return self.sweep.walk_forward is not None

    @property
    def failed(self) -> pd.DataFrame:
        return self.frame[self.frame["error"].notna()]

    def to_frame(self) -> pd.DataFrame:
        """One row per run: index, run_id, fold, phase, window, params, metrics, objective,
        duration_s, worker, error (failed runs included)."""
        return self.frame.copy()

    def metrics(self, i: int) -> dict | None:
        """Run ``i``'s metrics as the worker returned them (ints, floats, None), or None if it failed
        before producing any: comparable with ``metrics_of(result.rerun(i))``."""
        from workbench.sweep.worker import metrics_from_row

        return metrics_from_row(self.frame.loc[i])

    def _ranked(self) -> pd.DataFrame:
        ok = self.frame.dropna(subset=["objective"])
        # highest objective first; ties in run order (deterministic)
        return ok.sort_values(["objective", "index"], ascending=[False, True], kind="stable")

    def best(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` best runs by objective. Walk-forward: parameter sets ranked by their mean
        in-sample objective over the folds (choosing by out-of-sample results would be hindsight),
        with their mean out-of-sample objective beside it."""
        if not self.walk_forward:
            return self._ranked().head(n)
        f = self.frame
        g = f.groupby(self.params or (lambda _: "entry"), sort=False)
        out = pd.DataFrame({"objective_is": g.apply(lambda d: d.loc[d["phase"] == "train", "objective"].mean()),
                            "objective_oos": g.apply(lambda d: d.loc[d["phase"] == "test", "objective"].mean()),
                            "failed": g["error"].apply(lambda s: int(s.notna().sum()))})
        return out.sort_values("objective_is", ascending=False, kind="stable").head(n).reset_index()

    def plateau(self) -> pd.DataFrame:
        """Per parameter set: objective, mean over its grid neighbours, gap (walk-forward: in-sample)."""
        f = self.frame[self.frame["phase"] != "test"]
        if not self.params:  # one point: no neighbourhood
            return pd.DataFrame(columns=["objective", "plateau", "gap", "neighbours"])
        return robust.plateau(f, self.params)

    def rank_stability(self) -> pd.DataFrame:
        """Walk-forward only: in-sample vs out-of-sample Spearman per fold and the IS winner's OOS rank."""
        if not self.walk_forward:
            raise ValueError("rank_stability needs a walk-forward sweep (Sweep(..., walk_forward=...))")
        return robust.rank_stability(self.frame, self.params)

    def summary(self) -> pd.Series:
        f = self.frame
        s: dict[str, Any] = {"sweep_id": self.sweep_id, "runs": len(f), "failed": int(f["error"].notna().sum()),
                             "objective": self.sweep.objective_name, "workers": self.workers,
                             "wall_s": round(self.wall_s, 2), "runs_per_s": round(len(f) / self.wall_s, 3)
                             if self.wall_s > 0 else None,
                             "data_key": self.export.key}
        plat = self.plateau()
        if len(plat):
            top = plat.iloc[0]
            s.update({"best_params": ", ".join(f"{p}={top[p]}" for p in self.params),
                      "best_objective": round(float(top["objective"]), 6),
                      "best_plateau": None if pd.isna(top["plateau"]) else round(float(top["plateau"]), 6)})
        if self.walk_forward:
            rs = self.rank_stability()
            s["folds"] = len(rs)
            rho = pd.to_numeric(rs.get("spearman"), errors="coerce").dropna() if len(rs) else pd.Series(dtype=float)
            s["is_oos_spearman_mean"] = round(float(rho.mean()), 4) if len(rho) else None
            oos = pd.to_numeric(rs.get("best_oos_objective"), errors="coerce").dropna() if len(rs) else rho
            s["chosen_oos_objective_mean"] = round(float(oos.mean()), 6) if len(oos) else None
        return pd.Series(s, name="sweep")

    def plot(self, metric: str = "objective") -> go.Figure:
        """Heatmap for two parameters, a line for one, parallel coordinates beyond (mean of
        ``metric`` per parameter set; walk-forward: out-of-sample runs)."""
        f = self.frame[self.frame["phase"] == ("test" if self.walk_forward else "all")]
        title = f"{metric} ({self.sweep.objective_name})" if metric == "objective" else metric
        layout = {"template": "plotly_white", "height": 420, "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
                  "title": title + (" out of sample" if self.walk_forward else "")}
        if not self.params:  # the entry as it is, per walk-forward fold
            fig = go.Figure(go.Bar(x=f["start"].astype(str), y=f[metric]))
            fig.update_layout(xaxis_title="test window start", yaxis_title=metric, **layout)
            return fig
        per = f.groupby(self.params, sort=False)[metric].mean().reset_index()
        if len(self.params) == 1:
            p = self.params[0]
            fig = go.Figure(go.Scatter(x=per[p], y=per[metric], mode="lines+markers"))
            fig.update_layout(xaxis_title=p, yaxis_title=metric, **layout)
        elif len(self.params) == 2:
            x, y = self.params
            table = per.pivot(index=y, columns=x, values=metric)
            fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=[str(v) for v in table.columns],
                                       y=[str(v) for v in table.index], colorscale="RdBu", zmid=0,
                                       colorbar={"title": metric}))
            fig.update_layout(xaxis_title=x, yaxis_title=y, **layout)
        else:
            dims = [{"label": p, "values": pd.factorize(per[p], sort=True)[0],
                     "tickvals": list(range(per[p].nunique())),
                     "ticktext": [str(v) for v in sorted(per[p].unique(), key=str)]} for p in self.params]
            dims.append({"label": metric, "values": per[metric]})
            fig = go.Figure(go.Parcoords(line={"color": per[metric], "colorscale": "RdBu", "showscale": True},
                                         dimensions=dims))
            fig.update_layout(**layout)
        return fig

    def rerun(self, i: int) -> Any:
        """Point ``i`` again as a full ``BacktestResult``, alone, in this process, on the data export
        the sweep ran on (the store may have changed since; the export, keyed by content, has not)."""
        from workbench.engine import backtest
        from workbench.sweep.datacache import open_source

        task = self.sweep.task(self.sweep.points(self.export)[int(i)], self.export)
        return backtest(task.entries, task.data, task.venue, store=open_source(task.url),
                        risk_config=task.risk_config)

    def _repr_html_(self) -> str:
        return self.summary().to_frame().to_html(border=0)

    def __repr__(self) -> str:
        f = self.frame
        return f"SweepResult({self.sweep_id}, runs={len(f)}, failed={int(f['error'].notna().sum())})"

