"""A deterministic synthetic option chain (the offline default for the notebook, tests and benchmarks).

Quotes come from a known arbitrage-free SVI surface (SPX-like skew, vol term structure rising with T),
priced with Black-76 and widened into bid/ask by a half-spread in vol terms plus noise from a local,
seeded generator: the fit should land inside the bands and recover the generating smiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.vol.iv import black_price

__all__ = ["synthetic_chain", "synthetic_svi"]

AS_OF = pd.Timestamp("2024-03-15 16:00", tz="America/New_York")
EXPIRY_DAYS = (7, 14, 21, 30, 45, 60, 91, 122, 152, 182, 273, 365, 456, 547, 638, 730)


def synthetic_svi(T: float) -> tuple[float, float, float, float, float]:
    """Raw SVI (a, b, rho, m, sigma) of the generating surface at T.

    The surface is SSVI with a power-law phi inside the Gatheral-Jacquier bounds (eta (1+|rho|) <= 2,
    gamma = 0.4) and increasing ATM total variance, so it is free of static arbitrage; each slice is
    written in raw-SVI form (GJ 2014, Lemma 3.2).
    """
    theta = (0.16 + 0.04 * np.sqrt(T)) ** 2 * T
    rho, eta, gamma = -0.7, 1.1, 0.4
    phi = eta / (theta**gamma * (1 + theta) ** (1 - gamma))
    a = 0.5 * theta * (1 - rho * rho)
    b = 0.5 * theta * phi
    return float(a), float(b), rho, float(-rho / phi), float(np.sqrt(1 - rho * rho) / phi)


def synthetic_chain(*, spot: float = 5000.0, rate: float = 0.045, div_yield: float = 0.015,
                    expiry_days=EXPIRY_DAYS, n_strikes: int = 100, seed: int = 7,
                    symbol: str = "SPX") -> tuple[pd.DataFrame, int]:
    """(chain frame in ``store.read_chain`` columns, as_of ns).  ~``n_strikes`` strikes per expiry."""
    rng = np.random.default_rng(seed)
    rows = []
    as_of_ns = int(AS_OF.tz_convert("UTC").value)
    close = AS_OF.normalize().tz_localize(None)
    for days in expiry_days:
        expiry = close + pd.Timedelta(days=days)
        T = (pd.Timestamp(expiry.strftime("%Y-%m-%d") + " 16:00", tz="America/New_York").value - as_of_ns) / (
            365.0 * 86400e9)
        F = spot * np.exp((rate - div_yield) * T)
        df = np.exp(-rate * T)
        a, b, rho, m, sig = synthetic_svi(T)
        sd = (0.2 * np.sqrt(T))
        k = np.linspace(-3.0 * sd - 0.05, 1.5 * sd + 0.03, n_strikes)
        strikes = np.round(F * np.exp(k) / 5.0) * 5.0
        strikes = np.unique(strikes)
        kk = np.log(strikes / F)
        w = a + b * (rho * (kk - m) + np.sqrt((kk - m) ** 2 + sig * sig))
        vol = np.sqrt(w / T)
        half_vol = 0.004 + 0.01 * np.abs(kk) / max(sd, 1e-3) * 0.2
        for right in ("C", "P"):
            call = right == "C"
            noise = rng.normal(0.0, 0.25, strikes.size) * half_vol
            bid = black_price(F, strikes, T, df, np.maximum(vol + noise - half_vol, 1e-3), call)
            ask = black_price(F, strikes, T, df, vol + noise + half_vol, call)
            bid = np.floor(bid * 20) / 20
            ask = np.ceil(ask * 20) / 20
            rows.append(pd.DataFrame({
                "instrument_id": [f"{symbol}{expiry:%y%m%d}{right}{int(s * 1000):08d}.XCBO" for s in strikes],
                "expiry": expiry.date(), "strike": strikes, "right": right, "bid": bid, "ask": ask,
                "underlying_price": spot, "forward": np.nan, "as_of": as_of_ns}))
    return pd.concat(rows, ignore_index=True), as_of_ns
