"""Lean CSV rows -> store frames, vectorised (no per-row Python).

Pure functions of an Arrow table: they validate, convert units and zones, and return the frames
the store writes plus the counts of any repair they applied. Conventions (Lean docs):

- equity and option prices are integer deci-cents (``scale=10_000``), futures plain decimals;
- intraday time is milliseconds since midnight of the file's date, in US/Eastern for equities and
  options (DST-aware) and UTC for CME futures; daily/hour rows carry ``yyyyMMdd HH:mm``;
- bar time is the bar's open; a quote bar's closing bid/ask becomes a top-of-book quote stamped at
  the bar's *close* (open + bar size), because that is when the quote was known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.ingest.base import (
    NS_PER_MS,
    day_start_ns,
    f64,
    first_bad_ohlc,
    first_bad_price,
    first_not_increasing,
    localize,
    read_csv,
)
from workbench.ingest.errors import IngestError

TRADE_BAR = ("time", "open", "high", "low", "close", "volume")
QUOTE_BAR = ("time", "bid_open", "bid_high", "bid_low", "bid_close", "bid_size",
             "ask_open", "ask_high", "ask_low", "ask_close", "ask_size")
TICK_TRADE = ("time", "price", "size", "exchange", "condition", "suspicious")
TICK_QUOTE = ("time", "bid", "bid_size", "ask", "ask_size", "exchange", "condition", "suspicious")
OPEN_INTEREST = ("time", "open_interest")
OHLC = ("open", "high", "low", "close")
_BLANK_LINES = re.compile(rb"\n(?:[ \t]*\n)+")


def column_types(names: tuple[str, ...], daily: bool) -> dict[str, pa.DataType]:
    """Numbers as float64 (empty field -> null), codes as strings, daily time as a string to parse."""
    types = {n: pa.float64() for n in names}
    for n in ("exchange", "condition"):
        if n in types:
            types[n] = pa.string()
    if "suspicious" in types:
        types["suspicious"] = pa.int64()
    if daily:
        types["time"] = pa.string()
    return types


@dataclass(frozen=True)
class Ctx:
    """Where rows come from and how to read them.

    A table may concatenate several zip members (one per option contract or future month):
    ``groups`` then holds each row's member index, ``members`` their names and ``starts`` the row
    where each begins, so an error still names the member and the line inside it.
    """

    file: str
    member: str | None
    tz: str
    scale: float
    bar_ns: int = 0
    members: tuple[str, ...] = ()
    groups: np.ndarray | None = None
    starts: np.ndarray | None = None

    def error(self, message: str, row_index: int | None = None, field: str | None = None) -> IngestError:
        member, line = self.member, None if row_index is None else row_index + 1
        if row_index is not None and self.groups is not None:
            g = int(self.groups[row_index])
            member, line = self.members[g], row_index - int(self.starts[g]) + 1
        return IngestError(self.file, message, member=member, row=line, field=field)

    def check_increasing(self, ts: np.ndarray, *, strict: bool = True) -> None:
        i = first_not_increasing(ts, strict=strict, groups=self.groups)
        if i is not None:
            raise self.error("time not after the previous row" if strict else "time goes backwards", i, "time")

    def check_prices(self, columns: dict[str, np.ndarray], *, allow_nan: bool = False,
                     allow_zero: bool | None = None) -> None:
        bad = first_bad_price(columns, allow_nan=allow_nan, allow_zero=allow_zero)
        if bad is not None:
            raise self.error(bad[2], bad[0], bad[1])


def read_members(file: str, members: list[tuple[str, bytes]], names: tuple[str, ...],
                 types: dict[str, pa.DataType]) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Parse same-layout CSV members as one table (one pyarrow call instead of thousands).

    Each line gets its member's index as a leading field; returns (table, member index per row,
    first row of each member). If the fast parse fails, members are parsed one by one so the
    error names the member and line.
    """
    chunks = []
    for i, (_, raw) in enumerate(members):
        prefix = b"%d," % i
        # blank lines would become prefix-only lines: drop them, as a per-member parse would
        body = _BLANK_LINES.sub(b"\n", raw.replace(b"\r\n", b"\n")).strip(b"\n")
        chunks.append(prefix + body.replace(b"\n", b"\n" + prefix))
    data = b"\n".join(chunks) + b"\n"
    try:
        tbl = read_csv(data, ("_member", *names), {"_member": pa.int32(), **types}, file)
    except IngestError:
        for name, raw in members:
            read_csv(raw, names, types, file, member=name)
        raise
    groups = tbl.column("_member").to_numpy()
    starts = np.searchsorted(groups, np.arange(len(members)))
    return tbl.drop_columns(["_member"]), groups, starts


def event_times(tbl: pa.Table, ctx: Ctx, day: date | None) -> np.ndarray:
    """UTC ns of each row: ms since local midnight of ``day``, or a ``yyyyMMdd HH:mm`` string."""
    if day is not None:
        ms = f64(tbl, "time")
        bad = np.flatnonzero(np.isnan(ms) | (ms < 0) | (ms >= 86_400_000 * 2))
        if len(bad):
            raise ctx.error("time must be milliseconds since midnight", int(bad[0]), "time")
        naive = day_start_ns(day) + np.rint(ms * NS_PER_MS).astype(np.int64)
    else:
        parsed = pc.strptime(tbl.column("time"), format="%Y%m%d %H:%M", unit="ns", error_is_null=True)
        if parsed.null_count:
            bad = int(np.flatnonzero(parsed.is_null().to_numpy(zero_copy_only=False))[0])
            raise ctx.error("time must be 'yyyyMMdd HH:mm'", bad, "time")
        naive = parsed.cast(pa.int64()).to_numpy()
    utc = localize(naive, ctx.tz)
    bad = np.flatnonzero(utc == np.iinfo(np.int64).min)
    if len(bad):
        raise ctx.error("ambiguous or non-existent local time (DST switch)", int(bad[0]), "time")
    return utc


def _ids(ids: pa.Array | None, keep: np.ndarray | None = None) -> dict[str, pa.Array]:
    """The leading ``instrument_id`` column of a multi-instrument frame (nothing if single)."""
    if ids is None:
        return {}
    return {"instrument_id": ids if keep is None else ids.filter(pa.array(keep))}


def trade_bars(tbl: pa.Table, ts: np.ndarray, ctx: Ctx, ids: pa.Array | None = None) -> pa.Table:
    """OHLCV bars; every field required, prices >= 0, strictly increasing time."""
    ctx.check_increasing(ts)
    cols = {c: f64(tbl, c) / ctx.scale for c in OHLC}
    ctx.check_prices(cols)
    bad_bar = first_bad_ohlc(*(cols[c] for c in ("open", "high", "low", "close")))
    if bad_bar is not None:
        raise ctx.error(bad_bar[2], bad_bar[0], bad_bar[1])
    volume = f64(tbl, "volume")
    bad = np.flatnonzero(~(np.isfinite(volume) & (volume >= 0)))
    if len(bad):
        raise ctx.error("volume missing or negative", int(bad[0]), "volume")
    return pa.table({**_ids(ids), "ts_event": ts, **cols, "volume": volume})


def _side(tbl: pa.Table, side: str, ctx: Ctx) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One side of a quote bar: OHLC (NaN where the side is absent), last size, presence mask."""
    cols = {c: f64(tbl, f"{side}_{c}") / ctx.scale for c in OHLC}
    nan = np.column_stack([np.isnan(v) for v in cols.values()])
    partial = np.flatnonzero(nan.any(axis=1) & ~nan.all(axis=1))
    if len(partial):
        i = int(partial[0])
        missing = next(c for c, v in cols.items() if np.isnan(v[i]))
        raise ctx.error(f"{side} side partly empty", i, f"{side}_{missing}")
    ctx.check_prices(cols, allow_nan=True)
    size = f64(tbl, f"{side}_size")
    present = ~nan[:, 0]
    bad = np.flatnonzero(present & (np.isnan(size) | (size < 0)))
    if len(bad):
        raise ctx.error(f"{side} size missing or negative", int(bad[0]), f"{side}_size")
    return cols, np.nan_to_num(size), present


def quote_bars(tbl: pa.Table, ts: np.ndarray, ctx: Ctx, *, no_bid_is_zero: bool = False,
               ids: pa.Array | None = None) -> tuple[pa.Table, pa.Table, pa.Table, dict[str, int]]:
    """Split Lean quote bars into BID bars, ASK bars and top-of-book quotes.

    Repair policies (counted): a bar with neither side is skipped (``quote_bar_empty``); a quote
    missing a side is not written to the quotes table (``quote_one_sided_dropped``) except an
    option with no bid, written as bid 0 x 0 — the market convention (``quote_no_bid_as_zero``);
    a crossed close (bid > ask) stays in the bars but not in the quotes (``quote_crossed_dropped``).
    """
    ctx.check_increasing(ts)
    bid, bid_size, has_bid = _side(tbl, "bid", ctx)
    ask, ask_size, has_ask = _side(tbl, "ask", ctx)
    repairs = {"quote_bar_empty": int((~has_bid & ~has_ask).sum())}
    bid_bars = pa.table({**_ids(ids, has_bid), "ts_event": ts[has_bid], **{c: v[has_bid] for c, v in bid.items()},
                         "volume": bid_size[has_bid]})
    ask_bars = pa.table({**_ids(ids, has_ask), "ts_event": ts[has_ask], **{c: v[has_ask] for c, v in ask.items()},
                         "volume": ask_size[has_ask]})
    b, a = bid["close"].copy(), ask["close"]
    if no_bid_is_zero:
        fill = ~has_bid & has_ask
        b[fill] = 0.0
        repairs["quote_no_bid_as_zero"] = int(fill.sum())
        has_bid = has_bid | fill
    two_sided = has_bid & has_ask
    repairs["quote_one_sided_dropped"] = int(((has_bid | has_ask) & ~two_sided).sum())
    crossed = two_sided & (b > a)
    repairs["quote_crossed_dropped"] = int(crossed.sum())
    keep = two_sided & ~crossed
    quotes = pa.table({**_ids(ids, keep), "ts_event": ts[keep] + ctx.bar_ns, "bid": b[keep], "ask": a[keep],
                       "bid_size": bid_size[keep], "ask_size": ask_size[keep]})
    return bid_bars, ask_bars, quotes, repairs


def _suspicious(tbl: pa.Table) -> np.ndarray:
    return np.asarray(tbl.column("suspicious").to_numpy(zero_copy_only=False) != 0)


def tick_trades(tbl: pa.Table, day: date, ctx: Ctx) -> tuple[pa.Table, dict[str, int]]:
    """Trade ticks; rows flagged suspicious by the vendor are dropped (``tick_suspicious_dropped``)."""
    ts = event_times(tbl, ctx, day)
    ctx.check_increasing(ts, strict=False)
    price = f64(tbl, "price") / ctx.scale
    ctx.check_prices({"price": price})
    size = f64(tbl, "size")
    bad = np.flatnonzero(np.isnan(size) | (size <= 0))
    if len(bad):
        raise ctx.error("trade size missing or not positive", int(bad[0]), "size")
    keep = ~_suspicious(tbl)
    out = pa.table({"ts_event": ts, "price": price, "size": size, "exchange": tbl.column("exchange"),
                    "condition": tbl.column("condition")})
    dropped = int((~keep).sum())
    # most days flag nothing: the table is then kept whole (no copy of every column)
    return (out.filter(pa.array(keep)) if dropped else out), {"tick_suspicious_dropped": dropped}


def _carry(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-fill ``values`` where not ``known``; also return where any value is known yet."""
    idx = np.where(known, np.arange(len(values)), 0)
    np.maximum.accumulate(idx, out=idx)
    seen = np.maximum.accumulate(known) if len(known) else known
    return values[idx], seen


def tick_quotes(tbl: pa.Table, day: date, ctx: Ctx) -> tuple[pa.Table, dict[str, int]]:
    """Quote ticks. Lean quote ticks update one side and put 0 on the other: the other side is
    carried forward from the last update (``tick_quote_side_carried``); rows before both sides are
    known are dropped (``tick_quote_before_two_sided``); suspicious rows are dropped first and
    never carried (``tick_suspicious_dropped``); a crossed result (bid > ask, when venues
    disagree) is dropped (``quote_crossed_dropped``)."""
    ts = event_times(tbl, ctx, day)
    ctx.check_increasing(ts, strict=False)
    bid, ask = f64(tbl, "bid") / ctx.scale, f64(tbl, "ask") / ctx.scale
    ctx.check_prices({"bid": bid, "ask": ask}, allow_zero=True)  # 0 = side not updated by this tick
    bid_size, ask_size = f64(tbl, "bid_size"), f64(tbl, "ask_size")
    clean = ~_suspicious(tbl)
    has_bid, has_ask = clean & (bid > 0), clean & (ask > 0)
    bid_f, bid_seen = _carry(bid, has_bid)
    bid_size_f, _ = _carry(bid_size, has_bid)
    ask_f, ask_seen = _carry(ask, has_ask)
    ask_size_f, _ = _carry(ask_size, has_ask)
    two_sided = clean & bid_seen & ask_seen
    crossed = two_sided & (bid_f > ask_f)
    keep = two_sided & ~crossed
    carried = keep & (has_bid != has_ask)
    out = pa.table({"ts_event": ts[keep], "bid": bid_f[keep], "ask": ask_f[keep],
                    "bid_size": bid_size_f[keep], "ask_size": ask_size_f[keep],
                    "exchange": tbl.column("exchange").filter(pa.array(keep))})
    repairs = {"tick_suspicious_dropped": int((~clean).sum()), "tick_quote_side_carried": int(carried.sum()),
               "tick_quote_before_two_sided": int((clean & ~two_sided).sum()),
               "quote_crossed_dropped": int(crossed.sum())}
    return out, repairs


def open_interest(tbl: pa.Table, ts: np.ndarray, ctx: Ctx, ids: pa.Array | None = None) -> pa.Table:
    ctx.check_increasing(ts)
    oi = f64(tbl, "open_interest")
    bad = np.flatnonzero(np.isnan(oi) | (oi < 0))
    if len(bad):
        raise ctx.error("open interest missing or negative", int(bad[0]), "open_interest")
    return pa.table({**_ids(ids), "ts_event": ts, "open_interest": oi})
