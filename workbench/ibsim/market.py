"""Where the simulator's prices come from.

:class:`MarketSource` is the small interface the gateway needs: top-of-book quotes, trades and
bars for an instrument over a time window (UTC ns, half-open ``[start, end)``).  Two
implementations:

* :class:`MemorySource` — arrays held in memory; :func:`synthetic_session` fills one with a
  seeded random walk so tests and benchmarks run without a store.
* :class:`StoreSource` — reads the workbench DuckDB store through its public contract
  (``read_quotes`` / ``read_trades`` / ``read_bars`` / ``read_chain``).

Quotes are returned as a :class:`Quotes` bundle of numpy arrays sorted by time; when a window has
no quotes but has 1-minute trade bars, :class:`StoreSource` derives one quote per bar (close ±
half a tick) so replay and order matching still have a book to trade against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

NS = 1_000_000_000


@dataclass(frozen=True)
class Quotes:
    ts: np.ndarray  # int64 UTC ns
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def window(self, start_ns: int, end_ns: int) -> Quotes:
        i, j = np.searchsorted(self.ts, [start_ns, end_ns], side="left")
        return Quotes(self.ts[i:j], self.bid[i:j], self.ask[i:j], self.bid_size[i:j], self.ask_size[i:j])

    @staticmethod
    def empty() -> Quotes:
        z = np.array([], dtype=np.int64)
        f = np.array([], dtype=float)
        return Quotes(z, f, f, f, f)


@dataclass(frozen=True)
class Bars:
    ts: np.ndarray  # bar open time, int64 UTC ns
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @staticmethod
    def empty() -> Bars:
        z = np.array([], dtype=np.int64)
        f = np.array([], dtype=float)
        return Bars(z, f, f, f, f, f)


class MarketSource(Protocol):
    """What the gateway asks of a market-data source."""

    def quotes(self, instrument_id: str, start_ns: int, end_ns: int) -> Quotes: ...

    def bars(self, instrument_id: str, start_ns: int, end_ns: int, price_type: str = "TRADE") -> Bars:
        """1-minute bars; the gateway aggregates them to the requested bar size."""
        ...

    def first_timestamp(self, instrument_id: str) -> int | None: ...


@dataclass
class MemorySource:
    """In-memory quotes and bars keyed by instrument id."""

    _quotes: dict[str, Quotes] = field(default_factory=dict)
    _bars: dict[str, Bars] = field(default_factory=dict)

    def add_quotes(self, instrument_id: str, ts, bid, ask, bid_size, ask_size) -> None:
        ts = np.asarray(ts, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        arrays = [np.asarray(a, dtype=float)[order] for a in (bid, ask, bid_size, ask_size)]
        q = Quotes(ts[order], *arrays)
        if np.any(q.ask < q.bid):
            bad = int(np.flatnonzero(q.ask < q.bid)[0])
            raise ValueError(f"{instrument_id}: crossed quote at row {bad} (bid {q.bid[bad]} > ask {q.ask[bad]})")
        old = self._quotes.get(instrument_id)
        if old is not None and len(old):
            q = Quotes(*(np.concatenate([a, b]) for a, b in zip(_fields(old), _fields(q), strict=True)))
            order = np.argsort(q.ts, kind="stable")
            q = Quotes(*(a[order] for a in _fields(q)))
        self._quotes[instrument_id] = q

    def add_bars(self, instrument_id: str, ts, o, h, low, c, v) -> None:
        ts = np.asarray(ts, dtype=np.int64)
        order = np.argsort(ts, kind="stable")
        self._bars[instrument_id] = Bars(ts[order], *(np.asarray(a, dtype=float)[order] for a in (o, h, low, c, v)))

    def quotes(self, instrument_id: str, start_ns: int, end_ns: int) -> Quotes:
        q = self._quotes.get(instrument_id)
        return q.window(start_ns, end_ns) if q is not None else Quotes.empty()

    def bars(self, instrument_id: str, start_ns: int, end_ns: int, price_type: str = "TRADE") -> Bars:
        b = self._bars.get(instrument_id)
        if b is None:
            q = self._quotes.get(instrument_id)
            if q is None:
                return Bars.empty()
            b = bars_from_quotes(q)
            self._bars[instrument_id] = b
        i, j = np.searchsorted(b.ts, [start_ns, end_ns], side="left")
        return Bars(b.ts[i:j], b.open[i:j], b.high[i:j], b.low[i:j], b.close[i:j], b.volume[i:j])

    def first_timestamp(self, instrument_id: str) -> int | None:
        starts = [int(x.ts[0]) for x in (self._quotes.get(instrument_id), self._bars.get(instrument_id))
                  if x is not None and len(x)]
        return min(starts) if starts else None


def _fields(q: Quotes) -> tuple:
    return q.ts, q.bid, q.ask, q.bid_size, q.ask_size


def bars_from_quotes(q: Quotes) -> Bars:
    """1-minute midpoint bars from quotes (volume = traded-size proxy: mean displayed size)."""
    if not len(q):
        return Bars.empty()
    mid = (q.bid + q.ask) / 2.0
    key = q.ts // (60 * NS)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(q.ts)]
    size = (q.bid_size + q.ask_size) / 2.0
    return Bars(key[starts] * 60 * NS, mid[starts], np.maximum.reduceat(mid, starts),
                np.minimum.reduceat(mid, starts), mid[ends - 1], np.add.reduceat(size, starts))


def synthetic_session(
    source: MemorySource, instrument_id: str, start_ns: int, seconds: int, *, seed: int, price: float = 100.0,
    tick: float = 0.01, step_s: float = 1.0, vol_per_step: float = 0.0002, spread_ticks: int = 1,
) -> None:
    """Add a deterministic random-walk quote stream (one quote per ``step_s``) to ``source``.

    Prices are rounded to ``tick``; displayed sizes are 100-share lots in [1, 10]."""
    rng = np.random.default_rng(seed)
    n = max(1, int(seconds / step_s))
    ts = start_ns + (np.arange(n) * step_s * NS).astype(np.int64)
    mid = price * np.exp(np.cumsum(rng.normal(0.0, vol_per_step, n)))
    bid = np.round(np.floor(mid / tick) * tick, 10)
    ask = np.round(bid + spread_ticks * tick, 10)
    bid_size = rng.integers(1, 11, n) * 100
    ask_size = rng.integers(1, 11, n) * 100
    source.add_quotes(instrument_id, ts, bid, ask, bid_size, ask_size)


class StoreSource:
    """A :class:`MarketSource` over the workbench store (``workbench.store.Store``)."""

    def __init__(self, store) -> None:
        self.store = store

    def quotes(self, instrument_id: str, start_ns: int, end_ns: int) -> Quotes:
        df = self.store.read_quotes(instrument_id, start=int(start_ns), end=int(end_ns), as_="pandas")
        if len(df):
            df = df[(df["ts_event"] >= start_ns) & (df["ts_event"] < end_ns)]
        if len(df):
            return Quotes(df["ts_event"].to_numpy(np.int64), df["bid"].to_numpy(float), df["ask"].to_numpy(float),
                          df["bid_size"].to_numpy(float), df["ask_size"].to_numpy(float))
        bars = self.bars(instrument_id, start_ns, end_ns)
        if not len(bars):
            return Quotes.empty()
        inst = self.store.instrument(instrument_id)
        half = float(inst.price_increment) / 2 if getattr(inst, "price_increment", None) else 0.005
        size = np.full(len(bars), 100.0)
        return Quotes(bars.ts, bars.close - half, bars.close + half, size, size)

    def bars(self, instrument_id: str, start_ns: int, end_ns: int, price_type: str = "TRADE") -> Bars:
        df = self.store.read_bars(instrument_id, bar_size="1min", start=int(start_ns), end=int(end_ns),
                                  price_type=price_type, as_="pandas")
        if len(df):
            df = df[(df["ts_event"] >= start_ns) & (df["ts_event"] < end_ns)]
        if not len(df):
            return Bars.empty()
        return Bars(df["ts_event"].to_numpy(np.int64), *(df[c].to_numpy(float) for c in
                                                          ("open", "high", "low", "close", "volume")))

    def first_timestamp(self, instrument_id: str) -> int | None:
        df = self.store.read_bars(instrument_id, bar_size="1min", as_="pandas")
        return int(df["ts_event"].iloc[0]) if len(df) else None


def synthetic_minute_bars(source: MemorySource, instrument_id: str, start_ns: int, days: int, *, seed: int,
                          price: float = 100.0, tick: float = 0.01, vol_per_min: float = 0.0005) -> None:
    """Add ``days`` x 1440 seeded random-walk 1-minute trade bars (every minute, all hours) to ``source``."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    ts = (start_ns // (60 * NS)) * 60 * NS + np.arange(n, dtype=np.int64) * 60 * NS
    close = np.round(price * np.exp(np.cumsum(rng.normal(0.0, vol_per_min, n))) / tick) * tick
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0.0, vol_per_min * price, n))
    high = np.round((np.maximum(open_, close) + spread) / tick) * tick
    low = np.round((np.minimum(open_, close) - spread) / tick) * tick
    source.add_bars(instrument_id, ts, open_, high, low, close, rng.integers(100, 5000, n) * 10)
