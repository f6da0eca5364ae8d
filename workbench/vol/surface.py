"""`VolSurface` and `Smile`: fitted, arbitrage-checked implied-vol surfaces with grids, plots and greeks.

Build one from a chain frame (``store.read_chain`` columns) with :meth:`VolSurface.from_chain`, or from
the store with :meth:`VolSurface.from_store`.  By default (``model="price"``) each expiry is a
:class:`~workbench.vol.price_smile.PriceSmile`: arbitrage-free call prices fitted to the bid/ask band
(:mod:`workbench.vol.pricefit`), interpolated in price between expiries.  With ``model="svi"`` each
expiry is a raw-SVI :class:`Smile` fitted to the
out-of-the-money quotes (see :mod:`workbench.vol.chain`), in increasing T, each slice constrained to lie
above the previous ones in total variance where both are quoted and to have g(k) >= 0 on the whole grid
k in [-2.5, 1.5] (see :func:`workbench.vol.svi.fit_svi`: a dead-zone fit to the bid/ask IV band under
both constraints).  Beyond the quotes one slice's extrapolated SVI wing may still cross another's; each
slice's total variance is therefore the running maximum over the earlier slices (the *calendar
envelope*, :func:`workbench.vol.fitting.calendar_envelope`), which makes the surface calendar-free at every k and keeps it
butterfly-free.  Between and beyond expiries the surface interpolates *total variance* linearly in T along
constant k, which preserves the calendar property; before the first expiry it scales the first slice's
total variance by T/T1.  The SSVI/eSSVI fits (:mod:`workbench.vol.ssvi`, :mod:`workbench.vol.essvi`) are
arbitrage-free by construction with fewer parameters.

>>> surf = VolSurface.from_chain(synthetic_chain(), as_of_ns)        # doctest: +SKIP
>>> surf.summary(); surf.iv(k=0.0, T=30/365); surf.plot_smile(0)     # doctest: +SKIP
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from workbench.vol.chain import min_tick_for, prepare_chain
from workbench.vol.fitting import calendar_envelope, fit_smiles
from workbench.vol.forward import ForwardEstimate
from workbench.vol.price_smile import PriceSmile, otm_to_w
from workbench.vol.smile import GRID as _GRID
from workbench.vol.smile import Smile, butterfly_k
from workbench.vol.svi import calendar_check

__all__ = ["Smile", "VolSurface"]


class VolSurface:
    """A set of :class:`Smile` slices sorted by T plus the forwards they were built on."""

    def __init__(self, smiles: list[Smile], as_of_ns: int, symbol: str = "", forwards=None,
                 fit_ms: float = float("nan"), chain: pd.DataFrame | None = None):
        if not smiles:
            raise ValueError("VolSurface needs at least one fitted expiry")
        smiles = sorted(smiles, key=lambda s: s.T)
        # price-space slices are calendar-ordered by their fit; SVI slices get the calendar envelope
        self.price_space = all(isinstance(s, PriceSmile) for s in smiles)
        self.smiles = smiles if self.price_space else calendar_envelope(smiles)
        self.as_of_ns = int(as_of_ns)
        self.symbol = symbol
        self.forwards: dict[pd.Timestamp, ForwardEstimate] = forwards or {}
        self.fit_ms = fit_ms
        self.chain = chain
        self._T = np.array([s.T for s in self.smiles])
        self._dense: dict | None = None  # dense arbitrage check, computed on first use
        self.dropped: dict[pd.Timestamp, str] = {}  # expiry -> why it is not in the surface
        self.inadmissible = pd.DataFrame()  # quotes no arbitrage-free surface passes through (see summary)

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_quotes(cls, quotes: pd.DataFrame, as_of_ns: int, *, symbol: str = "", forwards=None,
                    min_quotes: int = 5, model: str = "price") -> VolSurface:
        """Fit every expiry of a :func:`prepare_chain` frame (its ``use`` rows) with ``model`` ``"price"``
        (the default: arbitrage-free call prices fitted to the bid/ask band, :mod:`workbench.vol.pricefit`),
        ``"svi"`` (raw SVI per expiry) or ``"essvi"``; see :mod:`workbench.vol.fitting`."""
        t0 = time.perf_counter()
        smiles = fit_smiles(quotes, min_quotes=min_quotes, model=model)
        surface = cls(smiles, as_of_ns, symbol, forwards, float("nan"), quotes)
        surface.fit_ms = (time.perf_counter() - t0) * 1e3
        surface.dropped = _dropped_expiries(quotes, surface.expiries, min_quotes)
        from workbench.vol.admissible import inadmissible_quotes

        surface.inadmissible = inadmissible_quotes(surface, quotes)
        return surface

    @classmethod
    def from_chain(cls, chain: pd.DataFrame, as_of_ns: int, *, symbol: str = "", spot=None, rate=None,
                   min_T: float = 2.0 / 365.0, model: str = "price", min_tick: float | str = 0.05) -> VolSurface:
        """Prepare (forwards, IVs, OTM selection) and fit a raw chain frame. ``min_tick``: the price at
        or below which a bid is a stub (default 0.05, conservative for every class), or ``"class"`` for
        the option class's own tick (:func:`workbench.vol.chain.min_tick_for`, what ``wb vol surface`` uses)."""
        tick = min_tick_for(symbol) if min_tick == "class" else min_tick
        quotes, forwards = prepare_chain(chain, as_of_ns, spot=spot, rate=rate, min_T=min_T, min_tick=tick)
        return cls.from_quotes(quotes, as_of_ns, symbol=symbol, forwards=forwards, model=model)

    @classmethod
    def from_store(cls, store, symbol: str, as_of=None, **kw) -> VolSurface:
        """Surface for a stored chain snapshot (latest when ``as_of`` is None); see ``store.read_chain``."""
        chain = store.read_chain(symbol, as_of=as_of)  # LookupError when there is none
        if len(chain) == 0:
            raise ValueError(f"stored chain for {symbol!r} at as_of={as_of!r} has no rows")
        as_of_ns = int(chain["as_of"].iloc[0])
        return cls.from_chain(chain, as_of_ns, symbol=symbol, **kw)

    # -- evaluation ---------------------------------------------------------------------------------------
    @property
    def expiries(self) -> list[pd.Timestamp]:
        return [s.expiry for s in self.smiles]

    @property
    def T(self) -> np.ndarray:
        return self._T.copy()

    def total_variance(self, k, T) -> np.ndarray:
        """w(k, T): between slices linear in T at fixed k -- in total variance for SVI slices, in the OTM
        price (then inverted) for price-space slices, which keeps convexity in strike as well as the
        calendar order; before the first expiry scaled by T/T1 (price space: blended with the payoff);
        flat-extrapolated implied vol beyond the last."""
        k, T = np.broadcast_arrays(np.asarray(k, float), np.asarray(T, float))
        if self.price_space:
            return self._price_total_variance(k, T)
        out = np.empty(k.shape)
        Ts = self._T
        for idx, sel, kk, tt in self._by_interval(k, T):
            if idx == 0:
                out[sel] = self.smiles[0].w(kk) * tt / Ts[0]
            elif idx >= len(Ts):
                out[sel] = self.smiles[-1].w(kk) * tt / Ts[-1]
            else:
                t1, t2 = Ts[idx - 1], Ts[idx]
                a = (tt - t1) / (t2 - t1)
                out[sel] = (1 - a) * self.smiles[idx - 1].w(kk) + a * self.smiles[idx].w(kk)
        return out

    def _by_interval(self, k, T):
        """(idx, mask, k[mask], T[mask]) per group of points sharing ``searchsorted(expiry T's, T)``."""
        j = np.searchsorted(self._T, T, side="left")
        for idx in np.unique(j):
            sel = j == idx
            yield idx, sel, k[sel], T[sel]

    def _price_total_variance(self, k, T) -> np.ndarray:
        out = np.empty(k.shape)
        Ts = self._T
        for idx, sel, kk, tt in self._by_interval(k, T):
            if idx >= len(Ts):
                out[sel] = self.smiles[-1].w(kk) * tt / Ts[-1]
                continue
            if idx == 0:
                price = self.smiles[0].otm(kk) * (tt / Ts[0])  # the payoff's OTM value is 0
            else:
                t1, t2 = Ts[idx - 1], Ts[idx]
                a = (tt - t1) / (t2 - t1)
                price = (1 - a) * self.smiles[idx - 1].otm(kk) + a * self.smiles[idx].otm(kk)
            out[sel] = otm_to_w(kk, price, tt)
        return out

    def iv(self, k, T) -> np.ndarray:
        """Implied vol at log-moneyness ``k = ln(K/F(T))`` and year fraction ``T``."""
        T = np.asarray(T, float)
        return np.sqrt(np.maximum(self.total_variance(k, T), 0.0) / T)

    def forward(self, T) -> np.ndarray:
        """Forward interpolated log-linearly in T between expiries (flat carry beyond)."""
        Ts = self._T
        lf = np.log([s.forward for s in self.smiles])
        return np.exp(np.interp(T, Ts, lf))

    def discount(self, T) -> np.ndarray:
        Ts = self._T
        r = np.array([-np.log(s.discount) / s.T for s in self.smiles])
        return np.exp(-np.interp(T, Ts, r) * np.asarray(T, float))

    def smile(self, expiry) -> Smile:
        """Slice by index, expiry date (Timestamp/str) or nearest year fraction (float < 50)."""
        if isinstance(expiry, int | np.integer):
            return self.smiles[int(expiry)]
        if isinstance(expiry, float) and expiry < 50:
            return self.smiles[int(np.argmin(np.abs(self._T - expiry)))]
        ts = pd.Timestamp(expiry).normalize()
        for s in self.smiles:
            if s.expiry == ts:
                return s
        raise KeyError(f"no fitted expiry {ts.date()}; have {[str(e.date()) for e in self.expiries]}")

    def density(self, T, strikes=None) -> pd.DataFrame:
        from workbench.vol.grids import bl_density_surface

        return bl_density_surface(self, float(T), strikes)

    def greeks(self, strike, T, call=True):
        """Black-76 greeks at the surface's vol for (strike, T) arrays."""
        from workbench.vol.greeks import black_greeks

        T = np.asarray(T, float)
        F = self.forward(T)
        k = np.log(np.asarray(strike, float) / F)
        return black_greeks(F, strike, T, self.discount(T), self.iv(k, T), call)

    # -- diagnostics --------------------------------------------------------------------------------------
    def arbitrage(self, grid=_GRID) -> dict:
        """Butterfly violations per expiry and calendar violations per adjacent pair on the whole ``grid``
        (empty = clean), checked on the surface as used (the calendar envelope), plus ``envelope``: per
        expiry, the grid k where an earlier slice's wing lifts the fitted SVI (a diagnostic, not a fault)."""
        if self.price_space:
            bf = {str(s.expiry.date()): s.butterfly_violations(grid) for s in self.smiles}
            env = {}
        else:
            bf = {str(s.expiry.date()): butterfly_k(s, grid) for s in self.smiles}
            env = {str(s.expiry.date()): grid[s.w(grid) > s.params.w(grid)] for s in self.smiles if s.below}
        cal = calendar_check(self.smiles, grid)
        return {"butterfly": {e: v for e, v in bf.items() if v.size}, "calendar": cal,
                "envelope": {e: v for e, v in env.items() if v.size}, "dense": self.dense_arbitrage()}

    def dense_arbitrage(self) -> dict:
        """The dense price-space check of :mod:`workbench.vol.arbcheck` (cached: the surface is immutable)."""
        if self._dense is None:
            from workbench.vol.arbcheck import dense_arbitrage

            self._dense = dense_arbitrage(self)
        return self._dense

    @property
    def arbitrage_free(self) -> bool:
        """No butterfly, calendar, price-space or Lee-bound violation on the dense check (>= 4,000 k per
        expiry over the reported range, wings and the T interpolation included)."""
        a = self.arbitrage()
        d = a["dense"]
        return not (a["butterfly"] or a["calendar"] or d["price"] or d["butterfly"] or d["calendar"] or d["lee"])

    @property
    def inside_pct(self) -> float:
        inside = np.concatenate([np.asarray(s.data.get("inside", ()), bool) for s in self.smiles])
        return float(np.mean(inside) * 100) if inside.size else float("nan")  # no quotes kept: unknown

    @property
    def rmse_vol_pts(self) -> float:
        r = np.concatenate([np.empty(0)] + [s.data["fit_iv"] - s.data["iv_mid"] for s in self.smiles
                                            if len(s.data.get("k", ()))])
        return float(np.sqrt(np.mean(r**2)) * 100) if r.size else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """One row per expiry: parameters and diagnostics."""
        return pd.DataFrame([s.summary() for s in self.smiles])

    def quotes_frame(self) -> pd.DataFrame:
        return pd.concat([s.quotes.assign(expiry=s.expiry, T=s.T) for s in self.smiles], ignore_index=True)

    def summary(self) -> str:
        arb = self.arbitrage()
        lines = [
            f"VolSurface {self.symbol} as of {pd.Timestamp(self.as_of_ns, tz='UTC')}",
            f"  expiries: {len(self.smiles)}  quotes: {sum(len(s.data.get('k', ())) for s in self.smiles)}"
            f"  fit: {self.fit_ms:.1f} ms",
            f"  inside bid/ask IV band: {self.inside_pct:.1f}%  "
            f"RMSE: {self.rmse_vol_pts:.2f} vol pts",
            f"  butterfly violations: {len(arb['butterfly'])} slices; calendar violations: {len(arb['calendar'])} pairs",
            f"  dense check ({arb['dense']['n_per_expiry']} k/expiry): price {len(arb['dense']['price'])}, "
            f"g<0 {len(arb['dense']['butterfly'])}, calendar {len(arb['dense']['calendar'])}, "
            f"Lee {len(arb['dense']['lee'])}",
        ]
        n_adj = int(self.chain.attrs.get("adjusted_contracts", 0)) if self.chain is not None else 0
        if n_adj:
            lines.append(f"  adjusted (non-standard deliverable) contracts left out: {n_adj}")
        if self.chain is not None and self.chain.attrs.get("open_interest_missing"):
            lines.append("  warning: open interest is missing for the whole snapshot (e.g. Lean data after a split)")
        n_root = int(self.chain.attrs.get("second_root_rows", 0)) if self.chain is not None else 0
        if n_root:
            lines.append(f"  second option root on an expiry (AM-settled beside PM-settled) left out: {n_root} rows")
        if len(self.inadmissible):
            why = self.inadmissible["reason"].str.split(":").str[0].value_counts()
            lines.append(f"  inadmissible quotes (no arbitrage-free surface passes through them): "
                         f"{len(self.inadmissible)} ({', '.join(f'{r} {n}' for r, n in why.items())})")
        if self.dropped:
            lines.append(f"  dropped expiries: {len(self.dropped)}")
            lines += [f"    {pd.Timestamp(e):%Y-%m-%d}: {why}" for e, why in self.dropped.items()]
        table = self.to_frame()[["expiry", "T", "forward", "atm_vol", "n", "rmse_vol_pts", "inside_pct"]]
        return "\n".join(lines) + "\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def __repr__(self) -> str:
        return f"VolSurface({self.symbol!r}, expiries={len(self.smiles)}, inside={self.inside_pct:.1f}%)"

    def _repr_html_(self) -> str:
        """The :meth:`summary` text (the dense check it runs is cached and takes milliseconds)."""
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    # -- plots (plotly) -----------------------------------------------------------------------------------
    def plot_smile(self, expiry=0, **kw):
        return self.smile(expiry).plot(**kw)

    def plot_term_structure(self, **kw):
        from workbench.vol.plots import term_structure_figure

        return term_structure_figure(self, **kw)

    def plot_surface(self, **kw):
        from workbench.vol.plots import surface_figure

        return surface_figure(self, **kw)

    def plot_heatmap(self, **kw):
        from workbench.vol.plots import heatmap_figure

        return heatmap_figure(self, **kw)

    def plot(self, **kw):
        return self.plot_surface(**kw)

    def to_html(self, path) -> None:
        from workbench.vol.plots import write_html

        write_html(self, path)


def _dropped_expiries(quotes: pd.DataFrame, fitted: list, min_quotes: int) -> dict:
    """Why each expiry of a prepared chain is missing from the surface: the reasons
    :func:`prepare_chain` recorded (under ``min_T``, no forward) plus expiries left unfitted."""
    out = dict(quotes.attrs.get("dropped_expiries", {}))
    have = {pd.Timestamp(e).normalize() for e in fitted}
    if "expiry" in quotes.columns:
        for expiry, grp in quotes.groupby("expiry", sort=True):
            if pd.Timestamp(expiry).normalize() not in have:
                n = int(grp["use"].sum()) if "use" in grp else 0
                out[expiry] = (f"{n} usable OTM quotes (< min_quotes={min_quotes})" if n < min_quotes
                               else "no acceptable fit")
    return dict(sorted(out.items(), key=lambda kv: pd.Timestamp(kv[0])))
