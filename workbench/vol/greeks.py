"""Vectorised analytic greeks for Black-76 (forward measure) and Black-Scholes-Merton (spot).

Units: vega, vanna and volga are per 1.00 of vol (divide by 100 for "per vol point"); theta is
``-dV/dT`` per year (divide by 365 for per calendar day); rho is per 1.00 of rate.  Both functions
broadcast like numpy and return a :class:`Greeks` whose fields are arrays of the broadcast shape.

Black-76 greeks hold the forward fixed: ``delta``/``gamma`` are with respect to F, ``rho = -T V``
(the rate only discounts) and ``theta`` holds F and r fixed.  BSM greeks hold spot S, r and q fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy.special import ndtr

from workbench.vol.iv import parse_call

_INV_SQRT_2PI = 0.3989422804014327


@dataclass(frozen=True)
class Greeks:
    """Price and sensitivities; every field is an array of the inputs' broadcast shape."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray
    vanna: np.ndarray
    volga: np.ndarray
    dual_delta: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per option (inputs flattened in C order)."""
        return pd.DataFrame({f.name: np.ravel(getattr(self, f.name)) for f in fields(self)})


def _d12(log_moneyness, total_drift, sigma, expiry):
    sq = sigma * np.sqrt(expiry)
    d1 = (log_moneyness + total_drift) / sq + 0.5 * sq
    return d1, d1 - sq, sq


def black_greeks(forward, strike, expiry, discount, sigma, call=True) -> Greeks:
    """Black-76 greeks with respect to the forward F (discount DF = exp(-r T))."""
    f, k, t, df, s = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in
                                           (forward, strike, expiry, discount, sigma)))
    phi = np.where(np.broadcast_to(parse_call(call), f.shape), 1.0, -1.0)
    d1, d2, sq = _d12(np.log(f / k), 0.0, s, t)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    n1, n2 = ndtr(phi * d1), ndtr(phi * d2)
    price = phi * df * (f * n1 - k * n2)
    vega = df * f * pdf * np.sqrt(t)
    rate = -np.log(df) / t
    return Greeks(
        price=price,
        delta=phi * df * n1,
        gamma=df * pdf / (f * sq),
        vega=vega,
        theta=rate * price - df * f * pdf * s / (2.0 * np.sqrt(t)),
        rho=-t * price,
        vanna=-df * pdf * d2 / s,
        volga=vega * d1 * d2 / s,
        dual_delta=-phi * df * n2,
    )


def bsm_greeks(spot, strike, expiry, rate, div_yield, sigma, call=True) -> Greeks:
    """Black-Scholes-Merton greeks with respect to spot S (continuous yield ``div_yield``)."""
    S, k, t, r, q, s = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in
                                             (spot, strike, expiry, rate, div_yield, sigma)))
    phi = np.where(np.broadcast_to(parse_call(call), S.shape), 1.0, -1.0)
    d1, d2, sq = _d12(np.log(S / k), (r - q) * t, s, t)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    n1, n2 = ndtr(phi * d1), ndtr(phi * d2)
    dq, dr = np.exp(-q * t), np.exp(-r * t)
    vega = S * dq * pdf * np.sqrt(t)
    return Greeks(
        price=phi * (S * dq * n1 - k * dr * n2),
        delta=phi * dq * n1,
        gamma=dq * pdf / (S * sq),
        vega=vega,
        theta=-S * dq * pdf * s / (2.0 * np.sqrt(t)) - phi * r * k * dr * n2 + phi * q * S * dq * n1,
        rho=phi * k * t * dr * n2,
        vanna=-dq * pdf * d2 / s,
        volga=vega * d1 * d2 / s,
        dual_delta=-phi * dr * n2,
    )
