"""A deterministic, seeded market: the embedded default behind ``make demo``.

>>> from workbench.store import Store
>>> from workbench.ingest.generator import MarketConfig, generate_market
>>> store = Store.open(":memory:")
>>> market = generate_market(store, MarketConfig(seed=7))
>>> print(market.summary())                                  # doctest: +SKIP
>>> chain = store.read_chain(market.underlying_id)           # latest snapshot
>>> market.true_surface().iv(chain.strike, chain.expiry)     # the smile that priced it

One equity (``DEMO.XNAS``) trades over ``n_sessions`` real XNYS sessions (regular hours, half days
respected): ~13k NBBO updates and ~4.7k trades a session with U-shaped activity, stochastic
volatility and open/close spread widening (:mod:`workbench.ingest.synth_underlying`); 1-minute and
daily TRADE bars are aggregated from those trades. Options over at least six weekly and monthly
expiries are listed around the spot and priced twice a session (10:00 and 15:30 ET) from an
arbitrage-free SSVI smile with Black-Scholes-Merton (:mod:`workbench.ingest.synth_surface`,
:mod:`workbench.ingest.synth_options`); each snapshot is stored as a chain and, per contract, as a
quote at the snapshot time so a backtest can trade the options.

Determinism: every random draw comes from ``numpy.random.default_rng`` streams spawned from
``config.seed`` (one for the underlying, one for the options, so changing option settings does not
move the stock path); the same config writes bit-identical rows. Everything is written in one
ingest batch: a failure leaves the store as it was, and re-running the same config changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from workbench.ingest.synth_options import (
    ChainState,
    Listing,
    OptionSpec,
    TrueSurface,
    list_contracts,
    price_chain,
    snapshot_plan,
)
from workbench.ingest.synth_underlying import Sessions, UnderlyingSpec, UnderlyingTape, simulate_underlying
from workbench.store import Instrument, to_ns

__all__ = ["GeneratedMarket", "MarketConfig", "OptionSpec", "TrueSurface", "UnderlyingSpec", "generate_market"]


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """Everything that determines the generated market; equal configs give identical stores.

    ``start`` may be any date: the first session is the first calendar session on or after it.
    Tune the stock with ``underlying=UnderlyingSpec(...)`` and the options with
    ``options=OptionSpec(...)`` (surface, rates, expiries, strikes, snapshot times).
    """

    seed: int = 7
    symbol: str = "DEMO"
    venue: str = "XNAS"
    calendar: str = "XNYS"
    start: date = date(2024, 3, 4)
    n_sessions: int = 5
    underlying: UnderlyingSpec = field(default_factory=UnderlyingSpec)
    options: OptionSpec = field(default_factory=OptionSpec)
    source: str = "generator"

    def __post_init__(self) -> None:
        if isinstance(self.start, str):
            object.__setattr__(self, "start", date.fromisoformat(self.start))
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"MarketConfig.seed must be a non-negative int, got {self.seed!r}")
        if not re.fullmatch(r"[A-Z]{1,6}", self.symbol):
            raise ValueError(f"MarketConfig.symbol must be 1-6 capital letters (an OCC root), got {self.symbol!r}")
        if not 1 <= self.n_sessions <= 260:
            raise ValueError(f"MarketConfig.n_sessions must lie in [1, 260], got {self.n_sessions}")
        if not isinstance(self.start, date):
            raise ValueError(f"MarketConfig.start must be a date or ISO string, got {self.start!r}")

    @property
    def underlying_id(self) -> str:
        return f"{self.symbol}.{self.venue}"


@dataclass(frozen=True)
class GeneratedMarket:
    """What :func:`generate_market` wrote, and the exact surfaces that priced the options.

    ``session_bounds`` holds each session's regular ``(open, close)`` in UTC ns, from the calendar.
    ``surfaces`` maps each snapshot time (UTC ns) to its :class:`TrueSurface`; the stored chain's
    ``underlying_price`` equals that surface's ``spot``, and ``r``/``q`` are ``config.options.rate`` /
    ``dividend_yield`` (continuous), ``T = (expiry 16:00 ET - as_of) / 365 days``.
    """

    config: MarketConfig
    underlying_id: str
    option_ids: tuple[str, ...]
    sessions: tuple[date, ...]
    session_bounds: tuple[tuple[int, int], ...]
    snapshots: tuple[int, ...]
    expiries: tuple[date, ...]
    surfaces: Mapping[int, TrueSurface]
    written: pd.DataFrame
    minute_bars: pd.DataFrame

    def true_surface(self, as_of: Any = None) -> TrueSurface:
        """The generating surface of the snapshot at ``as_of`` or the latest before it (latest if None),
        with the same lookup rule as ``Store.read_chain``; naive times are UTC."""
        if as_of is None:
            return self.surfaces[self.snapshots[-1]]
        ns = to_ns(as_of)
        i = int(np.searchsorted(self.snapshots, ns, side="right")) - 1
        if i < 0:
            raise LookupError(f"no chain snapshot at or before {as_of}; the first is "
                              f"{pd.Timestamp(self.snapshots[0], unit='ns', tz='UTC')}")
        return self.surfaces[self.snapshots[i]]

    def to_frame(self) -> pd.DataFrame:
        """One row per (table, asset class): instruments, rows and the UTC time range written."""
        return self.written.copy()

    def summary(self) -> str:
        cfg, w = self.config, self.written.set_index(["table", "asset_class"])
        half = [d for d, (o, c) in zip(self.sessions, self.session_bounds, strict=True) if c - o < 23_400 * 10**9]
        close = self.minute_bars["close"].to_numpy()
        rv = np.std(np.diff(np.log(close))) * np.sqrt(252 * 390)
        s = cfg.options.surface
        lines = [
            f"Generated market {self.underlying_id}  (seed {cfg.seed}, source {cfg.source!r})",
            f"sessions   {len(self.sessions)}: {self.sessions[0]} .. {self.sessions[-1]} ({cfg.calendar}; "
            f"half days: {', '.join(map(str, half)) or 'none'})",
            f"underlying {int(w.loc[('quotes', 'EQUITY'), 'rows']):,} quotes, {int(w.loc[('trades', 'EQUITY'), 'rows']):,}"
            f" trades, {int(w.loc[('bars_1min', 'EQUITY'), 'rows']):,} 1-min bars; close {close[0]:.2f} -> "
            f"{close[-1]:.2f}, realised vol {rv:.1%}",
            f"options    {len(self.option_ids):,} contracts over {len(self.expiries)} expiries "
            f"({self.expiries[0]} .. {self.expiries[-1]}); {len(self.snapshots)} snapshots, "
            f"{int(w.loc[('chain_rows', 'OPTION'), 'rows']):,} chain rows and option quotes",
            f"surface    SSVI rho={s.rho:.2f} eta={s.eta:.2f} gamma={s.gamma:.2f} sigma_0={s.sigma_0:.2f} "
            f"sigma_inf={s.sigma_inf:.2f}; r={cfg.options.rate:.2%} q={cfg.options.dividend_yield:.2%}",
        ]
        return "\n".join(lines)

    def plot(self):
        """Underlying 1-minute closes with the snapshot times, and the first/last snapshot smiles."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4],
                            subplot_titles=(f"{self.underlying_id} 1-min close", "generating smile (IV)"))
        bars = self.minute_bars
        t = pd.to_datetime(bars["ts_event"], unit="ns", utc=True).dt.tz_convert("America/New_York")
        fig.add_trace(go.Scattergl(x=t, y=bars["close"], mode="lines", name="close"), row=1, col=1)
        snaps = [self.surfaces[s] for s in self.snapshots]
        fig.add_trace(go.Scatter(x=pd.to_datetime([s.as_of for s in snaps], unit="ns", utc=True)
                                 .tz_convert("America/New_York"), y=[s.spot for s in snaps],
                                 mode="markers", name="chain snapshots"), row=1, col=1)
        surf = snaps[0]
        strikes = np.linspace(0.75, 1.25, 101) * surf.spot
        for e in self.expiries:
            if surf.year_fraction(np.datetime64(e, "D")) > 0:
                fig.add_trace(go.Scatter(x=strikes, y=surf.iv(strikes, np.full(len(strikes), e, "datetime64[D]")),
                                         mode="lines", name=str(e)), row=1, col=2)
        fig.update_layout(template="plotly_white", height=420, legend_title_text="")
        return fig


def generate_market(store: Any, config: MarketConfig | None = None) -> GeneratedMarket:
    """Simulate the market described by ``config`` and write it into ``store`` in one ingest batch.

    Writes the equity and option instruments, the equity's quotes, trades and 1-minute/daily TRADE
    bars, one chain snapshot per snapshot time (``store.write_chain(underlying_id, ...)``) and each
    option's quote at every snapshot. Returns a :class:`GeneratedMarket` describing it.
    """
    config = config or MarketConfig()
    rng_underlying, rng_options = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2))
    sessions = Sessions.from_calendar(config.calendar, config.start, config.n_sessions)
    tape = simulate_underlying(config.underlying, sessions, rng_underlying)

    spec = config.options
    plan = snapshot_plan(sessions, spec.snapshot_times)
    first_snap = {}
    for i, ns in plan:
        first_snap.setdefault(i, ns)
    spots = tape.mid_at(np.array([first_snap[i] for i in range(len(sessions.dates))]))
    listing = list_contracts(spec, config.symbol, config.venue, sessions, config.calendar, spots)
    state = ChainState.empty(len(listing))
    chains = [(ns, *price_chain(spec, listing, tape, i, ns, state, rng_options)) for i, ns in plan]

    with store.ingest(source=config.source):
        store.upsert_instruments(_instruments(config, listing))
        uid = config.underlying_id
        store.write_quotes(uid, tape.quotes(), source=config.source)
        store.write_trades(uid, tape.trades(), source=config.source)
        minute_bars, daily_bars = tape.bars("1min"), tape.bars("1d")
        store.write_bars(uid, "1min", minute_bars, source=config.source)
        store.write_bars(uid, "1d", daily_bars, source=config.source)
        for ns, surf, frame, _ in chains:
            store.write_chain(uid, ns, surf.spot, frame, source=config.source)
        option_quotes = _option_quotes(chains)
        _write_quotes_by_instrument(store, option_quotes, config.source)

    return GeneratedMarket(
        config=config, underlying_id=config.underlying_id, option_ids=tuple(listing.instrument_id),
        sessions=sessions.dates,
        session_bounds=tuple((int(o), int(c)) for o, c in zip(sessions.opens, sessions.closes, strict=True)),
        snapshots=tuple(ns for ns, *_ in chains),
        expiries=tuple(sorted(set(listing.expiry.astype(object)))), surfaces={ns: s for ns, s, *_ in chains},
        written=_written(tape, minute_bars, daily_bars, chains, option_quotes, len(listing)), minute_bars=minute_bars,
    )


def _instruments(config: MarketConfig, listing: Listing) -> list[Instrument]:
    out = [Instrument.equity(config.symbol, config.venue, source=config.source)]
    for e, k, r in zip(listing.expiry.astype(object), listing.strike_cents, listing.right, strict=True):
        out.append(Instrument.option(config.symbol, config.underlying_id, e, str(r), Decimal(int(k)) / 100,
                                     venue=config.venue, source=config.source))
    return out


def _option_quotes(chains: list) -> pd.DataFrame:
    """Every contract's NBBO at each snapshot, as rows of the quotes table."""
    frames = [f[["instrument_id", "bid", "ask", "bid_size", "ask_size"]].assign(ts_event=np.int64(ns))
              for ns, _, f, _ in chains]
    out = pd.concat(frames, ignore_index=True).sort_values(["instrument_id", "ts_event"], kind="stable")
    return out[["instrument_id", "ts_event", "bid", "ask", "bid_size", "ask_size"]].reset_index(drop=True)


def _write_quotes_by_instrument(store: Any, quotes: pd.DataFrame, source: str) -> None:
    """Option quotes of all contracts in one merge (one call per contract costs ~15 ms each)."""
    store.write_many("quotes", quotes, source=source)


def _written(tape: UnderlyingTape, minute_bars: pd.DataFrame, daily_bars: pd.DataFrame, chains: list,
             option_quotes: pd.DataFrame, n_options: int) -> pd.DataFrame:
    def row(table: str, asset_class: str, instruments: int, ts: np.ndarray) -> dict:
        return {"table": table, "asset_class": asset_class, "instruments": instruments, "rows": len(ts),
                "first": pd.Timestamp(int(ts.min()), unit="ns", tz="UTC"),
                "last": pd.Timestamp(int(ts.max()), unit="ns", tz="UTC")}

    snaps = np.array([ns for ns, *_ in chains], dtype=np.int64)
    chain_ts = np.repeat(snaps, [len(f) for _, _, f, _ in chains])
    return pd.DataFrame([
        row("quotes", "EQUITY", 1, tape.quote_ts),
        row("trades", "EQUITY", 1, tape.trade_ts),
        row("bars_1min", "EQUITY", 1, minute_bars["ts_event"].to_numpy()),
        row("bars_1d", "EQUITY", 1, daily_bars["ts_event"].to_numpy()),
        row("chain_snapshots", "OPTION", n_options, snaps),
        row("chain_rows", "OPTION", option_quotes["instrument_id"].nunique(), chain_ts),
        row("quotes", "OPTION", option_quotes["instrument_id"].nunique(), option_quotes["ts_event"].to_numpy()),
    ])
