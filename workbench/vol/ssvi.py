"""SSVI (Gatheral-Jacquier 2014) global surface fit with the power-law curvature function.

``w(k, theta) = theta/2 (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2))``,
``phi(theta) = eta / (theta^gamma (1 + theta)^(1 - gamma))``.  The ATM total variances ``theta_T`` come
from the quotes (mid IV at k = 0 per expiry, made non-decreasing), and ``(rho, eta, gamma)`` are fitted
to all quotes at once in vol space, weighted by the bid/ask half-width.  The parametrisation keeps
``eta (1 + |rho|) <= 2`` and ``0 < gamma <= 1/2`` (GJ Remark 4.4): with non-decreasing ``theta_T`` the
surface is then free of butterfly and calendar arbitrage by construction -- the price is less flexibility
than per-expiry SVI (three parameters for the whole surface).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

__all__ = ["SsviSurface", "fit_ssvi"]


@dataclass(frozen=True)
class SsviSurface:
    rho: float
    eta: float
    gamma: float
    T: np.ndarray  # expiries (years) of the theta nodes
    theta: np.ndarray  # ATM total variance, non-decreasing
    rmse_vol_pts: float = float("nan")
    inside_pct: float = float("nan")

    def theta_at(self, T) -> np.ndarray:
        T = np.asarray(T, float)
        # linear in T between nodes, proportional to T before the first and after the last
        inner = np.interp(T, self.T, self.theta)
        before = self.theta[0] * T / self.T[0]
        after = self.theta[-1] * T / self.T[-1]
        return np.where(T < self.T[0], before, np.where(T > self.T[-1], after, inner))

    def total_variance(self, k, T) -> np.ndarray:
        th = self.theta_at(T)
        phi = self.eta / (th**self.gamma * (1.0 + th) ** (1.0 - self.gamma))
        k = np.asarray(k, float)
        return 0.5 * th * (1 + self.rho * phi * k + np.sqrt((phi * k + self.rho) ** 2 + 1 - self.rho**2))

    def iv(self, k, T) -> np.ndarray:
        return np.sqrt(self.total_variance(k, T) / np.asarray(T, float))

    def gj_conditions(self) -> dict:
        """Gatheral-Jacquier sufficient conditions (Thm 4.2) evaluated on the theta nodes."""
        th = self.theta
        phi = self.eta / (th**self.gamma * (1.0 + th) ** (1.0 - self.gamma))
        a = th * phi * (1 + abs(self.rho))
        b = th * phi**2 * (1 + abs(self.rho))
        return {"theta_nondecreasing": bool(np.all(np.diff(th) >= 0)), "max_theta_phi_1prho": float(a.max()),
                "max_theta_phi2_1prho": float(b.max()), "butterfly_free": bool(a.max() < 4 and b.max() <= 4)}

    def to_dict(self) -> dict:
        return {"rho": self.rho, "eta": self.eta, "gamma": self.gamma, "rmse_vol_pts": self.rmse_vol_pts,
                "inside_pct": self.inside_pct}


def _atm_theta(quotes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    Ts, th = [], []
    for _, g in quotes.groupby("expiry", sort=True):
        g = g.sort_values("k")
        T = float(g["T"].iloc[0])
        iv0 = np.interp(0.0, g["k"].to_numpy(), g["iv_mid"].to_numpy())
        Ts.append(T)
        th.append(iv0**2 * T)
    return np.array(Ts), np.maximum.accumulate(np.array(th))


def fit_ssvi(quotes: pd.DataFrame) -> SsviSurface:
    """Fit SSVI to the ``use`` rows of a :func:`~workbench.vol.chain.prepare_chain` frame."""
    q = quotes[quotes["use"]] if "use" in quotes else quotes
    if q["expiry"].nunique() < 1 or len(q) < 5:
        raise ValueError(f"fit_ssvi: need >= 5 usable quotes, got {len(q)}")
    Ts, theta = _atm_theta(q)
    k = q["k"].to_numpy(float)
    T = q["T"].to_numpy(float)
    mid = q["iv_mid"].to_numpy(float)
    lo = q["iv_bid"].fillna(0.0).to_numpy(float)
    hi = q["iv_ask"].to_numpy(float)
    half = np.maximum(0.5 * (hi - lo), 0.002)

    def unpack(x):
        rho = np.tanh(x[0])
        eta = 2.0 / (1.0 + abs(rho)) / (1.0 + np.exp(-x[1]))
        gamma = 0.5 / (1.0 + np.exp(-x[2]))
        return rho, eta, gamma

    def resid(x):
        s = SsviSurface(*unpack(x), Ts, theta)
        return (s.iv(k, T) - mid) / half

    best = None
    for x0 in ([-0.5, 0.0, 0.0], [-1.0, 1.0, 1.0], [0.0, -1.0, -1.0]):
        r = least_squares(resid, np.array(x0), method="lm", max_nfev=400)
        if best is None or r.cost < best.cost:
            best = r
    rho, eta, gamma = unpack(best.x)
    s = SsviSurface(float(rho), float(eta), float(gamma), Ts, theta)
    fit = s.iv(k, T)
    inside = (fit >= lo) & (fit <= hi)
    return SsviSurface(float(rho), float(eta), float(gamma), Ts, theta,
                       float(np.sqrt(np.mean((fit - mid) ** 2)) * 100), float(inside.mean() * 100))
