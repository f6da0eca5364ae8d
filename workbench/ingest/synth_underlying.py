"""The demo market's underlying: an NBBO quote tape, trades at the touch, and bars built from them.

The model, in the order it is simulated (everything vectorised over all sessions at once):

1. **Sessions** come from the real exchange calendar (``exchange_calendars``), regular hours only, so
   holidays are absent and half days close early (e.g. 2024-11-29 at 13:00 ET).
2. **Activity** follows a U shape over the session, ``u(x) ∝ 1 + A (e^{-x/τ} + 0.6 e^{-(1-x)/τ})``
   (``x`` = elapsed fraction of the session), normalised to mean 1. Quote updates and trades are
   Poisson with intensity ``u(x) / mean_interval``.
3. **Volatility** is stochastic: a log-vol ``h`` follows an AR(1) on a one-minute grid whose shocks
   are correlated with the previous minute's return (``leverage < 0``: falls raise vol), giving
   GARCH-like clustering. Local variance per second is ``sigma_s**2 * u(x) * exp(2h - 2 vov**2)``
   (variance follows activity; ``E[exp(2h - 2 vov**2)] = 1`` keeps the annual vol on target). A share
   ``1 - intraday_var_frac`` of the daily variance is an overnight gap at each open.
4. **Quotes** sit around the efficient price on the 0.01 grid: ``spread = 1 + min(Poisson(λ(x)), 7)``
   ticks with ``λ`` ~0.35 mid-day, ~3 at the open and ~1 at the close; sizes are round lots of
   100-2000 shares.
5. **Trades** hit the prevailing bid or lift the ask (even odds), for at most the displayed size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from workbench.store.calendars import calendar

NS = 1_000_000_000
MINUTE_NS = 60 * NS
TZ = "America/New_York"
REGULAR_SESSION_S = 23_400  # 09:30-16:00: the unit the annual vol is spread over


@dataclass(frozen=True, slots=True)
class UnderlyingSpec:
    """How the underlying trades. Intervals are session averages; the U shape redistributes them."""

    spot0: float = 100.0
    annual_vol: float = 0.22
    quote_interval_s: float = 1.8
    trade_interval_s: float = 5.0
    intraday_var_frac: float = 0.8
    vol_of_vol: float = 0.3
    vol_halflife_min: float = 390.0
    leverage: float = -0.5
    activity_boost: float = 2.5

    def __post_init__(self) -> None:
        checks = {
            "spot0": self.spot0 > 0.05, "annual_vol": 0.0 < self.annual_vol < 2.0,
            "quote_interval_s": self.quote_interval_s >= 0.05, "trade_interval_s": self.trade_interval_s >= 0.05,
            "intraday_var_frac": 0.0 < self.intraday_var_frac <= 1.0, "vol_of_vol": 0.0 <= self.vol_of_vol < 1.5,
            "vol_halflife_min": self.vol_halflife_min > 0.0, "leverage": -1.0 < self.leverage < 1.0,
            "activity_boost": self.activity_boost >= 0.0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"UnderlyingSpec: out-of-range value for {', '.join(bad)} "
                             f"({', '.join(f'{b}={getattr(self, b)!r}' for b in bad)})")


@dataclass(frozen=True, slots=True)
class Sessions:
    """Regular sessions: dates and UTC-ns open/close, from the exchange calendar."""

    dates: tuple[date, ...]
    opens: np.ndarray
    closes: np.ndarray

    @classmethod
    def from_calendar(cls, calendar_name: str, start: date, n_sessions: int) -> Sessions:
        sched = calendar(calendar_name).schedule.loc[pd.Timestamp(start):]
        if len(sched) < n_sessions:
            raise ValueError(f"calendar {calendar_name} has only {len(sched)} sessions from {start}; "
                             f"n_sessions={n_sessions}")
        sched = sched.iloc[:n_sessions]
        opens = sched["open"].values.astype("datetime64[ns]").astype(np.int64)
        closes = sched["close"].values.astype("datetime64[ns]").astype(np.int64)
        return cls(tuple(d.date() for d in sched.index), opens, closes)

    def index_of(self, ts: np.ndarray) -> np.ndarray:
        """Session index of each timestamp (the last session opened at or before it)."""
        return np.searchsorted(self.opens, ts, side="right") - 1

    def midnight_ns(self) -> np.ndarray:
        """Local midnight of each session date in UTC ns: the stamp of daily bars."""
        local = pd.DatetimeIndex([pd.Timestamp(d) for d in self.dates]).tz_localize(TZ)
        return local.tz_convert("UTC").as_unit("ns").asi8.copy()


@dataclass(frozen=True, slots=True)
class UnderlyingTape:
    """Everything the underlying did: quotes, trades and the per-minute vol multiplier."""

    sessions: Sessions
    quote_ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    trade_ts: np.ndarray
    trade_price: np.ndarray
    trade_size: np.ndarray
    minute_ts: np.ndarray
    vol_mult: np.ndarray

    def quotes(self) -> pd.DataFrame:
        return pd.DataFrame({"ts_event": self.quote_ts, "bid": self.bid, "ask": self.ask,
                             "bid_size": self.bid_size, "ask_size": self.ask_size})

    def trades(self) -> pd.DataFrame:
        return pd.DataFrame({"ts_event": self.trade_ts, "price": self.trade_price, "size": self.trade_size})

    def mid_at(self, ts: np.ndarray) -> np.ndarray:
        """Mid of the quote prevailing at each ``ts`` (the last update at or before it)."""
        i = np.searchsorted(self.quote_ts, np.asarray(ts, dtype=np.int64), side="right") - 1
        if np.any(i < 0):
            raise ValueError("mid_at: a timestamp precedes the first quote")
        return 0.5 * (self.bid[i] + self.ask[i])

    def vol_mult_at(self, ts: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.minute_ts, np.asarray(ts, dtype=np.int64), side="right") - 1
        return self.vol_mult[np.clip(i, 0, len(self.vol_mult) - 1)]

    def bars(self, bar_size: str) -> pd.DataFrame:
        """OHLCV from the trades: ``"1min"`` stamped at the minute's open, ``"1d"`` at local midnight."""
        ts, px, sz = self.trade_ts, self.trade_price, self.trade_size
        sess = self.sessions.index_of(ts)
        if bar_size == "1min":
            opens = self.sessions.opens[sess]
            key = opens + (ts - opens) // MINUTE_NS * MINUTE_NS
        elif bar_size == "1d":
            key = self.sessions.midnight_ns()[sess]
        else:
            raise ValueError(f"bar_size {bar_size!r}: the generator builds '1min' and '1d'")
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], len(ts)] - 1
        return pd.DataFrame({
            "ts_event": key[starts], "open": px[starts], "high": np.maximum.reduceat(px, starts),
            "low": np.minimum.reduceat(px, starts), "close": px[ends], "volume": np.add.reduceat(sz, starts),
        })


def activity(x: np.ndarray, boost: float) -> np.ndarray:
    """Unnormalised U-shaped intensity over the elapsed session fraction ``x`` in [0, 1]."""
    tau = 0.06
    return 1.0 + boost * (np.exp(-x / tau) + 0.6 * np.exp(-(1.0 - x) / tau))


def _event_times(sessions: Sessions, interval_s: float, boost: float, rng: np.random.Generator,
                 with_open: bool) -> np.ndarray:
    """Poisson event times (UTC ns, µs resolution, unique, sorted) with U-shaped intensity."""
    chunks = []
    for o, c in zip(sessions.opens, sessions.closes, strict=True):
        n_sec = int((c - o) // NS)
        u = activity((np.arange(n_sec) + 0.5) / n_sec, boost)
        counts = rng.poisson(u / u.mean() / interval_s)
        sec = np.repeat(np.arange(n_sec, dtype=np.int64), counts)
        micros = (rng.random(len(sec)) * 1_000_000).astype(np.int64)
        chunks.append(o + sec * NS + micros * 1000)
        if with_open:
            chunks.append(np.array([o], dtype=np.int64))
    return np.unique(np.concatenate(chunks))


def simulate_underlying(spec: UnderlyingSpec, sessions: Sessions, rng: np.random.Generator) -> UnderlyingTape:
    """Simulate the quote and trade tape over ``sessions`` (see the module docstring for the model)."""
    qt = _event_times(sessions, spec.quote_interval_s, spec.activity_boost, rng, with_open=True)
    sess = sessions.index_of(qt)
    opens, closes = sessions.opens[sess], sessions.closes[sess]
    x = (qt - opens) / (closes - opens)

    # one-minute grid per session; minute ids are global so the vol state carries across sessions
    n_min = -(-(sessions.closes - sessions.opens) // MINUTE_NS)
    min_offset = np.r_[0, np.cumsum(n_min)[:-1]]
    minute_id = min_offset[sess] + (qt - opens) // MINUTE_NS
    minute_ts = np.concatenate([o + np.arange(n) * MINUTE_NS for o, n in zip(sessions.opens, n_min, strict=True)])

    first = np.r_[True, sess[1:] != sess[:-1]]
    dt = np.where(first, 0.0, np.diff(qt, prepend=qt[0]) / NS)
    z = rng.standard_normal(len(qt))

    # log-vol AR(1): each minute's shock leans on the previous minute's standardised return
    zmin = np.bincount(minute_id, weights=z * np.sqrt(dt), minlength=len(minute_ts)) / np.sqrt(60.0)
    a = 0.5 ** (1.0 / spec.vol_halflife_min)
    b = spec.vol_of_vol * np.sqrt(1.0 - a * a)
    lev = spec.leverage
    shocks = lev * np.r_[0.0, zmin[:-1]] + np.sqrt(1.0 - lev * lev) * rng.standard_normal(len(minute_ts))
    h0 = spec.vol_of_vol * rng.standard_normal()
    h = lfilter([b], [1.0, -a], shocks, zi=[a * h0])[0]
    vol_mult = np.exp(h - spec.vol_of_vol**2)

    # per-second variance such that a full regular session carries intraday_var_frac of a day's variance
    var_s = spec.annual_vol**2 * spec.intraday_var_frac / (252.0 * REGULAR_SESSION_S)
    u = activity(x, spec.activity_boost)
    u_mean = activity((np.arange(2000) + 0.5) / 2000, spec.activity_boost).mean()
    local_var = var_s * (u / u_mean) * vol_mult[minute_id] ** 2 * dt
    ret = np.sqrt(local_var) * z - 0.5 * local_var
    gap_var = spec.annual_vol**2 * (1.0 - spec.intraday_var_frac) / 252.0 * vol_mult[minute_id] ** 2
    gap = first & (sess > 0)
    ret = ret + np.where(gap, np.sqrt(gap_var) * rng.standard_normal(len(qt)) - 0.5 * gap_var, 0.0)
    price = spec.spot0 * np.exp(np.cumsum(ret))

    # quotes on the 0.01 grid, integer cents so prices are exact decimals
    lam = 0.35 + 3.0 * np.exp(-x / 0.015) + 0.8 * np.exp(-(1.0 - x) / 0.015)
    spread = 1 + np.minimum(rng.poisson(lam), 7)
    bid_c = np.floor(price * 100.0 - spread / 2.0 + 0.5).astype(np.int64)
    bid_c = np.maximum(bid_c, 1)
    ask_c = bid_c + spread
    bid_lots = np.minimum(rng.geometric(0.3, len(qt)), 20)
    ask_lots = np.minimum(rng.geometric(0.3, len(qt)), 20)

    # trades at the touch of the prevailing quote
    tt = _event_times(sessions, spec.trade_interval_s, spec.activity_boost, rng, with_open=False)
    qi = np.searchsorted(qt, tt, side="right") - 1
    buy = rng.random(len(tt)) < 0.5
    t_price = np.where(buy, ask_c[qi], bid_c[qi]) / 100.0
    t_lots = np.minimum(rng.geometric(0.45, len(tt)), np.where(buy, ask_lots[qi], bid_lots[qi]))

    return UnderlyingTape(
        sessions=sessions, quote_ts=qt, bid=bid_c / 100.0, ask=ask_c / 100.0,
        bid_size=(bid_lots * 100).astype(float), ask_size=(ask_lots * 100).astype(float),
        trade_ts=tt, trade_price=t_price, trade_size=(t_lots * 100).astype(float),
        minute_ts=minute_ts, vol_mult=vol_mult,
    )
