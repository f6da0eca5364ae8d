"""Robustness views of a sweep: is the best point an edge or the luckiest draw?

- :func:`rank_stability` (walk-forward): per fold, the Spearman rank correlation between the
  in-sample and out-of-sample objective of every parameter set, and how the in-sample winner did
  out of sample. Near 0 or negative: the in-sample ranking does not carry over.
- :func:`plateau`: per parameter set, the mean objective of its grid neighbours (every axis at most
  one step away, itself excluded) beside its own. A point far above its neighbourhood sits on a spike.

Failed runs (objective ``None``) take part in neither; ties rank by their average rank.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd


def spearman(a: Any, b: Any) -> float | None:
    """Rank correlation of the finite pairs; ``None`` with fewer than 3 pairs or a constant side."""
    frame = pd.DataFrame({"a": pd.to_numeric(pd.Series(a), errors="coerce").to_numpy(),
                          "b": pd.to_numeric(pd.Series(b), errors="coerce").to_numpy()}).dropna()
    if len(frame) < 3:
        return None
    ra, rb = frame["a"].rank().to_numpy(), frame["b"].rank().to_numpy()
    if not (ra.std() > 0 and rb.std() > 0):
        return None
    value = float(np.corrcoef(ra, rb)[0, 1])
    return round(value, 12) if math.isfinite(value) else None


def _key(frame: pd.DataFrame, params: list[str]) -> pd.Series:
    if not params:  # the entry as it is: one parameter set
        return pd.Series("entry", index=frame.index)
    return frame[params].astype(str).agg("|".join, axis=1)


def rank_stability(frame: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """One row per walk-forward fold: spearman(in-sample, out-of-sample), the in-sample winner, its
    in- and out-of-sample objective and its out-of-sample rank (1 = best)."""
    rows = []
    for fold, g in frame[frame["fold"].notna()].groupby("fold", sort=True):
        tr = g[g["phase"] == "train"].assign(_k=lambda d: _key(d, params)).set_index("_k")
        te = g[g["phase"] == "test"].assign(_k=lambda d: _key(d, params)).set_index("_k")
        both = tr[["objective"]].join(te[["objective"]], lsuffix="_is", rsuffix="_oos", how="inner")
        rho = spearman(both["objective_is"], both["objective_oos"])
        finite = both.dropna(subset=["objective_is"])
        row: dict[str, Any] = {"fold": int(fold), "start": g[g["phase"] == "test"]["start"].min(),
                               "n": len(both), "spearman": rho}
        if len(finite):
            winner = finite.sort_values("objective_is", ascending=False, kind="stable").index[0]
            oos = both["objective_oos"]
            row.update({"best_is": winner, "best_is_objective": finite.loc[winner, "objective_is"],
                        "best_oos_objective": oos.loc[winner],
                        "best_oos_rank": int(oos.rank(ascending=False, method="min").loc[winner])
                        if pd.notna(oos.loc[winner]) else None})
        rows.append(row)
    return pd.DataFrame(rows)


def _axis_order(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return list(values)


def plateau(frame: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """Per parameter set: its objective (mean over its runs), the mean over its grid neighbours,
    ``gap = objective - plateau`` and how many neighbours had a finite objective."""
    ok = frame.dropna(subset=["objective"])
    if ok.empty:
        return pd.DataFrame(columns=[*params, "objective", "plateau", "gap", "neighbours"])
    per = ok.groupby(params, sort=False)["objective"].mean()
    axes = {p: _axis_order(list(dict.fromkeys(frame[p].tolist()))) for p in params}
    pos = {p: {repr(v): i for i, v in enumerate(vals)} for p, vals in axes.items()}
    index = {tuple(pos[p][repr(v)] for p, v in zip(params, (k if isinstance(k, tuple) else (k,)), strict=True)): val
             for k, val in per.items()}
    rows = []
    for k, val in per.items():
        k = k if isinstance(k, tuple) else (k,)
        here = tuple(pos[p][repr(v)] for p, v in zip(params, k, strict=True))
        near = [index[n] for d in itertools.product((-1, 0, 1), repeat=len(params)) if any(d)
                and (n := tuple(a + b for a, b in zip(here, d, strict=True))) in index]
        mean = float(np.mean(near)) if near else None
        rows.append({**dict(zip(params, k, strict=True)), "objective": float(val), "plateau": mean,
                     "gap": float(val) - mean if mean is not None else None, "neighbours": len(near)})
    return pd.DataFrame(rows).sort_values("objective", ascending=False, kind="stable").reset_index(drop=True)
