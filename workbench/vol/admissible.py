"""Inadmissible quotes: quotes that no arbitrage-free surface can pass through, reported with a reason.

A quote is inadmissible when its bid/ask band cannot be met by *any* arbitrage-free prices -- on its own
(crossed: bid > ask; a bid at or above the no-arbitrage maximum, DF F for a call and DF K for a put) or
together with another quote of the same expiry.  The pairwise and triple conditions are checked on
call-equivalent prices normalised by ``DF F`` (puts through parity), ``c(x)`` at ``x = K/F``:

* ``monotonicity``: calls cannot rise with strike -- a higher strike's bid above a lower strike's ask;
* ``call spread``: calls cannot fall faster than the strike -- ``bid(x1) - ask(x2) > x2 - x1``;
* ``convexity``: three quotes whose bands admit no convex function (a middle bid above the chord of the
  outer asks), this quote in any of the three places;
* ``calendar``: a bid above the chord of a *later* expiry's asks at the same forward-moneyness (the later
  calls lie below that chord and above this expiry's), this quote being the bid or one end of the chord.

Quotes the fit leaves outside their band without such a conflict are *not* listed: those are fit misses,
visible in the ``inside`` flags.  For a conflicting pair only the quote the fit left outside is listed
(the conflict says one of them is wrong, not which), naming the other strike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["inadmissible_quotes"]

_EPS = 1e-12


def _call_band(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scale = (g["discount"] * g["forward"]).to_numpy(float)
    x = (g["strike"] / g["forward"]).to_numpy(float)
    put = (g["right"] == "P").to_numpy()
    shift = np.where(put, 1.0 - x, 0.0)
    bid = g["bid"].to_numpy(float) / scale + shift
    ask = np.where(np.isfinite(g["ask"]), g["ask"].to_numpy(float) / scale + shift, np.inf)
    return x, bid, ask


def _pair_reason(i: int, x, bid, ask) -> str:
    """The first pairwise or triple conflict of quote ``i`` with the others of its expiry, or ''."""
    hi, lo = x > x[i], x < x[i]
    j = np.flatnonzero(hi & (bid > ask[i] + _EPS))
    if j.size:
        return f"monotonicity: bid at K/F={x[j[0]]:.4f} above this ask"
    j = np.flatnonzero(lo & (bid[i] > ask + _EPS))
    if j.size:
        return f"monotonicity: bid above the ask at K/F={x[j[0]]:.4f}"
    j = np.flatnonzero(hi & (bid[i] - ask > x - x[i] + _EPS))
    if j.size:
        return f"call spread: wider than the strike gap to K/F={x[j[0]]:.4f}"
    j = np.flatnonzero(lo & (bid - ask[i] > x[i] - x + _EPS))
    if j.size:
        return f"call spread: wider than the strike gap to K/F={x[j[0]]:.4f}"
    # convexity with i in the middle: bid_i > chord of the asks at a < x_i < b
    a_idx, b_idx = np.flatnonzero(lo & np.isfinite(ask)), np.flatnonzero(hi & np.isfinite(ask))
    if a_idx.size and b_idx.size:
        xa, xb = x[a_idx][:, None], x[b_idx][None, :]
        lam = (xb - x[i]) / (xb - xa)
        chord = lam * ask[a_idx][:, None] + (1 - lam) * ask[b_idx][None, :]
        hit = np.argwhere(bid[i] > chord + _EPS)
        if hit.size:
            ja, jb = a_idx[hit[0, 0]], b_idx[hit[0, 1]]
            return f"convexity: bid above the chord of the asks at K/F={x[ja]:.4f} and {x[jb]:.4f}"
    # convexity with i at an end: a middle bid above the chord through this ask and a further ask
    for side in (hi, lo):
        idx = np.flatnonzero(side & np.isfinite(ask))
        if idx.size < 2:
            continue
        xm, xo = x[idx][:, None], x[idx][None, :]  # middle j, outer l (beyond j, away from i)
        beyond = (xo > xm) if side is hi else (xo < xm)
        lam = (xo - xm) / np.where(beyond, xo - x[i], 1.0)
        chord = lam * ask[i] + (1 - lam) * ask[idx][None, :]
        hit = np.argwhere(beyond & (bid[idx][:, None] > chord + _EPS))
        if hit.size:
            jm, jo = idx[hit[0, 0]], idx[hit[0, 1]]
            return f"convexity: bid at K/F={x[jm]:.4f} above the chord of this ask and K/F={x[jo]:.4f}"
    return ""


def _calendar_reason(x: float, bid: float, later: list) -> str:
    """A bid above the chord of a later expiry's asks around the same forward-moneyness: the later calls
    are below that chord (convexity) and above this expiry's (calendar order)."""
    for expiry, _, xl, _, al in later:
        ok = np.isfinite(al)
        xl, al = xl[ok], al[ok]
        if xl.size >= 2 and xl[0] <= x <= xl[-1] and bid > np.interp(x, xl, al) + _EPS:
            return f"calendar: bid above the asks of the {pd.Timestamp(expiry):%Y-%m-%d} expiry around K/F={x:.4f}"
    return ""


def _calendar_earlier(i: int, x, ask, earlier: list) -> str:
    """The other side of :func:`_calendar_reason`: an earlier expiry's bid above the chord of this expiry's
    asks through this quote (on the intervals to its neighbours)."""
    ok = np.isfinite(ask)
    if not ok[i] or ok.sum() < 2:
        return ""
    xs, asks = x[ok], ask[ok]
    j = int(np.searchsorted(xs, x[i]))
    lo, hi = xs[max(j - 1, 0)], xs[min(j + 1, xs.size - 1)]
    for expiry, _, xe, be, _ in earlier:
        near = (xe >= lo) & (xe <= hi)
        if near.any() and np.any(be[near] > np.interp(xe[near], xs, asks) + _EPS):
            return f"calendar: a bid of the {pd.Timestamp(expiry):%Y-%m-%d} expiry is above this ask's chord"
    return ""


def inadmissible_quotes(surface, quotes: pd.DataFrame) -> pd.DataFrame:
    """One row per inadmissible OTM quote with a bid of ``quotes`` (a :func:`prepare_chain` frame):
    ``expiry, strike, right, bid, ask, reason``."""
    cols = ["expiry", "strike", "right", "bid", "ask", "reason"]
    need = {"otm", "use", "forward", "discount", "expiry", "strike", "right", "bid", "ask"}
    if not need <= set(quotes.columns):
        return pd.DataFrame(columns=cols)
    fitted = {s.expiry: s for s in surface.smiles}
    rows = []
    sel = (quotes["otm"] & (quotes["bid"] > 0)).to_numpy()
    # a plain frame: pandas deep-copies ``attrs`` (the dropped-expiry reasons) on every groupby/slice
    light = pd.DataFrame({c: quotes[c].to_numpy()[sel] for c in sorted(need - {"otm", "use"})})
    groups = [(e, g, *_call_band(g)) for e, g in light.groupby("expiry", sort=True)]
    for n_exp, (expiry, g, x, bid, ask) in enumerate(groups):
        smile = fitted.get(pd.Timestamp(expiry))
        outside = np.zeros(len(g), bool)
        if smile is not None and len(smile.data.get("k", ())):
            k_out = np.asarray(smile.data["k"])[~np.asarray(smile.data["inside"], bool)]
            outside = np.isin(np.log(x), k_out) | np.isclose(np.log(x)[:, None], k_out[None, :],
                                                              rtol=0, atol=1e-12).any(axis=1)
        cap = np.where(g["right"].to_numpy() == "P", x, 1.0)  # normalised OTM maximum: DF K / (DF F), DF F
        otm_bid = g["bid"].to_numpy(float) / (g["discount"] * g["forward"]).to_numpy(float)
        for i in range(len(g)):
            reason = ""
            if ask[i] < bid[i] - _EPS:
                reason = "crossed: bid above ask"
            elif otm_bid[i] >= cap[i]:
                reason = "bound: bid at or above the no-arbitrage maximum"
            elif outside[i]:
                reason = (_pair_reason(i, x, bid, ask) or _calendar_reason(x[i], bid[i], groups[n_exp + 1:])
                          or _calendar_earlier(i, x, ask, groups[:n_exp]))
            if reason:
                r = g.iloc[i]
                rows.append((r["expiry"], r["strike"], r["right"], r["bid"], r["ask"], reason))
    return pd.DataFrame(rows, columns=cols)
