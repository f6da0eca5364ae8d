"""The dense price-space arbitrage check: it must catch what the 401-point grid and g(k) on [-2.5, 1.5] miss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.vol import VolSurface
from workbench.vol.arbcheck import DENSE_N, dense_arbitrage, price_violations
from workbench.vol.smile import GRID, Smile
from workbench.vol.svi import SviParams, butterfly_check, fit_svi, lee_ok


def _surface(params_list) -> VolSurface:
    smiles = [Smile(pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(round(p.T * 365))), p.T, 100.0, 1.0, p,
                    {}, k_bounds=(-0.3, 0.3)) for p in params_list]
    return VolSurface(smiles, 0, symbol="X")


def test_lee_breach_with_clean_grid_g_is_caught_in_price_space():
    # g >= 0 on every point of the old grid, but b(1+|rho|) = 2.9: convex calls that rise with strike
    # from k ~ 1.23 to the end of the documented range
    p = SviParams(a=0.45, b=2.0, rho=0.45, m=0.1, sigma=1.4, T=1.0)
    assert butterfly_check(p, GRID).size == 0 and not lee_ok(p)
    surf = _surface([p])
    d = dense_arbitrage(surf)
    assert d["n_per_expiry"] >= 4000 and d["k_range"] == (-2.5, 1.5)
    assert list(d["lee"].values()) == [pytest.approx(2.9)]
    (rising,) = d["price"].values()
    assert rising.min() > 1.2 and rising.max() == pytest.approx(1.5)
    assert not surf.arbitrage_free


def test_price_defect_between_old_grid_points_is_caught():
    # a bump in total variance 0.004 wide centred between two points of the old 401-point grid
    m = float(GRID[200] + GRID[201]) / 2.0
    k = np.linspace(-1, 1, 20001)
    w = 0.04 + 0.02 * np.sqrt(np.abs(k - m)) * (np.abs(k - m) < 0.002)
    assert price_violations(GRID, np.interp(GRID, k, w)).size == 0  # the old grid sees nothing
    bad = price_violations(k, w)
    assert bad.size and np.all(np.abs(bad - m) < 0.0025)


def test_calendar_crossing_between_old_grid_points_is_caught():
    m = float(GRID[200] + GRID[201]) / 2.0  # 0.005 from each neighbour
    short = SviParams(a=0.02, b=0.01, rho=0.0, m=m, sigma=1e-3, T=0.25)
    # twice the T, four times the slope, a touch lower at m: below the short slice only within ~3e-3 of m
    long = SviParams(a=0.01992, b=0.04, rho=0.0, m=m, sigma=1e-3, T=0.5)
    surf = _surface([short, long])
    assert np.all(long.w(GRID) >= short.w(GRID))
    a = surf.arbitrage()
    assert a["butterfly"] == {} and a["calendar"] == []  # the old checks are clean
    d = a["dense"]
    assert d["price"] == {} and d["butterfly"] == {} and d["lee"] == {}
    assert len(d["calendar"]) == 1 and np.all(np.abs(d["calendar"][0][2] - m) < 3e-3)
    assert not surf.arbitrage_free


def test_a_clean_surface_passes():
    p1 = SviParams(a=0.01, b=0.1, rho=-0.5, m=0.0, sigma=0.2, T=0.25)
    p2 = SviParams(a=0.02, b=0.1, rho=-0.5, m=0.0, sigma=0.2, T=0.5)
    surf = _surface([p1, p2])
    assert surf.arbitrage_free
    html = surf._repr_html_()
    assert html.startswith("<pre>") and "dense check (4001 k/expiry): price 0, g&lt;0 0, calendar 0, Lee 0" in html


def test_fit_svi_enforces_lee_bound():
    # quotes from a wing steeper than Lee allows: the fit must come back within the bound
    k = np.linspace(-0.2, 0.6, 25)
    T = 0.1
    w = 0.004 + 3.0 * np.maximum(k, 0) ** 1.0 * 0.5 + 0.01 * k**2
    iv = np.sqrt(w / T)
    p = fit_svi(k, iv, T, band=(iv * 0.98, iv * 1.02), grid=GRID)
    assert p.b * (1 + abs(p.rho)) <= 2.0 + 1e-9


def test_dense_grid_size():
    assert DENSE_N >= 4000
