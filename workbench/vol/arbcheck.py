"""Dense, price-space arbitrage check of the surface the user gets (wings and interpolation included).

A k grid of a few hundred points misses a butterfly dip between its points, and g(k) >= 0 on a finite
range says nothing about the wings beyond it.  This check therefore works on what a trader would trade:

- per expiry, on ``n`` (>= 4,000) points over the reported k range (the constraint grid's range widened
  to the quoted strikes): undiscounted normalised calls ``c(K) = Black(F=1, K=e^k, w(k))`` must be
  non-increasing and convex in strike (divided differences, so uneven K spacing is exact), and
  Gatheral's g(k) >= 0 on the same points;
- between expiries: at every k of that grid, total variance non-decreasing in T across the slices and
  at the midpoint of each pair (the surface's own interpolation), and the price conditions again at
  each midpoint slice;
- every raw-SVI piece (the fit and its calendar-envelope pieces) within Lee's wing bound
  b (1 + |rho|) <= 2 (Lee 2004, "The moment formula for implied volatility at extreme strikes").

Tolerances are absolute on prices normalised by the forward (float noise of the Black formula is
~1e-16; the divided differences divide it by the grid step), so they do not depend on the underlying.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from workbench.vol.smile import GRID
from workbench.vol.svi import G_TOL, lee_ok

__all__ = ["DENSE_N", "dense_arbitrage", "dense_grid", "price_violations"]

DENSE_N = 4001  # points per expiry (the floor is 4,000)
_SLOPE_TOL = 1e-10  # dc/dK above this: calls rise with strike
_CONVEX_TOL = 1e-8  # d2c/dK2 below -this: calls concave in strike
_CAL_TOL = 1e-10  # relative, as svi.CAL_TOL


def dense_grid(k_lo: float, k_hi: float, n: int = DENSE_N) -> np.ndarray:
    """``n`` points over the constraint grid's range widened to ``[k_lo, k_hi]``."""
    return np.linspace(min(float(GRID[0]), k_lo), max(float(GRID[-1]), k_hi), int(n))


def _otm(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Black OTM price / (D F) at strike e^k with total variance w: the put below the forward, the call
    above (small numbers computed directly, so deep-ITM calls do not drown their curvature in rounding)."""
    s = np.sqrt(np.maximum(w, 0.0))
    K = np.exp(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = -k / s + 0.5 * s
        put = K * ndtr(s - d1) - ndtr(-d1)
        call = ndtr(d1) - K * ndtr(d1 - s)
    return np.where(s > 0, np.where(k < 0, put, call), 0.0)


def _call_slopes(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """dC/dK divided differences of the normalised call, from OTM prices by parity (C = P + 1 - K)."""
    K = np.exp(k)
    o = _otm(k, w)
    dK = np.diff(K)
    slope = np.diff(o) / dK
    left = k[1:] <= 0  # both ends on the put side (k sorted)
    straddle = (k[:-1] < 0) & (k[1:] > 0)
    slope = np.where(left, slope - 1.0, slope)
    # the interval across the forward: C = P + 1 - K at its left end
    c_l = o[:-1] + 1.0 - K[:-1]
    return np.where(straddle, (o[1:] - c_l) / dK, slope)


def price_violations(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """k where calls rise with strike, are not convex in strike, or w is not finite and positive
    (``k`` sorted increasing)."""
    K = np.exp(k)
    slope = _call_slopes(k, w)
    curv = np.diff(slope) / (0.5 * (K[2:] - K[:-2]))
    bad = ~(np.isfinite(w) & (w > 0))
    bad[1:] |= ~(slope <= _SLOPE_TOL)  # NaN-safe: a NaN slope is a violation
    bad[1:-1] |= ~(curv >= -_CONVEX_TOL)
    return k[bad]


def dense_arbitrage(surface, n: int = DENSE_N) -> dict:
    """Violations of ``surface`` (a :class:`~workbench.vol.surface.VolSurface`) on the dense grid:
    ``price``/``butterfly`` {expiry: k}, ``calendar`` [(T1, T2, k)], ``lee`` {expiry: max b(1+|rho|)};
    all empty when clean.  Midpoint slices are keyed ``"<e1>..<e2>"``."""
    smiles = surface.smiles
    lo = min(s.k_range[0] for s in smiles)
    hi = max(s.k_range[1] for s in smiles)
    k = dense_grid(lo, hi, n)
    price, bf, lee, cal = {}, {}, {}, []
    ws = []
    for s in smiles:
        name = str(s.expiry.date())
        w = s.w(k)
        ws.append(w)
        pv = price_violations(k, w)
        if pv.size:
            price[name] = pv
        g = s.g(k)
        gb = k[~(g >= G_TOL)]
        if gb.size:
            bf[name] = gb
        pieces = () if getattr(s, "params", None) is None else (s.params, *s.below)  # price slices: none
        if not all(lee_ok(p) for p in pieces):
            lee[name] = max(float(p.b * (1 + abs(p.rho))) for p in pieces)
    for i in range(len(smiles) - 1):
        s1, s2 = smiles[i], smiles[i + 1]
        tm = 0.5 * (s1.T + s2.T)
        wm = surface.total_variance(k, np.full(k.shape, tm))
        bad = ~(ws[i] <= ws[i + 1] * (1 + _CAL_TOL) + 1e-14) | ~(ws[i] <= wm * (1 + _CAL_TOL) + 1e-14) \
            | ~(wm <= ws[i + 1] * (1 + _CAL_TOL) + 1e-14)
        if bad.any():
            cal.append((s1.T, s2.T, k[bad]))
        pv = price_violations(k, wm)
        if pv.size:
            price[f"{s1.expiry.date()}..{s2.expiry.date()}"] = pv
    return {"price": price, "butterfly": bf, "calendar": cal, "lee": lee, "n_per_expiry": int(k.size),
            "k_range": (float(k[0]), float(k[-1]))}
