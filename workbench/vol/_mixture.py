"""Numba kernels of the lognormal-mixture slices of :mod:`workbench.vol.pricefit`.

A slice is the law of ``S_T / F = Y L``: ``Y`` has atoms ``p_l >= 0`` at sorted nodes ``y_l`` (mass 1, mean 1)
and ``L = exp(s Z - s^2 / 2)`` is an independent mean-one lognormal.  Each atom is then a Black-76 forward
``y_l`` with total std ``s``.  Prices are undiscounted and normalised by the forward.

Atoms further than ``_WIN`` standard deviations (in log) from the strike contribute their intrinsic value to
``N(-_WIN) ~ 2e-33`` (relative); they are summed with prefix sums, so an evaluation costs O(window), not O(atoms).
OTM prices are summed directly (puts below the forward, calls above): no parity cancellation in the wings.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_WIN = 12.0
_SQRT2 = math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True, inline="always")
def _ncdf(x):
    return 0.5 * math.erfc(-x / _SQRT2)


@njit(cache=True)
def mixture_otm(x, y, p, s, out_price, out_density):
    """OTM price (put for x < 1, call for x >= 1) and density of ``S_T/F`` at each ``x`` (sorted or not)."""
    n = y.size
    cp = np.zeros(n + 1)  # prefix sums of p and p*y
    cpy = np.zeros(n + 1)
    for i in range(n):
        cp[i + 1] = cp[i] + p[i]
        cpy[i + 1] = cpy[i] + p[i] * y[i]
    band = math.exp(_WIN * s)
    for j in range(x.size):
        xj = x[j]
        lo = np.searchsorted(y, xj / band)
        hi = np.searchsorted(y, xj * band, side="right")
        put = xj < 1.0
        if put:
            price = xj * cp[lo] - cpy[lo]  # atoms far below: put = x - y
        else:
            price = (cpy[n] - cpy[hi]) - xj * (cp[n] - cp[hi])  # atoms far above: call = y - x
        dens = 0.0
        for i in range(lo, hi):
            if p[i] == 0.0:
                continue
            d1 = (math.log(y[i] / xj) + 0.5 * s * s) / s
            d2 = d1 - s
            if put:
                price += p[i] * (xj * _ncdf(-d2) - y[i] * _ncdf(-d1))
            else:
                price += p[i] * (y[i] * _ncdf(d1) - xj * _ncdf(d2))
            dens += p[i] * _INV_SQRT2PI * math.exp(-0.5 * d2 * d2) / (xj * s)
        out_price[j] = max(price, 0.0)
        out_density[j] = dens


@njit(cache=True)
def time_values(x, y, s):
    """``r[j, l]``: time value ``y_l Black(x_j / y_l; s)`` minus intrinsic for each quote ``x_j`` and node
    ``y_l`` (the LP's kernel correction; zero outside the window)."""
    r = np.zeros((x.size, y.size))
    band = math.exp(_WIN * s)
    for j in range(x.size):
        xj = x[j]
        lo = np.searchsorted(y, xj / band)
        hi = np.searchsorted(y, xj * band, side="right")
        for i in range(lo, hi):
            d1 = (math.log(y[i] / xj) + 0.5 * s * s) / s
            d2 = d1 - s
            if y[i] < xj:  # OTM call of the atom: time value = call
                r[j, i] = y[i] * _ncdf(d1) - xj * _ncdf(d2)
            else:  # OTM put of the atom
                r[j, i] = xj * _ncdf(-d2) - y[i] * _ncdf(-d1)
    return r
