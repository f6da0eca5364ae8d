"""VolSurface on the synthetic chain: fit quality, arbitrage, grids, density, SSVI and plots."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from workbench.vol import VolSurface, fit_ssvi, synthetic_chain
from workbench.vol.grids import constant_maturity, delta_strikes, term_structure
from workbench.vol.synthetic import synthetic_svi


@pytest.fixture(scope="module")
def surf():
    chain, as_of = synthetic_chain()
    return VolSurface.from_chain(chain, as_of, symbol="SPX")


def test_synthetic_surface_fits_inside_band_and_is_arbitrage_free(surf):
    assert len(surf.smiles) == 16
    assert surf.inside_pct >= 99.0
    assert surf.arbitrage_free
    for s in surf.smiles:  # recovers the generating smile near the money
        a, b, rho, m, sig = synthetic_svi(s.T)
        true_atm = np.sqrt((a + b * (-rho * m + np.sqrt(m * m + sig * sig))) / s.T)
        assert s.atm_vol == pytest.approx(true_atm, abs=0.004)
    assert "inside bid/ask IV band" in surf.summary()
    assert set(surf.to_frame().columns) >= {"expiry", "atm_vol", "rmse_vol_pts", "inside_pct", "nodes"}


def test_interpolation_is_total_variance_monotone(surf):
    k = np.linspace(-0.4, 0.2, 25)
    T = np.linspace(0.01, 2.5, 80)
    w = surf.total_variance(k[None, :], T[:, None])
    assert np.all(np.diff(w, axis=0) >= -1e-14)
    assert surf.iv(0.0, surf.T[3]) == pytest.approx(surf.smiles[3].atm_vol)


def test_delta_grid_hits_target_deltas(surf):
    T = 91 / 365
    d = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    for call in (True, False):
        k = delta_strikes(surf, T, d, call=call)
        s = surf.iv(k, T) * np.sqrt(T)
        delta = ndtr(-k / s + 0.5 * s) - (0 if call else 1)
        np.testing.assert_allclose(delta, d if call else -d, atol=1e-9)
    cm = constant_maturity(surf)
    assert len(cm) == 11 * 2 * 17 and cm["iv"].notna().all()
    ts = term_structure(surf)
    assert (ts["rr25"] < 0).all()  # SPX-like put skew
    assert constant_maturity(surf, by="k")["iv"].notna().all()


def test_density_is_a_density(surf):
    s = surf.smiles[6]
    dens = s.density()
    mass = np.trapezoid(dens["density"], dens["strike"])
    mean = np.trapezoid(dens["density"] * dens["strike"], dens["strike"])
    assert mass == pytest.approx(1.0, abs=2e-3)
    assert mean == pytest.approx(s.forward, rel=2e-3)
    assert (dens["density"] >= 0).all()
    between = surf.density(0.5 * (surf.T[6] + surf.T[7]))
    assert np.trapezoid(between["density"], between["strike"]) == pytest.approx(1.0, abs=5e-3)


def test_greeks_and_ssvi(surf):
    g = surf.greeks([4800.0, 5000.0, 5200.0], 0.5, call=True)
    assert np.all(np.diff(g.delta) < 0) and np.all(g.vega > 0)
    ss = fit_ssvi(surf.chain)
    cond = ss.gj_conditions()
    assert cond["butterfly_free"] and cond["theta_nondecreasing"]
    assert -1 < ss.rho < 0


def test_plots_and_html(surf, tmp_path):
    fig = surf.plot_smile(3)
    assert len(fig.data) == 4
    assert surf.plot_term_structure().data and surf.plot_surface().data and surf.plot_heatmap().data
    out = tmp_path / "surface.html"
    surf.to_html(out)
    html = out.read_text()
    assert "plotly" in html.lower() and "VolSurface SPX" in html


def test_bad_chain_rows_are_named():
    chain, as_of = synthetic_chain(expiry_days=(30,))
    chain.loc[5, "bid"] = -0.5
    with pytest.raises(ValueError, match="row 5"):
        VolSurface.from_chain(chain, as_of)
    with pytest.raises(ValueError, match="missing column 'strike'"):
        VolSurface.from_chain(chain.drop(columns="strike"), as_of)


def test_essvi_model_builds_an_arbitrage_free_surface():
    chain, as_of = synthetic_chain()
    surf = VolSurface.from_chain(chain, as_of, symbol="SPX", model="essvi")
    assert len(surf.smiles) == 16 and surf.arbitrage_free
    assert surf.inside_pct >= 95.0  # the synthetic chain is generated from a smooth SSVI-like surface
    k = np.linspace(-1.0, 0.5, 31)
    w = surf.total_variance(k[None, :], surf.T[:, None])
    assert np.all(np.diff(w, axis=0) >= -1e-12)
    with pytest.raises(ValueError, match="model"):
        VolSurface.from_chain(chain, as_of, model="sabr")
