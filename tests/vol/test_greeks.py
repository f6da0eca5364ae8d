"""Analytic greeks against central finite differences of the pricing functions."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.vol import black_greeks, black_price, bsm_greeks, bsm_price


def _fd(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


@pytest.mark.parametrize("call", [True, False])
def test_bsm_greeks_match_finite_differences(call):
    rng = np.random.default_rng(5)
    n = 50
    S, K = 100.0, rng.uniform(70, 140, n)
    T, r, q, s = rng.uniform(0.1, 2, n), rng.uniform(0, 0.06, n), rng.uniform(0, 0.03, n), rng.uniform(0.1, 0.6, n)
    g = bsm_greeks(S, K, T, r, q, s, call)

    def price(S_=S, K_=K, T_=T, r_=r, q_=q, s_=s):
        return bsm_price(S_, K_, T_, r_, q_, s_, call)

    np.testing.assert_allclose(g.price, price(), rtol=1e-10)
    np.testing.assert_allclose(g.delta, _fd(lambda x: price(S_=x), S, 1e-3), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.gamma, (price(S_=S + 0.01) - 2 * price() + price(S_=S - 0.01)) / 1e-4,
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(g.vega, _fd(lambda x: price(s_=x), s, 1e-5), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.theta, -_fd(lambda x: price(T_=x), T, 1e-5), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g.rho, _fd(lambda x: price(r_=x), r, 1e-6), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g.dual_delta, _fd(lambda x: price(K_=x), K, 1e-3), rtol=1e-6, atol=1e-8)
    vanna = _fd(lambda x: bsm_greeks(S, K, T, r, q, x, call).delta, s, 1e-5)
    np.testing.assert_allclose(g.vanna, vanna, rtol=1e-5, atol=1e-7)
    volga = _fd(lambda x: bsm_greeks(S, K, T, r, q, x, call).vega, s, 1e-5)
    np.testing.assert_allclose(g.volga, volga, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call", [True, False])
def test_black_greeks_match_finite_differences(call):
    F, K, T, DF, s = 100.0, np.array([80.0, 100.0, 130.0]), 0.8, np.exp(-0.04 * 0.8), 0.35
    r = 0.04
    g = black_greeks(F, K, T, DF, s, call)

    def price(F_=F, T_=T, r_=r, s_=s):
        return black_price(F_, K, T_, np.exp(-r_ * T_), s_, call)

    np.testing.assert_allclose(g.delta, _fd(lambda x: price(F_=x), F, 1e-3), rtol=1e-6)
    np.testing.assert_allclose(g.vega, _fd(lambda x: price(s_=x), s, 1e-5), rtol=1e-6)
    np.testing.assert_allclose(g.theta, -_fd(lambda x: price(T_=x), T, 1e-5), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(g.rho, _fd(lambda x: price(r_=x), r, 1e-6), rtol=1e-5)
    frame = g.to_frame()
    assert list(frame.columns)[:3] == ["price", "delta", "gamma"] and len(frame) == 3
