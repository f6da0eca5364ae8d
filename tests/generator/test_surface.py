"""SSVI admissibility and the Black-Scholes-Merton kernels the generator prices with."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.ingest.synth_surface import SSVI, bsm_greeks, bsm_price

T_GRID = np.array([1 / 365, 7 / 365, 30 / 365, 0.25, 0.5, 1.0, 2.0, 5.0])


@pytest.mark.parametrize("level", [0.25, 1.0, 4.0])
def test_default_surface_meets_gatheral_jacquier_and_has_positive_density(level):
    surf = SSVI().scaled(level)
    adm = surf.admissibility(T_GRID)
    assert (adm["theta_phi"] < 4).all() and (adm["theta_phi2"] <= 4).all()
    k = np.linspace(-3, 3, 1201)
    for T in T_GRID:
        assert surf.durrleman_g(k, T).min() > 0
    assert (np.diff(surf.theta(np.linspace(1e-4, 5, 500))) > 0).all()
    # Lee's moment bound: wing total variance grows at most like 2|k|
    assert (surf.total_variance(np.array([-50.0, 50.0]), 1.0) / 50.0 < 2).all()


def test_the_density_check_does_detect_butterfly_arbitrage():
    """Same formula, parameters outside the admissible set (built around the validation): g < 0 somewhere."""
    bad = object.__new__(SSVI)
    for name, value in dict(rho=-0.9, eta=4.0, gamma=0.5, sigma_0=0.2, sigma_inf=0.2, kappa=1.0, level=1.0).items():
        object.__setattr__(bad, name, value)
    assert bad.admissibility(np.array([1.0]))["theta_phi2"][0] > 4
    assert bad.durrleman_g(np.linspace(-3, 3, 601), 1.0).min() < 0


def test_equity_skew_is_negative_and_flattens_with_maturity():
    surf = SSVI()

    def skew(T):
        h = 1e-4
        return (surf.implied_vol(h, T) - surf.implied_vol(-h, T)) / (2 * h)

    one_month, one_year = skew(30 / 365), skew(1.0)
    assert -1.2 < one_month < -0.3
    assert one_month < one_year < 0
    atm = surf.implied_vol(0.0, np.array([7 / 365, 1.0]))
    assert 0.19 < atm[0] < atm[1] < 0.26


@pytest.mark.parametrize(("field", "value"), [("rho", -1.0), ("gamma", 0.7), ("eta", 1.5), ("sigma_0", 0.0)])
def test_inadmissible_parameters_are_rejected_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        SSVI(**{field: value})


def test_bsm_parity_and_greeks_against_finite_differences():
    spot, r, q = 100.0, 0.045, 0.012
    K = np.array([70.0, 95.0, 100.0, 105.0, 130.0])
    T, vol = np.full(5, 0.3), np.array([0.35, 0.24, 0.22, 0.21, 0.25])
    for call in (True, False):
        g = bsm_greeks(spot, K, T, r, q, vol, call)
        h = 1e-3
        up, dn = bsm_price(spot + h, K, T, r, q, vol, call), bsm_price(spot - h, K, T, r, q, vol, call)
        mid = bsm_price(spot, K, T, r, q, vol, call)
        assert np.allclose(g["delta"], (up - dn) / (2 * h), atol=1e-7)
        assert np.allclose(g["gamma"], (up - 2 * mid + dn) / h**2, atol=1e-4)
        dv = bsm_price(spot, K, T, r, q, vol + 1e-5, call) - bsm_price(spot, K, T, r, q, vol - 1e-5, call)
        assert np.allclose(g["vega"], dv / 2e-5 / 100, atol=1e-8)  # per vol point
        dt = bsm_price(spot, K, T - 1e-6, r, q, vol, call) - bsm_price(spot, K, T + 1e-6, r, q, vol, call)
        assert np.allclose(g["theta"], dt / 2e-6 / 365, atol=1e-7)  # per calendar day
        dr = bsm_price(spot, K, T, r + 1e-6, q, vol, call) - bsm_price(spot, K, T, r - 1e-6, q, vol, call)
        assert np.allclose(g["rho"], dr / 2e-6 / 100, atol=1e-7)  # per 1% of rate
    c, p = bsm_price(spot, K, T, r, q, vol, True), bsm_price(spot, K, T, r, q, vol, False)
    assert np.allclose(c - p, spot * np.exp(-q * T) - K * np.exp(-r * T), atol=1e-12)
