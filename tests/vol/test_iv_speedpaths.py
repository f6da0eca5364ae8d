"""The implied-vol engine's fast paths: bit-indexed erfcx rows, the fused inverse normal of the lowest
branch, and round trips across every guess branch and objective (not just the benchmark's domain)."""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.special import erfcx as scipy_erfcx
from scipy.special import ndtri

from workbench.vol import IVStatus, _lbr, black_price, implied_vol_status, iv_condition
from workbench.vol._erfcx_black import erfcx
from workbench.vol._rational import _lowest_s, inv_norm_cdf


@njit(cache=False)
def _erfcx_many(z):
    out = np.empty_like(z)
    for i in range(z.shape[0]):
        out[i] = erfcx(z[i])
    return out


@njit(cache=False)
def _lowest_many(a, ax):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = _lowest_s(a[i], ax)
    return out


def test_erfcx_at_row_boundaries():
    # rows change where the top bits of y = z + 1 do: one ulp either side must still be within the fit
    # (1e-15 leaves room for scipy's own ulp or two; against mpmath the table is within one ulp)
    edges = np.array([2.0**e * (1 + j / 16) for e in range(-2, 6) for j in range(16)]) - 1.0
    edges = edges[edges >= -0.75]
    z = np.concatenate(
        [edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [49.99999999, 50.0]]
    )
    z = z[z >= -0.75]
    np.testing.assert_allclose(_erfcx_many(z), scipy_erfcx(z), rtol=1e-15)


def test_erfcx_dense_and_outside_the_table():
    rng = np.random.default_rng(2)
    z = np.concatenate(
        [rng.uniform(-0.75, 50.0, 200_000), rng.uniform(-3.0, -0.75, 1000), rng.uniform(50, 1e4, 1000)]
    )
    np.testing.assert_allclose(_erfcx_many(z), scipy_erfcx(z), rtol=1e-15)


def test_lowest_branch_inverse_matches_inv_norm_cdf_of_cube_root():
    # a spans Acklam's tail (a < 0.02425**3) and central branches; the guess only needs ~1e-9
    a = np.concatenate([np.geomspace(1e-300, 0.12, 4000), [0.02425**3 * (1 - 1e-15), 0.02425**3]])
    ax = 0.7
    expected = ax / (np.sqrt(3.0) * np.abs(ndtri(np.cbrt(a))))
    np.testing.assert_allclose(_lowest_many(a, ax), expected, rtol=1e-8)
    assert abs(inv_norm_cdf(0.3) - ndtri(0.3)) < 1e-9 and abs(inv_norm_cdf(0.999) - ndtri(0.999)) < 1e-8


def test_round_trip_every_branch_within_condition_bound():
    # wide log-moneyness and total vols reach all four guess branches and all three objectives,
    # including ln(b_max - b) on the upper half of the highest branch, which the benchmark never hits
    rng = np.random.default_rng(17)
    n = 300_000
    k = rng.uniform(-6.0, 6.0, n)
    s = np.exp(rng.uniform(np.log(1e-3), np.log(20.0), n))
    T = np.exp(rng.uniform(np.log(1e-2), np.log(10.0), n))
    sig = s / np.sqrt(T)
    F = np.full(n, 100.0)
    K = F * np.exp(k)
    DF = np.exp(-0.02 * T)
    call = rng.random(n) < 0.5
    P = black_price(F, K, T, DF, sig, call)
    vol, status = implied_vol_status(P, F, K, T, DF, call)
    intrinsic = np.where(call, DF * np.maximum(F - K, 0), DF * np.maximum(K - F, 0))
    tv = P - intrinsic
    beta = tv / (DF * np.sqrt(F * K))
    b_max = np.exp(-np.abs(k) / 2)
    well = (beta >= 1e-200) & (tv >= 1e-10 * P) & (beta <= 0.99 * b_max)
    assert np.any(well & (beta > 0.6 * b_max))  # the ln(b_max - b) objective is exercised
    assert np.all(status[well] == IVStatus.OK)
    ok = status == IVStatus.OK
    ratio = np.abs(vol - sig)[ok] / iv_condition(F, K, T, DF, sig, call)[ok]
    assert ratio.max() <= 100
    assert np.all(np.isnan(vol[~ok]))


def test_parallel_and_serial_kernels_agree_bitwise():
    rng = np.random.default_rng(4)
    n = 20_000
    F = np.full(n, 100.0)
    K = F * np.exp(rng.uniform(-1.0, 1.0, n))
    T = rng.uniform(0.02, 2.0, n)
    DF = np.exp(-0.03 * T)
    call = rng.random(n) < 0.5
    P = black_price(F, K, T, DF, rng.uniform(0.05, 1.5, n), call)
    out_p, st_p = np.empty(n), np.empty(n, np.int8)
    out_s, st_s = np.empty(n), np.empty(n, np.int8)
    _lbr.iv_kernel(P, F, K, T, DF, call, out_p, st_p)
    _lbr.iv_kernel_serial(P, F, K, T, DF, call, out_s, st_s)
    np.testing.assert_array_equal(out_p, out_s)
    np.testing.assert_array_equal(st_p, st_s)


def test_answers_do_not_depend_on_the_option_solved_alongside():
    # the kernels solve options two at a time in lockstep: every answer (vol bits and status) must be the
    # one the option gets alone, whatever its partner -- solvable, unsolvable or NaN -- and for the last
    # option of an odd-length batch, which is paired with itself
    rng = np.random.default_rng(23)
    n = 5001
    F = np.full(n, 100.0)
    K = F * np.exp(rng.uniform(-3.0, 3.0, n))
    T = np.exp(rng.uniform(np.log(1e-3), np.log(10.0), n))
    DF = np.exp(-0.03 * T)
    call = rng.random(n) < 0.5
    P = black_price(F, K, T, DF, np.exp(rng.uniform(np.log(0.01), np.log(3.0), n)), call)
    kind = rng.integers(0, 8, n)
    P[kind == 0] = np.nan
    P[kind == 1] = -1.0
    T[kind == 2] = 0.0
    P[kind == 3] = np.where(call, DF * F, DF * K)[kind == 3]
    vol, status = implied_vol_status(P, F, K, T, DF, call)
    assert len(set(status.tolist())) >= 4  # solvable and refused options were paired with each other
    for par in (True, False):
        shuffled = rng.permutation(n)
        v2, s2 = implied_vol_status(
            P[shuffled], F[shuffled], K[shuffled], T[shuffled], DF[shuffled], call[shuffled], parallel=par
        )
        np.testing.assert_array_equal(v2, vol[shuffled])
        np.testing.assert_array_equal(s2, status[shuffled])
    for i in list(range(0, n, 97)) + [n - 1]:
        v1, s1 = implied_vol_status(
            P[i : i + 1], F[i : i + 1], K[i : i + 1], T[i : i + 1], DF[i : i + 1], call[i : i + 1]
        )
        np.testing.assert_array_equal(v1, vol[i : i + 1])
        assert s1[0] == status[i]
