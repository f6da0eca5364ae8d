"""Numba kernels for the normalised Black function and its inversion ("Let's Be Rational").

Everything here works in Jäckel's normalised coordinates: for forward ``F``, strike ``K``, discount
factor ``DF`` and total volatility ``s = sigma * sqrt(T)``::

    x = ln(F / K)                 beta = price / (DF * sqrt(F * K))
    b(x, s) = exp(x/2) N(x/s + s/2) - exp(-x/2) N(x/s - s/2)          (normalised call)

Put-call symmetry lets the solver only ever see out-of-the-money calls (``x <= 0``): an in-the-money
option is first reduced to its time value, which *is* the price of the opposite out-of-the-money option.

The initial guess (``_rational``) is Jäckel's four-branch rational-cubic interpolation (Let's Be
Rational, 2016 revision, sections 3-5): two branches interpolate ``s(beta)`` directly around the
inflection point ``s_c = sqrt(2|x|)``; the lowest and highest branches interpolate the transformed maps
``f_lower = (2 pi / sqrt 27) |x| N(-|x|/(sqrt3 s))^3`` and ``f_upper = N(-s/2)``, which invert in
closed form.  The normalised Black function itself is in ``_erfcx_black``.  Third-order Householder
steps then run on an objective chosen per branch so that it is nearly linear in ``s`` (``1/ln b`` low,
``b`` in the middle, ``ln(b_max - b)`` high); a bracket is kept throughout and a bisection step
replaces any step that would leave it, so the iteration cannot wander.  Unlike the reference
implementation we evaluate ``b_max - b`` as a sum of two positive terms, so the high branch never
suffers cancellation.

The kernels take the options two at a time and step both in turn (``_solve_pair``): one option's solve
is a single chain of dependent latencies, so a second, independent chain fills the core's idle units.

The status codes are small ints so that they can live in an ``int8`` array beside the vols.  The
kernels here and in the helper modules use ``error_model="numpy"``: a division by zero then gives
inf/NaN, which the bracket and NaN checks turn into a status for that one option, instead of an
exception that would abort the whole batch (and the zero-divisor checks leave the hot path).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from workbench.vol._erfcx_black import b_parts, lnb_bpob
from workbench.vol._erfcx_black import erfcx as _erfcx  # noqa: F401  (the tests reach erfcx through here)
from workbench.vol._rational import initial_guess

OK, BELOW_INTRINSIC, ABOVE_MAX_PRICE, ILL_CONDITIONED, NOT_CONVERGED, BAD_INPUT = 0, 1, 2, 3, 4, 5
SOLVING = -1  # internal: the option is still in the solver

EPS = 2.220446049250313e-16
DBL_MIN = 2.2250738585072014e-308
# Time value within this many ulps of the price is rounding noise: the vol is not determined.
TIME_VALUE_ULPS = 4.0
# Smallest normalised OTM price we solve for; below it the price has lost most of its mantissa.
BETA_FLOOR = 1e-300
MAX_ITER = 64
# After a Householder(3) step smaller than this (relative), the next error is ~C*(1e-6)^4: converged.
STEP_TOL = 1e-6


@njit(cache=True, error_model="numpy", inline="always")
def _b(x, s, ea):
    return b_parts(x, s, ea)[0]


@njit(cache=True, error_model="numpy", inline="always")
def _householder_factor(newton, halley, hh3):
    return (1.0 + 0.5 * halley * newton) / (1.0 + newton * (halley + hh3 * newton / 6.0))


@njit(cache=True, error_model="numpy", inline="always")
def _start(beta, x, ea):
    """The solver's fixed problem data and its starting state from the guess (see ``_step``)."""
    s, s_left, s_right, mode = initial_guess(beta, x, ea, 1.0 / ea)
    ln_beta = math.log(beta)
    problem = (x, ea, beta, mode, ln_beta, 1.0 / ln_beta, ea - beta)
    # state: s, bracket, the last two steps, reversals of direction, iterations done
    return problem, (s, s_left, s_right, 0.0, 0.0, 0, 0)


@njit(cache=True, error_model="numpy", inline="always")
def _step(problem, state):
    """One safeguarded Householder(3) step towards b(x, s) = beta (x <= 0, 0 < beta < exp(x/2)).

    Returns (state, status) with status SOLVING until s is converged (OK) or given up (NOT_CONVERGED).
    """
    x, ea, beta, mode, ln_beta, inv_ln_beta, bmb_target = problem
    s, s_left, s_right, ds, ds_prev, reversals, it = state
    if ds * ds_prev < 0.0:
        reversals += 1
    bisect = False
    if it > 0 and (reversals == 3 or not (s > s_left and s < s_right)):
        if s_right == math.inf:
            s = 2.0 * s_left
        else:
            s = 0.5 * (s_left + s_right)
            if s_right - s_left <= 4.0 * EPS * s:
                return (s, s_left, s_right, ds, ds_prev, reversals, it), OK
        reversals = 0
        ds = 0.0
    ds_prev = ds
    if mode == 0:
        ln_b, bpob, inv_bpob = lnb_bpob(x, s, ea)
        if ln_b > ln_beta and s < s_right:
            s_right = s
        elif ln_b < ln_beta and s > s_left:
            s_left = s
        if not (ln_b > -math.inf) or not (bpob < math.inf):
            bisect = True
        else:
            h = x / s
            hos = h / s
            b_halley = h * hos - 0.25 * s
            newton = (ln_beta - ln_b) * ln_b * inv_ln_beta * inv_bpob
            inv_lnb = 1.0 / ln_b
            halley = b_halley - bpob * (1.0 + 2.0 * inv_lnb)
            b_hh3 = b_halley * b_halley - 3.0 * hos * hos - 0.25
            hh3 = (
                b_hh3
                + 2.0 * bpob * bpob * (1.0 + 3.0 * inv_lnb * (1.0 + inv_lnb))
                - 3.0 * b_halley * bpob * (1.0 + 2.0 * inv_lnb)
            )
            ds = newton * _householder_factor(newton, halley, hh3)
    else:
        # one evaluation for both objectives: one copy of b in the compiled step, not two
        b, bmb, bp = b_parts(x, s, ea)
        if mode == 2:
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
                ds = newton * _householder_factor(
                    newton, b_halley + gp, b_hh3 + gp * (2.0 * gp + 3.0 * b_halley)
                )
        else:
            if b > beta and s < s_right:
                s_right = s
            elif b < beta and s > s_left:
                s_left = s
            if b <= 0.0 or bp <= 0.0:
                bisect = True
            else:
                h = x / s
                hos = h / s
                halley = h * hos - 0.25 * s
                hh3 = halley * halley - 3.0 * hos * hos - 0.25
                d = beta - b
                if bp > 1e-100:
                    # The Householder step d/b' * factor over one common denominator: one division
                    # instead of two on the critical path; b'^2 cannot underflow here.
                    ds = d * (bp + 0.5 * halley * d) / (bp * bp + d * (halley * bp + hh3 * d / 6.0))
                else:
                    newton = d / bp
                    ds = newton * _householder_factor(newton, halley, hh3)
    if bisect:
        target = 0.5 * (s_left + s_right) if s_right < math.inf else 2.0 * s
        ds = target - s
    if not (ds == ds):
        return (math.nan, s_left, s_right, ds, ds_prev, reversals, it), NOT_CONVERGED
    ds = max(-0.5 * s, ds)
    s += ds
    state = (s, s_left, s_right, ds, ds_prev, reversals, it + 1)
    if (not bisect and abs(ds) <= STEP_TOL * s) or s_right - s_left <= 4.0 * EPS * s:
        return state, OK
    if it + 1 == MAX_ITER:
        return state, NOT_CONVERGED
    return state, SOLVING


@njit(cache=True, error_model="numpy", inline="always")
def _reduce(price, F, K, T, DF, is_call):
    """(status, beta, x, ea): the option as a normalised OTM call (x <= 0, ea = exp(x/2)), or why it
    has no vol; status SOLVING means it goes to the solver (otherwise beta, x, ea are a placeholder problem)."""
    if (
        not (
            math.isfinite(price)
            and math.isfinite(F)
            and math.isfinite(K)
            and math.isfinite(T)
            and math.isfinite(DF)
        )
        or F <= 0.0
        or K <= 0.0
        or T <= 0.0
        or DF <= 0.0
    ):
        return BAD_INPUT, 0.1, 0.0, 1.0
    if is_call:
        intrinsic = DF * (F - K) if F > K else 0.0
        upper = DF * F
    else:
        intrinsic = DF * (K - F) if K > F else 0.0
        upper = DF * K
    if price >= upper:
        return ABOVE_MAX_PRICE, 0.1, 0.0, 1.0
    tv = price - intrinsic
    tol = TIME_VALUE_ULPS * EPS * max(price, intrinsic)
    if tv <= tol:
        if intrinsic > 0.0 and tv >= -tol:
            return ILL_CONDITIONED, 0.1, 0.0, 1.0
        return BELOW_INTRINSIC, 0.1, 0.0, 1.0
    x = math.log(F / K)
    xn = -abs(x)
    beta = tv / (DF * math.sqrt(F * K))
    ea = math.exp(0.5 * xn)
    if beta < BETA_FLOOR or ea - beta <= TIME_VALUE_ULPS * EPS * ea:
        return ILL_CONDITIONED, 0.1, 0.0, 1.0
    return SOLVING, beta, xn, ea


@njit(cache=True, error_model="numpy", inline="always")
def _vol(state, st, T):
    return state[0] / math.sqrt(T) if st == OK else math.nan


@njit(cache=True, error_model="numpy")
def _solve_pair(p_a, f_a, k_a, t_a, df_a, c_a, p_b, f_b, k_b, t_b, df_b, c_b):
    """Two options solved in lockstep, one Householder step of each in turn: (vol_a, status_a, vol_b,
    status_b), each as if solved alone.

    Each option is one long chain of dependent latencies (guess, then exp/erfcx/divisions per step),
    so one option alone leaves the core's execution units mostly idle; two independent chains
    interleaved step by step let the out-of-order core overlap them.
    """
    st_a, beta_a, x_a, ea_a = _reduce(p_a, f_a, k_a, t_a, df_a, c_a)
    st_b, beta_b, x_b, ea_b = _reduce(p_b, f_b, k_b, t_b, df_b, c_b)
    # an option that skips the solver gets _reduce's placeholder problem (x = 0, beta = 0.1): never stepped
    problem_a, state_a = _start(beta_a, x_a, ea_a)
    problem_b, state_b = _start(beta_b, x_b, ea_b)
    while st_a == SOLVING or st_b == SOLVING:
        if st_a == SOLVING:
            state_a, st_a = _step(problem_a, state_a)
        if st_b == SOLVING:
            state_b, st_b = _step(problem_b, state_b)
    return _vol(state_a, st_a, t_a), st_a, _vol(state_b, st_b, t_b), st_b


# Both kernels take options in pairs (see _solve_pair); an odd last option is paired with itself. numba needs
# prange and range in two functions: the pair's body is shared (_pair_at, inlined into each).


@njit(cache=True, error_model="numpy", inline="always")
def _pair_at(p, price, F, K, T, DF, is_call, out, status):
    i = 2 * p
    j = min(i + 1, price.shape[0] - 1)
    out[i], status[i], out[j], status[j] = _solve_pair(
        price[i], F[i], K[i], T[i], DF[i], is_call[i], price[j], F[j], K[j], T[j], DF[j], is_call[j]
    )


@njit(cache=True, error_model="numpy", parallel=True)
def iv_kernel(price, F, K, T, DF, is_call, out, status):
    for p in prange((price.shape[0] + 1) // 2):
        _pair_at(p, price, F, K, T, DF, is_call, out, status)


@njit(cache=True, error_model="numpy")
def iv_kernel_serial(price, F, K, T, DF, is_call, out, status):
    for p in range((price.shape[0] + 1) // 2):
        _pair_at(p, price, F, K, T, DF, is_call, out, status)


@njit(cache=True, error_model="numpy")
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
    tv = DF * math.sqrt(F * K) * _b(xn, s, ea)
    return intrinsic + tv


@njit(cache=True, error_model="numpy", parallel=True)
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
