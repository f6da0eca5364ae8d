"""Implied-vol engine: known answers, round trips within the conditioning bound, status codes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erfcx as scipy_erfcx
from scipy.stats import norm

from workbench.vol import (
    IVStatus,
    _lbr,
    black_price,
    bs_implied_vol,
    bs_price,
    bsm_implied_vol,
    bsm_price,
    implied_vol,
    implied_vol_status,
    iv_condition,
)


def test_hull_textbook_values():
    # Hull, Options Futures and Other Derivatives, Example 15.6: S=42, K=40, r=10%, T=0.5, sigma=20%
    assert bs_price(42.0, 40.0, 0.5, 0.10, 0.2, True) == pytest.approx(4.76, abs=5e-3)
    assert bs_price(42.0, 40.0, 0.5, 0.10, 0.2, False) == pytest.approx(0.81, abs=5e-3)
    assert bs_implied_vol(4.7594, 42.0, 40.0, 0.5, 0.10, True) == pytest.approx(0.2, abs=1e-4)


def test_black_price_matches_closed_form_and_parity():
    rng = np.random.default_rng(3)
    F, K = 100.0, rng.uniform(50, 200, 200)
    T, DF, s = rng.uniform(0.05, 2, 200), 0.97, rng.uniform(0.05, 1.0, 200)
    d1 = (np.log(F / K) + 0.5 * s * s * T) / (s * np.sqrt(T))
    ref = DF * (F * norm.cdf(d1) - K * norm.cdf(d1 - s * np.sqrt(T)))
    c = black_price(F, K, T, DF, s, True)
    p = black_price(F, K, T, DF, s, "P")
    np.testing.assert_allclose(c, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c - p, DF * (F - K), rtol=0, atol=1e-11)
    # call and put of the same strike imply the same vol (where the ITM leg kept its time value)
    vc, vp = implied_vol(c, F, K, T, DF, True), implied_vol(p, F, K, T, DF, False)
    both = np.isfinite(vc) & np.isfinite(vp)
    assert both.mean() > 0.9
    # each leg is as accurate as its own conditioning allows (ITM legs with little time value are worse)
    assert np.all(np.abs(vc - s)[both] <= 100 * iv_condition(F, K, T, DF, s, True)[both])
    assert np.all(np.abs(vp - s)[both] <= 100 * iv_condition(F, K, T, DF, s, False)[both])


def test_erfcx_table_matches_scipy():
    z = np.concatenate([np.linspace(-0.75, 60, 20001), [0.0, 26.0, 49.999, 50.0, 1e3]])
    ours = np.array([_lbr._erfcx(v) for v in z[::7]])
    np.testing.assert_allclose(ours, scipy_erfcx(z[::7]), rtol=2e-15)


def test_round_trip_random_within_condition_bound():
    rng = np.random.default_rng(7)
    n = 200_000
    K = 100 * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    T = np.exp(rng.uniform(np.log(7 / 365), np.log(2.0), n))
    sig = rng.uniform(0.05, 1.5, n)
    DF = np.exp(-rng.uniform(0, 0.05, n) * T)
    F = 100 / DF
    call = rng.random(n) < 0.5
    P = black_price(F, K, T, DF, sig, call)
    vol, status = implied_vol_status(P, F, K, T, DF, call)
    intrinsic = np.where(call, DF * np.maximum(F - K, 0), DF * np.maximum(K - F, 0))
    well = ((P - intrinsic) / (DF * np.sqrt(F * K)) >= 1e-200) & (P - intrinsic >= 1e-10 * P)
    assert well.mean() > 0.9
    assert np.all(status[well] == IVStatus.OK)
    ratio = np.abs(vol - sig)[well] / iv_condition(F, K, T, DF, sig, call)[well]
    assert ratio.max() <= 100
    # outside the well-posed bucket we may refuse, but never answer wrongly
    other = ~well & (status == IVStatus.OK)
    assert np.all(np.abs(vol - sig)[other] <= 100 * iv_condition(F, K, T, DF, sig, call)[other])
    assert np.all(np.isnan(vol[status != IVStatus.OK]))


@settings(max_examples=300, deadline=None)
@given(k=st.floats(-3.0, 3.0), T=st.floats(1e-3, 30.0), sig=st.floats(0.01, 3.0), r=st.floats(-0.01, 0.1),
       call=st.booleans())
def test_round_trip_hypothesis(k, T, sig, r, call):
    F, DF = 100.0, float(np.exp(-r * T))
    K = F * float(np.exp(k))
    P = float(black_price(F, K, T, DF, sig, call))
    vol, status = implied_vol_status(P, F, K, T, DF, call)
    if status == IVStatus.OK:
        assert abs(float(vol) - sig) <= 100 * float(iv_condition(F, K, T, DF, sig, call)) + 1e-15
    else:
        assert np.isnan(vol)
        assert status in (IVStatus.ILL_CONDITIONED, IVStatus.BELOW_INTRINSIC)


def test_status_codes_on_hopeless_inputs():
    F, DF, T = 100.0, 0.99, 0.5
    cases = [
        (DF * 10 - 0.5, 90.0, True, IVStatus.BELOW_INTRINSIC),  # ITM call below intrinsic
        (-0.01, 120.0, True, IVStatus.BELOW_INTRINSIC),  # negative price
        (0.0, 120.0, True, IVStatus.BELOW_INTRINSIC),  # OTM at zero: no vol gives 0
        (DF * F * 1.0001, 120.0, True, IVStatus.ABOVE_MAX_PRICE),  # call above the discounted forward
        (DF * 150.0, 150.0, False, IVStatus.ABOVE_MAX_PRICE),  # put at DF*K
        (float(black_price(F, 40.0, T, DF, 0.02, True)), 40.0, True, IVStatus.ILL_CONDITIONED),  # lost tv
        (5.0, 100.0, True, IVStatus.OK),
    ]
    prices = np.array([c[0] for c in cases])
    strikes = np.array([c[1] for c in cases])
    calls = np.array([c[2] for c in cases])
    vol, status = implied_vol_status(prices, F, strikes, T, DF, calls)
    assert [IVStatus(s) for s in status] == [c[3] for c in cases]
    assert np.all(np.isnan(vol[:-1])) and np.isfinite(vol[-1])
    bad, st_bad = implied_vol_status([np.nan, 5.0, 5.0, 5.0], [100, -1, 100, 100], [100, 100, 100, 0], [1, 1, 0, 1])
    assert list(st_bad) == [IVStatus.BAD_INPUT] * 4 and np.all(np.isnan(bad))


def test_zero_vega_upper_region_is_refused_not_guessed():
    # price within rounding of the maximum: any vol above ~40 reprices it, so there is no answer
    F, K, T = 100.0, 100.0, 1.0
    P = float(black_price(F, K, T, 1.0, 40.0, True))
    vol, status = implied_vol_status(P, F, K, T, 1.0, True)
    assert status in (IVStatus.ILL_CONDITIONED, IVStatus.ABOVE_MAX_PRICE) and np.isnan(vol)


def test_shapes_strings_and_wrappers():
    P = np.full((3, 4), 12.0)
    v = implied_vol(P, 100.0, np.linspace(90, 110, 4), 0.5, 0.99, "C")
    assert v.shape == (3, 4) and np.all(np.isfinite(v))
    with pytest.raises(ValueError, match="call"):
        implied_vol(5.0, 100.0, 100.0, 0.5, 1.0, "X")
    price = bsm_price(100.0, 105.0, 0.75, 0.03, 0.02, 0.3, False)
    assert bsm_implied_vol(price, 100.0, 105.0, 0.75, 0.03, 0.02, False) == pytest.approx(0.3, abs=1e-12)
    serial, _ = implied_vol_status(P, 100.0, 100.0, 0.5, parallel=False)
    parallel, _ = implied_vol_status(P, 100.0, 100.0, 0.5, parallel=True)
    np.testing.assert_array_equal(serial, parallel)
