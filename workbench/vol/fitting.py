"""Fitting a surface's expiries: calendar constraints between raw-SVI slices, and the calendar envelope.

Two passes over the expiries (sorted by T), each slice fitted by :func:`workbench.vol.svi.fit_svi`:

1. forward: slice i is fitted above slice i-1 where both are
   quoted (:func:`calendar_mask`), with the previous slice scaled to T_i as a second starting point;
2. backward: where only slice i+1 is quoted, slice i is an extrapolated SVI wing; if it rises above
   slice i+1 there, slice i is refitted with slice i+1 as a ceiling (kept only if that is feasible).

Whatever crossing is left beyond the quotes is closed by :func:`calendar_envelope`: each slice's total
variance becomes the running maximum over the earlier slices, so the surface is calendar-free at every k.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from workbench.vol.smile import FIT_GRID as GRID
from workbench.vol.smile import Smile, inside_band
from workbench.vol.svi import SviParams, fit_svi, fit_weights, violates

__all__ = ["calendar_envelope", "calendar_mask", "fit_smiles"]


def calendar_mask(grid: np.ndarray, k_short: tuple[float, float], k_long: tuple[float, float]) -> np.ndarray:
    """Where the fit imposes w(T_long) >= w(T_short): where both slices are quoted.  Elsewhere one of them
    is an extrapolated SVI wing, and forcing one above the other would pull a slice away from its own
    quotes (an SPX monthly quotes strikes far below its neighbouring quarterly, and the reverse); the
    calendar envelope (:func:`calendar_envelope`) takes care of those k."""
    return (grid >= max(k_short[0], k_long[0])) & (grid <= min(k_short[1], k_long[1]))


def calendar_envelope(smiles: list[Smile]) -> list[Smile]:
    """Each slice's total variance becomes ``max(w_i, w_{i-1}, ..., w_1)`` (sorted by T).

    The fit imposes w_i >= w_{i-1} only where it can do so without leaving the quotes (see
    :func:`calendar_mask`); the running maximum closes the remaining gaps in the extrapolated wings, so
    the surface is calendar-free at every k.  It stays butterfly-free: for each slice the call price is
    then the maximum of call prices convex in strike, which is convex.  On the quoted strikes it almost
    never binds (2-6 of ~780 SPX quotes a day); the quotes' ``fit_iv``/``inside`` are taken from the
    envelope so they describe the surface as it is used.
    """
    w_grid = [s.params.w(GRID) for s in smiles]
    out: list[Smile] = []
    for i, s in enumerate(smiles):
        below = tuple(p.params for p, wp in zip(smiles[:i], w_grid[:i], strict=True) if np.any(wp > w_grid[i]))
        if below != s.below:
            s = replace(s, below=below)
            if below and len(s.data.get("k", ())):
                s.data["fit_iv"] = s.iv(s.data["k"])
                s.data["inside"] = inside_band(s.data["fit_iv"], s.data["iv_bid"], s.data["iv_ask"])
        out.append(s)
    return out


class _Slice:
    """One expiry's fitting inputs and current fit (mutable while the passes run)."""

    __slots__ = ("T", "k", "bid", "mid", "ask", "wt", "rows", "params", "floor")

    def __init__(self, T, k, bid, mid, ask, rows):
        self.T, self.k, self.bid, self.mid, self.ask, self.rows = T, k, bid, mid, ask, rows
        self.wt = fit_weights(mid, bid, ask, T)
        self.params: SviParams | None = None
        self.floor = None

    @property
    def k_range(self) -> tuple[float, float]:
        return float(self.k[0]), float(self.k[-1])

    def fit(self, floor=None, start=None, ceil=None, mid_start=True) -> SviParams:
        return fit_svi(self.k, self.mid, self.T, self.wt, band=(self.bid, self.ask),
                       floor_w_grid=None if floor is None else (GRID, floor), grid=GRID, start=start, ceil_w=ceil,
                       mid_start=mid_start)


_COLS = ("strike", "right", "k", "bid", "ask", "iv_bid", "iv_mid", "iv_ask", "T", "forward", "discount", "expiry")


def _slices(use, min_quotes: int) -> tuple[list[_Slice], dict]:
    mask = use["use"].to_numpy(bool)
    cols = {c: use[c].to_numpy()[mask] for c in _COLS}
    order = np.lexsort((cols["k"], cols["expiry"]))  # numpy, not DataFrame.sort_values: ~1 ms a surface
    cols = {c: v[order] for c, v in cols.items()}
    exp = cols["expiry"]
    starts = np.flatnonzero(np.r_[True, exp[1:] != exp[:-1]])
    ends = np.r_[starts[1:], exp.size]
    out = []
    for i0, i1 in zip(starts, ends, strict=True):
        if i1 - i0 >= min_quotes:
            sl = slice(i0, i1)
            out.append(_Slice(float(cols["T"][i0]), cols["k"][sl].astype(float),
                              *(cols[c][sl].astype(float) for c in ("iv_bid", "iv_mid", "iv_ask")), sl))
    return out, cols


def fit_smiles(quotes, *, min_quotes: int = 5, model: str = "svi") -> list[Smile]:
    """Fit the rows of a :func:`~workbench.vol.chain.prepare_chain` frame marked ``use``: one
    :class:`Smile` per expiry with at least ``min_quotes`` quotes, in increasing T.

    ``model="price"`` (the default of :class:`~workbench.vol.surface.VolSurface`): the arbitrage-free
    price-space fit of :mod:`workbench.vol.pricefit`, one :class:`~workbench.vol.price_smile.PriceSmile` per
    expiry.  ``model="svi"``: raw SVI per expiry with the two calendar passes (module docstring); ``"essvi"``: the
    eSSVI slices of :func:`workbench.vol.essvi.fit_essvi` (three parameters per expiry, arbitrage-free by
    its parameter conditions), carried as their exact raw-SVI equivalents.
    """
    slices, cols = _slices(quotes, min_quotes)
    if model == "price":
        return _fit_price(slices, cols, float(quotes.attrs.get("min_tick", 0.05)))
    if model == "essvi":
        from workbench.vol.essvi import fit_essvi

        fit = fit_essvi([{"T": s.T, "k": s.k, "iv_mid": s.mid, "iv_bid": s.bid, "iv_ask": s.ask} for s in slices])
        for s, p in zip(slices, fit.svi_params(), strict=True):  # both in increasing T
            s.params = p
    elif model == "svi":
        _fit_svi_passes(slices)
    else:
        raise ValueError(f"model {model!r}: expected 'price', 'svi' or 'essvi'")
    smiles = []
    for s in slices:
        sl = s.rows
        fit = s.params.iv(s.k)
        q = {c: cols[c][sl] for c in ("strike", "right", "k", "bid", "ask")} | {
            "iv_bid": s.bid, "iv_mid": s.mid, "iv_ask": s.ask, "fit_iv": fit, "inside": inside_band(fit, s.bid, s.ask)}
        smiles.append(Smile(pd.Timestamp(cols["expiry"][sl.start]), s.T, float(cols["forward"][sl.start]),
                            float(cols["discount"][sl.start]), s.params, q, k_bounds=s.k_range))
    return smiles


def _fit_svi_passes(slices: list[_Slice]) -> None:
    for i, s in enumerate(slices):  # forward pass
        start = None
        if i:
            prev = slices[i - 1]
            pp, r = prev.params, s.T / prev.T
            # the previous slice with its total variance scaled to this T (a, b scale with w)
            start = np.array([pp.a * r, pp.b * r, pp.rho, pp.m, pp.sigma])
            s.floor = np.where(calendar_mask(GRID, prev.k_range, s.k_range), pp.w(GRID), 0.0)
        s.params = s.fit(s.floor, start)
    for i in range(len(slices) - 2, -1, -1):  # backward pass: pull extrapolated wings under the next slice
        s, nxt = slices[i], slices[i + 1]
        lo, hi = nxt.k_range
        ceil = np.where((GRID >= lo) & (GRID <= hi), nxt.params.w(GRID), np.inf)
        if np.all(s.params.w(GRID) <= ceil * (1 + 1e-10)):
            continue
        floor = np.zeros_like(GRID) if s.floor is None else s.floor
        refit = s.fit(floor, s.params.as_array(), ceil, mid_start=False)
        if not violates(refit.as_array(), GRID, floor, ceil):
            s.params = refit


def _fit_price(slices: list[_Slice], cols: dict, min_tick: float) -> list:
    """The price-space fit: OTM bid/ask/mid normalised by ``DF F`` per expiry, one LP per expiry in T order."""
    from workbench.vol.price_smile import PriceSmile
    from workbench.vol.pricefit import fit_price_surface

    if not slices:
        return []
    inputs = []
    for s in slices:
        sl = s.rows
        scale = float(cols["discount"][sl.start] * cols["forward"][sl.start])
        bid, ask = cols["bid"][sl].astype(float) / scale, cols["ask"][sl].astype(float) / scale
        inputs.append({"T": s.T, "k": s.k, "bid": bid, "ask": ask, "mid": 0.5 * (bid + ask), "iv_mid": s.mid,
                       "tick": 0.5 * min_tick / scale})
    fits = fit_price_surface(inputs)
    smiles = []
    for s, f in zip(slices, fits, strict=True):
        if f is None:  # listed by VolSurface.dropped as "no acceptable fit"
            continue
        sl = s.rows
        smile = PriceSmile(pd.Timestamp(cols["expiry"][sl.start]), s.T, float(cols["forward"][sl.start]),
                           float(cols["discount"][sl.start]), f["y"], f["p"], f["s"], {}, k_bounds=s.k_range)
        fit = smile.iv(s.k)
        smile.data.update({c: cols[c][sl] for c in ("strike", "right", "k", "bid", "ask")} | {
            "iv_bid": s.bid, "iv_mid": s.mid, "iv_ask": s.ask, "fit_iv": fit, "inside": inside_band(fit, s.bid, s.ask)})
        smiles.append(smile)
    return smiles
