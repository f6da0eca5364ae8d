"""Raw SVI smiles: quasi-explicit calibration, band fit under arbitrage constraints, and the checks.

Conventions: ``k = ln(K / F)`` (log-moneyness against the forward), ``w = sigma_BS^2 T`` (total implied
variance).  A slice is butterfly-free when Gatheral's density factor ``g(k) >= 0`` everywhere (we check a
dense grid that extends well past the quotes), and a surface is calendar-free when ``w(k, T)`` is
non-decreasing in T at every k (checked on the same grid).

Calibration (:func:`fit_svi`): Zeliade's quasi-explicit method -- an exact constrained QP for
``(a, rho b sigma, b sigma)`` nested in a Nelder-Mead search over ``(m, sigma)`` -- gives the weighted mid
fit.  When that fit leaves a quote outside its bid/ask IV band or violates ``g >= 0`` (or a calendar
floor/ceiling from the neighbouring expiries) all five parameters are refitted by the numba
Levenberg-Marquardt of :mod:`workbench.vol._svi_lm`: a dead-zone loss on the band (zero inside) under
penalties for the arbitrage constraints on a k grid, along a homotopy from the mid fit to a loss that
nearly counts the quotes outside.  A refit is kept only if it passes the grid check.

References: Gatheral (2004) "A parsimonious arbitrage-free implied volatility parameterization";
Zeliade Systems (2009) "Quasi-explicit calibration of Gatheral's SVI model"; Gatheral & Jacquier (2014)
"Arbitrage-free SVI volatility surfaces".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.vol import _svi_kernels as K
from workbench.vol import _svi_lm as LM

__all__ = ["SviParams", "butterfly_check", "calendar_check", "check_grid", "fit_svi", "fit_weights", "violates"]

# The band-fit homotopy (see _svi_lm.fit_band): from nearly the mid fit to nearly counting outside quotes.
_ETAS = np.array([0.1, 0.01])
_C2S = np.array([1.0, 0.01])
G_TOL = -1e-9  # g below this is a violation (the grid g of a good fit is O(0.1..1))
CAL_TOL = 1e-10  # relative tolerance on w(T1) <= w(T2)


@dataclass(frozen=True)
class SviParams:
    """Raw SVI ``w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))`` for one expiry ``T``."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float
    T: float

    def as_array(self) -> np.ndarray:
        return np.array([self.a, self.b, self.rho, self.m, self.sigma])

    def w(self, k) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        return LM.svi_w(self.as_array(), np.ascontiguousarray(k.ravel())).reshape(k.shape)

    def iv(self, k) -> np.ndarray:
        return np.sqrt(np.maximum(self.w(k), 0.0) / self.T)

    def g(self, k) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        return LM.svi_g(self.as_array(), np.ascontiguousarray(k.ravel())).reshape(k.shape)

    def min_variance(self) -> float:
        return self.a + self.b * self.sigma * np.sqrt(1.0 - self.rho**2)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "rho": self.rho, "m": self.m, "sigma": self.sigma, "T": self.T}


def check_grid(k_quotes: np.ndarray, n: int = 401, pad: float = 1.0) -> np.ndarray:
    """Dense k grid covering the quotes plus ``pad`` on both sides (and at least [-1.5, 1.5])."""
    lo = min(float(np.min(k_quotes)) - pad, -1.5)
    hi = max(float(np.max(k_quotes)) + pad, 1.5)
    return np.linspace(lo, hi, n)


def fit_weights(iv_mid, iv_bid, iv_ask, T, floor: float = 0.002) -> np.ndarray:
    """Total-variance LS weights so that residuals read as vol error over the bid/ask half-width.

    ``dw = 2 sigma T dsigma``; a missing bid IV (zero bid) falls back to the ask side.
    """
    iv_mid = np.asarray(iv_mid, float)
    half = 0.5 * (np.asarray(iv_ask, float) - np.asarray(iv_bid, float))
    half = np.where(np.isfinite(half), half, np.asarray(iv_ask, float) - iv_mid)
    half = np.maximum(np.where(np.isfinite(half), half, 0.05), floor)
    return 1.0 / (2.0 * iv_mid * T * half) ** 2


def fit_svi(k, iv, T, weights=None, *, band=None, floor_w_grid=None, grid=None, start=None,
            ceil_w=None, mid_start: bool = True) -> SviParams:
    """Fit one expiry; ``floor_w_grid`` = (grid, w_prev) enforces no calendar arbitrage vs the previous slice,
    ``ceil_w`` (on the same grid, +inf where free) vs the next one; ``start`` is an extra starting point
    (the only one with ``mid_start=False``: a refit of an existing fit under new constraints).

    ``weights`` are total-variance weights (:func:`fit_weights`: residuals read as vol error over the
    bid/ask half-width).  With ``band = (iv_bid, iv_ask)`` the loss is a dead zone -- zero inside each
    quote's band -- plus ``eta`` times the mid loss, so a few tight but inconsistent quotes cannot drag the
    whole smile out of the others' bands; without a band it is the weighted mid fit.  The quasi-explicit
    mid fit is the starting point and is kept as it is when it is already inside every band and
    arbitrage-free on ``grid``; otherwise the constrained Levenberg-Marquardt of :mod:`._svi_lm` refits
    all five parameters under g(k) >= 0 and w >= w_prev on the grid.  Raises ValueError naming the
    problem when fewer than five finite quotes are given.
    """
    k = np.ascontiguousarray(np.asarray(k, float))
    iv = np.asarray(iv, float)
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T!r}")
    wt = np.ones_like(k) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(k) & np.isfinite(iv) & (iv > 0) & np.isfinite(wt) & (wt > 0)
    if ok.sum() < 5:
        raise ValueError(f"fit_svi: need >= 5 finite quotes for T={T:.4f}, got {int(ok.sum())}")
    k, iv, wt = k[ok], iv[ok], wt[ok]
    w = np.ascontiguousarray(iv**2 * T)
    if band is not None:
        lo_iv = np.asarray(band[0], float)[ok]
        lo = np.nan_to_num(lo_iv, nan=0.0) ** 2 * T
        hi = np.asarray(band[1], float)[ok]
        hi = np.where(np.isfinite(hi), hi**2 * T, np.inf)
        # one-sided quotes (no usable bid IV, see chain.prepare_chain) have no mid worth fitting
        two_sided = np.isfinite(lo_iv) & np.isfinite(hi)
        if two_sided.sum() < 5:
            two_sided = np.ones_like(two_sided)
    else:
        lo = hi = w
        two_sided = np.ones(k.size, dtype=bool)
    # A few very tight quotes would otherwise dominate the starting fit: cap weights at 4x the median.
    cap = 4.0 * float(np.median(wt[two_sided]))
    mw = np.ascontiguousarray(np.where(two_sided, np.minimum(wt, cap), 0.0) / min(float(wt[two_sided].max()), cap))
    if mid_start or start is None:
        a, b, rho, m, sig, _ = K.qe_fit(k, w, mw)
        params = np.array([a, b, rho, m, sig])
    else:
        params = np.asarray(start, float)
        start = None
    if grid is None:
        grid = check_grid(k)
    if floor_w_grid is not None:
        grid, floor_w = floor_w_grid
    else:
        floor_w = np.zeros_like(grid)
    grid = np.ascontiguousarray(grid, dtype=float)
    floor_w = np.ascontiguousarray(floor_w, dtype=float)
    ceil_w = np.full_like(grid, np.inf) if ceil_w is None else np.ascontiguousarray(ceil_w, dtype=float)
    fit_w = LM.svi_w(params, k)
    if band is not None and np.all((fit_w >= lo) & (fit_w <= hi)) and not violates(params, grid, floor_w, ceil_w):
        return SviParams(*(float(v) for v in params), T=float(T))
    # vol error over half-width when weights come from fit_weights; else a nominal half-width of 0.5 vol pt
    sw = np.ascontiguousarray(np.sqrt(wt) if weights is not None else 1.0 / (2.0 * iv * T * 0.005))
    msw = np.ascontiguousarray(np.where(two_sided, sw, 0.0))
    span = max(float(k.max() - k.min()), 1e-3)
    lo, hi = np.ascontiguousarray(lo), np.ascontiguousarray(hi)
    best, best_n = None, -1
    for p0 in [params] + ([np.asarray(start, float)] if start is not None else []):
        fitted, n_in, feasible = LM.fit_band(p0, k, lo, hi, w, sw, msw, grid, floor_w, ceil_w, float(k.min()) - 2 * span,
                                             float(k.max()) + 2 * span, _ETAS, _C2S)
        if feasible and n_in > best_n and not violates(fitted, grid, floor_w, ceil_w):
            best, best_n = fitted, n_in
        if best_n >= 0.98 * k.size:  # a second start only when the first leaves > 2% outside
            break
    # An infeasible refit is not allowed to trade a small violation for a wrong smile: keep the mid fit
    # then, and let the diagnostics report where it fails.
    if best is not None:
        params = best
    return SviParams(*(float(v) for v in params), T=float(T))


def lee_ok(params) -> bool:
    """Lee's wing bound b (1 + |rho|) <= 2 (NaN-safe: a NaN parameter fails)."""
    a = np.asarray(params.as_array() if isinstance(params, SviParams) else params, float)
    return bool(a[1] * (1.0 + abs(a[2])) <= LM.LEE_MAX * (1 + 1e-12))


def violates(params: np.ndarray, grid: np.ndarray, floor_w: np.ndarray, ceil_w=None) -> bool:
    """Raw SVI ``params`` break g >= 0, w > 0, w >= floor_w or w <= ceil_w somewhere on ``grid``."""
    w_grid = LM.svi_w(params, grid)
    return bool(not lee_ok(params) or np.min(LM.svi_g(params, grid)) < G_TOL or np.min(w_grid) <= 0
                or np.any(w_grid < floor_w * (1 - CAL_TOL))
                or (ceil_w is not None and np.any(w_grid > ceil_w * (1 + CAL_TOL))))


def butterfly_check(params: SviParams, grid: np.ndarray) -> np.ndarray:
    """k values on ``grid`` where the slice admits butterfly arbitrage (g < 0 or w <= 0); empty if none."""
    g = params.g(grid)
    return grid[(g < G_TOL) | (params.w(grid) <= 0)]


def calendar_check(slices, grid: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
    """(T1, T2, k where w(T1) > w(T2)) for each adjacent pair of slices (sorted by T) that violates.

    ``slices``: anything with ``.T`` and ``.w(k)`` -- :class:`SviParams` or a surface's smiles."""
    out = []
    ordered = sorted(slices, key=lambda p: p.T)
    for p1, p2 in zip(ordered[:-1], ordered[1:], strict=True):
        w1, w2 = p1.w(grid), p2.w(grid)
        bad = w1 > w2 * (1 + CAL_TOL) + 1e-14
        if bad.any():
            out.append((p1.T, p2.T, grid[bad]))
    return out
