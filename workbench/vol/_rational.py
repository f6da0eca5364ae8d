"""Initial-guess helpers for ``_lbr``: Delbourgo-Gregory rational cubic interpolation with Jäckel's
shape-preserving control parameter (Let's Be Rational, 2016, section 2) and an inverse normal CDF."""

from __future__ import annotations

import math

from numba import njit

EPS = 2.220446049250313e-16
_R_MIN = -(1.0 - 1.4901161193847656e-08)
_R_MAX = 2.0 / (EPS * EPS)


@njit(cache=True)
def inv_norm_cdf(p):
    """Acklam's rational approximation (relative error < 1.2e-9): only ever used for initial guesses."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e00) * q
                  - 2.549732539343734e00) * q + 4.374664141464968e00) * q + 2.938163982698783e00) / (
            (((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e00) * q
             + 3.754408661907416e00) * q + 1.0)
    if p > 1.0 - 0.02425:
        return -inv_norm_cdf(1.0 - p)
    q = p - 0.5
    r = q * q
    return (((((-3.969683028665376e01 * r + 2.209460984245205e02) * r - 2.759285104469687e02) * r
              + 1.383577518672690e02) * r - 3.066479806614716e01) * r + 2.506628277459239e00) * q / (
        ((((-5.447609879822406e01 * r + 1.615858368580409e02) * r - 1.556989798598866e02) * r
          + 6.680131188771972e01) * r - 1.328068155288572e01) * r + 1.0)


@njit(cache=True)
def _rational_cubic(x, x_l, x_r, y_l, y_r, d_l, d_r, r):
    """Delbourgo-Gregory rational cubic (Jäckel 2016, eq. 2.4/2.5)."""
    h = x_r - x_l
    if abs(h) <= 0.0:
        return 0.5 * (y_l + y_r)
    t = (x - x_l) / h
    if not (r >= _R_MAX):
        omt = 1.0 - t
        t2 = t * t
        omt2 = omt * omt
        return (y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2
                + y_l * omt2 * omt) / (1.0 + (r - 3.0) * t * omt)
    return y_r * t + y_l * (1.0 - t)


@njit(cache=True)
def _r_min(d_l, d_r, s, prefer_shape):
    monotonic = d_l * s >= 0.0 and d_r * s >= 0.0
    convex = d_l <= s <= d_r
    concave = d_l >= s >= d_r
    if not monotonic and not convex and not concave:
        return _R_MIN
    r1 = -1.7976931348623157e308
    r2 = r1
    if monotonic:
        if abs(s) > 0.0:
            r1 = (d_r + d_l) / s
        elif prefer_shape:
            r1 = _R_MAX
    if convex or concave:
        a = s - d_l
        b = d_r - s
        if abs(a) > 0.0 and abs(b) > 0.0:
            r2 = max(abs((d_r - d_l) / b), abs((d_r - d_l) / a))
        elif prefer_shape:
            r2 = _R_MAX
    elif monotonic and prefer_shape:
        r2 = _R_MAX
    return max(_R_MIN, max(r1, r2))


@njit(cache=True)
def _r_fit_left(x_l, x_r, y_l, y_r, d_l, d_r, dd_l, prefer_shape):
    h = x_r - x_l
    num = 0.5 * h * dd_l + (d_r - d_l)
    den = (y_r - y_l) / h - d_l
    if num == 0.0:
        r = 0.0
    elif den == 0.0:
        r = _R_MAX if num > 0 else _R_MIN
    else:
        r = num / den
    return max(r, _r_min(d_l, d_r, (y_r - y_l) / h, prefer_shape))


@njit(cache=True)
def _r_fit_right(x_l, x_r, y_l, y_r, d_l, d_r, dd_r, prefer_shape):
    h = x_r - x_l
    num = 0.5 * h * dd_r + (d_r - d_l)
    den = d_r - (y_r - y_l) / h
    if num == 0.0:
        r = 0.0
    elif den == 0.0:
        r = _R_MAX if num > 0 else _R_MIN
    else:
        r = num / den
    return max(r, _r_min(d_l, d_r, (y_r - y_l) / h, prefer_shape))
