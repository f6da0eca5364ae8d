"""Fitted surfaces in DuckDB (table ``vol_fits``) and surface history across stored chain snapshots.

``vol_fits`` holds one row per (symbol, snapshot as_of, expiry): SVI parameters, forward, discount and
fit diagnostics.  :func:`surface_history` fits only the snapshots that have no row yet, so asking for
history again costs a query, not a refit.  The table is created on first use (CREATE TABLE IF NOT
EXISTS); it belongs to this package, not to the store's schema.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.vol.surface import Smile, VolSurface
from workbench.vol.svi import SviParams

__all__ = ["ensure_table", "load_surface", "save_surface", "surface_history"]

_DDL = """
CREATE TABLE IF NOT EXISTS vol_fits (
    symbol VARCHAR NOT NULL, as_of BIGINT NOT NULL, expiry DATE NOT NULL, T DOUBLE NOT NULL,
    forward DOUBLE NOT NULL, discount DOUBLE NOT NULL,
    a DOUBLE NOT NULL, b DOUBLE NOT NULL, rho DOUBLE NOT NULL, m DOUBLE NOT NULL, sigma DOUBLE NOT NULL,
    n_quotes INTEGER, rmse_vol_pts DOUBLE, inside_pct DOUBLE, butterfly_ok BOOLEAN,
    k_min DOUBLE, k_max DOUBLE, model VARCHAR DEFAULT 'svi_raw',
    PRIMARY KEY (symbol, as_of, expiry)
)"""
_COLS = ("symbol", "as_of", "expiry", "T", "forward", "discount", "a", "b", "rho", "m", "sigma", "n_quotes",
         "rmse_vol_pts", "inside_pct", "butterfly_ok", "k_min", "k_max")


def ensure_table(store) -> None:
    store.con.execute(_DDL)


def save_surface(store, surface: VolSurface) -> int:
    """Replace the stored fit of (surface.symbol, surface.as_of_ns) atomically; returns rows written."""
    if not surface.symbol:
        raise ValueError("save_surface: the surface needs a symbol")
    if surface.price_space:
        raise ValueError("save_surface: vol_fits holds SVI parameters; fit the surface with model='svi'")
    ensure_table(store)
    rows = []
    for s in surface.smiles:
        p = s.params
        lo, hi = s.k_range
        rows.append((surface.symbol, surface.as_of_ns, s.expiry.date(), s.T, s.forward, s.discount, p.a, p.b,
                     p.rho, p.m, p.sigma, len(s.data.get("k", ())), s.rmse_vol_pts, s.inside_pct,
                     bool(s.butterfly_violations().size == 0), lo, hi))
    with store.transaction() as con:
        con.execute("DELETE FROM vol_fits WHERE symbol = ? AND as_of = ?", [surface.symbol, surface.as_of_ns])
        con.executemany(f"INSERT INTO vol_fits ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})",
                        rows)
    return len(rows)


def load_surface(store, symbol: str, as_of_ns: int) -> VolSurface | None:
    """The stored fit for one snapshot (quotes are not kept: smiles carry only their k range)."""
    ensure_table(store)
    df = store.con.execute("SELECT * FROM vol_fits WHERE symbol = ? AND as_of = ? ORDER BY T",
                           [symbol, int(as_of_ns)]).df()
    if df.empty:
        return None
    smiles = [Smile(pd.Timestamp(r.expiry), float(r.T), float(r.forward), float(r.discount),
                    SviParams(r.a, r.b, r.rho, r.m, r.sigma, float(r.T)), {},
                    k_bounds=(float(r.k_min), float(r.k_max))) for r in df.itertuples()]
    return VolSurface(smiles, int(as_of_ns), symbol)


def _metrics(surface: VolSurface) -> dict:
    from workbench.vol.grids import delta_strikes

    T30, T91 = 30 / 365, 91 / 365
    kc = delta_strikes(surface, T30, [0.25], call=True)[0]
    kp = delta_strikes(surface, T30, [0.25], call=False)[0]
    atm30 = float(surface.iv(0.0, T30))
    return {"atm_30d": atm30, "rr25_30d": float(surface.iv(kc, T30) - surface.iv(kp, T30)),
            "term_slope": float(surface.iv(0.0, T91)) - atm30, "n_expiries": len(surface.smiles)}


def surface_history(store, symbol: str, *, refit: bool = False, **fit_kw) -> pd.DataFrame:
    """ATM 30d vol, 30d 25-delta risk reversal and term slope (91d - 30d ATM) per stored snapshot.

    Snapshots without a stored fit (or all, with ``refit``) are fitted (raw SVI unless ``model`` is given:
    the table stores SVI parameters) and saved first.  Snapshots that
    cannot be fitted are reported with an ``error`` and NaN metrics rather than stopping the history.
    """
    fit_kw.setdefault("model", "svi")  # vol_fits holds SVI parameters
    snaps = store.chain_snapshots(symbol)
    rows = []
    for as_of in sorted(set(int(v) for v in snaps["as_of"])):
        surf = None if refit else load_surface(store, symbol, as_of)
        err = ""
        if surf is None:
            try:
                surf = VolSurface.from_store(store, symbol, as_of, **fit_kw)
                save_surface(store, surf)
            except (ValueError, LookupError) as exc:
                err = str(exc)
        m = _metrics(surf) if surf is not None else {"atm_30d": np.nan, "rr25_30d": np.nan,
                                                      "term_slope": np.nan, "n_expiries": 0}
        rows.append({"as_of": as_of, "as_of_time": pd.Timestamp(as_of, tz="UTC"), **m, "error": err})
    return pd.DataFrame(rows, columns=["as_of", "as_of_time", "atm_30d", "rr25_30d", "term_slope",
                                       "n_expiries", "error"])
