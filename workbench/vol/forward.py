"""Implied forward and discount factor per expiry from put-call parity.

For European options ``C(K) - P(K) = DF (F - K)``: a straight line in K with slope ``-DF`` and intercept
``DF F``.  We fit it by iteratively re-weighted (Huber) least squares on the strikes nearest the money,
weighted by the inverse squared combined bid/ask width, so a stale quote or a wide far strike cannot
tilt the line.  US equity options are American: early exercise lifts the in-the-money leg, so parity
holds only approximately; using near-the-money strikes keeps that bias small, and the diagnostics
(residual RMS, max residual) show when it does not.  When fewer than three usable pairs exist we fall
back to a single pair with a supplied rate, then to spot and carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ForwardEstimate", "implied_forward"]


@dataclass(frozen=True)
class ForwardEstimate:
    """Forward/discount for one expiry and how they were obtained."""

    expiry_years: float
    forward: float
    discount: float
    rate: float  # continuously compounded, from the discount factor
    carry_yield: float  # dividend/borrow yield implied by F vs spot (NaN without spot)
    n_pairs: int  # pairs in the final regression
    rmse: float  # RMS parity residual in price units
    max_abs_residual: float
    method: str  # "parity_regression" | "parity_curve" | "parity_fixed_rate" | "spot_carry" | "spot_curve"
    discount_se: float = math.nan  # standard error of the regression's discount factor

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _huber_irls(x, y, w, iters=8, standardize=False):
    """Huber-robust weighted least squares ``y ~ x @ coef`` by iterative re-weighting.

    ``w`` are inverse-variance weights up to a common factor.  Residuals beyond 1.345 robust sigmas
    (MAD; of the residuals themselves, or of the weight-standardised ones with ``standardize``) are
    down-weighted.  Returns (coef, residuals, final weights).
    """
    coef = np.zeros(x.shape[1])
    wk = w.copy()
    for _ in range(iters):
        sw = np.sqrt(wk)
        coef = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
        r = y - x @ coef
        if standardize:
            r = r * np.sqrt(w)
        u = np.abs(r) / (1.345 * (1.4826 * np.median(np.abs(r)) + 1e-12))
        wk = w * np.where(u <= 1.0, 1.0, 1.0 / np.maximum(u, 1e-300))
    return coef, y - x @ coef, wk


def _huber_wls(k, y, w):
    """Weighted Huber line y = a + b k; returns (a, b, residuals, final weights) -- the slope's standard
    error is ``slope_se(k, residuals, final weights)``."""
    if k.size < 2 or np.ptp(k) <= 0:
        return 0.0, 0.0, y.copy(), w.copy()
    (a, b), resid, wk = _huber_irls(np.column_stack([np.ones_like(k), k]), y, w)
    return float(a), float(b), resid, wk


def slope_se(k, resid, w) -> float:
    """Standard error of the slope of a weighted straight-line fit (residual scale estimated)."""
    n = k.size
    if n < 3:
        return math.inf
    sw = w.sum()
    km = (w * k).sum() / sw
    sxx = (w * (k - km) ** 2).sum()
    s2 = (w * resid**2).sum() / (n - 2)
    return float(math.sqrt(s2 / sxx)) if sxx > 0 else math.inf


def implied_forward(
    strikes,
    call_mid,
    put_mid,
    expiry_years: float,
    *,
    call_spread=None,
    put_spread=None,
    spot: float | None = None,
    rate: float | None = None,
    n_near: int = 12,
) -> ForwardEstimate:
    """Estimate F and DF for one expiry from call/put mids on common strikes.

    ``n_near`` strikes closest to the rough forward (where |C - P| is smallest) enter the regression.
    ``rate`` (continuously compounded) is used when the regression is not possible or not credible;
    ``spot`` adds the implied carry yield and is the last-resort forward.
    """
    k = np.asarray(strikes, dtype=float)
    c = np.asarray(call_mid, dtype=float)
    p = np.asarray(put_mid, dtype=float)
    t = float(expiry_years)
    if not (t > 0):
        raise ValueError(f"expiry_years must be > 0, got {expiry_years!r}")
    cs = np.ones_like(k) if call_spread is None else np.asarray(call_spread, dtype=float)
    ps = np.ones_like(k) if put_spread is None else np.asarray(put_spread, dtype=float)
    ok = np.isfinite(k) & np.isfinite(c) & np.isfinite(p) & (c > 0) & (p > 0) & (k > 0)
    k, c, p, cs, ps = k[ok], c[ok], p[ok], cs[ok], ps[ok]
    fallback_df = math.exp(-rate * t) if rate is not None else None

    def finish(fwd, df, n, resid, method, se=math.nan):
        r = -math.log(df) / t
        q = r - math.log(fwd / spot) / t if spot else math.nan
        rmse = float(np.sqrt(np.mean(resid**2))) if resid.size else math.nan
        mx = float(np.max(np.abs(resid))) if resid.size else math.nan
        return ForwardEstimate(t, float(fwd), float(df), r, q, int(n), rmse, mx, method, se)

    if k.size >= 3:
        y = c - p
        order = np.argsort(np.abs(y), kind="stable")
        near = order[: max(3, min(n_near, k.size))]
        w = 1.0 / np.maximum(cs[near] ** 2 + ps[near] ** 2, 1e-8)
        a, b, resid, wk = _huber_wls(k[near], y[near], w)
        df = -b
        if 0.5 < df <= 1.05 and a / df > 0:
            return finish(a / df, df, near.size, resid, "parity_regression", slope_se(k[near], resid, wk))
    if k.size >= 1 and fallback_df is not None:
        i = int(np.argmin(np.abs(c - p)))
        fwd = k[i] + (c[i] - p[i]) / fallback_df
        if fwd > 0:
            resid = (c - p) - fallback_df * (fwd - k)
            return finish(fwd, fallback_df, 1, resid, "parity_fixed_rate")
    if spot is not None and rate is not None:
        return finish(spot / fallback_df, fallback_df, 0, np.empty(0), "spot_carry")
    raise ValueError(
        f"cannot infer a forward for T={t:.6f}: {k.size} usable call/put pairs and no rate/spot to fall back on"
    )


def _pairs(grp: pd.DataFrame):
    mid = 0.5 * (grp["bid"] + grp["ask"])
    spread = (grp["ask"] - grp["bid"]).abs()
    g = grp.assign(mid=mid.where(grp["bid"] > 0), spread=spread)
    calls = g[g["right"] == "C"].drop_duplicates("strike").set_index("strike")
    puts = g[g["right"] == "P"].drop_duplicates("strike").set_index("strike")
    common = calls.index.intersection(puts.index).sort_values()
    return (common.to_numpy(float), calls.loc[common, "mid"].to_numpy(float), puts.loc[common, "mid"].to_numpy(float),
            calls.loc[common, "spread"].to_numpy(float), puts.loc[common, "spread"].to_numpy(float))


def _discount_curve(ests: list[ForwardEstimate]):
    """Smooth zero-rate curve ``-ln DF = r0 T + r1 T^2`` through the per-expiry parity discounts.

    Each expiry's discount comes from a slope fitted on a dozen strikes, so on a short or sparse expiry it
    is noisy (a 3-week SPX expiry can imply a -20% rate); the rate term structure, on the other hand,
    is smooth and shared by every expiry.  Weighted by each estimate's precision, Huber-robust; returns
    None when fewer than three expiries carry a usable estimate.
    """
    use = [e for e in ests if e.method == "parity_regression" and np.isfinite(e.discount_se) and e.discount_se > 0]
    if len(use) < 3:
        return None
    t = np.array([e.expiry_years for e in use])
    y = -np.log([e.discount for e in use])
    w0 = 1.0 / np.array([(e.discount_se / e.discount) ** 2 for e in use])
    coef, _, _ = _huber_irls(np.column_stack([t, t * t]), y, w0, iters=10, standardize=True)
    return coef


def forward_table(chain: pd.DataFrame, expiry_years: pd.Series, spot: float | None, rate: float | None,
                  dropped: dict | None = None) -> dict:
    """ForwardEstimate per expiry for a chain frame with columns expiry, strike, right, bid, ask.

    Without a supplied ``rate`` the discount factors come from a smooth rate curve through all
    expiries' parity estimates (:func:`_discount_curve`) and each forward is re-solved from parity at
    that discount (method ``parity_curve``); the per-expiry regression stays where no curve can be fitted.

    An expiry whose parity fails (too few two-sided call/put pairs) falls back to ``spot`` carried at
    the rate curve of the other expiries (method ``spot_curve``); with neither it is left out of the
    result -- one bad expiry never sinks the chain -- and, when ``dropped`` is given, its reason is
    stored there under the expiry.
    """
    pairs, out, failed = {}, {}, {}
    for expiry, grp in chain.groupby("expiry", sort=True):
        pairs[expiry] = _pairs(grp)
        k, c, p, cs, ps = pairs[expiry]
        try:
            out[expiry] = implied_forward(k, c, p, float(expiry_years[expiry]), call_spread=cs, put_spread=ps,
                                          spot=spot, rate=rate)
        except ValueError as exc:
            failed[expiry] = str(exc)
    coef = None if rate is not None else _discount_curve(list(out.values()))
    for expiry, reason in failed.items():
        t = float(expiry_years[expiry])
        if coef is not None and spot is not None and spot > 0:
            df = math.exp(-(coef[0] * t + coef[1] * t * t))
            if 0.5 < df <= 1.05:
                out[expiry] = ForwardEstimate(t, float(spot / df), df, -math.log(df) / t, 0.0, 0, math.nan,
                                              math.nan, "spot_curve")
                continue
        if dropped is not None:
            dropped[expiry] = reason + ("" if spot is not None else " (no spot stored)")
    out = dict(sorted(out.items()))
    if coef is None:
        return out
    for expiry, est in out.items():
        if est.method != "parity_regression":
            continue
        t = est.expiry_years
        df = math.exp(-(coef[0] * t + coef[1] * t * t))
        k, c, p, cs, ps = pairs[expiry]
        ok = np.isfinite(c) & np.isfinite(p) & (c > 0) & (p > 0)
        k, y, var = k[ok], (c - p)[ok], (cs**2 + ps**2)[ok]
        near = np.argsort(np.abs(y), kind="stable")[: est.n_pairs]
        if not (0.5 < df <= 1.05) or near.size == 0:
            continue
        # F = K + (C - P)/DF on each pair: a Huber location estimate, weighted like the regression
        f_k = k[near] + y[near] / df
        (a,), _, _ = _huber_irls(np.ones((f_k.size, 1)), f_k, 1.0 / np.maximum(var[near], 1e-8))
        resid_px = y[near] - df * (a - k[near])
        r = -math.log(df) / t
        q = r - math.log(a / spot) / t if spot else math.nan
        out[expiry] = ForwardEstimate(t, float(a), df, r, q, int(near.size), float(np.sqrt(np.mean(resid_px**2))),
                                      float(np.max(np.abs(resid_px))), "parity_curve", est.discount_se)
    return out
