"""Raw SVI smiles: quasi-explicit calibration, butterfly and calendar arbitrage checks and repair.

Conventions: ``k = ln(K / F)`` (log-moneyness against the forward), ``w = sigma_BS^2 T`` (total implied
variance).  A slice is butterfly-free when Gatheral's density factor ``g(k) >= 0`` everywhere (we check a
dense grid that extends well past the quotes), and a surface is calendar-free when ``w(k, T)`` is
non-decreasing in T at every k (checked on the same grid).

Calibration (:func:`fit_svi`): Zeliade's quasi-explicit method -- an exact constrained QP for
``(a, rho b sigma, b sigma)`` nested in a Nelder-Mead search over ``(m, sigma)`` -- fitting total variance
with weights that turn the residual into vol error over the bid/ask half-width, so the fit is judged
against the band.  If the result violates ``g >= 0`` (or the previous expiry's total variance, when one is
given) all five parameters are re-optimised by SLSQP under g >= 0 and w >= w_prev constraints on a grid that
grows by cutting planes until the full check grid passes: the repair (kept only if it succeeds).

References: Gatheral (2004) "A parsimonious arbitrage-free implied volatility parameterization";
Zeliade Systems (2009) "Quasi-explicit calibration of Gatheral's SVI model"; Gatheral & Jacquier (2014)
"Arbitrage-free SVI volatility surfaces".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.vol import _svi_kernels as K

__all__ = ["SviParams", "butterfly_check", "calendar_check", "check_grid", "fit_svi", "fit_weights"]

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
        return K.svi_w(self.as_array(), np.ascontiguousarray(k.ravel())).reshape(k.shape)

    def iv(self, k) -> np.ndarray:
        return np.sqrt(np.maximum(self.w(k), 0.0) / self.T)

    def g(self, k) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        return K.svi_g(self.as_array(), np.ascontiguousarray(k.ravel())).reshape(k.shape)

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


def fit_svi(k, iv, T, weights=None, *, band=None, floor_w_grid=None, grid=None, lam: float = 1e6,
            band_iterations: int = 4) -> SviParams:
    """Fit one expiry; ``floor_w_grid`` = (grid, w_prev) enforces no calendar arbitrage vs the previous slice.

    With ``band = (iv_bid, iv_ask)`` the mid fit is followed by up to ``band_iterations`` refits to the
    nearest point of each quote's band (a dead-zone loss solved by alternating projections): quotes
    already inside cost nothing, so a few tight but inconsistent quotes cannot drag the whole smile out
    of the others' bands.  Raises ValueError naming the problem when fewer than five finite quotes are given.
    """
    k = np.ascontiguousarray(np.asarray(k, float))
    iv = np.asarray(iv, float)
    if not T > 0:
        raise ValueError(f"T must be > 0, got {T!r}")
    wt = np.ones_like(k) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(k) & np.isfinite(iv) & (iv > 0) & np.isfinite(wt) & (wt > 0)
    if ok.sum() < 5:
        raise ValueError(f"fit_svi: need >= 5 finite quotes for T={T:.4f}, got {int(ok.sum())}")
    k, w, wt = k[ok], iv[ok] ** 2 * T, wt[ok]
    wt = np.ascontiguousarray(wt / wt.max())
    a, b, rho, m, sig, _ = K.qe_fit(k, np.ascontiguousarray(w), wt)
    params = np.array([a, b, rho, m, sig])
    if band is not None:
        lo = np.nan_to_num(np.asarray(band[0], float)[ok], nan=0.0)
        hi = np.asarray(band[1], float)[ok]
        hi = np.where(np.isfinite(hi), hi, np.inf)
        best_out = np.inf
        for _ in range(band_iterations):
            fit = np.sqrt(np.maximum(K.svi_w(params, k), 0.0) / T)
            outside = int(np.sum((fit < lo) | (fit > hi)))
            if outside >= best_out:
                break
            best_out, best_params = outside, params
            if outside == 0:
                break
            target = np.clip(fit, lo, hi) ** 2 * T
            a, b, rho, m, sig, _ = K.qe_refit(k, np.ascontiguousarray(target), wt, params[3], params[4])
            params = np.array([a, b, rho, m, sig])
        params = best_params
    if grid is None:
        grid = check_grid(k)
    if floor_w_grid is not None:
        grid, floor_w = floor_w_grid
    else:
        floor_w = np.zeros_like(grid)
    grid = np.ascontiguousarray(grid, dtype=float)
    floor_w = np.ascontiguousarray(floor_w, dtype=float)
    w = np.ascontiguousarray(w)
    if _violates(params, grid, floor_w):
        fixed = _repair(params, k, w, wt, grid, floor_w)
        # An unsuccessful repair is not allowed to trade a small violation for a wrong smile: keep the
        # unrepaired fit then, and let the diagnostics report where it fails.
        if not _violates(fixed, grid, floor_w):
            params = fixed
    return SviParams(*(float(v) for v in params), T=float(T))


def _repair(params, k, w, wt, grid, floor_w, rounds: int = 4):
    """Least-squares refit under g(k) >= margin and w(k) >= w_prev(k): SLSQP with cutting planes.

    The constraints start on every 8th grid point; grid points still violating after a solve are added
    and the solve repeated from the last point, so the full grid is satisfied without paying for all
    of it in every SLSQP iteration.
    """
    from scipy.optimize import minimize

    scale = max(float(np.sum(wt * (K.svi_w(params, k) - w) ** 2)), 1e-12)

    def obj(p):
        return float(np.sum(wt * (K.svi_w(p, k) - w) ** 2)) / scale

    def obj_jac(p):
        return 2.0 * (wt * (K.svi_w(p, k) - w)) @ K.svi_jac(p, k, 0) / scale

    active = np.zeros(grid.size, dtype=bool)
    active[::8] = True
    x = params.copy()
    x[2] = np.clip(x[2], -0.995, 0.995)
    x[4] = max(x[4], 1e-3)
    bounds = [(None, None), (0.0, 2.0), (-0.999, 0.999), (-3.0, 3.0), (1e-4, 10.0)]
    for _ in range(rounds):
        sub = np.ascontiguousarray(grid[active])
        fl = floor_w[active]
        cal = fl > 0
        cons = [{"type": "ineq", "fun": lambda p, s=sub: K.svi_g(p, s) - 1e-4,
                 "jac": lambda p, s=sub: K.svi_jac(p, s, 1)},
                {"type": "ineq", "fun": lambda p, s=sub: K.svi_w(p, s) - 1e-10,
                 "jac": lambda p, s=sub: K.svi_jac(p, s, 0)}]
        if cal.any():
            kc = np.ascontiguousarray(sub[cal])
            fc = fl[cal] * (1 + 1e-6)
            cons.append({"type": "ineq", "fun": lambda p, kc=kc, fc=fc: (K.svi_w(p, kc) - fc) / fc,
                         "jac": lambda p, kc=kc, fc=fc: K.svi_jac(p, kc, 0) / fc[:, None]})
        res = minimize(obj, x, jac=obj_jac, method="SLSQP", bounds=bounds, constraints=cons,
                       options={"maxiter": 100, "ftol": 1e-9})
        if np.all(np.isfinite(res.x)):
            x = np.asarray(res.x, float)
        g = K.svi_g(x, grid)
        wg = K.svi_w(x, grid)
        bad = (g < 1e-6) | (wg < floor_w * (1 + 1e-9))
        if not bad.any():
            break
        active |= bad
    return x


def _violates(params: np.ndarray, grid: np.ndarray, floor_w: np.ndarray) -> bool:
    w_grid = K.svi_w(params, grid)
    return bool(np.min(K.svi_g(params, grid)) < G_TOL or np.min(w_grid) <= 0
                or np.any(w_grid < floor_w * (1 - CAL_TOL)))


def butterfly_check(params: SviParams, grid: np.ndarray) -> np.ndarray:
    """k values on ``grid`` where the slice admits butterfly arbitrage (g < 0 or w <= 0); empty if none."""
    g = params.g(grid)
    return grid[(g < G_TOL) | (params.w(grid) <= 0)]


def calendar_check(slices: list[SviParams], grid: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
    """(T1, T2, k where w(T1) > w(T2)) for each adjacent pair of slices (sorted by T) that violates."""
    out = []
    ordered = sorted(slices, key=lambda p: p.T)
    for p1, p2 in zip(ordered[:-1], ordered[1:], strict=True):
        w1, w2 = p1.w(grid), p2.w(grid)
        bad = w1 > w2 * (1 + CAL_TOL) + 1e-14
        if bad.any():
            out.append((p1.T, p2.T, grid[bad]))
    return out
