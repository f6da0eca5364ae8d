"""The generated option chains: listing, quotes, and freedom from static arbitrage.

Times to expiry are computed here independently of the generator (expiry 16:00 ET, ACT/365), so
the tests also pin the convention the vol toolkit has to use.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

UID = "DEMO.XNAS"
R, Q = 0.045, 0.012


def _tau(chain: pd.DataFrame) -> np.ndarray:
    expiry = pd.to_datetime(chain["expiry"]).dt.tz_localize(None) + pd.Timedelta(hours=16)
    close = expiry.dt.tz_localize("America/New_York").dt.tz_convert("UTC").dt.as_unit("ns").astype("int64")
    return ((close - chain["as_of"]) / (365 * 86_400e9)).to_numpy()


def _bs(spot, strike, tau, vol, call):
    d1 = (np.log(spot / strike) + (R - Q + 0.5 * vol**2) * tau) / (vol * np.sqrt(tau))
    d2 = d1 - vol * np.sqrt(tau)
    c = spot * np.exp(-Q * tau) * norm.cdf(d1) - strike * np.exp(-R * tau) * norm.cdf(d2)
    return np.where(call, c, c - spot * np.exp(-Q * tau) + strike * np.exp(-R * tau))


def _implied(price: float, spot: float, strike: float, tau: float, call: bool) -> float:
    return brentq(lambda v: float(_bs(spot, strike, tau, v, call)) - price, 1e-4, 5.0, xtol=1e-12)


def test_every_snapshot_lists_at_least_six_weekly_and_monthly_expiries(demo):
    for chain in demo.chains():
        expiries = sorted(set(chain["expiry"]))
        assert len(expiries) >= 6
        assert all(pd.Timestamp(e).weekday() in (3, 4) for e in expiries)  # Fridays, or Thursday before a holiday
        assert any(15 <= pd.Timestamp(e).day <= 21 for e in expiries)  # a monthly (third Friday)
        assert max(expiries) - min(expiries) > pd.Timedelta(days=150)
    # Good Friday 2024-03-29 is a holiday: that weekly expires on Thursday 03-28
    assert date(2024, 3, 28) in demo.market.expiries and date(2024, 3, 29) not in demo.market.expiries


def test_strikes_span_70_to_130_percent_at_1_and_2_5_spacing(demo):
    for chain in demo.chains():
        spot = chain["underlying_price"].iloc[0]
        for _, g in chain[chain["right"] == "C"].groupby("expiry"):
            k = np.sort(g["strike"].to_numpy())
            assert 0.6 * spot < k.min() <= 0.7 * spot + 1.25 and 1.3 * spot - 1.25 <= k.max() < 1.4 * spot
            steps = set(np.round(np.diff(k), 6))
            assert steps <= {1.0, 1.5, 2.0, 2.5} and 2.5 in steps  # 1 inside the band, 2.5 outside; joins between
            near = k[np.abs(k / spot - 1) < 0.1]
            assert set(np.round(np.diff(near), 6)) == {1.0}
            # calls and puts come in pairs
            assert sorted(chain[(chain["expiry"] == g["expiry"].iloc[0]) & (chain["right"] == "P")]["strike"]) == list(k)


def test_option_instruments_are_american_100_multiplier_on_the_underlying(demo):
    opts = demo.store.instruments(asset_class="OPTION")
    assert len(opts) == len(demo.market.option_ids)
    assert set(opts["style"]) == {"AMERICAN"} and set(opts["multiplier"]) == {100}
    assert set(opts["underlying"]) == {UID}
    listed = set(opts["instrument_id"])
    for chain in demo.chains():
        assert set(chain["instrument_id"]) <= listed
    inst = demo.store.instrument("DEMO240419C00100000.XNAS")
    assert inst.strike == 100 and inst.right == "C" and inst.expiry == date(2024, 4, 19)


def test_option_quotes_at_snapshot_times_match_the_chain(demo):
    chain = demo.chains()[3]
    as_of = int(chain["as_of"].iloc[0])
    for iid in chain["instrument_id"].iloc[::37]:
        q = demo.store.read_quotes(iid)
        row = chain[chain["instrument_id"] == iid].iloc[0]
        at = q[q["ts_event"] == as_of].iloc[0]
        assert (at["bid"], at["ask"], at["bid_size"], at["ask_size"]) == (row["bid"], row["ask"], row["bid_size"], row["ask_size"])
        assert set(q["ts_event"]) <= set(demo.market.snapshots)


def test_quotes_are_uncrossed_on_the_tick_grid_and_never_negative(demo):
    for chain in demo.chains():
        bid, ask = chain["bid"].to_numpy(), chain["ask"].to_numpy()
        assert (bid >= 0).all() and (ask > bid).all()
        for px in (bid, ask):
            cents = np.round(px * 100)
            assert np.allclose(cents / 100, px, rtol=0, atol=1e-12)
            assert (cents[cents >= 300] % 5 == 0).all()  # nickel ticks from $3
        no_bid = bid == 0
        assert (chain["bid_size"][no_bid] == 0).all() and (chain["bid_size"][~no_bid] >= 1).all()
        assert (chain["ask_size"] >= 1).all()


def test_widths_are_realistic_and_widen_in_the_wings_and_short_dated(demo):
    chain = demo.chains()[0]
    tau = _tau(chain)
    mid, width = (chain["bid"] + chain["ask"]) / 2, chain["ask"] - chain["bid"]
    k = np.log(chain["strike"] / chain["forward"]).to_numpy()
    otm = np.where(chain["right"] == "C", k >= 0, k < 0)
    assert width[chain["bid"] > 0].min() >= 0.05 - 1e-9
    atm = (np.abs(k) < 0.03) & (tau > 20 / 365)
    rel = (width / mid)[atm]
    assert 0.02 < rel.median() < 0.10 and rel.max() < 0.15
    wing = otm & (np.abs(k) > 0.2) & (mid > 0.1)
    assert (width / mid)[wing].median() > 2 * rel.median()
    short = (np.abs(k) < 0.03) & (tau < 14 / 365)
    assert (width / mid)[short].median() > rel.median()
    assert (chain["bid"] == 0).any()  # far out-of-the-money short-dated: no bid


def test_model_price_lies_inside_the_quote_and_the_iv_column_is_its_implied_vol(demo):
    for chain in demo.chains()[::3]:
        spot, tau = chain["underlying_price"].iloc[0], _tau(chain)
        model = _bs(spot, chain["strike"].to_numpy(), tau, chain["iv"].to_numpy(), chain["right"] == "C")
        assert (chain["bid"] <= model + 1e-12).all() and (model <= chain["ask"] + 1e-12).all()
        # invert a sample of model prices independently
        for i in range(0, len(chain), 53):
            iv = _implied(float(model[i]), spot, chain["strike"].iloc[i], tau[i], chain["right"].iloc[i] == "C")
            assert iv == pytest.approx(chain["iv"].iloc[i], abs=1e-7)


def test_iv_matches_the_true_surface(demo):
    for ns in demo.market.snapshots[::4]:
        chain = demo.store.read_chain(UID, as_of=ns)
        surf = demo.market.true_surface(ns)
        assert surf.spot == chain["underlying_price"].iloc[0]
        expiry = pd.to_datetime(chain["expiry"]).to_numpy().astype("datetime64[D]")
        assert np.allclose(surf.iv(chain["strike"].to_numpy(), expiry), chain["iv"], rtol=0, atol=1e-12)
        assert np.allclose(surf.forward(expiry), chain["forward"], rtol=1e-12)
        assert np.allclose(surf.year_fraction(expiry), _tau(chain), rtol=1e-12)


def test_quoted_prices_admit_no_vertical_or_butterfly_arbitrage(demo):
    """Executable static arbitrage: buy at the ask, sell at the bid, never a free lunch."""
    for chain in demo.chains():
        tau = dict(zip(chain["expiry"], _tau(chain), strict=False))
        for (expiry, right), g in chain.groupby(["expiry", "right"]):
            g = g.sort_values("strike")
            k, bid, ask = g["strike"].to_numpy(), g["bid"].to_numpy(), g["ask"].to_numpy()
            if right == "C":  # the lower strike is the richer call, the higher strike the richer put
                rich_bid, rich_ask, cheap_bid, cheap_ask = bid[:-1], ask[:-1], bid[1:], ask[1:]
            else:
                rich_bid, rich_ask, cheap_bid, cheap_ask = bid[1:], ask[1:], bid[:-1], ask[:-1]
            assert (rich_ask >= cheap_bid).all()  # a vertical is never paid to be bought
            bound = np.diff(k) * np.exp(-R * tau[expiry])
            assert (rich_bid - cheap_ask <= bound + 1e-9).all()  # nor sold above its discounted max payoff
            w1 = (k[2:] - k[1:-1]) / (k[2:] - k[:-2])
            assert (w1 * ask[:-2] + (1 - w1) * ask[2:] >= bid[1:-1] - 1e-9).all()


def test_model_prices_are_monotone_and_convex_in_strike_and_calendar_monotone(demo):
    for ns in demo.market.snapshots[::3]:
        surf = demo.market.true_surface(ns)
        expiries = [e for e in demo.market.expiries if surf.year_fraction(np.datetime64(e, "D")) > 0]
        strikes = np.linspace(0.5, 1.6, 400) * surf.spot
        for e in expiries:
            c = surf.price(strikes, np.full(len(strikes), e, "datetime64[D]"), np.full(len(strikes), "C"))
            assert (np.diff(c) < 0).all()
            assert (np.diff(c, 2) > -1e-12).all()
        # total variance at fixed forward moneyness rises with maturity
        k = np.linspace(-0.5, 0.4, 91)
        w = np.array([surf.ssvi.total_variance(k, surf.year_fraction(np.datetime64(e, "D"))) for e in expiries])
        assert (np.diff(w, axis=0) > 0).all()


def test_stored_iv_total_variance_is_calendar_monotone_at_fixed_moneyness(demo):
    for chain in demo.chains()[::2]:
        tau = _tau(chain)
        chain = chain.assign(k=np.log(chain["strike"] / chain["forward"]), w=chain["iv"] ** 2 * tau)
        grid = np.linspace(-0.1, 0.1, 21)
        curves = [np.interp(grid, g.sort_values("k")["k"], g.sort_values("k")["w"])
                  for _, g in chain[chain["right"] == "C"].groupby("expiry")]
        assert (np.diff(np.array(curves), axis=0) > 0).all()


def test_put_call_parity_holds_within_the_quotes(demo):
    for chain in demo.chains():
        spot = chain["underlying_price"].iloc[0]
        calls = chain[chain["right"] == "C"].set_index(["expiry", "strike"])
        puts = chain[chain["right"] == "P"].set_index(["expiry", "strike"])
        both = calls.join(puts, lsuffix="_c", rsuffix="_p", how="inner")
        tau = _tau(both.rename(columns={"as_of_c": "as_of"}).reset_index())
        k = both.index.get_level_values("strike").to_numpy()
        parity = spot * np.exp(-Q * tau) - k * np.exp(-R * tau)
        assert len(both) == len(calls) == len(puts)
        assert (both["bid_c"] - both["ask_p"] <= parity + 1e-9).all()
        assert (parity <= both["ask_c"] - both["bid_p"] + 1e-9).all()


def test_american_asks_are_never_below_intrinsic(demo):
    for chain in demo.chains():
        spot = chain["underlying_price"].iloc[0]
        intrinsic = np.maximum(np.where(chain["right"] == "C", spot - chain["strike"], chain["strike"] - spot), 0)
        assert (chain["ask"] >= intrinsic - 1e-9).all()


def test_volume_accumulates_within_a_session_and_open_interest_persists(demo):
    chains = demo.chains()
    snaps = pd.to_datetime(list(demo.market.snapshots), unit="ns", utc=True).tz_convert("America/New_York")
    for a, b, ta, tb in zip(chains, chains[1:], snaps, snaps[1:], strict=False):
        m = a.merge(b, on="instrument_id", suffixes=("_a", "_b"))
        if ta.date() == tb.date():
            assert (m["volume_b"] >= m["volume_a"]).all() and (m["volume_b"] > m["volume_a"]).any()
            assert (m["open_interest_b"] == m["open_interest_a"]).all()
        else:
            assert (m["open_interest_b"] != m["open_interest_a"]).any()
    last = chains[-1]
    assert (last["open_interest"] >= 0).all() and last["open_interest"].sum() > 0
    traded = last["volume"] > 0
    assert last["last"][traded].notna().all() and last["last"][~traded].isna().all()
    assert ((last["last"] >= last["bid"]) & (last["last"] <= last["ask"]))[traded].all()
