"""The demo market's listed options: which contracts exist, and their chain snapshots.

**Listing.** At each session the exchange lists the expiries ``expiry_days`` calendar days out: a
target under four weeks maps to the Friday on or after it (a weekly), a longer one to the third
Friday of its month or, if that has passed, of the next (a monthly); an expiry on a holiday moves
to the previous session (2024-03-29, Good Friday, becomes Thursday 03-28). Strikes cover
``moneyness`` x spot at the fine step inside ``fine_band`` and the next coarser step outside it
(1 and 2.5 for a $100 stock); when the stock moves, later sessions add strikes around the new spot.
A listed contract stays listed until it expires; a chain shows contracts expiring after its day.

**Pricing.** Each snapshot prices every live contract with Black-Scholes-Merton from the SSVI
surface (:mod:`workbench.ingest.synth_surface`), at the underlying's NBBO mid at the snapshot time,
``T = (expiry 16:00 ET - as_of) / 365 days``. The surface's ATM level follows the underlying's
stochastic-vol state: ``level = vol_mult ** (2 * vol_pass_through)``. :class:`TrueSurface` is
that exact generating surface, for checking recovered implied vols.

**Quotes.** Width ``max(0.05, f * P_otm + 0.06 * |delta|)`` where ``P_otm`` is the out-of-the-money
price at the strike (the same for call and put, so parity holds across the pair) and
``f = (4% + 6% * wing) * (1 + 0.5 exp(-T / 14d))`` widens deep wings and short expiries
(``wing = 1 - 4 N(d1) N(-d1)``: 0 at the money, 1 far out). Bid is rounded down and ask up to the
tick (0.01 below $3, 0.05 from $3), so the model price always lies inside ``[bid, ask]``; a bid
that would be <= 0 is a no-bid (``bid = 0, bid_size = 0``). The instruments are American, so an ask
is never below intrinsic value (this widens deep in-the-money long-dated puts, whose European
value is below intrinsic); fit vols to out-of-the-money quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.special import ndtr

from workbench.ingest.synth_surface import SSVI, bsm_greeks, bsm_price
from workbench.ingest.synth_underlying import NS, TZ, Sessions, UnderlyingTape
from workbench.store.calendars import calendar
from workbench.store.model import option_symbol

YEAR_NS = 365 * 86_400 * NS
STEPS_CENTS = (50, 100, 250, 500, 1000, 2500, 5000)


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """What is listed and how it is priced and quoted."""

    surface: SSVI = field(default_factory=SSVI)
    rate: float = 0.045
    dividend_yield: float = 0.012
    expiry_days: tuple[int, ...] = (7, 14, 21, 30, 60, 91, 182)
    moneyness: tuple[float, float] = (0.70, 1.30)
    fine_band: tuple[float, float] = (0.85, 1.15)
    snapshot_times: tuple[str, ...] = ("10:00", "15:30")
    vol_pass_through: float = 0.5
    open_interest_scale: float = 2000.0

    def __post_init__(self) -> None:
        if not self.expiry_days or min(self.expiry_days) < 1:
            raise ValueError(f"OptionSpec.expiry_days must be positive day counts, got {self.expiry_days}")
        lo, hi = self.moneyness
        if not 0.0 < lo < self.fine_band[0] <= 1.0 <= self.fine_band[1] < hi:
            raise ValueError(f"OptionSpec.moneyness {self.moneyness} must enclose fine_band {self.fine_band} "
                             "which must enclose 1.0")
        for t in self.snapshot_times:
            hh, mm = (int(p) for p in t.split(":"))
            if not (9, 31) <= (hh, mm) <= (15, 59):
                raise ValueError(f"OptionSpec.snapshot_times: {t!r} is outside the 09:31-15:59 ET session")
        if not 0.0 <= self.vol_pass_through <= 1.0:
            raise ValueError(f"OptionSpec.vol_pass_through must lie in [0, 1], got {self.vol_pass_through}")


@dataclass(frozen=True, slots=True)
class TrueSurface:
    """The smile that generated one chain snapshot: ``iv(strike, expiry)`` is the exact BSM vol of
    the model price, given ``spot`` (the snapshot's ``underlying_price``), ``rate`` and ``dividend_yield``."""

    ssvi: SSVI
    as_of: int
    spot: float
    rate: float
    dividend_yield: float

    def year_fraction(self, expiry) -> np.ndarray:
        return (expiry_close_ns(expiry) - self.as_of) / YEAR_NS

    def forward(self, expiry) -> np.ndarray:
        return self.spot * np.exp((self.rate - self.dividend_yield) * self.year_fraction(expiry))

    def total_variance(self, strike, expiry) -> np.ndarray:
        k = np.log(np.asarray(strike, dtype=float) / self.forward(expiry))
        return self.ssvi.total_variance(k, self.year_fraction(expiry))

    def iv(self, strike, expiry) -> np.ndarray:
        return np.sqrt(self.total_variance(strike, expiry) / self.year_fraction(expiry))

    def price(self, strike, expiry, right) -> np.ndarray:
        is_call = np.asarray(right) == "C"
        return bsm_price(self.spot, strike, self.year_fraction(expiry), self.rate, self.dividend_yield,
                         self.iv(strike, expiry), is_call)


def expiry_close_ns(expiry) -> np.ndarray:
    """16:00 ET on each expiry date, in UTC ns (dates, datetime64 or strings; scalar or array)."""
    idx = pd.DatetimeIndex(np.atleast_1d(np.asarray(expiry, dtype="datetime64[D]")))
    out = (idx + pd.Timedelta(hours=16)).tz_localize(TZ).tz_convert("UTC").as_unit("ns").asi8
    return out if np.ndim(expiry) else out[0]


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def listed_expiries(session: date, days: tuple[int, ...], calendar_name: str) -> list[date]:
    """The expiries the exchange lists on ``session`` (see the module docstring)."""
    cal = calendar(calendar_name)
    out = set()
    for n in days:
        target = session + timedelta(days=n)
        if n < 28:
            exp = target + timedelta(days=(4 - target.weekday()) % 7)
        else:
            exp = _third_friday(target.year, target.month)
            if exp < target:
                y, m = divmod(target.year * 12 + target.month, 12)
                exp = _third_friday(y, m + 1)
        if not cal.is_session(pd.Timestamp(exp)):
            exp = cal.date_to_session(pd.Timestamp(exp), direction="previous").date()
        if exp > session:
            out.add(exp)
    return sorted(out)


def strike_grid(spot: float, spec: OptionSpec) -> np.ndarray:
    """Strikes in cents: the fine step (the largest standard step <= 1.5% of spot: 1 for a $100 stock,
    0.5 at $60, 2.5 at $200) inside ``fine_band``, the next standard step outside it."""
    i = int(np.searchsorted(STEPS_CENTS, 1.5 * spot, side="right")) - 1  # 1.5% of spot, in cents
    i = min(max(i, 0), len(STEPS_CENTS) - 2)
    fine, coarse = STEPS_CENTS[i], STEPS_CENTS[i + 1]
    cents = spot * 100.0
    lo, hi = spec.moneyness
    flo, fhi = spec.fine_band
    inner = np.arange(np.ceil(flo * cents / fine), np.floor(fhi * cents / fine) + 1) * fine
    outer = np.arange(np.round(lo * cents / coarse), np.round(hi * cents / coarse) + 1) * coarse
    outer = outer[(outer < flo * cents) | (outer > fhi * cents)]
    return np.unique(np.r_[inner, outer]).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Listing:
    """Every contract listed during the run, sorted by (expiry, strike, right)."""

    expiry: np.ndarray  # datetime64[D]
    strike_cents: np.ndarray
    right: np.ndarray  # "C" / "P"
    listed_session: np.ndarray
    instrument_id: np.ndarray

    def __len__(self) -> int:
        return len(self.expiry)


def list_contracts(spec: OptionSpec, symbol: str, venue: str, sessions: Sessions, calendar_name: str,
                   spots: np.ndarray) -> Listing:
    """Contracts listed on each session around that session's spot (``spots[i]``)."""
    first_seen: dict[tuple[date, int], int] = {}
    alive: set[date] = set()
    for i, day in enumerate(sessions.dates):
        alive = {e for e in alive if e > day} | set(listed_expiries(day, spec.expiry_days, calendar_name))
        grid = strike_grid(float(spots[i]), spec)
        for e in sorted(alive):
            for k in grid:
                first_seen.setdefault((e, int(k)), i)
    keys = sorted(first_seen)
    expiry = np.repeat(np.array([e for e, _ in keys], dtype="datetime64[D]"), 2)
    strike = np.repeat(np.array([k for _, k in keys], dtype=np.int64), 2)
    right = np.tile(np.array(["C", "P"]), len(keys))
    listed = np.repeat(np.array([first_seen[k] for k in keys], dtype=np.int64), 2)
    ids = np.array([f"{option_symbol(symbol, e.astype(date), r, int(k) / 100)}.{venue}"
                    for e, k, r in zip(expiry, strike, right, strict=True)], dtype=object)
    return Listing(expiry, strike, right, listed, ids)


def snapshot_plan(sessions: Sessions, times: tuple[str, ...]) -> list[tuple[int, int]]:
    """``(session index, as_of ns)`` per snapshot; a time at or after an early close moves to close - 30 min."""
    plan = set()
    for i, day in enumerate(sessions.dates):
        for t in times:
            ns = pd.Timestamp(f"{day} {t}").tz_localize(TZ).tz_convert("UTC").value
            if ns >= sessions.closes[i]:
                ns = int(sessions.closes[i]) - 30 * 60 * NS
            plan.add((i, int(ns)))
    return sorted(plan)


def _ticks(price: np.ndarray, up: bool) -> np.ndarray:
    """Integer cents on the quoting grid: 1 cent below $3, 5 cents from $3; rounded away from the mid."""
    cents = np.ceil(price * 100.0) if up else np.floor(price * 100.0)
    nickel = (np.ceil(cents / 5.0) if up else np.floor(cents / 5.0)) * 5.0
    return np.where(cents >= 300, nickel, cents).astype(np.int64)


@dataclass
class ChainState:
    """Open interest and today's volume per listed contract, carried from snapshot to snapshot
    (open interest is -1 until the contract is listed)."""

    open_interest: np.ndarray
    day_volume: np.ndarray
    cum_volume: np.ndarray
    session: int = -1
    done_frac: float = 0.0

    @classmethod
    def empty(cls, n_contracts: int) -> ChainState:
        return cls(np.full(n_contracts, -1.0), np.zeros(n_contracts, np.int64), np.zeros(n_contracts, np.int64))


def price_chain(spec: OptionSpec, listing: Listing, tape: UnderlyingTape, session: int, as_of: int,
                state: ChainState, rng: np.random.Generator) -> tuple[TrueSurface, pd.DataFrame, np.ndarray]:
    """One chain snapshot: its true surface, the chain frame (store layout) and the live-contract mask."""
    day = np.datetime64(tape.sessions.dates[session], "D")
    live = (listing.listed_session <= session) & (listing.expiry > day)
    spot = float(tape.mid_at(np.array([as_of]))[0])
    level = float(tape.vol_mult_at(np.array([as_of]))[0]) ** (2.0 * spec.vol_pass_through)
    surf = TrueSurface(spec.surface.scaled(level), as_of, spot, spec.rate, spec.dividend_yield)

    expiry, strike = listing.expiry[live], listing.strike_cents[live] / 100.0
    is_call = listing.right[live] == "C"
    T = surf.year_fraction(expiry)
    fwd = surf.forward(expiry)
    w = surf.ssvi.total_variance(np.log(strike / fwd), T)
    sigma = np.sqrt(w / T)
    call = bsm_price(spot, strike, T, spec.rate, spec.dividend_yield, sigma, True)
    put = bsm_price(spot, strike, T, spec.rate, spec.dividend_yield, sigma, False)
    model = np.where(is_call, call, put)
    greeks = bsm_greeks(spot, strike, T, spec.rate, spec.dividend_yield, sigma, is_call)

    nd1 = ndtr(-np.log(strike / fwd) / np.sqrt(w) + 0.5 * np.sqrt(w))
    wing = 1.0 - 4.0 * nd1 * (1.0 - nd1)
    frac = (0.04 + 0.06 * wing) * (1.0 + 0.5 * np.exp(-T * 365.0 / 14.0))
    width = np.maximum(0.05, frac * np.minimum(call, put) + 0.06 * np.abs(greeks["delta"]))
    bid_c = _ticks(model - width / 2.0, up=False)
    ask_c = _ticks(model + width / 2.0, up=True)
    intrinsic = np.maximum(np.where(is_call, spot - strike, strike - spot), 0.0)
    ask_c = np.maximum(ask_c, _ticks(intrinsic, up=True))
    no_bid = bid_c <= 0
    bid_c = np.where(no_bid, 0, bid_c)

    n = int(live.sum())
    depth = 10.0 + 190.0 * (1.0 - wing)
    bid_size = np.where(no_bid, 0.0, np.maximum(1.0, np.round(depth * rng.lognormal(0.0, 0.5, n))))
    ask_size = np.maximum(1.0, np.round(depth * rng.lognormal(0.0, 0.5, n)))
    volume, oi = _activity(spec, listing, tape, session, as_of, live, wing, T, state, rng)
    traded = volume > 0
    last_c = bid_c + np.floor(rng.random(n) * (ask_c - bid_c + 1))
    last = np.where(traded, np.maximum(last_c, 1) / 100.0, np.nan)

    frame = pd.DataFrame({
        "instrument_id": listing.instrument_id[live], "expiry": expiry.astype(object),
        "strike": strike, "right": listing.right[live], "bid": bid_c / 100.0, "ask": ask_c / 100.0,
        "bid_size": bid_size, "ask_size": ask_size, "last": last, "volume": volume, "open_interest": oi,
        "iv": sigma, **greeks, "forward": fwd,
    })
    return surf, frame, live


def _activity(spec: OptionSpec, listing: Listing, tape: UnderlyingTape, session: int, as_of: int,
              live: np.ndarray, wing: np.ndarray, T: np.ndarray, state: ChainState,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative volume so far today and open interest (as of the session open) for live contracts.

    Open interest is drawn at listing (largest for monthlies) and moves each night by the net of
    opening and closing trades; a day's volume is ~8% of open interest (less in the wings) plus
    near-the-money short-dated interest, and a snapshot shows the share of it traded so far, taken
    from the underlying's own trade count so it follows the same U-shaped day.
    """
    if session != state.session:
        if state.session >= 0:  # overnight: yesterday's trades open and close positions
            v = state.day_volume.astype(np.int64)
            drawn = state.open_interest >= 0
            net = rng.binomial(v, 0.55) - rng.binomial(v, 0.45)
            state.open_interest = np.where(drawn, np.maximum(0.0, state.open_interest + net), -1.0)
        new = listing.listed_session == session
        if new.any():
            exp = listing.expiry[new].astype(object)
            monthly = np.array([15 <= d.day <= 21 and d.weekday() == 4 for d in exp])
            base = spec.open_interest_scale * (0.3 + 0.7 * monthly)
            state.open_interest[new] = np.round(base * rng.lognormal(0.0, 0.7, int(new.sum())))
        lam = 0.08 * state.open_interest[live] * (1.0 - 0.95 * wing) + 40.0 * np.exp(-T * 4.0) * (1.0 - wing)
        state.day_volume = np.zeros_like(state.day_volume)
        state.day_volume[live] = rng.poisson(lam)
        state.cum_volume = np.zeros_like(state.cum_volume)
        state.session, state.done_frac = session, 0.0
    oi = state.open_interest[live]
    sess = tape.sessions
    day_trades = tape.trade_ts[(tape.trade_ts >= sess.opens[session]) & (tape.trade_ts < sess.closes[session])]
    frac = float(np.searchsorted(day_trades, as_of, side="right") / max(len(day_trades), 1))
    remaining = (state.day_volume[live] - state.cum_volume[live]).astype(np.int64)
    p = (frac - state.done_frac) / (1.0 - state.done_frac) if state.done_frac < 1.0 else 0.0
    state.cum_volume[live] += rng.binomial(remaining, min(max(p, 0.0), 1.0))
    state.done_frac = frac
    return state.cum_volume[live].astype(float), oi
