"""erfcx(z) = exp(z^2) erfc(z) from ``_erfcx_table``, and the normalised Black function written through it.

The solver's cost is a chain of dependent evaluations (guess, then each Householder step needs the
previous one), so what matters is the *latency* of one erfcx, not its throughput.  Hence the row is
found with a shift of the bits of z + 1 instead of a division, the reduced argument and the polynomial
use fused multiply-adds (one rounding instead of two, half the dependent operations), and Estrin's
scheme evaluates the degree-11 polynomial at depth 5 instead of Horner's 11: together under half the
latency of the Horner/division version, at the same accuracy.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from workbench.vol._erfcx_table import ERFCX_KEY0, ERFCX_SHIFT
from workbench.vol._erfcx_table import ERFCX_TABLE as _T

_SQRT_PI = 1.7724538509055159
_INV_SQRT2 = 0.7071067811865476
_SQRT_2_OVER_PI = 0.7978845608028654
_SQRT_PI_OVER_TWO = 1.2533141373155003


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with a single rounding (llvm.fma: one instruction with FMA3, an exact libm call without)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@intrinsic
def _row(typingctx, y):
    """Table row of y > 0: its float64 bits shifted right, less the first key; unsigned, so that numba
    adds no negative-index wraparound to the lookups."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):
        bits = builder.bitcast(args[0], ir.IntType(64))
        return builder.sub(
            builder.lshr(bits, ir.Constant(ir.IntType(64), ERFCX_SHIFT)),
            ir.Constant(ir.IntType(64), ERFCX_KEY0),
        )

    return sig, codegen


@njit(cache=True, error_model="numpy", inline="always")
def erfcx(z):
    """exp(z^2) erfc(z) for z > -0.75 to about one ulp.

    A piecewise polynomial for z < 50 and the asymptotic series beyond: faster than exp(z^2)*erfc(z)
    and, unlike it, free of the z^2-ulp error of exp(z*z), which the difference of two erfcx values in
    the normalised Black function would magnify past the floor.
    """
    if z < 50.0:
        if z < -0.75:
            return math.exp(z * z) * math.erfc(z)
        # z + 1 may round into the neighbouring row: harmless, each fit extends 0.1 % past its interval.
        i = _row(z + 1.0)
        u = fma(z, _T[i, 1], _T[i, 0])  # = (z - xc) * xs rounded once: xs is a power of two
        u2 = u * u
        u4 = u2 * u2
        # Estrin on c1..c11, then c0 + u * (...) last: the tail is below 4 % of c0, so its extra
        # roundings stay out of the result, which rounds like Horner's.
        q0 = fma(fma(_T[i, 6], u, _T[i, 5]), u2, fma(_T[i, 4], u, _T[i, 3]))  # c1..c4; column j+2 is c_j
        q1 = fma(fma(_T[i, 10], u, _T[i, 9]), u2, fma(_T[i, 8], u, _T[i, 7]))
        q2 = fma(_T[i, 13], u2, fma(_T[i, 12], u, _T[i, 11]))
        return fma(u, fma(fma(q2, u4, q1), u4, q0), _T[i, 2])
    u = 0.5 / (z * z)  # the 7th term of the series is below 1e-18 relative for z >= 50
    ser = 1.0 - u * (1.0 - 3.0 * u * (1.0 - 5.0 * u * (1.0 - 7.0 * u * (1.0 - 9.0 * u * (1.0 - 11.0 * u)))))
    return ser / (z * _SQRT_PI)


@njit(cache=True, error_model="numpy", inline="always")
def norm_cdf(z):
    return 0.5 * math.erfc(-z * _INV_SQRT2)


@njit(cache=True, error_model="numpy", inline="always")
def b_parts(x, s, ea):
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
        gap = k * (erfcx((h + t) * _INV_SQRT2) + erfcx(-(h - t) * _INV_SQRT2))
        b = ea - gap
    else:
        b = k * (erfcx(-(h + t) * _INV_SQRT2) - erfcx(-(h - t) * _INV_SQRT2))
        gap = ea - b
    return (b if b > 0.0 else 0.0), gap, k * _SQRT_2_OVER_PI


@njit(cache=True, error_model="numpy", inline="always")
def b_vega(x, s, ea):
    b, _, vega = b_parts(x, s, ea)
    return b, vega


@njit(cache=True, error_model="numpy", inline="always")
def lnb_bpob(x, s, ea):
    """(ln b, b'/b, b/b') without ever forming b, so prices far below the smallest double stay usable.

    b/b' comes separately (a multiplication in the common case) so Newton's step needs no division.
    """
    h = x / s
    t = 0.5 * s
    if h + t > 0.85:
        b, _, vega = b_parts(x, s, ea)
        if b <= 0.0 or vega <= 0.0:
            return -math.inf, math.inf, 0.0
        return math.log(b), vega / b, b / vega
    d = erfcx(-(h + t) * _INV_SQRT2) - erfcx(-(h - t) * _INV_SQRT2)
    if d <= 0.0:
        return -math.inf, math.inf, 0.0
    return -0.5 * (h * h + t * t) + math.log(0.5 * d), _SQRT_2_OVER_PI / d, d * _SQRT_PI_OVER_TWO
