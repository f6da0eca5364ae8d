"""Lean data files -> the store: equities, equity options, CME futures, factor files.

>>> from workbench.ingest import ingest_lean
>>> summary = ingest_lean(store, "../shared/data/real/lean/equity/usa/minute/spy", quiet=True)
>>> store.read_bars("SPY.XNAS", "1min").head()

What goes where:

=====================  =============================================================================
Lean file              store
=====================  =============================================================================
trade bars             ``bars`` (price_type TRADE; ``1s``/``1min``/``1h``/``1d``)
quote bars             ``bars`` BID and ASK (OHLC of each side, volume = last size) and, for
                       equities and futures, ``quotes`` (closing bid/ask at the bar's close time)
tick trades / quotes   ``trades`` / ``quotes``
open interest          ``open_interest``
option zips            one contract per member -> option instruments, bars, open interest and
                       chain snapshots (:mod:`workbench.ingest.lean_options`)
factor files           ``corporate_actions`` (prices stay raw; ``read_bars(adjusted=True)`` applies)
map files              ignored (ticker renames are not modelled yet)
=====================  =============================================================================

Each file is one store batch (all or nothing). Repairs applied on the way are counted per file
in ``ingest_log.repairs`` and documented in ``docs/data-store.md``.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from workbench.ingest.base import (
    IngestSummary,
    expand_paths,
    f64,
    progress,
    read_csv,
)
from workbench.ingest.errors import IngestError
from workbench.ingest.lean_frames import (
    OPEN_INTEREST,
    QUOTE_BAR,
    TICK_QUOTE,
    TICK_TRADE,
    TRADE_BAR,
    Ctx,
    column_types,
    event_times,
    open_interest,
    quote_bars,
    read_members,
    tick_quotes,
    tick_trades,
    trade_bars,
)
from workbench.ingest.lean_layout import (
    BAR_NS,
    BAR_SIZE,
    FUTURE_SPECS,
    LeanFile,
    is_lean_candidate,
    parse_future_member,
    parse_lean_path,
    third_friday,
)
from workbench.ingest.limits import IngestLimits, check_lines, use_limits
from workbench.ingest.limits import current as current_limits
from workbench.ingest.pipeline import Job, in_write, ingest_jobs
from workbench.ingest.sink import (
    ensure_instruments,
    per_instrument,
    write_bars_many,
    write_open_interest_many,
)
from workbench.store import Instrument
from workbench.store.writes import with_seq

SOURCE = "lean"
EASTERN = "America/New_York"
DECI_CENTS = 10_000.0
# A member this big (a day of tick trades, ~14 MB) parses on pyarrow's threads as well: reading such
# a file takes longer than writing it, so the writer would otherwise wait on the one reader thread
# (measured: the same CPU either way; smaller members parse faster on the reader thread alone)
PARALLEL_PARSE_BYTES = 4 << 20


def ingest_lean(store: Any, paths: str | os.PathLike | Iterable[str | os.PathLike], quiet: bool = False, *,
                force: bool = False, snapshot_times: Sequence[str] | None = None,
                keep_going: bool = False, limits: IngestLimits | None = None) -> IngestSummary:
    """Ingest Lean files and/or directories (walked recursively) into ``store``.

    Files are ordered so lookups work in one call: factor files and underlyings first, then
    futures, then option trades and open interest, then option quotes (whose chain snapshots
    join the other two). ``snapshot_times`` are US/Eastern wall times (``["10:00", "15:30"]``)
    at which minute option quotes become chain snapshots (default 15:30, clamped to the session
    close on half days); daily option quotes snapshot at each session's close.

    A file already ingested byte-for-byte is skipped unless ``force``; minute option quotes with
    explicit ``snapshot_times`` are always re-read (the rows merge unchanged, new snapshots add).
    ``limits`` caps what a hostile file may cost (:class:`~workbench.ingest.limits.IngestLimits`).
    """
    with use_limits(limits):
        return _ingest_lean(store, paths, quiet, force, snapshot_times, keep_going)


def _ingest_lean(store: Any, paths: Any, quiet: bool, force: bool, snapshot_times: Sequence[str] | None,
                 keep_going: bool) -> IngestSummary:
    from workbench.ingest.lean_options import option_handler

    files = expand_paths(paths, is_lean_candidate)
    decoded = sorted(((parse_lean_path(p), p) for p in files), key=lambda sp: (sp[0].order, str(sp[1])))
    jobs = []
    for spec, path in decoded:
        if spec.kind == "map":
            jobs.append(Job(path, None))
        elif spec.kind == "option":
            again = force or (spec.tick_type == "quote" and snapshot_times is not None)
            jobs.append(Job(path, in_write(option_handler(spec, snapshot_times)), again))
        elif spec.kind == "equity":  # the bulk of most ingests: read on the look-ahead thread
            jobs.append(Job(path, _equity_prepare(spec), force))
        else:
            jobs.append(Job(path, in_write(_HANDLERS[spec.kind](spec)), force))
    wrap = lambda items: progress(items, "lean", quiet)  # noqa: E731
    return IngestSummary(list(ingest_jobs(store, jobs, SOURCE, keep_going=keep_going, wrap=wrap)))


# -- shared plumbing -------------------------------------------------------------------------------
def zip_members(path: Path, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each CSV member, in name order; empty members are skipped.

    The zip's directory is checked against the ingest limits (member count, inflated size and
    ratio, :mod:`workbench.ingest.limits`) before anything is inflated; a corrupt member (bad
    CRC, truncated data) is an :class:`IngestError` naming it.
    """
    file = str(path)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise IngestError(file, f"not a zip archive ({exc})") from None
    with zf:
        infos = sorted((i for i in zf.infolist() if not i.is_dir()), key=lambda i: i.filename)
        _check_zip_directory(file, infos)
        for info in infos:
            try:
                raw = zf.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                raise IngestError(file, f"corrupt zip member ({exc})", member=info.filename) from None
            check_lines(raw, file, member=info.filename)
            if raw and not raw.isspace():  # (strip() would copy the member to find out)
                yield info.filename, raw


def _check_zip_directory(file: str, infos: list[zipfile.ZipInfo]) -> None:
    lim = current_limits()
    if len(infos) > lim.max_zip_members:
        raise IngestError(file, f"{len(infos):,} members, more than {lim.max_zip_members:,} "
                          "(limit max_zip_members)")
    total = 0
    for info in infos:
        total += info.file_size
        if total > lim.max_unpacked_bytes:
            raise IngestError(file, f"members inflate to more than {lim.max_unpacked_bytes:,} bytes "
                              "(limit max_unpacked_bytes)", member=info.filename)
        if info.file_size > lim.ratio_floor_bytes and not info.file_size <= lim.max_zip_ratio * info.compress_size:
            raise IngestError(file, f"member inflates {info.file_size / max(info.compress_size, 1):,.0f}x "
                              f"({info.file_size:,} bytes), more than {lim.max_zip_ratio:g}x (limit "
                              "max_zip_ratio: a zip bomb, not market data)", member=info.filename)


def record(batch: Any, repairs: dict[str, int]) -> None:
    for policy, n in repairs.items():
        batch.repaired(policy, n)


def sides(bid: pa.Table, ask: pa.Table) -> pa.Table:
    """BID then ASK bars as one table with a ``price_type`` column: one merge for both sides."""
    return pa.concat_tables([t.append_column("price_type", pa.repeat(pa.scalar(side), t.num_rows))
                             for t, side in ((bid, "BID"), (ask, "ASK"))])


def _read_member(spec: LeanFile, raw: bytes, ctx: Ctx) -> tuple[list[tuple[str, tuple, dict]], dict[str, int]]:
    """One equity member, read and checked (no store): the store writes it needs as (method, args,
    keyword args) after the instrument id, and the repairs applied."""
    res, kind = spec.resolution, spec.tick_type
    if res == "tick":
        names = TICK_TRADE if kind == "trade" else TICK_QUOTE
        tbl = read_csv(raw, names, column_types(names, False), ctx.file, member=ctx.member,
                       threads=len(raw) > PARALLEL_PARSE_BYTES)
        frame, repairs = (tick_trades if kind == "trade" else tick_quotes)(tbl, spec.day, ctx)
        return [("write_trades" if kind == "trade" else "write_quotes", (with_seq(frame),), {})], repairs
    daily = res in ("hour", "daily")
    names = {"trade": TRADE_BAR, "quote": QUOTE_BAR, "openinterest": OPEN_INTEREST}[kind]
    tbl = read_csv(raw, names, column_types(names, daily), ctx.file, member=ctx.member,
                   threads=len(raw) > PARALLEL_PARSE_BYTES)
    ts = event_times(tbl, ctx, None if daily else spec.day)
    if kind == "trade":
        return [("write_bars", (BAR_SIZE[res], trade_bars(tbl, ts, ctx)), {"price_type": "TRADE"})], {}
    if kind == "quote":
        bid, ask, quotes, repairs = quote_bars(tbl, ts, ctx)
        return [("write_bars", (BAR_SIZE[res], sides(bid, ask)), {"price_type": None}),
                ("write_quotes", (with_seq(quotes),), {})], repairs
    return [("write_open_interest", (open_interest(tbl, ts, ctx),), {})], {}


# -- equities --------------------------------------------------------------------------------------
def _equity_prepare(spec: LeanFile) -> Any:
    def prepare(path: Path, data: bytes) -> Any:
        inst = Instrument.equity(spec.symbol, source=SOURCE)
        members = [_read_member(spec, raw, Ctx(str(path), member, EASTERN, DECI_CENTS,
                                                BAR_NS.get(spec.resolution or "", 0)))
                   for member, raw in zip_members(path, data)]

        def write(store: Any, batch: Any) -> None:
            ensure_instruments(store, [inst])
            for writes, repairs in members:
                for method, args, kwargs in writes:
                    getattr(store, method)(inst.instrument_id, *args, source=SOURCE, **kwargs)
                record(batch, repairs)

        return write

    return prepare


# -- futures ---------------------------------------------------------------------------------------
def future_instrument(file: str, member: str) -> Instrument:
    root, year, month = parse_future_member(file, member)
    terms = FUTURE_SPECS.get(root)
    if terms is None:
        raise IngestError(file, f"unknown futures root {root!r} (known: {', '.join(sorted(FUTURE_SPECS))})",
                          member=member, field="symbol")
    return Instrument.future(root, third_friday(year, month), multiplier=terms.multiplier,
                             price_increment=terms.price_increment, source=SOURCE)


def _future_handler(spec: LeanFile) -> Any:
    def run(store: Any, path: Path, data: bytes, batch: Any) -> None:
        members = list(zip_members(path, data))
        if not members:
            return
        if spec.resolution not in ("second", "minute"):
            raise IngestError(str(path), f"futures {spec.resolution} files are not supported yet")
        contracts = [future_instrument(str(path), m) for m, _ in members]
        ensure_instruments(store, contracts)
        names = {"trade": TRADE_BAR, "quote": QUOTE_BAR, "openinterest": OPEN_INTEREST}[spec.tick_type]
        tbl, groups, starts = read_members(str(path), members, names, column_types(names, False))
        # CME files count milliseconds from midnight UTC; prices are plain decimals
        ctx = Ctx(str(path), None, "UTC", 1.0, BAR_NS[spec.resolution], tuple(m for m, _ in members), groups, starts)
        ids = pa.array([c.instrument_id for c in contracts], pa.string()).take(pa.array(groups))
        ts = event_times(tbl, ctx, spec.day)
        size = BAR_SIZE[spec.resolution]
        if spec.tick_type == "trade":
            write_bars_many(store, size, trade_bars(tbl, ts, ctx, ids), price_type="TRADE", source=SOURCE)
        elif spec.tick_type == "openinterest":
            write_open_interest_many(store, open_interest(tbl, ts, ctx, ids), source=SOURCE)
        else:
            bid, ask, quotes, repairs = quote_bars(tbl, ts, ctx, ids=ids)
            record(batch, repairs)
            write_bars_many(store, size, bid, price_type="BID", source=SOURCE)
            write_bars_many(store, size, ask, price_type="ASK", source=SOURCE)
            for iid, part in per_instrument(quotes):
                store.write_quotes(iid, part, source=SOURCE)

    return run


# -- factor files ----------------------------------------------------------------------------------
FACTOR = ("date", "price_factor", "split_factor", "reference_price")


def _factor_handler(spec: LeanFile) -> Any:
    def run(store: Any, path: Path, data: bytes, batch: Any) -> None:
        inst = Instrument.equity(spec.symbol, source=SOURCE)
        ensure_instruments(store, [inst])
        types = {"date": pa.string(), "price_factor": pa.float64(), "split_factor": pa.float64(),
                 "reference_price": pa.float64()}
        tbl = read_csv(data, FACTOR, types, str(path))
        days = _factor_dates(tbl, str(path))
        cols = {c: f64(tbl, c) for c in FACTOR[1:]}
        for c in ("price_factor", "split_factor"):
            bad = np.flatnonzero(~(cols[c] > 0))
            if len(bad):
                raise IngestError(str(path), "factor must be a positive number", row=int(bad[0]) + 1, field=c)
        store.write_corporate_actions(inst.instrument_id, pa.table({"date": days, **cols}), source=SOURCE)

    return run


def _factor_dates(tbl: pa.Table, file: str) -> pa.Array:
    import pyarrow.compute as pc

    parsed = pc.strptime(tbl.column("date"), format="%Y%m%d", unit="s", error_is_null=True)
    if parsed.null_count:
        bad = int(np.flatnonzero(parsed.is_null().to_numpy(zero_copy_only=False))[0])
        raise IngestError(file, "date must be yyyyMMdd", row=bad + 1, field="date")
    days = parsed.cast(pa.timestamp("s")).cast(pa.date32())
    ints = days.cast(pa.int32()).to_numpy()
    back = np.flatnonzero(np.diff(ints) <= 0)
    if len(back):
        raise IngestError(file, "dates must increase", row=int(back[0]) + 2, field="date")
    return days.combine_chunks() if isinstance(days, pa.ChunkedArray) else days


_HANDLERS = {"future": _future_handler, "factor": _factor_handler}
