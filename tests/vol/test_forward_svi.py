"""Parity forwards, SVI calibration and the arbitrage checks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.vol import black_price
from workbench.vol.forward import implied_forward
from workbench.vol.svi import SviParams, butterfly_check, calendar_check, check_grid, fit_svi, fit_weights
from workbench.vol.synthetic import synthetic_svi


def test_parity_regression_recovers_forward_and_discount():
    rng = np.random.default_rng(1)
    F, DF, T = 4012.5, 0.981, 0.6
    K = np.arange(3500.0, 4500.0, 25.0)
    c = black_price(F, K, T, DF, 0.2, True) + rng.normal(0, 0.05, K.size)
    p = black_price(F, K, T, DF, 0.2, False) + rng.normal(0, 0.05, K.size)
    c[10] += 25.0  # one stale quote must not tilt the line
    est = implied_forward(K, c, p, T, call_spread=np.full(K.size, 0.5), put_spread=np.full(K.size, 0.5),
                          spot=3990.0)
    assert est.method == "parity_regression"
    assert est.forward == pytest.approx(F, rel=2e-5)
    assert est.discount == pytest.approx(DF, abs=5e-4)  # 12 near strikes, 0.07 noise: slope error ~2e-4
    assert est.rate == pytest.approx(-np.log(DF) / T, abs=1e-3)
    assert est.carry_yield == pytest.approx(est.rate - np.log(est.forward / 3990.0) / T)


def test_forward_fallbacks_and_errors():
    est = implied_forward([100.0], [6.0], [4.0], 0.5, rate=0.02)
    assert est.method == "parity_fixed_rate" and est.forward == pytest.approx(100 + 2 / np.exp(-0.01))
    with pytest.raises(ValueError, match="usable call/put pairs"):
        implied_forward([100.0], [6.0], [4.0], 0.5)
    with pytest.raises(ValueError, match="expiry_years"):
        implied_forward([100.0], [6.0], [4.0], 0.0)


def test_butterfly_arbitrage_is_detected_on_contrived_slice():
    # Very steep wings with a tiny sigma: density goes negative (a classic Axel Vogt style example).
    bad = SviParams(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153, T=1.0)
    grid = np.linspace(-1.5, 1.5, 601)
    viol = butterfly_check(bad, grid)
    assert viol.size > 0 and viol.min() > -1.5
    good = SviParams(*synthetic_svi(1.0), T=1.0)
    assert butterfly_check(good, grid).size == 0


def test_calendar_arbitrage_is_detected():
    short = SviParams(*synthetic_svi(0.5), T=0.5)
    long_ = SviParams(*synthetic_svi(1.0), T=1.0)
    grid = np.linspace(-1, 1, 201)
    assert calendar_check([short, long_], grid) == []
    crossing = SviParams(long_.a - 0.02, long_.b, long_.rho, long_.m, long_.sigma, T=1.0)
    (t1, t2, where), = calendar_check([short, crossing], grid)
    assert (t1, t2) == (0.5, 1.0) and where.size > 0


def test_fit_recovers_generating_smile_and_passes_checks():
    T = 0.3
    a, b, rho, m, sig = synthetic_svi(T)
    true = SviParams(a, b, rho, m, sig, T)
    k = np.linspace(-0.35, 0.15, 60)
    fit = fit_svi(k, true.iv(k), T)
    np.testing.assert_allclose(fit.iv(k), true.iv(k), atol=2e-6)
    assert butterfly_check(fit, check_grid(k)).size == 0


def test_fit_repairs_arbitrage_in_noisy_input():
    rng = np.random.default_rng(2)
    T = 0.1
    k = np.linspace(-0.4, 0.2, 40)
    iv = SviParams(*synthetic_svi(T), T=T).iv(k) + rng.normal(0, 0.01, k.size)
    iv[-5:] += np.linspace(0, 0.15, 5)  # a wing that turns up too fast
    grid = check_grid(k)
    fit = fit_svi(k, iv, T, grid=grid)
    assert butterfly_check(fit, grid).size == 0
    with pytest.raises(ValueError, match="need >= 5"):
        fit_svi(k[:3], iv[:3], T)


def _band_case(seed=5):
    rng = np.random.default_rng(seed)
    T = 0.25
    true = SviParams(*synthetic_svi(T), T=T)
    k = np.linspace(-0.5, 0.25, 50)
    half = rng.uniform(0.003, 0.008, k.size)  # bid/ask half-width in vol
    mid = true.iv(k) + rng.uniform(-0.6, 0.6, k.size) * half
    mid[[5, 17, 33]] += np.array([0.03, -0.025, 0.02])  # three quotes no smooth smile goes through
    return T, k, mid - half, mid, mid + half


def test_band_fit_keeps_the_quotes_inside_and_arbitrage_free():
    from workbench.vol._svi_kernels import qe_fit
    from workbench.vol._svi_lm import svi_w

    T, k, bid, mid, ask = _band_case()
    wt = fit_weights(mid, bid, ask, T)
    fit = fit_svi(k, mid, T, wt, band=(bid, ask))
    n_band = int(np.sum((fit.iv(k) >= bid) & (fit.iv(k) <= ask)))
    ls = np.sqrt(svi_w(np.array(qe_fit(k, mid**2 * T, wt / wt.max())[:5]), k) / T)  # plain weighted LS
    n_ls = int(np.sum((ls >= bid) & (ls <= ask)))
    assert n_band >= 46 and n_band >= n_ls  # at most one quote besides the planted three outside
    assert butterfly_check(fit, check_grid(k)).size == 0


def test_band_fit_respects_calendar_floor_and_ceiling():
    T, k, bid, mid, ask = _band_case(7)
    wt = fit_weights(mid, bid, ask, T)
    grid = np.linspace(-2.5, 1.5, 401)
    free = fit_svi(k, mid, T, wt, band=(bid, ask), grid=grid)
    w = free.w(grid)
    floor = np.where(grid < -2.0, w * 1.03, 0.0)  # previous expiry higher in the far left wing
    ceil = np.where(grid > 1.0, w * 0.97, np.inf)  # next expiry lower in the far right wing
    fit = fit_svi(k, mid, T, wt, band=(bid, ask), grid=grid, floor_w_grid=(grid, floor), ceil_w=ceil)
    fw = fit.w(grid)
    assert np.all(fw >= floor * (1 - 1e-9)) and np.all(fw <= ceil * (1 + 1e-9))
    assert butterfly_check(fit, grid).size == 0
    assert np.mean((fit.iv(k) >= bid) & (fit.iv(k) <= ask)) > 0.9  # the wings move, the quotes stay
