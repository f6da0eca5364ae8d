"""From a raw option chain (``store.read_chain`` columns) to per-expiry quotes ready for fitting.

Steps: year fractions from the snapshot time to each expiry's close (16:00 America/New_York,
ACT/365); forward and discount per expiry from put-call parity (:mod:`workbench.vol.forward`);
bid/mid/ask implied vols for every quote; and the out-of-the-money selection used for the surface --
puts below the forward, calls at or above it.  For American (equity) options the OTM side carries
little early-exercise premium, so treating it as European is the standard approximation; the ITM side
is kept but flagged, and ``deep_itm`` marks ITM quotes with |delta| > 0.85 where the premium is largest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.vol.forward import ForwardEstimate, forward_table
from workbench.vol.iv import implied_vol_status

__all__ = ["expiry_years", "min_tick_for", "prepare_chain"]

# Option classes quoted in pennies below $3 (Cboe/OCC penny interval program; the most traded ones --
# pass ``min_tick`` for another class). Everything else ticks 0.05 below $3.
PENNY_CLASSES = frozenset({"SPY", "QQQ", "IWM", "DIA", "XSP", "AAPL", "AMD", "AMZN", "BAC", "C", "F", "GE", "GLD",
                           "GOOG", "GOOGL", "INTC", "META", "MSFT", "NFLX", "NVDA", "SLV", "T", "TLT", "TSLA",
                           "UBER", "XLE", "XLF", "EEM", "EWZ", "FXI", "HYG", "SMH", "SQQQ", "TQQQ", "UVXY", "VXX"})

_YEAR_NS = 365.0 * 86400e9
REQUIRED = ("expiry", "strike", "right", "bid", "ask")


def min_tick_for(symbol: str) -> float:
    """The minimum price increment of a class's cheapest options, the level at which a bid is a stub.

    Rule (Cboe/OCC penny program): penny classes tick 0.01 below $3 and 0.05 at or above; all other
    classes (SPX, NDX, RUT, VIX, ...) 0.05 below $3 and 0.10 above. A bid at the minimum is only a lower
    bound, and such bids sit on far strikes below $3, so the below-$3 tick is the one that matters.
    """
    root = str(symbol).split(".", 1)[0].upper()
    return 0.01 if root in PENNY_CLASSES else 0.05


def expiry_years(expiry, as_of_ns: int, close: str = "16:00", tz: str = "America/New_York") -> pd.Series:
    """Year fractions (ACT/365) from ``as_of_ns`` (UTC ns) to each expiry date's ``close`` in ``tz``."""
    exp = pd.to_datetime(pd.Series(expiry)).dt.tz_localize(None).dt.normalize()
    hh, mm = (int(x) for x in close.split(":"))
    close_ts = (exp + pd.Timedelta(hours=hh, minutes=mm)).dt.tz_localize(tz).dt.tz_convert("UTC")
    ns = close_ts.dt.as_unit("ns").astype("int64").to_numpy()
    return pd.Series((ns - int(as_of_ns)) / _YEAR_NS, index=pd.Series(expiry).index)


def _last_trading_day(expiry: pd.Series) -> tuple[pd.Series, int]:
    """Saturday expiry dates (OCC's expiration date before 2015, which Lean keeps) moved to the last
    trading session before them (XNYS calendar: Good Friday -> Thursday), where trading and the 16:00
    close that T is measured to happen.  Returns the expiries and how many distinct dates moved."""
    dates = pd.Series(expiry.unique())
    weekend = dates[dates.dt.dayofweek == 5]  # Saturdays only: a Sunday is no OCC convention
    if weekend.empty:
        return expiry, 0
    import exchange_calendars as xcals

    from workbench.store.calendars import calendar

    cal = calendar("XNYS")  # the project's cached instance (1990..2035), not a second default-range build
    moved = {}
    for d in weekend:
        friday = d - pd.Timedelta(days=int(d.dayofweek) - 4)
        try:
            moved[d] = cal.date_to_session(friday, direction="previous").tz_localize(None)
        except (ValueError, KeyError, xcals.errors.DateOutOfBounds):  # outside the calendar's range: Friday
            moved[d] = friday
    return expiry.map(lambda e: moved.get(e, e)), len(moved)


def _one_root_per_expiry(df: pd.DataFrame, root: pd.Series) -> tuple[pd.DataFrame, int]:
    """Keep one option root per expiry date.  On a third Friday Cboe lists the AM-settled monthly (SPX, NDX,
    RUT, VIX) beside the PM-settled weekly (SPXW, NDXP, RUTW, VIXW) at the same strikes: different contracts
    (settled 6.5 h apart) whose quotes, mixed into one smile, conflict.  The PM root (ending in W or P) is
    kept -- T is measured to the 16:00 close -- else the root with the most rows."""
    key = pd.DataFrame({"expiry": df["expiry"].to_numpy(), "root": root.fillna("").to_numpy()})
    counts = key.value_counts().rename("n").reset_index()
    if not counts.duplicated("expiry").any():
        return df, 0
    counts["pm"] = counts["root"].str.len().gt(3) & counts["root"].str[-1].isin(["W", "P"])
    keep = counts.sort_values(["expiry", "pm", "n", "root"]).drop_duplicates("expiry", keep="last")
    ok = key.merge(keep[["expiry", "root"]], how="left", on="expiry", suffixes=("", "_keep"))
    mask = (ok["root"] == ok["root_keep"]).to_numpy()
    return df[mask], int((~mask).sum())


def prepare_chain(
    chain: pd.DataFrame,
    as_of_ns: int,
    *,
    spot: float | None = None,
    rate: float | None = None,
    min_T: float = 2.0 / 365.0,
    min_tick: float = 0.05,
) -> tuple[pd.DataFrame, dict[pd.Timestamp, ForwardEstimate]]:
    """Quotes with ``T, forward, discount, k, iv_bid, iv_mid, iv_ask, otm, use`` columns, plus forwards.

    ``use`` marks the OTM quotes with a positive bid, ask > bid and a solvable mid IV: the fitting set.
    A bid at or below ``min_tick`` (the exchange's minimum price increment: 0.05 for SPX and most
    non-penny classes) is a one-sided quote -- market makers leave such bids on far strikes whatever the
    vol -- so its ``iv_bid`` is NaN: the quote bounds the smile from above only (``min_tick_bid`` column).
    A crossed quote (bid > ask) is kept but never used (see :mod:`workbench.vol.admissible`).
    Raises ValueError naming the first missing column or the first bad row (strike <= 0, bid < 0).
    """
    for col in REQUIRED:
        if col not in chain.columns:
            raise ValueError(f"chain is missing column {col!r}")
    df = chain.copy()
    n_adjusted = 0
    if "instrument_id" in df.columns:
        # OCC marks a contract adjusted by a corporate action (non-standard deliverable: AMD1 after the Xilinx
        # merger) with a digit after the root; it is a different contract at the same strike, left out
        root = df["instrument_id"].astype(str).str.extract(r"^([A-Z]+\d*)\d{6}[CP]\d{8}", expand=False)
        adjusted = root.str.contains(r"[A-Z]\d+$", na=False).to_numpy()
        n_adjusted = int(adjusted.sum())
        df = df[~adjusted]
        root = root[~adjusted]
    df["expiry"] = pd.to_datetime(df["expiry"]).dt.normalize()
    df["expiry"], n_moved = _last_trading_day(df["expiry"])
    n_second_root = 0
    if "instrument_id" in df.columns:
        df, n_second_root = _one_root_per_expiry(df, root)
    df["right"] = df["right"].astype(str).str.upper().str[0]
    bad = ~df["right"].isin(["C", "P"])
    if bad.any():
        raise ValueError(f"row {df.index[bad][0]!r}: right must be 'C' or 'P', got {df.loc[bad, 'right'].iloc[0]!r}")
    # a crossed quote (bid > ask) is kept, left out of the fit and reported as inadmissible
    neg = (df["strike"] <= 0) | (df["bid"] < 0)
    if neg.any():
        i = df.index[neg][0]
        raise ValueError(f"row {i!r}: need strike > 0 and bid >= 0, got "
                         f"strike={df.at[i, 'strike']}, bid={df.at[i, 'bid']}, ask={df.at[i, 'ask']}")
    if spot is None and "underlying_price" in df.columns and df["underlying_price"].notna().any():
        spot = float(df["underlying_price"].dropna().iloc[0])
    expiries = pd.Series(df["expiry"].unique())
    years = expiry_years(expiries, as_of_ns)
    years.index = expiries
    # an expiry that cannot be used is dropped with its reason (df.attrs["dropped_expiries"]), not fatal
    dropped: dict[pd.Timestamp, str] = {
        e: f"T={t * 365:.2f} days is under min_T={min_T * 365:.2f} days" for e, t in years.items() if not t >= min_T}
    years = years[years >= min_T]
    df = df[df["expiry"].isin(years.index)]
    if df.empty:
        raise ValueError(f"no expiries at least {min_T * 365:.1f} days after as_of")
    forwards = forward_table(df, years, spot, rate, dropped)
    df = df[df["expiry"].isin(forwards.keys())]
    if df.empty:
        raise ValueError("no expiry has a forward: " + "; ".join(f"{e:%Y-%m-%d}: {r}" for e, r in dropped.items()))
    df["T"] = df["expiry"].map(years).astype(float)
    df["forward"] = df["expiry"].map({e: f.forward for e, f in forwards.items()}).astype(float)
    df["discount"] = df["expiry"].map({e: f.discount for e, f in forwards.items()}).astype(float)
    df["k"] = np.log(df["strike"] / df["forward"])
    df["mid"] = 0.5 * (df["bid"] + df["ask"])
    is_call = (df["right"] == "C").to_numpy()
    args = (df["forward"].to_numpy(float), df["strike"].to_numpy(float), df["T"].to_numpy(float),
            df["discount"].to_numpy(float), is_call)
    for side in ("bid", "mid", "ask"):
        vol, status = implied_vol_status(df[side].to_numpy(float), *args)
        df[f"iv_{side}"] = vol
        df[f"status_{side}"] = status
    df["otm"] = np.where(is_call, df["k"] >= 0, df["k"] < 0)
    # Black delta of the mid IV to flag where early exercise matters most (ITM American).
    from scipy.special import ndtr

    s = df["iv_mid"].to_numpy() * np.sqrt(df["T"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        d1 = -df["k"].to_numpy() / s + 0.5 * s
    delta = np.where(is_call, ndtr(d1), ndtr(d1) - 1.0)
    df["delta"] = delta
    df["deep_itm"] = ~df["otm"] & (np.abs(delta) > 0.85)
    df["min_tick_bid"] = df["bid"] <= min_tick + 1e-12
    df.loc[df["min_tick_bid"], "iv_bid"] = np.nan
    df["use"] = df["otm"] & (df["bid"] > 0) & (df["ask"] > df["bid"]) & np.isfinite(df["iv_mid"])
    df = df.sort_values(["expiry", "strike", "right"], kind="stable").reset_index(drop=True)
    df.attrs["dropped_expiries"] = dict(sorted(dropped.items()))
    df.attrs["min_tick"] = float(min_tick)
    df.attrs["adjusted_contracts"] = n_adjusted
    df.attrs["second_root_rows"] = n_second_root
    df.attrs["weekend_expiries_moved"] = n_moved
    # Lean drops open interest after a split (AAPL 2014-06-09): say so rather than show zeros as data
    df.attrs["open_interest_missing"] = bool("open_interest" in df.columns and len(df)
                                             and not (df["open_interest"].fillna(0) > 0).any())
    return df, forwards
