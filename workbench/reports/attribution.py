"""P&L at a common final mark, equity curves, and the attribution of the P&L difference (docs/reports.md).

P&L of a run (both start flat) = sum over its fills of ``s * q * (M - p)`` minus commissions, where ``s`` is
+1 for a buy and -1 for a sell, ``q``/``p`` the fill's quantity/price and ``M`` the common final mark of
the instrument. The difference ``P_A - P_B`` splits exactly into

- **fill-gap**: on matched intents, quantity one run filled beyond the other, valued at its own price
  against the mark: ``s (qa - c)(M - pa) - s (qb - c)(M - pb)`` with ``c = min(qa, qb)``;
- **cost-gap**: on matched intents, the price difference on the common quantity: ``s c (pb - pa)``;
- **commissions**: ``-(commission_A - commission_B)``;
- **decision divergence**: intents only one run made (and fills of no journaled intent), each valued
  ``s q (M - p)``, A positive, B negative.

``pa``/``pb`` are volume-weighted fill prices of the intent's order in each run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.reports.runs import RunData

PARTS = ("fill_gap", "cost_gap", "commissions", "decision_divergence")


def common_marks(a: RunData, b: RunData, override: dict | None = None) -> dict[str, float]:
    """Per instrument: ``override`` if given, else the mid of the later run-end quote of the two runs,
    else the latest quote either journal saw (decisions' and order events' quotes)."""
    marks: dict[str, tuple[int, float]] = {}
    for run in (a, b):
        for iid, (ts, bid, ask) in run.marks.items():
            if iid not in marks or ts > marks[iid][0]:
                marks[iid] = (ts, (bid + ask) / 2)
        d = run.decisions[run.decisions["md_ts"] > 0]
        for iid, g in d.groupby("instrument_id"):
            last = g.loc[g["md_ts"].idxmax()]
            if iid not in marks and np.isfinite(last["md_bid"] + last["md_ask"]):
                marks[iid] = (-1, (last["md_bid"] + last["md_ask"]) / 2)
    out = {k: v for k, (_, v) in marks.items()}
    for iid, px in (override or {}).items():
        if not np.isfinite(px) or px <= 0:
            raise WorkbenchError(f"mark {px!r} is not a finite price > 0", where=f"mark.{iid}")
        out[iid] = float(px)
    need = set(a.fills["instrument_id"]) | set(b.fills["instrument_id"])
    missing = sorted(need - set(out))
    if missing:
        raise WorkbenchError(f"no final mark for {missing}: the runs journaled no quote for it",
                             hint="pass mark={instrument: price}")
    return out


def run_pnl(run: RunData, marks: dict[str, float]) -> float:
    """The run's P&L at the marks, straight from its fills (the independent side of the identity)."""
    f = run.fills
    if f.empty:
        return 0.0
    s = np.where(f["side"] == "BUY", 1.0, -1.0)
    m = f["instrument_id"].map(marks).to_numpy(float)
    return float(np.sum(s * f["qty"].to_numpy(float) * (m - f["price"].to_numpy(float))) - f["commission"].sum())


def _value(intents: pd.DataFrame, sfx: str, m: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``s * (q M - notional)`` of each intent's fills in one run (0 where nothing filled)."""
    q = intents[f"filled{sfx}"].fillna(0.0).to_numpy(float)
    n = intents[f"notional{sfx}"].fillna(0.0).to_numpy(float)
    return s * (q * m - n)


def attribute(a: RunData, b: RunData, intents: pd.DataFrame, marks: dict[str, float]) -> pd.Series:
    """The attribution Series: ``pnl_a``, ``pnl_b``, ``total_diff`` (= pnl_a - pnl_b), the four parts
    and ``residual`` = total_diff - sum(parts) (0 up to float rounding; reported, never forced)."""
    s = np.where(intents["side"] == "BUY", 1.0, -1.0)
    m = intents["instrument_id"].map(marks).fillna(0.0).to_numpy(float)
    va, vb = _value(intents, "_a", m, s), _value(intents, "_b", m, s)
    matched = (intents["status"] == "matched").to_numpy()
    qa = intents["filled_a"].fillna(0.0).to_numpy(float)
    qb = intents["filled_b"].fillna(0.0).to_numpy(float)
    c = np.minimum(qa, qb)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa = np.where(qa > 0, intents["notional_a"].fillna(0.0).to_numpy(float) / qa, 0.0)
        pb = np.where(qb > 0, intents["notional_b"].fillna(0.0).to_numpy(float) / qb, 0.0)
    cost = np.where(matched & (c > 0), s * c * (pb - pa), 0.0)
    fill = np.where(matched, s * ((qa - c) * (m - pa)) - s * ((qb - c) * (m - pb)), 0.0)
    diverged = float(np.sum(np.where(matched, 0.0, va - vb)))
    diverged += _orphans(a, intents, "_a", marks) - _orphans(b, intents, "_b", marks)
    pnl_a, pnl_b = run_pnl(a, marks), run_pnl(b, marks)
    parts = {"fill_gap": float(fill.sum()), "cost_gap": float(cost.sum()),
             "commissions": float(b.fills["commission"].sum() - a.fills["commission"].sum()),
             "decision_divergence": diverged}
    total = pnl_a - pnl_b
    return pd.Series({"pnl_a": pnl_a, "pnl_b": pnl_b, "total_diff": total, **parts,
                      "residual": total - sum(parts.values())}, name="attribution")


def _orphans(run: RunData, intents: pd.DataFrame, sfx: str, marks: dict[str, float]) -> float:
    """Value of fills whose order no journaled NEW intent of the run owns (counted as divergence)."""
    known = intents.loc[intents["action"] == "NEW", f"client_order_id{sfx}"].dropna()
    f = run.fills[~run.fills["client_order_id"].isin(known)]
    if f.empty:
        return 0.0
    s = np.where(f["side"] == "BUY", 1.0, -1.0)
    return float(np.sum(s * f["qty"] * (f["instrument_id"].map(marks) - f["price"])))


def curves(a: RunData, b: RunData, marks: dict[str, float]) -> pd.DataFrame:
    """P&L of both runs on the union of their fills' market times (the quote's exchange time when the
    fill was handled), marked at the latest mid either run had seen by then, ending at the common final
    mark; with the difference and each run's drawdown (P&L minus its running peak, USD)."""
    quotes = []
    for run in (a, b):
        f = run.fills[["md_ts", "mid", "instrument_id"]].rename(columns={"md_ts": "t"})
        d = run.decisions[run.decisions["md_ts"] > 0]
        quotes += [f, pd.DataFrame({"t": d["md_ts"], "mid": (d["md_bid"] + d["md_ask"]) / 2,
                                    "instrument_id": d["instrument_id"]})]
    q = pd.concat(quotes, ignore_index=True).dropna().sort_values("t", kind="stable")
    grid = np.unique(np.concatenate([a.fills["md_ts"].to_numpy(np.int64), b.fills["md_ts"].to_numpy(np.int64)]))
    end = int(max([int(grid[-1]) if len(grid) else 0] + [int(q["t"].max()) if len(q) else 0])) + 1
    grid = np.append(grid, end)
    out = pd.DataFrame({"t": grid})
    for name, run in (("a", a), ("b", b)):
        total = np.zeros(len(grid))
        f = run.fills.sort_values("md_ts", kind="stable")
        for iid, g in f.groupby("instrument_id"):
            s = np.where(g["side"] == "BUY", 1.0, -1.0)
            idx = np.searchsorted(grid, g["md_ts"].to_numpy(np.int64), side="left")
            pos = np.cumsum(np.bincount(idx, weights=s * g["qty"], minlength=len(grid)))
            cash = np.cumsum(np.bincount(idx, weights=-s * g["qty"] * g["price"] - g["commission"],
                                         minlength=len(grid)))
            qi = q[q["instrument_id"] == iid]
            j = np.searchsorted(qi["t"].to_numpy(np.int64), grid, side="right") - 1
            mid = np.where(j >= 0, qi["mid"].to_numpy(float)[np.maximum(j, 0)], marks[iid])
            mid[-1] = marks[iid]
            total += cash + pos * mid
        out[f"pnl_{name}"] = total
        out[f"drawdown_{name}"] = total - np.maximum.accumulate(total)
    out["diff"] = out["pnl_a"] - out["pnl_b"]
    return out


def tracking_error(c: pd.DataFrame) -> float:
    """Standard deviation (ddof 0, USD) of the steps of the P&L difference on the curves' grid."""
    steps = np.diff(np.concatenate([[0.0], c["diff"].to_numpy(float)]))
    return float(np.std(steps)) if len(steps) else 0.0
