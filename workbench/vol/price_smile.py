"""`PriceSmile`: one expiry of the default (price-space) surface -- a lognormal mixture with fixed nodes.

The slice is the law of ``S_T / F`` described in :mod:`workbench.vol.pricefit`; it prices every strike
directly (OTM puts below the forward, calls above) and its implied total variance ``w(k)`` is the Black
inversion of that price (``workbench.vol.iv``), so ``w`` is exactly as arbitrage-free as the prices are.
The interface matches :class:`workbench.vol.smile.Smile` (``w``, ``g``, ``iv``, ``quotes``, ``summary`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.vol._mixture import mixture_otm
from workbench.vol.iv import implied_vol
from workbench.vol.smile import SliceViews

__all__ = ["PriceSmile", "otm_to_w"]


def otm_to_w(k: np.ndarray, otm: np.ndarray, T: float) -> np.ndarray:
    """Total implied variance of normalised undiscounted OTM prices at log-moneyness ``k`` (NaN where no
    vol reproduces the price)."""
    x = np.exp(k)
    vol = implied_vol(otm, 1.0, x, T, 1.0, x >= 1.0)
    return vol * vol * T


@dataclass(frozen=True)
class PriceSmile(SliceViews):
    """One expiry: atoms ``p`` on nodes ``y`` (of ``S_T/F``), kernel std ``s``, and the fitted quotes."""

    expiry: pd.Timestamp
    T: float
    forward: float
    discount: float
    y: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)
    s: float
    data: dict = field(repr=False)  # strike, right, k, bid, ask, iv_bid, iv_mid, iv_ask, fit_iv, inside
    k_bounds: tuple[float, float] | None = None
    below: tuple = field(default=(), repr=False)  # no calendar envelope: the fit is calendar-free itself

    _rmse_mean = staticmethod(np.nanmean)  # fit_iv is NaN where no vol reproduces the price

    def _mixture(self, k) -> tuple[np.ndarray, np.ndarray]:
        """(OTM price / F, density of ``S_T / F``) at ``x = e^k``, both shaped like ``k``."""
        k = np.asarray(k, float)
        x = np.ascontiguousarray(np.exp(k).ravel())
        price, dens = np.empty(x.size), np.empty(x.size)
        mixture_otm(x, self.y, self.p, self.s, price, dens)
        return price.reshape(k.shape), dens.reshape(k.shape)

    def otm(self, k) -> np.ndarray:
        """Undiscounted OTM price / F at log-moneyness k (put below the forward, call at or above)."""
        return self._mixture(k)[0]

    def density_x(self, k) -> np.ndarray:
        """Density of ``S_T / F`` at ``x = e^k``."""
        return self._mixture(k)[1]

    def w(self, k) -> np.ndarray:
        k = np.asarray(k, float)
        return otm_to_w(k, self.otm(k), self.T)

    def g(self, k) -> np.ndarray:
        """Gatheral's g from the density: ``d2C/dK2 = phi(d2) g / (K sqrt(w))`` (F = 1), so ``g >= 0`` with
        the density; 0 where both the density and phi(d2) underflow."""
        k = np.asarray(k, float)
        w = self.w(k)
        sw = np.sqrt(w)
        d2 = -k / sw - 0.5 * sw
        phi = np.exp(-0.5 * d2 * d2) / np.sqrt(2 * np.pi)
        f = self.density_x(k)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(f > 0, f * np.exp(k) * sw / phi, 0.0)
        return g

    @property
    def params(self):
        raise AttributeError("a price-space slice has no SVI parameters (fit model='svi' for those)")

    @property
    def atm_vol(self) -> float:
        return float(self.iv(np.array([0.0]))[0])

    def butterfly_violations(self, grid=None) -> np.ndarray:
        from workbench.vol.smile import GRID

        grid = GRID if grid is None else grid
        return grid[~(self.g(grid) >= 0)]

    def density(self, strikes=None) -> pd.DataFrame:
        """Risk-neutral density of S_T (exact: the mixture's own density)."""
        from workbench.vol.grids import density_k

        k = density_k(self, strikes)
        K = self.forward * np.exp(k)
        return pd.DataFrame({"strike": K, "k": k, "density": self.density_x(k) / self.forward})

    def summary(self) -> pd.Series:
        return pd.Series({"expiry": self.expiry.date(), "T": self.T, "forward": self.forward,
                          "discount": self.discount, "atm_vol": self.atm_vol, "n": len(self.data.get("k", ())),
                          "rmse_vol_pts": self.rmse_vol_pts, "inside_pct": self.inside_pct,
                          "butterfly_ok": self.butterfly_violations().size == 0, "nodes": int(self.y.size),
                          "kernel_std": self.s})

    def plot(self, **kw):
        from workbench.vol.plots import smile_figure

        return smile_figure(self, **kw)
