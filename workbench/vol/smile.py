"""`Smile`: one fitted expiry of a :class:`~workbench.vol.surface.VolSurface` -- SVI parameters, the quotes
it was fitted to, fit diagnostics, and the calendar envelope it sits on (see :mod:`workbench.vol.fitting`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from workbench.vol.svi import SviParams, butterfly_check

__all__ = ["FIT_GRID", "GRID", "SliceViews", "Smile", "inside_band"]

GRID = np.linspace(-2.5, 1.5, 401)  # k grid of the arbitrage constraints and checks
# The fit's constraint grid: GRID plus sparse wings out to |k| = 20.  g >= 0 only on [-2.5, 1.5] let fits
# push their butterfly violations just past 1.5 (g < 0 on k in [1.5, 4] on real SPX), which makes OTM
# calls rise with strike inside the range; Lee's bound (enforced in the fit) covers |k| -> infinity.
FIT_GRID = np.concatenate([-np.geomspace(20.0, 2.6, 24), GRID, np.geomspace(1.6, 20.0, 28)])


def butterfly_k(smile, grid) -> np.ndarray:
    """k where the fitted slice or an envelope piece admits butterfly arbitrage (each piece must be clean:
    the envelope of clean pieces is clean, see :func:`workbench.vol.fitting.calendar_envelope`)."""
    bad = [butterfly_check(p, grid) for p in (smile.params, *smile.below)]
    return np.unique(np.concatenate(bad)) if any(b.size for b in bad) else np.empty(0)


def inside_band(fit, iv_bid, iv_ask) -> np.ndarray:
    """Fitted vol within the quote's bid/ask IV band (no bid IV: bounded by the ask only)."""
    return (fit >= np.nan_to_num(iv_bid, nan=0.0) - 1e-12) & (fit <= iv_ask + 1e-12)


class SliceViews:
    """What every one-expiry slice (:class:`Smile`, :class:`~workbench.vol.price_smile.PriceSmile`) derives
    the same way from its ``w``, ``T``, ``forward``, ``k_bounds`` and quote ``data``."""

    # PriceSmile's fit_iv is NaN where no vol reproduces the fitted price, so it averages over the rest;
    # an SVI fit_iv is never NaN, and a NaN there would be a bug to show, not hide
    _rmse_mean = staticmethod(np.mean)

    @cached_property
    def quotes(self) -> pd.DataFrame:
        """The fitted quotes with their IV band, fit and ``inside`` flag (built lazily: pandas is slow)."""
        cols = ("strike", "right", "k", "bid", "ask", "iv_bid", "iv_mid", "iv_ask", "fit_iv", "inside")
        return pd.DataFrame({c: self.data.get(c, np.empty(0)) for c in cols})

    def iv(self, k) -> np.ndarray:
        return np.sqrt(np.maximum(self.w(k), 0.0) / self.T)

    @property
    def k_range(self) -> tuple[float, float]:
        if self.k_bounds is not None:
            return self.k_bounds
        return float(np.min(self.data["k"])), float(np.max(self.data["k"]))

    def iv_strike(self, strike) -> np.ndarray:
        return self.iv(np.log(np.asarray(strike, float) / self.forward))

    @property
    def rmse_vol_pts(self) -> float:
        if not len(self.data.get("k", ())):
            return float("nan")
        r = self.data["fit_iv"] - self.data["iv_mid"]
        return float(np.sqrt(self._rmse_mean(r**2)) * 100)

    @property
    def inside_pct(self) -> float:
        inside = self.data.get("inside", ())
        return float(np.mean(inside) * 100) if len(inside) else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return self.quotes.copy()


@dataclass(frozen=True)
class Smile(SliceViews):
    """One expiry: fitted SVI parameters, the quotes it was fitted to, and fit diagnostics."""

    expiry: pd.Timestamp
    T: float
    forward: float
    discount: float
    params: SviParams
    data: dict = field(repr=False)  # arrays: strike, right, k, bid, ask, iv_bid, iv_mid, iv_ask, fit_iv, inside
    k_bounds: tuple[float, float] | None = None  # quoted k range (also kept when quotes are not, in storage)
    # earlier expiries whose (extrapolated) SVI wings rise above this slice somewhere on the grid: the
    # slice's total variance is the running maximum -- the calendar envelope, see VolSurface
    below: tuple[SviParams, ...] = field(default=(), repr=False)

    def w(self, k) -> np.ndarray:
        """Total variance: the fitted SVI, lifted to the calendar envelope of the earlier expiries."""
        w = self.params.w(k)
        for p in self.below:
            w = np.maximum(w, p.w(k))
        return w

    def g(self, k) -> np.ndarray:
        """Gatheral's density factor of the active piece of the envelope at each k."""
        w, g = self.params.w(k), self.params.g(k)
        for p in self.below:
            wp = p.w(k)
            g = np.where(wp > w, p.g(k), g)
            w = np.maximum(w, wp)
        return g

    @property
    def atm_vol(self) -> float:
        return float(self.iv(0.0))

    def butterfly_violations(self, grid=GRID) -> np.ndarray:
        return butterfly_k(self, grid)

    def density(self, strikes=None) -> pd.DataFrame:
        """Breeden-Litzenberger risk-neutral density of S_T; see :func:`grids.bl_density`."""
        from workbench.vol.grids import bl_density

        return bl_density(self, strikes)

    def summary(self) -> pd.Series:
        return pd.Series({"expiry": self.expiry.date(), "T": self.T, "forward": self.forward,
                          "discount": self.discount, "atm_vol": self.atm_vol, "n": len(self.data.get("k", ())),
                          "rmse_vol_pts": self.rmse_vol_pts, "inside_pct": self.inside_pct,
                          "butterfly_ok": self.butterfly_violations().size == 0, **self.params.to_dict()})

    def plot(self, **kw):
        from workbench.vol.plots import smile_figure

        return smile_figure(self, **kw)


