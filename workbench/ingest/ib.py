"""IB ingest through ib_async: contract discovery, pacing-aware bar backfill, option-chain capture.

The backfill asks the store which sessions are missing (``store.missing_windows``), skips any
request the ledger already completed ("request once, store forever"), splits the rest into
requests within IB's duration/bar-size table, and sends them through a :class:`PacingScheduler`
that keeps under IB's historical limits (at most 5 requests per contract/tick type per 2 s and 60
per 10 minutes), so the gateway never answers 162.  Transient failures (pacing, connectivity,
timeouts) retry with exponential backoff 1, 2, 4, 8, 16 s.  A backfill killed midway resumes:
finished sessions are in the store and the ledger.

Errors are the seed hierarchy: :class:`PrerequisiteError` (unknown contract, bad request),
:class:`APILimitError` (pacing, message rate), :class:`MarketDataError` (permissions),
:class:`DataIntegrityError` (bad data from IB).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.ingest.base import first_bad_ohlc, first_bad_price
from workbench.numbers import is_positive

NS = 1_000_000_000
SOURCE = "ib"
BACKOFF_S = (1, 2, 4, 8, 16)
IB_BAR = {"1s": "1 secs", "5s": "5 secs", "1min": "1 min", "5min": "5 mins", "15min": "15 mins",
          "30min": "30 mins", "1h": "1 hour", "1d": "1 day"}
MAX_DURATION_S = {"1s": 1800, "5s": 3600, "1min": 86400, "5min": 7 * 86400, "15min": 7 * 86400,
                  "30min": 31 * 86400, "1h": 31 * 86400, "1d": 365 * 86400}
IB_TO_MIC = {"ARCA": "ARCX", "NASDAQ": "XNAS", "ISLAND": "XNAS", "NYSE": "XNYS", "AMEX": "XASE", "BATS": "BATS",
             "CBOE": "XCBO", "CME": "XCME"}


class TradingSystemError(WorkbenchError):
    """Base of the workbench's trading-system errors (seed design)."""


class PrerequisiteError(TradingSystemError):
    """Required data dependencies not met (unknown contract, invalid request)."""


class DataIntegrityError(TradingSystemError):
    """Data consistency violation detected."""


class APILimitError(TradingSystemError):
    """TWS API rate limit or quota exceeded (pacing 162, message rate 100)."""


class MarketDataError(TradingSystemError):
    """Market data permission or quality issue."""


class TransientError(APILimitError):
    """Connectivity loss or timeout: worth retrying."""


def error_for(code: int, text: str) -> TradingSystemError | None:
    """Map an IB error to the seed hierarchy; ``None`` for "no data" (an empty window, not an error)."""
    if code == 162 and "returned no data" in text:
        return None
    if code == 162 and "pacing" in text or code in (100, 420):
        return APILimitError(f"IB {code}: {text}")
    if code in (1100, 1101, 504, 502, 1300, 2110) or code == 162 and "cancelled" in text:
        return TransientError(f"IB {code}: {text}")
    if code in (354, 10089, 10090, 10167, 10168, 10197, 10186):
        return MarketDataError(f"IB {code}: {text}")
    if code in (200, 321, 320, 162):
        return PrerequisiteError(f"IB {code}: {text}")
    return TradingSystemError(f"IB {code}: {text}")


class PacingScheduler:
    """Spaces historical requests to stay inside IB's pacing rules.

    ``clock`` returns seconds and ``sleep`` waits; both default to real time, and tests/benchmarks
    pass the simulator's clock so a 10-minute wait takes no wall time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, burst: int = 5, burst_s: float = 2.0,
                 long_max: int = 60, long_s: float = 600.0, margin_s: float = 0.05) -> None:
        self.clock, self.sleep = clock, sleep
        self.burst, self.burst_s, self.long_max, self.long_s, self.margin = burst, burst_s, long_max, long_s, margin_s
        self._all: deque[float] = deque()
        self._by_key: dict[tuple, deque[float]] = {}
        self.waited_s = 0.0

    def _delay(self, key: tuple, now: float) -> float:
        same = self._by_key.setdefault(key, deque())
        while same and now - same[0] >= self.burst_s:
            same.popleft()
        while self._all and now - self._all[0] >= self.long_s:
            self._all.popleft()
        d = 0.0
        if len(same) >= self.burst:
            d = max(d, same[0] + self.burst_s - now + self.margin)
        if len(self._all) >= self.long_max:
            d = max(d, self._all[0] + self.long_s - now + self.margin)
        return d

    async def acquire(self, key: tuple) -> None:
        while (d := self._delay(key, self.clock())) > 0:
            self.waited_s += d
            await self.sleep(d)
        now = self.clock()
        self._all.append(now)
        self._by_key[key].append(now)


@dataclass(frozen=True)
class Chunk:
    """One reqHistoricalData call: bars in ``[start_ns, end_ns)``."""

    start_ns: int
    end_ns: int

    @property
    def duration(self) -> str:
        return f"{max(1, math.ceil((self.end_ns - self.start_ns) / NS / 86400))} D"

    @property
    def end_str(self) -> str:
        return datetime.fromtimestamp(self.end_ns / NS, tz=UTC).strftime("%Y%m%d %H:%M:%S UTC")


def plan_chunks(sessions: list[tuple[int, int]], bar_size: str) -> list[Chunk]:
    """Group consecutive (open, close) sessions into requests whose "N D" duration fits IB's limit."""
    limit = MAX_DURATION_S[bar_size]
    out: list[Chunk] = []
    cur: list[tuple[int, int]] = []
    for s in sessions:
        cand = cur + [s]
        days = math.ceil((cand[-1][1] - cand[0][0]) / NS / 86400)
        if cur and days * 86400 > limit:
            out.append(Chunk(cur[0][0], cur[-1][1]))
            cand = [s]
        cur = cand
    if cur:
        out.append(Chunk(cur[0][0], cur[-1][1]))
    return out


def sessions_between(calendar: str, first: date, last: date, use_rth: bool = True) -> list[tuple[int, int]]:
    cal = xcals.get_calendar(calendar)
    days = cal.sessions_in_range(pd.Timestamp(first), pd.Timestamp(last))
    opens = cal.opens.loc[days] if use_rth else cal.closes.loc[days] - pd.Timedelta(hours=16)
    closes = cal.closes.loc[days] if use_rth else cal.closes.loc[days] + pd.Timedelta(hours=4)
    return [(int(o.value), int(c.value)) for o, c in zip(opens, closes, strict=True)]


@dataclass
class BackfillResult:
    instrument_id: str
    bar_size: str
    requests: int = 0
    skipped: int = 0
    empty: int = 0
    failed: int = 0
    rows: int = 0
    retries: int = 0
    paced_wait_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.instrument_id} {self.bar_size}: {self.requests} requests ({self.skipped} already in ledger, "
                f"{self.empty} empty, {self.failed} failed, {self.retries} retries), {self.rows} bars stored, "
                f"{self.paced_wait_s:.1f} s pacing wait")

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{k: v for k, v in self.__dict__.items() if k != "errors"}])


def instrument_from_contract(contract, min_tick: float):
    """A store ``Instrument`` for a qualified IB stock/index contract."""
    from decimal import Decimal

    from workbench.store import Instrument

    venue = IB_TO_MIC.get(contract.primaryExchange or contract.exchange, contract.primaryExchange or "SMART")
    asset = {"STK": "EQUITY", "IND": "INDEX"}.get(contract.secType)
    if asset is None:
        raise PrerequisiteError(f"{contract.symbol}: only STK/IND underlyings are auto-registered, got "
                                f"{contract.secType}")
    return Instrument(f"{contract.symbol}.{venue}", contract.symbol, asset, venue,
                      currency=contract.currency or "USD", price_increment=Decimal(str(min_tick)))


async def _request(ib, contract, chunk: Chunk, bar_size: str, what: str, use_rth: bool, timeout: float):
    """One historical request; returns (bars, error) where error is an IB (code, text) or None."""
    errors: list[tuple[int, str]] = []

    def on_error(req_id, code, text, *_):
        if code < 2100 or code > 2200:
            errors.append((code, text))

    ib.errorEvent += on_error
    try:
        bars = await asyncio.wait_for(ib.reqHistoricalDataAsync(
            contract, chunk.end_str, chunk.duration, IB_BAR[bar_size], what, use_rth, formatDate=2), timeout)
    except TimeoutError:
        return None, (504, "request timed out")
    finally:
        ib.errorEvent -= on_error
    return bars, (errors[-1] if errors and not bars else None)


def _frame(bars, chunk: Chunk) -> pd.DataFrame:
    ts = np.array([int(pd.Timestamp(b.date).value) for b in bars], dtype=np.int64)
    df = pd.DataFrame(dict(ts_event=ts, open=[b.open for b in bars], high=[b.high for b in bars],
                           low=[b.low for b in bars], close=[b.close for b in bars],
                           volume=[float(b.volume) for b in bars]))
    df = df[(df.ts_event >= chunk.start_ns) & (df.ts_event < chunk.end_ns)]
    # the same refusals as file ingest: non-finite/zero/negative prices, then inconsistent bars
    cols = {c: df[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
    bad = first_bad_price(cols) or first_bad_ohlc(*cols.values())
    if bad is None:
        vol = df.volume.to_numpy(dtype=np.float64)
        idx = np.flatnonzero(~(np.isfinite(vol) & (vol >= 0)))
        bad = (int(idx[0]), "volume", "volume missing, non-finite or negative") if len(idx) else None
    if bad is not None:
        row, name, why = bad
        raise DataIntegrityError(f"IB bar at {pd.Timestamp(int(df.ts_event.iloc[row]))}: {why} "
                                 f"({name}={df[name].iloc[row]!r})")
    return df


async def backfill(ib, store, contract, instrument_id: str, bar_size: str, start, end, *, what: str = "TRADES",
                   use_rth: bool = True, scheduler: PacingScheduler | None = None, timeout: float = 60.0,
                   sleep: Callable[[float], Awaitable[None]] | None = None, progress: bool = True) -> BackfillResult:
    """Fill the store's missing ``bar_size`` sessions of ``instrument_id`` in ``[start, end]`` from IB."""
    if bar_size not in IB_BAR:
        raise PrerequisiteError(f"bar_size {bar_size!r} not in {sorted(IB_BAR)}")
    scheduler = scheduler or PacingScheduler()
    sleep = sleep or scheduler.sleep
    inst = store.instrument(instrument_id)
    result = BackfillResult(instrument_id, bar_size)
    chunks: list[Chunk] = []
    for w in store.missing_windows(instrument_id, bar_size, start, end):
        chunks += plan_chunks(sessions_between(inst.calendar, w.first, w.last, use_rth), bar_size)
    from tqdm.auto import tqdm

    for chunk in tqdm(chunks, desc=f"IB {instrument_id} {bar_size}", disable=not progress):
        key = f"{instrument_id}|{bar_size}|{what}|{int(use_rth)}|{chunk.end_ns}|{chunk.duration}"
        if store.request_done(SOURCE, key):
            result.skipped += 1
            continue
        rid = store.record_request(SOURCE, key, dict(bar_size=bar_size, what=what, rth=use_rth),
                                   chunk.start_ns, chunk.end_ns)
        for attempt in range(len(BACKOFF_S) + 1):
            await scheduler.acquire((contract.conId, what))
            result.requests += 1
            bars, err = await _request(ib, contract, chunk, bar_size, what, use_rth, timeout)
            exc = error_for(*err) if err else None
            if err and exc is None or (bars is not None and not err and not bars):
                store.complete_request(rid, "EMPTY")
                result.empty += 1
                break
            if exc is None:
                df = _frame(bars, chunk)
                store.write_bars(instrument_id, bar_size, df, price_type="TRADE" if what == "TRADES" else what,
                                 source=SOURCE)
                store.complete_request(rid, "DONE", rows=len(df))
                result.rows += len(df)
                break
            if isinstance(exc, APILimitError) and attempt < len(BACKOFF_S):
                result.retries += 1
                await sleep(BACKOFF_S[attempt])
                continue
            store.complete_request(rid, "FAILED", error=str(exc))
            result.failed += 1
            result.errors.append(str(exc))
            if not isinstance(exc, APILimitError):
                raise exc
            break
    result.paced_wait_s = scheduler.waited_s
    return result


async def qualify(ib, store, symbol: str, sec_type: str = "STK", exchange: str = "SMART", currency: str = "USD"):
    """Qualify ``symbol`` with IB and register it in the store if new; returns (contract, instrument_id)."""
    from ib_async import Contract

    details = await ib.reqContractDetailsAsync(Contract(secType=sec_type, symbol=symbol, exchange=exchange,
                                                        currency=currency))
    if len(details) != 1:
        raise PrerequisiteError(f"{symbol} {sec_type}: IB returned {len(details)} contracts (need exactly one)")
    cd = details[0]
    inst = instrument_from_contract(cd.contract, cd.minTick)
    if store.find_instrument(inst.instrument_id) is None:
        store.upsert_instruments([inst])
    return cd.contract, inst.instrument_id


async def capture_chain(ib, store, symbol: str, *, max_expiries: int = 2,
                        strikes_around: int = 5) -> tuple[int, int]:
    """Snapshot the option chain of ``symbol`` into the store: sec-def-opt-params, then one market-data
    snapshot per contract for the nearest ``max_expiries`` expiries and ``strikes_around`` strikes
    either side of the underlying.  ``as_of`` is the gateway's clock (exchange time).  Returns
    (contracts stored, as_of ns)."""
    from decimal import Decimal

    from ib_async import Option

    from workbench.store import Instrument

    under, under_id = await qualify(ib, store, symbol)
    (und_ticker,) = await ib.reqTickersAsync(under)
    spot = und_ticker.marketPrice()
    if not is_positive(spot):  # NaN, inf, zero and negative alike (the accepting comparison must hold)
        raise MarketDataError(f"{symbol}: no usable underlying price to centre the chain on (got {spot!r})")
    params = await ib.reqSecDefOptParamsAsync(under.symbol, "", under.secType, under.conId)
    chain = next((p for p in params if p.exchange == "SMART"), params[0] if params else None)
    if chain is None:
        raise PrerequisiteError(f"{symbol}: IB lists no option chain")
    expiries = sorted(chain.expirations)[:max_expiries]
    strikes = sorted(chain.strikes, key=lambda k: abs(k - spot))[: 2 * strikes_around + 1]
    wanted = [Option(symbol, e, k, r, "SMART", tradingClass=chain.tradingClass, multiplier=chain.multiplier)
              for e in expiries for k in sorted(strikes) for r in ("C", "P")]
    contracts = [c for c in await ib.qualifyContractsAsync(*wanted) if c is not None]
    as_of = int((await ib.reqCurrentTimeAsync()).timestamp()) * NS
    tickers = await ib.reqTickersAsync(*contracts)
    insts, rows = [], []
    for t in tickers:
        c = t.contract
        iid = f"{c.localSymbol.replace(' ', '')}.OPRA"
        expiry = datetime.strptime(c.lastTradeDateOrContractMonth, "%Y%m%d").date()
        insts.append(Instrument(iid, symbol, "OPTION", "OPRA", underlying=symbol, expiry=expiry,
                                strike=Decimal(str(c.strike)), right=c.right, multiplier=int(c.multiplier or 100),
                                style="AMERICAN" if under.secType == "STK" else "EUROPEAN"))
        rows.append(dict(instrument_id=iid, expiry=expiry, strike=float(c.strike), right=c.right,
                         bid=t.bid, ask=t.ask, bid_size=t.bidSize, ask_size=t.askSize))
    frame = pd.DataFrame(rows)
    _check_chain_quotes(frame)
    store.upsert_instruments([i for i in insts if store.find_instrument(i.instrument_id) is None])
    store.write_chain(symbol, as_of, float(spot), frame, source=SOURCE)
    return len(rows), as_of


def _check_chain_quotes(frame: pd.DataFrame) -> None:
    """The file-ingest rules for IB quote ticks: NaN means "no quote" and bid 0 "no bid", but an
    inf or negative price or size is refused, naming the contract and field; nothing is stored."""
    if frame.empty:
        return
    cols = {c: frame[c].to_numpy(dtype=np.float64) for c in ("bid", "ask")}
    bad = first_bad_price(cols, allow_nan=True)
    if bad is None:
        for c in ("bid_size", "ask_size"):
            v = frame[c].to_numpy(dtype=np.float64)
            idx = np.flatnonzero(~(np.isnan(v) | ((v >= 0) & (v < np.inf))))
            if len(idx):
                bad = (int(idx[0]), c, "non-finite or negative size")
                break
    if bad is not None:
        row, name, why = bad
        raise DataIntegrityError(f"IB quote for {frame.instrument_id.iloc[row]}: {why} ({name}="
                                 f"{frame[name].iloc[row]!r}); nothing stored")


def register_cli(sub) -> None:
    p = sub.add_parser("backfill", help="backfill missing bars of SYMBOL from IB (pacing-safe, resumable)")
    p.add_argument("symbol")
    p.add_argument("--bar", default="1min", choices=sorted(IB_BAR))
    p.add_argument("--from", dest="start", required=True)
    p.add_argument("--to", dest="end", required=True)
    p.add_argument("--what", default="TRADES")
    p.add_argument("--all-hours", action="store_true", help="include extended hours (useRTH=0)")
    _conn_args(p)
    p.set_defaults(handler=_cli_backfill)
    c = sub.add_parser("chain", help="snapshot SYMBOL's option chain from IB into the store")
    c.add_argument("symbol")
    c.add_argument("--expiries", type=int, default=2)
    c.add_argument("--strikes", type=int, default=5, help="strikes either side of the underlying")
    _conn_args(c)
    c.set_defaults(handler=_cli_chain)


def _conn_args(p) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4002, help="7497/7496 TWS paper/live, 4002/4001 Gateway paper/live")
    p.add_argument("--client-id", type=int, default=17)


async def _connect(ib, host: str, port: int, client_id: int) -> None:
    """Connect or raise one line that says where and what to do (not ib_async's 49-line trace)."""
    try:
        await ib.connectAsync(host, port, clientId=client_id, timeout=10)
    except (OSError, TimeoutError) as exc:
        why = "connection refused" if isinstance(exc, ConnectionRefusedError) else (
            "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__))
        ib.disconnect()
        raise WorkbenchError(f"cannot connect to IB at {host}:{port}: {why}",
                             hint=f"is the gateway running? `wb gateway sim --port {port}`") from None


def _run_cli(args, name: str, work) -> int:
    import os

    from ib_async import IB

    from workbench.store import Store

    async def go():
        ib = IB()
        await _connect(ib, args.host, args.port, args.client_id)
        store = Store.open(getattr(args, "store", None) or os.environ.get("WORKBENCH_STORE"))
        try:
            return await work(ib, store)
        finally:
            ib.disconnect()
            store.close()

    try:
        return asyncio.run(go())
    except TradingSystemError as exc:
        print(f"wb ib {name}: {type(exc).__name__}: {exc}")
        return 2


def _cli_chain(args) -> int:
    async def work(ib, store):
        n, as_of = await capture_chain(ib, store, args.symbol.upper(), max_expiries=args.expiries,
                                       strikes_around=args.strikes)
        print(f"{args.symbol.upper()}: {n} option quotes stored as of {pd.Timestamp(as_of, tz='UTC')}")
        return 0

    return _run_cli(args, "chain", work)


def _cli_backfill(args) -> int:
    from workbench.cli.dates import parse_range

    first, last = parse_range(args.start, args.end)  # a bad date is one line before dialling IB

    async def work(ib, store):
        contract, iid = await qualify(ib, store, args.symbol.upper())
        res = await backfill(ib, store, contract, iid, args.bar, first, last, what=args.what,
                             use_rth=not args.all_hours)
        print(res.summary())
        return 1 if res.failed else 0

    return _run_cli(args, "backfill", work)
