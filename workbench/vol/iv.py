"""Implied volatility: Black-76 on forward and discount factor, with Black-Scholes(-Merton) wrappers.

Every function takes numpy arrays (or scalars) of any broadcastable shape and returns arrays of the
broadcast shape.  Conventions:

* ``forward`` F and ``discount`` DF = exp(-r T) describe the expiry; for a stock with spot S, rate r and
  continuous yield q, F = S exp((r - q) T).  ``expiry`` is T in years (ACT/365 is the caller's choice).
* ``call`` is a bool array (True = call) or strings ``"C"``/``"P"`` (any case, also ``"call"``/``"put"``).
* Unsolvable inputs return NaN -- never 0 and never a finite number that does not reprice -- and the
  ``*_status`` variants say why, one :class:`IVStatus` per option.

The solver is Jäckel's "Let's Be Rational" (see ``_lbr``): two Householder(3) steps from a rational
guess, accurate to the attainable floor ``cond = eps DF (F N(d1) + K N(d2)) / vega`` (for puts,
``N(-d1), N(-d2)``); :func:`iv_condition` computes that floor.

>>> import numpy as np
>>> price = black_price(100.0, 110.0, 0.5, 0.98, 0.25, call=True)
>>> float(np.round(implied_vol(price, 100.0, 110.0, 0.5, 0.98, call=True), 12))
0.25
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
from scipy.special import ndtr

from workbench.vol import _lbr

__all__ = [
    "IVStatus",
    "black_price",
    "bs_implied_vol",
    "bs_price",
    "bsm_implied_vol",
    "bsm_price",
    "implied_vol",
    "implied_vol_status",
    "iv_condition",
    "parse_call",
]


class IVStatus(IntEnum):
    """Why an implied vol is (or is not) available; stored as int8 beside the vols."""

    OK = _lbr.OK
    BELOW_INTRINSIC = _lbr.BELOW_INTRINSIC  # price <= intrinsic (incl. non-positive OTM prices)
    ABOVE_MAX_PRICE = _lbr.ABOVE_MAX_PRICE  # call >= DF*F or put >= DF*K: no finite vol
    ILL_CONDITIONED = _lbr.ILL_CONDITIONED  # time value or b_max - price lost to rounding
    NOT_CONVERGED = _lbr.NOT_CONVERGED  # the safeguarded iteration ran out (not seen in tests)
    BAD_INPUT = _lbr.BAD_INPUT  # NaN/inf, F, K, T or DF <= 0


def parse_call(call) -> np.ndarray:
    """Bool array from bools/ints or 'C'/'P'/'call'/'put' strings; raises naming the bad value."""
    arr = np.asarray(call)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iu":
        return arr != 0
    if arr.dtype.kind in "OUST":
        flat = np.array([str(v).strip().upper() for v in arr.ravel()], dtype=object)
        is_call = np.isin(flat, ["C", "CALL"])
        is_put = np.isin(flat, ["P", "PUT"])
        if not np.all(is_call | is_put):
            bad = flat[~(is_call | is_put)][0]
            raise ValueError(f"call: expected 'C'/'P' (or 'call'/'put'), got {bad!r}")
        return is_call.reshape(arr.shape)
    raise TypeError(f"call: expected bool or 'C'/'P' values, got dtype {arr.dtype}")


def _prepare(*arrays):
    *num, call = arrays
    num = [np.asarray(a, dtype=np.float64) for a in num]
    flags = parse_call(call)
    bcast = np.broadcast_arrays(*num, flags)
    shape = bcast[0].shape
    flat = [np.ascontiguousarray(a).ravel() for a in bcast]
    return shape, flat


def implied_vol_status(price, forward, strike, expiry, discount=1.0, call=True, *, parallel=True):
    """Black-76 implied vols and an :class:`IVStatus` code (int8) per option, same shape as inputs."""
    shape, (p, f, k, t, df, c) = _prepare(price, forward, strike, expiry, discount, call)
    out = np.empty(p.shape[0])
    status = np.empty(p.shape[0], dtype=np.int8)
    kernel = _lbr.iv_kernel if parallel and p.shape[0] >= 4096 else _lbr.iv_kernel_serial
    kernel(p, f, k, t, df, c, out, status)
    return out.reshape(shape), status.reshape(shape)


def implied_vol(price, forward, strike, expiry, discount=1.0, call=True):
    """Black-76 implied vol; NaN where :func:`implied_vol_status` is not OK."""
    return implied_vol_status(price, forward, strike, expiry, discount, call)[0]


def black_price(forward, strike, expiry, discount, sigma, call=True):
    """Black-76 price DF * (F N(d1) - K N(d2)) (calls) from the kernel the solver inverts."""
    shape, (f, k, t, df, s, c) = _prepare(forward, strike, expiry, discount, sigma, call)
    out = np.empty(f.shape[0])
    _lbr.black_kernel(f, k, t, df, s, c, out)
    return out.reshape(shape)


def _bsm_forward(spot, rate, div_yield, expiry):
    spot, rate, div_yield, expiry = (np.asarray(a, dtype=np.float64) for a in (spot, rate, div_yield, expiry))
    return spot * np.exp((rate - div_yield) * expiry), np.exp(-rate * expiry)


def bsm_price(spot, strike, expiry, rate, div_yield, sigma, call=True):
    """Black-Scholes-Merton price with continuous dividend/borrow yield ``div_yield``."""
    f, df = _bsm_forward(spot, rate, div_yield, expiry)
    return black_price(f, strike, expiry, df, sigma, call)


def bs_price(spot, strike, expiry, rate, sigma, call=True):
    """Black-Scholes price (no dividends)."""
    return bsm_price(spot, strike, expiry, rate, 0.0, sigma, call)


def bsm_implied_vol(price, spot, strike, expiry, rate, div_yield=0.0, call=True, *, with_status=False):
    """BSM implied vol via F = S exp((r-q)T), DF = exp(-rT); ``with_status`` adds the status array."""
    f, df = _bsm_forward(spot, rate, div_yield, expiry)
    vol, status = implied_vol_status(price, f, strike, expiry, df, call)
    return (vol, status) if with_status else vol


def bs_implied_vol(price, spot, strike, expiry, rate, call=True, *, with_status=False):
    """Black-Scholes implied vol (no dividends)."""
    return bsm_implied_vol(price, spot, strike, expiry, rate, 0.0, call, with_status=with_status)


def iv_condition(forward, strike, expiry, discount, sigma, call=True):
    """Attainable vol accuracy ``eps DF (F N(+-d1) + K N(+-d2)) / vega`` (Jäckel's floor), per option.

    This is the vol error caused by one rounding of the price alone; the engine's errors are within a
    small multiple of it (the benchmark reports the maximum ratio).
    """
    shape, (f, k, t, df, s, c) = _prepare(forward, strike, expiry, discount, sigma, call)
    sq = s * np.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d1 = np.log(f / k) / sq + 0.5 * sq
        d2 = d1 - sq
        sign = np.where(c, 1.0, -1.0)
        terms = f * ndtr(sign * d1) + k * ndtr(sign * d2)
        vega = f * np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * np.sqrt(t)
        cond = np.finfo(np.float64).eps * terms / vega
    return cond.reshape(shape)
