"""The default, price-space surface: arbitrage-free on real chains (dense check), inside the bid/ask bands,
and inadmissible quotes reported with their reason instead of being counted as fit failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.vol import VolSurface, synthetic_chain
from workbench.vol.price_smile import PriceSmile

DEV = ("spy_2022-09-19_2029_vaibhavjain-bot.csv", "tsla_2023-11-10_1855_hicham712.csv",
       "nvda_2025-01-06_2130_DorelRoata.csv", "spx_2024-11-11_0802_igdalias8986.csv",
       "vix_2023-05-15_1147_AyourElwazani97.csv")


def _dev_surface(real_data, name, **kw):
    from workbench.ingest.chains import ingest_chain_file
    from workbench.store import Store

    with Store.open(":memory:") as store:
        ingest_chain_file(store, real_data / "cboe_dev" / name)
        symbol = str(store.chain_snapshots()["underlying"].iloc[0])
        return VolSurface.from_store(store, symbol, **kw)


def _strict_inside(surf) -> np.ndarray:
    """Inside with every bid as a lower bound, min-tick bids included (the benchmark's strict figure)."""
    from workbench.vol import implied_vol

    q = surf.quotes_frame()
    T = q["T"].to_numpy()
    bid_iv = implied_vol(q["bid"], surf.forward(T), q["strike"], T, surf.discount(T), q["right"])
    return (q["fit_iv"] >= np.nan_to_num(bid_iv) - 1e-12) & (q["fit_iv"] <= q["iv_ask"] + 1e-12)


@pytest.mark.parametrize("name", DEV)
def test_dev_chains_are_arbitrage_free_and_inside(real_data, name):
    surf = _dev_surface(real_data, name)
    assert all(isinstance(s, PriceSmile) for s in surf.smiles)
    dense = surf.dense_arbitrage()
    assert dense["n_per_expiry"] >= 4000
    assert surf.arbitrage_free, {k: dense[k] for k in ("price", "butterfly", "calendar", "lee")}
    # measured (benchmarks/vol.py prints every dev file): 99.2-100 % strict on these five; SVI: 40-100 %
    assert np.mean(_strict_inside(surf)) >= 0.98, name


def test_interpolated_slices_are_ordered_and_convex():
    chain, as_of = synthetic_chain(seed=3)
    surf = VolSurface.from_chain(chain, as_of)
    k = np.linspace(-0.6, 0.3, 901)
    T = np.linspace(surf.T[0] * 0.5, surf.T[-1], 60)
    w = surf.total_variance(k[None, :], T[:, None])
    assert np.all(np.isfinite(w)) and np.all(np.diff(w, axis=0) >= -1e-12)
    from workbench.vol.arbcheck import price_violations

    for row in w[::7]:
        assert price_violations(k, row).size == 0


def _hand_chain():
    """One expiry, 60 days, strikes 80..120 on a 20 % flat smile, then three quotes made inadmissible."""
    from workbench.vol import black_price

    F, T, DF = 100.0, 60 / 365, 1.0
    strikes = np.arange(80.0, 121.0, 2.5)
    call = strikes >= F
    mid = black_price(F, strikes, T, DF, 0.2, call)
    chain = pd.DataFrame({"expiry": pd.Timestamp("2024-03-01"), "strike": np.r_[strikes, strikes],
                          "right": np.r_[np.where(call, "C", "P"), np.where(call, "P", "C")],
                          "bid": np.r_[mid * 0.97, 0.0 * mid], "ask": np.r_[mid * 1.03 + 0.01, 0.0 * mid]})
    chain.loc[len(strikes):, ["bid", "ask"]] = np.nan  # ITM legs unquoted
    # parity needs both legs: quote the ITM side at intrinsic + the OTM value
    itm = black_price(F, strikes, T, DF, 0.2, ~call)
    chain.loc[len(strikes):, "bid"] = itm * 0.995
    chain.loc[len(strikes):, "ask"] = itm * 1.005 + 0.01
    as_of = int((pd.Timestamp("2024-03-01 16:00", tz="America/New_York") - pd.Timedelta(days=60)).value)
    i_cross = int(np.flatnonzero(strikes == 85.0)[0])
    chain.loc[i_cross, ["bid", "ask"]] = [0.40, 0.30]  # crossed
    i_mono = int(np.flatnonzero(strikes == 112.5)[0])
    j = int(np.flatnonzero(strikes == 110.0)[0])
    chain.loc[i_mono, ["bid", "ask"]] = [chain.loc[j, "ask"] + 0.2, chain.loc[j, "ask"] + 0.3]  # call above K=110
    i_conv = int(np.flatnonzero(strikes == 105.0)[0])
    lo, hi = chain.loc[i_conv - 1, "ask"], chain.loc[i_conv + 1, "ask"]
    chain.loc[i_conv, ["bid", "ask"]] = [0.5 * (lo + hi) + 0.05, 0.5 * (lo + hi) + 0.10]  # above the chord
    return chain, as_of


def test_inadmissible_quotes_are_reported_with_reasons():
    chain, as_of = _hand_chain()
    surf = VolSurface.from_chain(chain, as_of, symbol="X")
    bad = surf.inadmissible.set_index("strike")["reason"]
    assert bad.loc[85.0].startswith("crossed")
    assert bad.loc[112.5].startswith("monotonicity") or bad.loc[110.0].startswith("monotonicity")
    assert any(bad.get(K, "").startswith("convexity") for K in (102.5, 105.0, 107.5))
    # nothing away from the three edits is blamed (an edit also conflicts with its neighbours)
    assert set(bad.index) <= {85.0, 102.5, 105.0, 107.5, 110.0, 112.5, 115.0}
    assert surf.arbitrage_free
    # every quote not in conflict is inside its band
    q = surf.quotes_frame()
    fine = ~q["strike"].isin(bad.index)
    assert q.loc[fine, "inside"].all()
    assert "inadmissible quotes" in surf.summary()


def test_adjusted_contracts_are_left_out(real_data):
    # the AMD download lists AMD1 (non-standard deliverable after the Xilinx merger) beside AMD at the same
    # strikes; mixed in, they read as 61 monotonicity conflicts (measured before they were left out)
    surf = _dev_surface(real_data, "amd_2023-08-20_2235_aryamanwastaken.csv")
    assert surf.chain.attrs["adjusted_contracts"] == 80  # 40 AMD1 strikes, calls and puts
    assert "adjusted (non-standard deliverable) contracts left out" in surf.summary()
    assert len(surf.inadmissible) < 10 and surf.arbitrage_free


def test_am_settled_root_beside_pm_root_is_left_out(real_data):
    # 2024-11-15 lists SPX (AM-settled monthly) and SPXW (PM) at the same strikes; mixed into one smile they
    # conflicted (the SPX dev files had 166-440 "inadmissible" quotes each before)
    surf = _dev_surface(real_data, "spx_2024-11-11_0802_igdalias8986.csv")
    assert surf.chain.attrs["second_root_rows"] > 0
    assert surf.chain.loc[surf.chain["expiry"] == "2024-11-15", "instrument_id"].str.startswith("SPXW").all()
    assert "AM-settled beside PM-settled" in surf.summary()


def _without_highs_binding(monkeypatch, seed: int):
    """A synthetic chain, its surface fitted the direct way, then scipy's private HiGHS binding made
    unavailable so the next fit goes through linprog: (pricefit module, chain, as_of, direct surface)."""
    import workbench.vol.pricefit as pricefit

    chain, as_of = synthetic_chain(expiry_days=(30, 91), seed=seed)
    direct = VolSurface.from_chain(chain, as_of)

    def moved(*a, **k):
        raise ImportError("binding moved")

    monkeypatch.setattr(pricefit, "_highs_direct", moved)
    return pricefit, chain, as_of, direct


def test_public_linprog_path_gives_the_same_surface(monkeypatch):
    # the fit calls scipy's HiGHS binding directly (no per-call option validation); linprog is the fallback
    pricefit, chain, as_of, direct = _without_highs_binding(monkeypatch, seed=5)
    public = VolSurface.from_chain(chain, as_of)
    k = np.linspace(-0.3, 0.2, 51)
    for a, b in zip(direct.smiles, public.smiles, strict=True):
        np.testing.assert_allclose(a.iv(k), b.iv(k), atol=2e-4)


def test_saturday_expiries_move_to_the_last_trading_day():
    from workbench.vol.chain import prepare_chain

    chain, as_of = synthetic_chain(expiry_days=(7, 91), seed=2)  # two Fridays
    sat = chain.assign(expiry=chain["expiry"] + pd.Timedelta(days=1))  # Lean-style Saturday dates
    first = sat["expiry"] == sat["expiry"].min()
    sat.loc[first, "expiry"] = pd.Timestamp("2025-04-19")  # the Saturday after Good Friday (no session)
    q, _ = prepare_chain(sat, as_of)
    got = sorted(pd.Timestamp(e) for e in q["expiry"].unique())
    assert got == [pd.Timestamp("2024-06-14"), pd.Timestamp("2025-04-17")]  # Friday; Thursday before Good Friday
    assert q.attrs["weekend_expiries_moved"] == 2


def test_missing_open_interest_for_the_whole_snapshot_is_a_warning():
    chain, as_of = synthetic_chain(expiry_days=(30, 91), seed=4)
    with_oi = VolSurface.from_chain(chain.assign(open_interest=100.0), as_of)
    assert "open interest is missing" not in with_oi.summary()
    without = VolSurface.from_chain(chain.assign(open_interest=np.nan), as_of)
    assert "warning: open interest is missing for the whole snapshot" in without.summary()


def test_an_expiry_whose_lp_fails_is_dropped_not_the_surface(monkeypatch):
    import workbench.vol.pricefit as pricefit

    chain, as_of = synthetic_chain(expiry_days=(30, 91, 182), seed=6)
    real, calls = pricefit._highs_direct, []

    def second_fails(*a):
        calls.append(1)
        return None if len(calls) == 2 else real(*a)

    monkeypatch.setattr(pricefit, "_highs_direct", second_fails)
    surf = VolSurface.from_chain(chain, as_of)
    assert len(surf.smiles) == 2 and surf.arbitrage_free
    assert list(surf.dropped.values()) == ["no acceptable fit"]


def test_calendar_conflicts_between_expiries_are_named():
    from workbench.vol.admissible import _calendar_earlier, _calendar_reason

    # a later expiry quoted at K/F = 0.9, 1.0, 1.1 (call-equivalent bid, ask): its calls lie under the chord
    # of its asks, 0.045 at K/F = 1.05, and above the earlier expiry's calls there
    x = np.array([0.9, 1.0, 1.1])
    later = [(pd.Timestamp("2024-06-21"), None, x, np.array([0.12, 0.05, 0.02]), np.array([0.13, 0.06, 0.03]))]
    assert _calendar_reason(1.05, 0.05, later).startswith("calendar: bid above the asks of the 2024-06-21")
    assert _calendar_reason(1.05, 0.04, later) == "" and _calendar_reason(1.2, 0.5, later) == ""
    earlier = [(pd.Timestamp("2024-03-15"), None, np.array([1.05]), np.array([0.05]), np.array([0.06]))]
    assert _calendar_earlier(1, x, later[0][4], earlier).startswith("calendar: a bid of the 2024-03-15")
    assert _calendar_earlier(0, x, later[0][4], earlier) == ""  # 1.05 is not next to K/F = 0.9


def test_an_lp_highs_gives_up_on_is_retried_not_dropped(monkeypatch):
    # HiGHS stopping short of an optimum (here: a real iteration limit on the first attempts; on real chains
    # the dual simplex's "Unknown" status) is retried with the next options, not dropped
    import workbench.vol.pricefit as pricefit

    chain, as_of = synthetic_chain(expiry_days=(30, 91), seed=7)
    stop = (("simplex_iteration_limit", 1),)
    monkeypatch.setattr(pricefit, "_RETRY", (stop,))
    with pytest.raises(ValueError, match="at least one fitted expiry"):  # every attempt stopped: both dropped
        VolSurface.from_chain(chain, as_of)
    monkeypatch.setattr(pricefit, "_RETRY", (stop, ()))
    surf = VolSurface.from_chain(chain, as_of)
    assert len(surf.smiles) == 2 and not surf.dropped and surf.arbitrage_free


def test_linprog_fallback_is_retried_too(monkeypatch):
    # without scipy's private HiGHS binding the fit goes through linprog, with the same kind of retries
    pricefit, chain, as_of, direct = _without_highs_binding(monkeypatch, seed=7)
    stop = ("highs-ds", {"maxiter": 1})
    monkeypatch.setattr(pricefit, "_LINPROG_RETRY", (stop,))
    with pytest.raises(ValueError, match="at least one fitted expiry"):
        VolSurface.from_chain(chain, as_of)
    monkeypatch.setattr(pricefit, "_LINPROG_RETRY", (stop, ("highs-ds", {})))
    public = VolSurface.from_chain(chain, as_of)
    assert len(public.smiles) == 2 and public.arbitrage_free
    k = np.linspace(-0.3, 0.2, 51)
    for a, b in zip(direct.smiles, public.smiles, strict=True):
        np.testing.assert_allclose(a.iv(k), b.iv(k), atol=2e-4)


def test_end_atoms_lost_to_solver_tolerance_are_restored():
    # time values O of a law with no mass at the end nodes (what the LP returns when its end atoms sit at
    # the 1e-10 floor only to its tolerance): the guard puts >= 1e-10 on both ends, keeps mass and mean 1,
    # only raises the calls (calendar order to the expiry before kept) and returns the matching O
    from workbench.vol.pricefit import _FLOOR, _atoms

    y = np.exp(np.linspace(-1.0, 1.0, 21))
    law = np.zeros(y.size)
    law[[5, 15]] = [y[15] - 1.0, 1.0 - y[5]]
    law /= law.sum()  # mean 1

    def calls(p):
        return np.maximum(y[None, :] - y[:, None], 0.0) @ p

    o = calls(law) - np.maximum(1.0 - y, 0.0)
    o[[0, -1]] = 0.0
    p, o2 = _atoms(o, y, 10)
    assert p[0] >= _FLOOR and p[-1] >= _FLOOR
    assert abs(p.sum() - 1.0) < 1e-14 and abs(p @ y - 1.0) < 1e-14
    assert np.all(calls(p) >= calls(law) - 1e-15) and np.max(calls(p) - calls(law)) < 1e-8
    np.testing.assert_allclose(o2 + np.maximum(1.0 - y, 0.0), calls(p), atol=1e-15)


def test_lp_matrix_matches_scipy_compressed_columns():
    # the fit compresses its COO triplets itself (scipy's constructor validates on every call); duplicates
    # (the atom rows' pairs) are summed and each column's rows sorted, as scipy does
    import scipy.sparse as sp

    from workbench.vol.pricefit import _csc

    rng = np.random.default_rng(3)
    cell = rng.choice(40 * 25, 300, replace=False)  # distinct (row, col) cells, then 50 of them twice
    rows, cols = np.r_[cell, cell[:50]] // 25, np.r_[cell, cell[:50]] % 25
    vals = rng.normal(size=rows.size)
    value, index, start = _csc(rows, cols, vals, 30)  # 5 empty columns at the end
    ref = sp.csc_matrix((vals, (rows, cols)), shape=(40, 30))
    ref.sum_duplicates()
    np.testing.assert_array_equal(start, ref.indptr)
    np.testing.assert_array_equal(index, ref.indices)
    np.testing.assert_array_equal(value, ref.data)


def test_refits_are_identical_whatever_was_fitted_before():
    # one HiGHS instance per thread is kept across LPs (options set once): it must carry nothing from one
    # LP to the next, so a surface is the same bit for bit whether it is fitted first or after another
    import workbench.vol.pricefit as pricefit

    chain, as_of = synthetic_chain(expiry_days=(30, 91), seed=8)
    other, other_as_of = synthetic_chain(expiry_days=(14, 60, 182), seed=9)
    pricefit._LOCAL.__dict__.clear()  # no kept instance: the first LP runs on a fresh one
    first = VolSurface.from_chain(chain, as_of)
    VolSurface.from_chain(other, other_as_of)
    again = VolSurface.from_chain(chain, as_of)
    for a, b in zip(first.smiles, again.smiles, strict=True):
        np.testing.assert_array_equal(a.p, b.p)
        np.testing.assert_array_equal(a.y, b.y)
