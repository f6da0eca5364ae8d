"""The initial guess for ``_lbr``: Jäckel's four-branch interpolation of s(beta) (Let's Be Rational, 2016
revision, sections 3-5), built from Delbourgo-Gregory rational cubics with his shape-preserving control
parameter (section 2) and an inverse normal CDF."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from workbench.vol._erfcx_black import b_vega, erfcx, fma, norm_cdf

EPS = 2.220446049250313e-16
_R_MIN = -(1.0 - 1.4901161193847656e-08)
_R_MAX = 2.0 / (EPS * EPS)
DBL_MIN = 2.2250738585072014e-308
SQRT_DBL_MAX = 1.3407807929942596e154
_INV_SQRT2 = 0.7071067811865476
_SQRT_2PI = 2.5066282746310002
_SQRT3 = 1.7320508075688772
_INV_SQRT3 = 0.5773502691896258
_TWO_PI = 6.283185307179586
_TWO_PI_OVER_SQRT27 = 1.2091995761561452
_PI_OVER_SIX = 0.5235987755982988
_SQRT_PI_OVER_TWO = 1.2533141373155003


@njit(cache=True, error_model="numpy", inline="always")
def _acklam_tail(q):
    """Acklam's lower-tail branch in q = sqrt(-2 ln p), p < 0.02425, as (numerator, denominator).

    Estrin's scheme with fused multiply-adds: half the dependent steps of Horner's, and this is on the
    lowest branch's critical path (the guess only needs Acklam's 1e-9, so rounding order is immaterial).
    """
    q2 = q * q
    num = fma(
        fma(-7.784894002430293e-03, q, -3.223964580411365e-01),
        q2 * q2,
        fma(
            fma(-2.400758277161838e00, q, -2.549732539343734e00),
            q2,
            fma(4.374664141464968e00, q, 2.938163982698783e00),
        ),
    )
    den = fma(
        7.784695709041462e-03,
        q2 * q2,
        fma(fma(3.224671290700398e-01, q, 2.445134137142996e00), q2, fma(3.754408661907416e00, q, 1.0)),
    )
    return num, den


@njit(cache=True, error_model="numpy", inline="always")
def _acklam_central(p):
    """Acklam's central branch, 0.02425 <= p <= 0.97575, as (numerator, denominator)."""
    q = p - 0.5
    r = q * q
    r2 = r * r
    num = (
        fma(
            fma(-3.969683028665376e01, r, 2.209460984245205e02),
            r2 * r2,
            fma(
                fma(-2.759285104469687e02, r, 1.383577518672690e02),
                r2,
                fma(-3.066479806614716e01, r, 2.506628277459239e00),
            ),
        )
        * q
    )
    den = fma(
        fma(-5.447609879822406e01, r, 1.615858368580409e02),
        r2 * r2,
        fma(fma(-1.556989798598866e02, r, 6.680131188771972e01), r2, fma(-1.328068155288572e01, r, 1.0)),
    )
    return num, den


@njit(cache=True, error_model="numpy")
def inv_norm_cdf(p):
    """Acklam's rational approximation (relative error < 1.2e-9): only ever used for initial guesses."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    if p < 0.02425:
        num, den = _acklam_tail(math.sqrt(-2.0 * math.log(p)))
        return num / den
    if p > 1.0 - 0.02425:
        num, den = _acklam_tail(math.sqrt(-2.0 * math.log(1.0 - p)))
        return -num / den
    num, den = _acklam_central(p)
    return num / den


@njit(cache=True, error_model="numpy", inline="always")
def _lowest_s(a, ax):
    """|x| / (sqrt3 |inv_norm_cdf(a^(1/3))|) for 0 < a <= 1/8: the lowest branch's closed-form inverse.

    It sits on the critical path, so: ln(a)/3 in the tail instead of ln(pow(a, 1/3)) (pow costs two
    logs), and Acklam's ratio folded into the final quotient (one division instead of two).  0 or NaN
    where the quotient is undefined (a = 1/8, a <= 0): the caller's bracket check replaces those.
    """
    if a < 1.4260515625e-05:  # 0.02425 ** 3
        num, den = _acklam_tail(math.sqrt(-2.0 / 3.0 * math.log(a)))
    else:
        num, den = _acklam_central(np.cbrt(a))
    if num == 0.0:
        return 0.0
    return abs(ax * den / (_SQRT3 * num))


@njit(cache=True, error_model="numpy")
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
        return (
            y_r * t2 * t + (r * y_r - h * d_r) * t2 * omt + (r * y_l + h * d_l) * t * omt2 + y_l * omt2 * omt
        ) / (1.0 + (r - 3.0) * t * omt)
    return y_r * t + y_l * (1.0 - t)


# The control parameter r below is Jäckel's (2016, eqs. 2.8-2.11), but with the secant slope
# (y_r - y_l) / h carried as dy and h > 0: every division then waits only for its inputs, not for
# another division, which shortens the guess's critical path by one division latency per fit.


@njit(cache=True, error_model="numpy")
def _r_min(d_l, d_r, dy, h, prefer_shape):
    """Smallest r that keeps the interpolant monotonic/convex like its data (slope dy / h, h > 0)."""
    dl_h = d_l * h
    dr_h = d_r * h
    monotonic = d_l * dy >= 0.0 and d_r * dy >= 0.0
    convex = dl_h <= dy <= dr_h
    concave = dl_h >= dy >= dr_h
    if not monotonic and not convex and not concave:
        return _R_MIN
    r1 = -1.7976931348623157e308
    r2 = r1
    if monotonic:
        if abs(dy) > 0.0:
            r1 = (d_r + d_l) * h / dy
        elif prefer_shape:
            r1 = _R_MAX
    if convex or concave:
        a = dy - dl_h
        b = dr_h - dy
        if abs(a) > 0.0 and abs(b) > 0.0:
            dd = (d_r - d_l) * h
            r2 = max(abs(dd / b), abs(dd / a))
        elif prefer_shape:
            r2 = _R_MAX
    elif monotonic and prefer_shape:
        r2 = _R_MAX
    return max(_R_MIN, max(r1, r2))


@njit(cache=True, error_model="numpy", inline="always")
def _r_from(num, den_h, h):
    """num / (den_h / h), the r matching a second derivative, with den_h = den * h."""
    if num == 0.0:
        return 0.0
    if den_h == 0.0:
        return _R_MAX if num > 0 else _R_MIN
    return num * h / den_h


@njit(cache=True, error_model="numpy")
def _r_fit_left(x_l, x_r, y_l, y_r, d_l, d_r, dd_l, prefer_shape):
    """r matching the second derivative dd_l at x_l (x_l < x_r)."""
    h = x_r - x_l
    dy = y_r - y_l
    r = _r_from(0.5 * h * dd_l + (d_r - d_l), dy - d_l * h, h)
    return max(r, _r_min(d_l, d_r, dy, h, prefer_shape))


@njit(cache=True, error_model="numpy")
def _r_fit_right(x_l, x_r, y_l, y_r, d_l, d_r, dd_r, prefer_shape):
    """r matching the second derivative dd_r at x_r (x_l < x_r)."""
    h = x_r - x_l
    dy = y_r - y_l
    r = _r_from(0.5 * h * dd_r + (d_r - d_l), d_r * h - dy, h)
    return max(r, _r_min(d_l, d_r, dy, h, prefer_shape))


@njit(cache=True, error_model="numpy")
def initial_guess(beta, x, ea, eb):
    """Jäckel's four-branch guess for b(x, s) = beta, x <= 0, ea = exp(x/2), eb = 1/ea.

    Returns (s, s_left, s_right, mode): a bracket of the root and the objective the Householder steps
    should use (0: 1/ln b on the lowest branch, 1: b, 2: ln(b_max - b) on the upper half of the highest).
    """
    b_max = ea
    s_c = math.sqrt(abs(2.0 * x))
    # At the inflection point h = -t, so b_c = ea/2 (erfcx(0) - erfcx(sqrt|x|)) and v_c = ea/sqrt(2 pi).
    e_c = erfcx(math.sqrt(-x)) if x < 0.0 else 1.0
    b_c = 0.5 * ea * (1.0 - e_c)
    inv_v_c = _SQRT_2PI * eb
    s_left = DBL_MIN
    s_right = math.inf
    mode = 1  # 0: lowest branch objective 1/ln(b); 1: b - beta; 2: ln(b_max - b)
    if beta < b_c:
        s_l = s_c - _SQRT_PI_OVER_TWO * (1.0 - e_c)  # s_c - b_c / v_c, with ea cancelled
        b_l, v_l = b_vega(x, s_l, ea) if s_l > 0.0 else (0.0, 0.0)
        if beta < b_l:
            # Lowest branch: interpolate f_lower(beta) with f(0)=0, f'(0)=1 and invert it in closed form.
            ax = abs(x)
            inv_fmax = 1.0 / (_TWO_PI_OVER_SQRT27 * ax)  # off the critical path, unlike f / (...)
            z = _INV_SQRT3 * ax / s_l
            y = z * z
            s2 = s_l * s_l
            # Phi(-z) = exp(-y/2) erfcx(z/sqrt2)/2 and Phi(-z)/phi(z) = sqrt(pi/2) erfcx(z/sqrt2): the
            # exponentials of the published formulas then collapse into exp(s^2/8) and exp(-y/2).
            ex = erfcx(z * _INV_SQRT2)
            e_half = math.exp(-0.5 * y)
            e_s = math.exp(0.125 * s2)
            phi_m = 0.5 * e_half * ex
            fpp = (
                _PI_OVER_SIX
                * y
                / (s2 * s_l)
                * 0.5
                * ex
                * e_s
                * e_s
                * (8.0 * _SQRT3 * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * _SQRT_PI_OVER_TWO * ex)
                / (e_half * e_half * e_half)
            )
            fp = _TWO_PI * y * 0.25 * ex * ex * e_s
            f_l = _TWO_PI_OVER_SQRT27 * ax * phi_m * phi_m * phi_m
            r_ll = _r_fit_right(0.0, b_l, 0.0, f_l, 1.0, fp, fpp, True)
            f = _rational_cubic(beta, 0.0, b_l, 0.0, f_l, 1.0, fp, r_ll)
            if not (f > 0.0):
                t = beta / b_l
                f = (f_l * t + b_l * (1.0 - t)) * t
            s = _lowest_s(f * inv_fmax, ax)
            s_right = s_l
            mode = 0
        else:
            r_lm = _r_fit_right(b_l, b_c, s_l, s_c, 1.0 / v_l, inv_v_c, 0.0, False)
            s = _rational_cubic(beta, b_l, b_c, s_l, s_c, 1.0 / v_l, inv_v_c, r_lm)
            s_left = max(s_l, DBL_MIN)
            s_right = s_c
    else:
        s_h = s_c + _SQRT_PI_OVER_TWO * (1.0 + e_c)  # s_c + (b_max - b_c) / v_c
        b_h, v_h = b_vega(x, s_h, ea)
        if beta <= b_h:
            r_hm = _r_fit_left(b_c, b_h, s_c, s_h, inv_v_c, 1.0 / v_h, 0.0, False)
            s = _rational_cubic(beta, b_c, b_h, s_c, s_h, inv_v_c, 1.0 / v_h, r_hm)
            s_left = max(s_c, DBL_MIN)
            s_right = s_h
        else:
            # Highest branch: interpolate f_upper(beta) = N(-s/2) with f(b_max)=0, f'(b_max)=-1/2.
            f_h = norm_cdf(-0.5 * s_h)
            w = (x / s_h) ** 2
            fp = -0.5 * math.exp(0.5 * w)
            fpp = _SQRT_PI_OVER_TWO * math.exp(w + 0.125 * s_h * s_h) * w / s_h
            f = -1.0
            if -SQRT_DBL_MAX < fpp < SQRT_DBL_MAX:
                r_hh = _r_fit_left(b_h, b_max, f_h, 0.0, fp, -0.5, fpp, True)
                f = _rational_cubic(beta, b_h, b_max, f_h, 0.0, fp, -0.5, r_hh)
            if f <= 0.0:
                hh = b_max - b_h
                t = (beta - b_h) / hh
                f = (f_h * (1.0 - t) + 0.5 * hh * t) * (1.0 - t)
            s = -2.0 * inv_norm_cdf(f)
            s_left = s_h
            if beta > 0.5 * b_max:
                mode = 2
    if not (s > s_left and s < s_right):
        s = 0.5 * (s_left + s_right) if s_right < math.inf else 2.0 * s_left + 1.0
    return s, s_left, s_right, mode
