"""The result of one backtest: reports as frames, a PnL curve, and HTML output."""

from __future__ import annotations

import html
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from nautilus_trader.model.identifiers import Venue
from plotly.subplots import make_subplots


class BacktestResult:
    """Fills, orders, positions, account, PnL curve and drawdown of one run (``arch``-style).

    The underlying nautilus engine stays alive for :meth:`tearsheet`; call :meth:`close` to free it.
    """

    run_id: str | None = None  # the journal's run id when the run was journaled (``backtest(run_id=...)``)

    def __init__(self, engine: Any, venues: list[str], n_data: int, data: Any, venue: Any,
                 decisions: list | None = None) -> None:
        self.decisions = decisions or []
        self.engine = engine
        self.venues = venues
        self.n_data = n_data
        self.data_spec = data
        self.venue_spec = venue
        self.starting_balance = Decimal(venue.starting_balance)

    # Reports are built on first use: generating them costs as much as a short run itself.
    @cached_property
    def orders(self) -> pd.DataFrame:
        return _frame(self.engine.trader.generate_orders_report())

    @cached_property
    def fills(self) -> pd.DataFrame:
        return _frame(self.engine.trader.generate_fills_report())

    @cached_property
    def positions(self) -> pd.DataFrame:
        return _frame(self.engine.trader.generate_positions_report())

    @cached_property
    def account(self) -> pd.DataFrame:
        trader = self.engine.trader
        return pd.concat([_frame(trader.generate_account_report(Venue(v))).assign(venue=v) for v in self.venues])

    def reconciliation(self) -> dict:
        """Submitted orders, cancels and modifies vs recorded gate approvals: every count but
        ``orders`` must be 0."""
        from workbench.engine.reconcile import reconcile

        return reconcile(self.engine.cache.orders(), self.decisions)

    def decisions_frame(self) -> pd.DataFrame:
        """One row per gate decision: time, strategy, instrument, action, side, qty, verdict, reasons."""
        return pd.DataFrame([{"ts_event": d.intent.ts_event, "strategy_id": d.intent.strategy_id,
                              "instrument_id": d.intent.instrument_id, "action": d.intent.action.value,
                              "side": d.intent.side.value, "qty": d.intent.qty, "verdict": d.verdict.value,
                              "reasons": ",".join(r.value for r in d.reasons)} for d in self.decisions])

    # -- derived series --------------------------------------------------------------------------
    def equity_curve(self) -> pd.Series:
        """Equity over event time: the account balance (realised P&L net of commissions) at each
        account event, then one last point at the end of the run marked to market (balance plus
        :attr:`unrealised_pnl`). Open positions are not re-marked between account events."""
        if self.account.empty or "total" not in self.account:
            return pd.Series(dtype=float, name="equity")
        acc = self.account.copy()
        acc["total"] = acc["total"].astype(float)
        curve = acc.groupby(level=0)["total"].sum() if len(self.venues) > 1 else acc["total"]
        open_pnl = float(self.unrealised_pnl)
        if open_pnl != 0.0:  # (NaN, an unpriced open position, is kept: the end is then unknown)
            end = max(pd.Timestamp(self.engine.kernel.clock.timestamp_ns(), tz="UTC"), curve.index[-1])
            curve = pd.concat([curve, pd.Series([float(curve.iloc[-1]) + open_pnl], index=[end])])
        return curve.rename("equity")

    def drawdown(self) -> pd.Series:
        eq = self.equity_curve()
        return (eq / eq.cummax() - 1.0).rename("drawdown")

    @property
    def pnl(self) -> Decimal:
        """Total P&L marked to market: :attr:`realised_pnl` + :attr:`unrealised_pnl`."""
        return self.realised_pnl + self.unrealised_pnl

    @cached_property
    def realised_pnl(self) -> Decimal:
        """Closed P&L net of commissions: the account balance at the end minus the starting balance."""
        if self.account.empty or "total" not in self.account:
            return Decimal(0)
        acc = self.account
        end = acc.groupby(level=0)["total"].sum().iloc[-1] if len(self.venues) > 1 else acc["total"].iloc[-1]
        return Decimal(str(round(float(end), 2))) - self.starting_balance

    @cached_property
    def unrealised_pnl(self) -> Decimal:
        """Open positions at the end marked at the last price nautilus holds (bid for a long, ask for
        a short, else the last trade); NaN if an open position has no price at all."""
        portfolio, total = self.engine.portfolio, 0.0
        for iid in sorted({p.instrument_id for p in self.engine.cache.positions_open()}, key=str):
            money = portfolio.unrealized_pnl(iid)
            if money is None:
                return Decimal("NaN")
            total += money.as_double()
        return Decimal(str(round(total, 2)))

    @property
    def fill_rate(self) -> float:
        """Share of submitted orders that (at least partly) filled."""
        if self.orders.empty:
            return 0.0
        filled = pd.to_numeric(self.orders.get("filled_qty"), errors="coerce").fillna(0) > 0
        return float(filled.mean())

    # -- views -----------------------------------------------------------------------------------
    def summary(self) -> pd.Series:
        dd = self.drawdown()
        stats = {
            "data_events": self.n_data,
            "orders": len(self.orders),
            "fills": len(self.fills),
            "fill_rate": round(self.fill_rate, 4),
            "positions": len(self.positions),
            "pnl": float(self.pnl),
            "realised_pnl": float(self.realised_pnl),
            "unrealised_pnl": float(self.unrealised_pnl),
            "return_pct": round(float(self.pnl / self.starting_balance * 100), 4),
            "max_drawdown_pct": round(float(dd.min() * 100), 4) if len(dd) else 0.0,
            "commissions": _commissions(self.fills),
        }
        return pd.Series(stats, name="backtest")

    def to_frame(self) -> pd.DataFrame:
        """Fills as a frame (the primary record of what happened)."""
        return self.fills

    def plot(self) -> go.Figure:
        eq, dd = self.equity_curve(), self.drawdown()
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
        fig.add_trace(go.Scatter(x=eq.index, y=eq.values, name="equity", line={"width": 1.5}), row=1, col=1)
        fig.add_trace(go.Scatter(x=dd.index, y=dd.values * 100, name="drawdown %", fill="tozeroy",
                                 line={"color": "#d62728", "width": 1}), row=2, col=1)
        fig.update_layout(height=480, margin={"l": 40, "r": 20, "t": 30, "b": 30}, template="plotly_white",
                          title="Equity and drawdown")
        return fig

    def tearsheet(self, path: str | Path | None = None) -> str | None:
        """Nautilus's own plotly tearsheet: HTML text, or written to ``path``."""
        from nautilus_trader.analysis.tearsheet import create_tearsheet

        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return create_tearsheet(self.engine, output_path=str(path) if path else None,
                                title="workbench backtest")

    def to_html(self, path: str | Path, title: str = "workbench backtest") -> Path:
        """A self-contained report (plotly embedded, opens offline): summary, equity/drawdown, fills;
        the nautilus tearsheet beside it."""
        # one report writer for the demo and backtests, so both embed plotly the same way
        from workbench.reports.html import Section, write_report

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tear = path.with_name(path.stem + "_tearsheet.html")
        self.tearsheet(tear)
        link = f"<p><a href='{html.escape(tear.name, quote=True)}'>Nautilus tearsheet</a></p>"
        return write_report(path, title, [
            Section("Summary", table=self.summary().to_frame()),
            Section("Equity and drawdown", figure=self.plot(), html=link),
            Section("Fills (first 60)", table=self.fills.head(60)),
        ])

    def close(self) -> None:
        self.engine.dispose()

    def _repr_html_(self) -> str:
        """The :meth:`summary` as a table (reports are cached frames: no rerun, no plotting here)."""
        return self.summary().to_frame().to_html(border=0)

    def __repr__(self) -> str:
        s = self.summary()
        return f"BacktestResult(orders={s['orders']}, fills={s['fills']}, pnl={s['pnl']})"


def _frame(df: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if df is None else df


def _commissions(fills: pd.DataFrame) -> float:
    if fills.empty or "commission" not in fills:
        return 0.0
    total = 0.0
    for cell in fills["commission"]:
        for money in (cell if isinstance(cell, list) else [cell]):
            try:
                total += float(str(money).split()[0])
            except (ValueError, IndexError):
                continue
    return round(total, 4)
