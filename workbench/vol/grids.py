"""IvyDB-style grids and derived quantities from a fitted :class:`~workbench.vol.surface.VolSurface`.

* :func:`constant_maturity` -- vols on fixed tenors (days) x log-moneyness or x delta, interpolated in
  total variance along constant k (see ``VolSurface.total_variance``).
* :func:`delta_strikes` -- the k where the undiscounted Black forward delta ``N(d1)`` (calls) or
  ``N(d1) - 1`` (puts) equals a target, found by vectorised bisection (delta is monotone in k on an
  arbitrage-free smile).
* :func:`term_structure` -- ATM (k = 0, i.e. at the forward) vol, 25-delta risk reversal and butterfly
  per tenor: ``RR = vol(25d call) - vol(25d put)``, ``BF = (vol(25d call) + vol(25d put))/2 - ATM``.
* :func:`bl_density` -- Breeden-Litzenberger density ``q(K) = (1/DF) d2C/dK2``, evaluated in closed
  form from the SVI slice: ``q(K) = g(k) / (K sqrt(2 pi w)) exp(-d2^2 / 2)``, ``d2 = -k/sqrt(w) - sqrt(w)/2``
  (Gatheral 2006), so no numerical second difference and no negative density on a butterfly-free slice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

__all__ = ["CM_DAYS", "DELTAS", "bl_density", "bl_density_surface", "constant_maturity", "delta_strikes",
           "density_k", "term_structure"]

CM_DAYS = (10, 30, 60, 91, 122, 152, 182, 273, 365, 547, 730)
DELTAS = tuple(np.round(np.arange(0.10, 0.901, 0.05), 2))
K_GRID = np.round(np.arange(-0.5, 0.5001, 0.05), 3)


def delta_strikes(surface, T, deltas, call: bool = True, iters: int = 80) -> np.ndarray:
    """Log-moneyness k at which the forward delta equals ``deltas`` (puts: pass positive numbers)."""
    T = float(T)
    d = np.asarray(deltas, float)
    target = d if call else -d
    atm = float(surface.iv(0.0, T))
    span = 8.0 * atm * np.sqrt(T) + 0.5
    lo = np.full(d.shape, -span)
    hi = np.full(d.shape, span)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        s = surface.iv(mid, T) * np.sqrt(T)
        delta = ndtr(-mid / s + 0.5 * s)
        if not call:
            delta = delta - 1.0
        # delta decreases with k for both calls and puts
        up = delta > target
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return 0.5 * (lo + hi)


def constant_maturity(surface, days=CM_DAYS, *, by: str = "delta", grid=None) -> pd.DataFrame:
    """Long frame: days, T, [delta, cp | k], k, strike, forward, iv.

    ``by="delta"``: deltas 0.10..0.90 for calls (cp="C") and puts (cp="P", delta reported negative) as in
    IvyDB's volatility surface; ``by="k"``: the log-moneyness ``grid`` (default -0.5..0.5 step 0.05).
    """
    rows = []
    for day in days:
        T = day / 365.0
        F = float(surface.forward(T))
        if by == "delta":
            d = np.asarray(grid if grid is not None else DELTAS, float)
            for cp, call in (("C", True), ("P", False)):
                k = delta_strikes(surface, T, d, call=call)
                iv = surface.iv(k, T)
                rows.append(pd.DataFrame({"days": day, "T": T, "cp": cp, "delta": d if call else -d, "k": k,
                                          "strike": F * np.exp(k), "forward": F, "iv": iv}))
        elif by == "k":
            k = np.asarray(grid if grid is not None else K_GRID, float)
            rows.append(pd.DataFrame({"days": day, "T": T, "k": k, "strike": F * np.exp(k), "forward": F,
                                      "iv": surface.iv(k, T)}))
        else:
            raise ValueError(f"by must be 'delta' or 'k', got {by!r}")
    return pd.concat(rows, ignore_index=True)


def term_structure(surface, days=CM_DAYS) -> pd.DataFrame:
    """Per tenor: ATM vol, 25-delta call/put vols, risk reversal and butterfly, forward."""
    out = []
    for day in days:
        T = day / 365.0
        kc = delta_strikes(surface, T, [0.25], call=True)[0]
        kp = delta_strikes(surface, T, [0.25], call=False)[0]
        atm = float(surface.iv(0.0, T))
        vc, vp = float(surface.iv(kc, T)), float(surface.iv(kp, T))
        out.append({"days": day, "T": T, "forward": float(surface.forward(T)), "atm_vol": atm,
                    "vol_25c": vc, "vol_25p": vp, "rr25": vc - vp, "bf25": 0.5 * (vc + vp) - atm})
    return pd.DataFrame(out)


def _density_from_w(k, w, g, F):
    sw = np.sqrt(w)
    d2 = -k / sw - 0.5 * sw
    K = F * np.exp(k)
    return K, g * np.exp(-0.5 * d2 * d2) / (K * np.sqrt(2.0 * np.pi * w))


def density_k(smile, strikes=None) -> np.ndarray:
    """Log-moneyness of ``strikes`` for one slice's density (default: -10..+6 ATM sd, 801 points)."""
    if strikes is None:
        sd = smile.atm_vol * np.sqrt(smile.T)
        return np.linspace(-10 * sd, 6 * sd, 801)
    return np.log(np.asarray(strikes, float) / smile.forward)


def bl_density(smile, strikes=None) -> pd.DataFrame:
    """Risk-neutral density of S_T for one :class:`Smile` on ``strikes`` (default grid: :func:`density_k`)."""
    k = density_k(smile, strikes)
    K, q = _density_from_w(k, smile.w(k), smile.g(k), smile.forward)
    return pd.DataFrame({"strike": K, "k": k, "density": q})


def bl_density_surface(surface, T: float, strikes=None) -> pd.DataFrame:
    """Density at any T: the exact slice when T is an expiry, else by second differences of Black prices."""
    j = np.flatnonzero(np.isclose(surface.T, T, rtol=0, atol=1e-9))
    if j.size:
        return bl_density(surface.smiles[int(j[0])], strikes)
    F = float(surface.forward(T))
    atm = float(surface.iv(0.0, T))
    sd = atm * np.sqrt(T)
    k = np.linspace(-5 * sd, 5 * sd, 401) if strikes is None else np.log(np.asarray(strikes, float) / F)
    h = 1e-3 * sd
    kk = np.concatenate([k - h, k, k + h])
    w = surface.total_variance(kk, T)
    sw = np.sqrt(w)
    d1 = -kk / sw + 0.5 * sw
    c = ndtr(d1) - np.exp(kk) * ndtr(d1 - sw)  # undiscounted call / F
    cm, c0, cp = np.split(c, 3)
    K = F * np.exp(k)
    # d2C/dK2 with C(k) = F c(k), K = F e^k:  C_KK = (c_kk - c_k) / (F e^{2k})
    c_k = (cp - cm) / (2 * h)
    c_kk = (cp - 2 * c0 + cm) / (h * h)
    return pd.DataFrame({"strike": K, "k": k, "density": (c_kk - c_k) / (F * np.exp(2 * k))})
