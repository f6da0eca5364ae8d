"""Numba kernels for the normalised Black function and its inversion ("Let's Be Rational").

Everything here works in Jäckel's normalised coordinates: for forward ``F``, strike ``K``, discount
factor ``DF`` and total volatility ``s = sigma * sqrt(T)``::

    x = ln(F / K)                 beta = price / (DF * sqrt(F * K))
    b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2)          (normalised call)

Put-call symmetry lets the solver only ever see out-of-the-money calls (``x <= 0``): an in-the-money
option is first reduced to its time value, which *is* the price of the opposite out-of-the-money option.

The initial guess is Jäckel's four-branch rational-cubic interpolation (Let's Be Rational, 2016 revision,
sections 3-5): two branches interpolate ``s(beta)`` directly around the inflection point
``s_c = sqrt(2|x|)``; the lowest and highest branches interpolate the transformed maps
``f_lower = (2 pi / sqrt 27) |x| N(-|x|/(sqrt3 s))^3`` and ``f_upper = N(-s/2)``, which invert in
closed form.  Third-order Householder steps then run on an objective chosen per branch so that it is
nearly linear in ``s`` (``1/ln b`` low, ``b`` in the middle, ``ln(b_max - b)`` high); a bracket is
kept throughout and a bisection step replaces any step that would leave it, so the iteration cannot
wander.  Unlike the reference implementation we evaluate ``b_max - b`` as a sum of two positive
terms, so the high branch never suffers cancellation.

The status codes are small ints so that they can live in an ``int8`` array beside the vols.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from workbench.vol._erfcx_table import ERFCX_FIRST_ROW as _ERFCX_ROW0
from workbench.vol._erfcx_table import ERFCX_TABLE as _ERFCX
from workbench.vol._rational import _r_fit_left, _r_fit_right, _rational_cubic, inv_norm_cdf

OK, BELOW_INTRINSIC, ABOVE_MAX_PRICE, ILL_CONDITIONED, NOT_CONVERGED, BAD_INPUT = 0, 1, 2, 3, 4, 5

EPS = 2.220446049250313e-16
DBL_MIN = 2.2250738585072014e-308
SQRT_DBL_MAX = 1.3407807929942596e154
# Time value within this many ulps of the price is rounding noise: the vol is not determined.
TIME_VALUE_ULPS = 4.0
# Smallest normalised OTM price we solve for; below it the price has lost most of its mantissa.
BETA_FLOOR = 1e-300
MAX_ITER = 64
# After a Householder(3) step smaller than this (relative), the next error is ~C*(1e-6)^4: converged.
STEP_TOL = 1e-6

_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_SQRT3 = 1.7320508075688772
_INV_SQRT3 = 0.5773502691896258
_TWO_PI = 6.283185307179586
_TWO_PI_OVER_SQRT27 = 1.2091995761561452
_PI_OVER_SIX = 0.5235987755982988
_SQRT_PI_OVER_TWO = 1.2533141373155003
_SQRT_PI = 1.7724538509055159
_SQRT_2_OVER_PI = 0.7978845608028654


@njit(cache=True, inline="always")
def norm_cdf(z):
    return 0.5 * math.erfc(-z * _INV_SQRT2)


@njit(cache=True, inline="always")
def norm_pdf(z):
    return _INV_SQRT_2PI * math.exp(-0.5 * z * z)


@njit(cache=True, inline="always")
def _erfcx(z):
    """exp(z^2) erfc(z) for z > -0.75 to about one ulp.

    A piecewise polynomial (``_erfcx_table``) for z < 50 and the asymptotic series beyond: four times
    faster than exp(z^2)*erfc(z) and, unlike it, free of the z^2-ulp error of exp(z*z), which the
    difference of two erfcx values in the normalised Black function would magnify past the floor.
    """
    if z < 50.0:
        if z < -0.75:
            return math.exp(z * z) * math.erfc(z)
        row = _ERFCX[int(4.0 / (4.0 + z) * 100.0) - _ERFCX_ROW0]
        u = (z - row[0]) * row[1]
        v = row[13]
        for j in range(12, 1, -1):
            v = v * u + row[j]
        return v
    u = 0.5 / (z * z)  # the 7th term of the series is below 1e-18 relative for z >= 50
    ser = 1.0 - u * (1.0 - 3.0 * u * (1.0 - 5.0 * u * (1.0 - 7.0 * u * (1.0 - 9.0 * u * (1.0 - 11.0 * u)))))
    return ser / (z * _SQRT_PI)


@njit(cache=True, inline="always")
def _b_parts(x, s, ea):
    """(b, b_max - b, db/ds) of the normalised OTM call, x <= 0, ea = exp(x/2).

    Both terms of Black's formula are written through erfcx with a common factor
    k = exp(-(h^2+t^2)/2)/2, which is also the vega up to sqrt(2/pi) (Jäckel 2016, eq. 3.4).  Rounding
    of h +/- t then never reaches an exponent of its own -- in the plain Phi form each term would carry
    (h+t)^2 ulps -- and one exp serves price, vega and b_max - b.  When h + t > 0.85 the first term
    dominates and b = ea - k (erfcx((h+t)/sqrt2) + erfcx(-(h-t)/sqrt2)) keeps b_max - b exact instead.
    """
    h = x / s
    t = 0.5 * s
    k = 0.5 * math.exp(-0.5 * (h * h + t * t))
    if h + t > 0.85:
        gap = k * (_erfcx((h + t) * _INV_SQRT2) + _erfcx(-(h - t) * _INV_SQRT2))
        b = ea - gap
    else:
        b = k * (_erfcx(-(h + t) * _INV_SQRT2) - _erfcx(-(h - t) * _INV_SQRT2))
        gap = ea - b
    return (b if b > 0.0 else 0.0), gap, k * _SQRT_2_OVER_PI


@njit(cache=True, inline="always")
def _b_vega(x, s, ea, eb):
    b, _, vega = _b_parts(x, s, ea)
    return b, vega


@njit(cache=True, inline="always")
def _lnb_bpob(x, s, ea, eb):
    """(ln b, b'/b) without ever forming b, so prices far below the smallest double stay usable."""
    h = x / s
    t = 0.5 * s
    if h + t > 0.85:
        b, _, vega = _b_parts(x, s, ea)
        if b <= 0.0:
            return -math.inf, math.inf
        return math.log(b), vega / b
    d = _erfcx(-(h + t) * _INV_SQRT2) - _erfcx(-(h - t) * _INV_SQRT2)
    if d <= 0.0:
        return -math.inf, math.inf
    return -0.5 * (h * h + t * t) + math.log(0.5 * d), _SQRT_2_OVER_PI / d


@njit(cache=True, inline="always")
def _b(x, s, ea, eb):
    return _b_parts(x, s, ea)[0]


@njit(cache=True, inline="always")
def _vega(x, s):
    """db/ds."""
    h = x / s
    t = 0.5 * s
    return _INV_SQRT_2PI * math.exp(-0.5 * (h * h + t * t))


@njit(cache=True, inline="always")
def _householder_factor(newton, halley, hh3):
    return (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0))


@njit(cache=True)
def _solve_s(beta, x, ea, eb):
    """Total vol s > 0 with b(x, s) = beta for x <= 0 and 0 < beta < exp(x/2); returns (s, status)."""
    b_max = ea
    s_c = math.sqrt(abs(2.0 * x))
    # At the inflection point h = -t, so b_c = ea/2 (erfcx(0) - erfcx(sqrt|x|)) and v_c = ea/sqrt(2 pi).
    b_c = 0.5 * ea * (1.0 - _erfcx(math.sqrt(-x))) if x < 0.0 else 0.0
    v_c = ea * _INV_SQRT_2PI
    s_left = DBL_MIN
    s_right = math.inf
    mode = 1  # 0: lowest branch objective 1/ln(b); 1: b - beta; 2: ln(b_max - b)
    if beta < b_c:
        s_l = s_c - b_c / v_c
        b_l, v_l = _b_vega(x, s_l, ea, eb) if s_l > 0.0 else (0.0, 0.0)
        if beta < b_l:
            # Lowest branch: interpolate f_lower(beta) with f(0)=0, f'(0)=1 and invert it in closed form.
            ax = abs(x)
            z = _INV_SQRT3 * ax / s_l
            y = z * z
            s2 = s_l * s_l
            # Phi(-z) = exp(-y/2) erfcx(z/sqrt2)/2 and Phi(-z)/phi(z) = sqrt(pi/2) erfcx(z/sqrt2): the
            # exponentials of the published formulas then collapse into exp(s^2/8) and exp(-y/2).
            ex = _erfcx(z * _INV_SQRT2)
            e_half = math.exp(-0.5 * y)
            e_s = math.exp(0.125 * s2)
            phi_m = 0.5 * e_half * ex
            fpp = (_PI_OVER_SIX * y / (s2 * s_l) * 0.5 * ex * e_s * e_s
                   * (8.0 * _SQRT3 * s_l * ax + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * _SQRT_PI_OVER_TWO * ex)
                   / (e_half * e_half * e_half))
            fp = _TWO_PI * y * 0.25 * ex * ex * e_s
            f_l = _TWO_PI_OVER_SQRT27 * ax * phi_m * phi_m * phi_m
            r_ll = _r_fit_right(0.0, b_l, 0.0, f_l, 1.0, fp, fpp, True)
            f = _rational_cubic(beta, 0.0, b_l, 0.0, f_l, 1.0, fp, r_ll)
            if not (f > 0.0):
                t = beta / b_l
                f = (f_l * t + b_l * (1.0 - t)) * t
            q = inv_norm_cdf((f / (_TWO_PI_OVER_SQRT27 * ax)) ** (1.0 / 3.0))
            s = abs(x / (_SQRT3 * q)) if q != 0.0 else s_l
            s_right = s_l
            mode = 0
        else:
            r_lm = _r_fit_right(b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, 0.0, False)
            s = _rational_cubic(beta, b_l, b_c, s_l, s_c, 1.0 / v_l, 1.0 / v_c, r_lm)
            s_left = max(s_l, DBL_MIN)
            s_right = s_c
    else:
        s_h = s_c + (b_max - b_c) / v_c if v_c > DBL_MIN else s_c
        b_h, v_h = _b_vega(x, s_h, ea, eb)
        if beta <= b_h:
            r_hm = _r_fit_left(b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, 0.0, False)
            s = _rational_cubic(beta, b_c, b_h, s_c, s_h, 1.0 / v_c, 1.0 / v_h, r_hm)
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

    ln_beta = math.log(beta)
    bmb_target = b_max - beta
    ds = 0.0
    ds_prev = 0.0
    reversals = 0
    for it in range(MAX_ITER):
        if ds * ds_prev < 0.0:
            reversals += 1
        bisect = False
        if it > 0 and (reversals == 3 or not (s > s_left and s < s_right)):
            if s_right == math.inf:
                s = 2.0 * s_left
            else:
                s = 0.5 * (s_left + s_right)
                if s_right - s_left <= 4.0 * EPS * s:
                    return s, OK
            reversals = 0
            ds = 0.0
        ds_prev = ds
        if mode == 2:
            _, bmb, bp = _b_parts(x, s, ea)
            if bmb < bmb_target and s < s_right:
                s_right = s
            elif bmb > bmb_target and s > s_left:
                s_left = s
            if bmb <= 0.0 or bp <= DBL_MIN:
                bisect = True
            else:
                g = math.log(bmb_target / bmb)
                gp = bp / bmb
                b_halley = (x / s) ** 2 / s - 0.25 * s
                b_hh3 = b_halley * b_halley - 3.0 * (x / (s * s)) ** 2 - 0.25
                newton = -g / gp
                ds = newton * _householder_factor(newton, b_halley + gp, b_hh3 + gp * (2.0 * gp + 3.0 * b_halley))
        elif mode == 0:
            ln_b, bpob = _lnb_bpob(x, s, ea, eb)
            if ln_b > ln_beta and s < s_right:
                s_right = s
            elif ln_b < ln_beta and s > s_left:
                s_left = s
            if not (ln_b > -math.inf) or not (bpob < math.inf):
                bisect = True
            else:
                h = x / s
                b_halley = h * h / s - 0.25 * s
                newton = (ln_beta - ln_b) * ln_b / ln_beta / bpob
                halley = b_halley - bpob * (1.0 + 2.0 / ln_b)
                b_hh3 = b_halley * b_halley - 3.0 * (h / s) ** 2 - 0.25
                hh3 = (b_hh3 + 2.0 * bpob * bpob * (1.0 + 3.0 / ln_b * (1.0 + 1.0 / ln_b))
                       - 3.0 * b_halley * bpob * (1.0 + 2.0 / ln_b))
                ds = newton * _householder_factor(newton, halley, hh3)
        else:
            b, bp = _b_vega(x, s, ea, eb)
            if b > beta and s < s_right:
                s_right = s
            elif b < beta and s > s_left:
                s_left = s
            if b <= 0.0 or bp <= 0.0:
                bisect = True
            else:
                newton = (beta - b) / bp
                halley = (x / s) ** 2 / s - 0.25 * s
                hh3 = halley * halley - 3.0 * (x / (s * s)) ** 2 - 0.25
                ds = newton * _householder_factor(newton, halley, hh3)
        if bisect:
            target = 0.5 * (s_left + s_right) if s_right < math.inf else 2.0 * s
            ds = target - s
        if not (ds == ds):
            return math.nan, NOT_CONVERGED
        ds = max(-0.5 * s, ds)
        s += ds
        if not bisect and abs(ds) <= STEP_TOL * s:
            return s, OK
        if s_right - s_left <= 4.0 * EPS * s:
            return s, OK
    return math.nan, NOT_CONVERGED


@njit(cache=True)
def iv_one(price, F, K, T, DF, is_call):
    """Black-76 implied vol of one option: returns (sigma, status); sigma is NaN unless status is OK."""
    if not (math.isfinite(price) and math.isfinite(F) and math.isfinite(K) and math.isfinite(T)
            and math.isfinite(DF)) or F <= 0.0 or K <= 0.0 or T <= 0.0 or DF <= 0.0:
        return math.nan, BAD_INPUT
    if is_call:
        intrinsic = DF * (F - K) if F > K else 0.0
        upper = DF * F
    else:
        intrinsic = DF * (K - F) if K > F else 0.0
        upper = DF * K
    if price >= upper:
        return math.nan, ABOVE_MAX_PRICE
    tv = price - intrinsic
    tol = TIME_VALUE_ULPS * EPS * max(price, intrinsic)
    if tv <= tol:
        if intrinsic > 0.0 and tv >= -tol:
            return math.nan, ILL_CONDITIONED
        return math.nan, BELOW_INTRINSIC
    x = math.log(F / K)
    xn = -abs(x)
    beta = tv / (DF * math.sqrt(F * K))
    ea = math.exp(0.5 * xn)
    if beta < BETA_FLOOR or ea - beta <= TIME_VALUE_ULPS * EPS * ea:
        return math.nan, ILL_CONDITIONED
    s, status = _solve_s(beta, xn, ea, 1.0 / ea)
    if status != OK:
        return math.nan, status
    return s / math.sqrt(T), OK


@njit(cache=True, parallel=True)
def iv_kernel(price, F, K, T, DF, is_call, out, status):
    for i in prange(price.shape[0]):
        v, st = iv_one(price[i], F[i], K[i], T[i], DF[i], is_call[i])
        out[i] = v
        status[i] = st


@njit(cache=True)
def iv_kernel_serial(price, F, K, T, DF, is_call, out, status):
    for i in range(price.shape[0]):
        v, st = iv_one(price[i], F[i], K[i], T[i], DF[i], is_call[i])
        out[i] = v
        status[i] = st


@njit(cache=True)
def black_one(F, K, T, DF, sigma, is_call):
    """Black-76 price from the same normalised kernel the solver inverts (so round trips are exact)."""
    if not (F > 0.0 and K > 0.0 and T >= 0.0 and DF > 0.0 and sigma >= 0.0):
        return math.nan
    s = sigma * math.sqrt(T)
    intrinsic_call = DF * (F - K) if F > K else 0.0
    intrinsic_put = DF * (K - F) if K > F else 0.0
    intrinsic = intrinsic_call if is_call else intrinsic_put
    if s <= 0.0:
        return intrinsic
    if not math.isfinite(s):
        return DF * F if is_call else DF * K
    xn = -abs(math.log(F / K))
    ea = math.exp(0.5 * xn)
    tv = DF * math.sqrt(F * K) * _b(xn, s, ea, 1.0 / ea)
    return intrinsic + tv


@njit(cache=True, parallel=True)
def black_kernel(F, K, T, DF, sigma, is_call, out):
    for i in prange(F.shape[0]):
        out[i] = black_one(F[i], K[i], T[i], DF[i], sigma[i], is_call[i])


def warmup() -> None:
    """Compile (or load from cache) every kernel once; cheap after the first process."""
    one = np.ones(1)
    flag = np.ones(1, dtype=np.bool_)
    out = np.empty(1)
    st = np.empty(1, dtype=np.int8)
    iv_kernel(one * 0.1, one, one, one, one, flag, out, st)
    iv_kernel_serial(one * 0.1, one, one, one, one, flag, out, st)
    black_kernel(one, one, one, one, one * 0.2, flag, out)
