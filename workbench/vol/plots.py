"""Plotly figures for smiles and surfaces; they render in JupyterLab and export to standalone HTML."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["heatmap_figure", "history_figure", "smile_figure", "surface_figure", "term_structure_figure",
           "write_html"]


def smile_figure(smile, *, title: str | None = None) -> go.Figure:
    """Bid/ask IV band per quote (error bars), mid, the fit and residuals in vol points."""
    q = smile.quotes
    lo = q["iv_bid"].fillna(0.0)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.05)
    fig.add_trace(go.Scatter(
        x=q["k"], y=0.5 * (lo + q["iv_ask"]), mode="markers", name="bid/ask IV",
        marker={"size": 3, "color": "rgba(0,0,0,0)"},
        error_y={"type": "data", "symmetric": False, "array": q["iv_ask"] - 0.5 * (lo + q["iv_ask"]),
                 "arrayminus": 0.5 * (lo + q["iv_ask"]) - lo, "color": "#7f7f7f", "width": 2}), row=1, col=1)
    colors = np.where(q["inside"], "#1f77b4", "#d62728")
    fig.add_trace(go.Scatter(x=q["k"], y=q["iv_mid"], mode="markers", name="mid IV",
                             marker={"size": 5, "color": colors}), row=1, col=1)
    k0, k1 = float(q["k"].min()), float(q["k"].max())
    pad = 0.1 * (k1 - k0 + 1e-3)
    kk = np.linspace(k0 - pad, k1 + pad, 300)
    fig.add_trace(go.Scatter(x=kk, y=smile.iv(kk), mode="lines", name="fit", line={"color": "#ff7f0e"}),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=q["k"], y=(q["fit_iv"] - q["iv_mid"]) * 100, name="fit - mid (vol pts)",
                         marker_color=colors), row=2, col=1)
    fig.update_yaxes(title_text="implied vol", tickformat=".0%", row=1, col=1)
    fig.update_yaxes(title_text="resid (pts)", row=2, col=1)
    fig.update_xaxes(title_text="k = ln(K/F)", row=2, col=1)
    fig.update_layout(title=title or f"{smile.expiry.date()}  T={smile.T:.3f}  F={smile.forward:.2f}  "
                      f"inside {smile.inside_pct:.0f}%  RMSE {smile.rmse_vol_pts:.2f} pts",
                      template="plotly_white", height=520)
    return fig


def term_structure_figure(surface, *, days=None) -> go.Figure:
    from workbench.vol.grids import CM_DAYS, term_structure

    ts = term_structure(surface, days or CM_DAYS)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=ts["days"], y=ts["atm_vol"], name="ATM vol", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=[s.T * 365 for s in surface.smiles], y=[s.atm_vol for s in surface.smiles],
                             name="ATM vol (expiries)", mode="markers", marker={"symbol": "x"}))
    fig.add_trace(go.Scatter(x=ts["days"], y=ts["rr25"], name="25d RR", mode="lines"), secondary_y=True)
    fig.add_trace(go.Scatter(x=ts["days"], y=ts["bf25"], name="25d BF", mode="lines"), secondary_y=True)
    fig.update_xaxes(title_text="days to expiry")
    fig.update_yaxes(title_text="ATM vol", tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text="RR / BF", tickformat=".1%", secondary_y=True)
    fig.update_layout(title=f"{surface.symbol} term structure", template="plotly_white", height=420)
    return fig


def _mesh(surface, n_k=61):
    T = np.linspace(surface.T[0], surface.T[-1], 40)
    k = np.linspace(-0.5, 0.3, n_k)
    kk, tt = np.meshgrid(k, T)
    return k, T, surface.iv(kk, tt)


def surface_figure(surface) -> go.Figure:
    k, T, iv = _mesh(surface)
    fig = go.Figure(go.Surface(x=k, y=T, z=iv, colorscale="Viridis", colorbar={"title": "IV"}))
    fig.update_layout(title=f"{surface.symbol} implied vol surface", template="plotly_white", height=560,
                      scene={"xaxis_title": "k = ln(K/F)", "yaxis_title": "T (years)", "zaxis_title": "IV"})
    return fig


def heatmap_figure(surface) -> go.Figure:
    k, T, iv = _mesh(surface)
    fig = go.Figure(go.Heatmap(x=k, y=T * 365, z=iv, colorscale="Viridis", colorbar={"title": "IV"}))
    fig.update_layout(title=f"{surface.symbol} implied vol heatmap", xaxis_title="k = ln(K/F)",
                      yaxis_title="days", template="plotly_white", height=460)
    return fig


def history_figure(history, symbol: str = "") -> go.Figure:
    """ATM 30d vol, 25d skew and term slope over snapshots (frame from ``history.surface_history``)."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=("ATM 30d vol", "25d risk reversal (30d)", "term slope (91d - 30d)"))
    x = history["as_of_time"]
    for i, col in enumerate(("atm_30d", "rr25_30d", "term_slope"), start=1):
        fig.add_trace(go.Scatter(x=x, y=history[col], mode="lines+markers", name=col), row=i, col=1)
    fig.update_layout(title=f"{symbol} surface history", template="plotly_white", height=620, showlegend=False)
    return fig


def write_html(surface, path) -> Path:
    """One standalone HTML page: summary, term structure, surface, heatmap and every smile."""
    path = Path(path)
    figs = [surface.plot_term_structure(), surface_figure(surface), heatmap_figure(surface)]
    figs += [s.plot() for s in surface.smiles]
    parts = [f"<h2>{surface.symbol} volatility surface</h2><pre>{surface.summary()}</pre>"]
    for i, fig in enumerate(figs):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    path.write_text("<html><head><meta charset='utf-8'></head><body>" + "\n".join(parts) + "</body></html>")
    return path
