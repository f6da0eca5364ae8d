"""What every ingest path shares: the per-file batch loop, progress bars, time zones, validation.

One file is one store batch (:meth:`Store.ingest`): one transaction and one ``ingest_log`` row
carrying the file's sha256 and the counts of every repair policy applied. A file whose bytes were
already ingested successfully is skipped (``force=True`` re-reads it; the merge keeps the data
unchanged either way), so running the same ingest twice leaves ``store.info()`` identical.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from workbench.ingest.errors import IngestError, locate_csv_error, not_utf8
from workbench.ingest.limits import BINARY_MAGIC, BLOCK, LineScan, current

NS_PER_MS = 1_000_000


# -- results ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileResult:
    """The outcome of one file: ``ingested`` (with counts), ``skipped`` (bytes seen before) or
    ``failed`` (``error`` says why; only with ``keep_going``: nothing of that file was written) or
    ``empty`` (0 rows: nothing written, no ``ingest_log`` row)."""

    path: str
    status: str
    ingest_id: int | None = None
    rows_in: int = 0
    inserted: int = 0
    unchanged: int = 0
    revised: int = 0
    repairs: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class IngestSummary:
    """Totals over a multi-file ingest; ``.to_frame()`` has one row per file."""

    files: list[FileResult] = field(default_factory=list)

    def _total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    rows_in = property(lambda self: self._total("rows_in"))
    inserted = property(lambda self: self._total("inserted"))
    unchanged = property(lambda self: self._total("unchanged"))
    revised = property(lambda self: self._total("revised"))

    @property
    def skipped(self) -> int:
        return sum(f.status == "skipped" for f in self.files)

    @property
    def failed(self) -> int:
        return sum(f.status == "failed" for f in self.files)

    @property
    def repairs(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.repairs.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    def to_frame(self) -> pd.DataFrame:
        cols = ["path", "status", "ingest_id", "rows_in", "inserted", "unchanged", "revised", "repairs", "error"]
        return pd.DataFrame([{c: getattr(f, c) for c in cols} for f in self.files], columns=cols)

    def summary(self) -> str:
        empty = sum(f.status == "empty" for f in self.files)
        ingested = len(self.files) - self.skipped - self.failed - empty
        lines = [f"files: {len(self.files)} ({ingested} ingested, {self.skipped} skipped: already ingested, "
                 f"{self.failed} failed" + (f", {empty} with 0 rows" if empty else "") + ")",
                 f"rows: {self.rows_in:,} read, {self.inserted:,} inserted, {self.unchanged:,} unchanged, "
                 f"{self.revised:,} revised"]
        if self.repairs:
            lines.append("repairs: " + ", ".join(f"{k}={v:,}" for k, v in self.repairs.items()))
        lines += [f"failed: {f.error}" for f in self.files if f.status == "failed"]
        lines += [f"empty: {f.path}: 0 rows, nothing written" for f in self.files if f.status == "empty"]
        return "\n".join(lines)

    def __add__(self, other: IngestSummary) -> IngestSummary:
        return IngestSummary(self.files + other.files)

    __str__ = summary


# -- the per-file loop -----------------------------------------------------------------------------
class _NoRows(Exception):
    """Internal: a file held 0 rows (header only, empty zip); its batch is rolled back."""


Handler = Callable[[Any, Path, bytes, Any], None]


def progress_disabled(quiet: bool) -> bool:
    """Progress bars are off when asked, in CI, or when ``TQDM_DISABLE`` is set."""
    return quiet or bool(os.environ.get("CI")) or bool(os.environ.get("TQDM_DISABLE"))


def progress(items: Sequence[Any], desc: str, quiet: bool) -> Iterable[Any]:
    if progress_disabled(quiet) or len(items) < 2:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file")


def ingested_hashes(store: Any, source: str) -> set[str]:
    """The sha256 of every file of ``source`` ingested OK (one query for a whole multi-file ingest)."""
    rows = store.con.execute("SELECT DISTINCT sha256 FROM ingest_log WHERE source = ? AND status = 'OK' "
                             "AND sha256 IS NOT NULL", [source]).fetchall()
    return {r[0] for r in rows}


def write_file(store: Any, path: Path, source: str, sha: str, write: Callable[[Any, Any], None]) -> FileResult:
    """``write(store, batch)`` inside one store batch for ``path``; a batch of 0 rows is rolled back."""
    try:
        with store.ingest(source, str(path), sha) as batch:
            write(store, batch)
            if not batch.counts.rows_in:
                raise _NoRows  # roll back: no ingest_log row may claim a file of 0 rows succeeded
    except _NoRows:
        return FileResult(str(path), "empty")
    except UnicodeDecodeError as exc:
        raise not_utf8(str(path), exc) from None
    c = batch.counts
    return FileResult(str(path), "ingested", batch.ingest_id, c.rows_in, c.inserted, c.unchanged, c.revised,
                      dict(sorted(batch.repairs.items())))


def scan_file(path: Path) -> str:
    """sha256 of the file, streamed in blocks; a text file is refused at its first over-long line
    (:mod:`workbench.ingest.limits`) before it is ever held in memory whole."""
    sha = hashlib.sha256()
    scan = LineScan(str(path))
    try:
        with open(path, "rb") as fh:
            block = fh.read(BLOCK)
            # zips and parquet are checked when unpacked/parsed; a JSON document (a Cboe chain is one
            # line of several MB) has no line structure to cap
            text = block[:4] not in BINARY_MAGIC and block.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"{", b"[")
            while block:
                if text:
                    scan.feed(block)
                sha.update(block)
                block = fh.read(BLOCK)
    except OSError as exc:
        raise IngestError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return sha.hexdigest()


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike], accept: Callable[[Path], bool]
                 ) -> list[Path]:
    """Files given directly are kept (and judged later); directories are walked for ``accept``-ed files."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and accept(f))
            if not found:  # a mistyped folder must not look like a successful ingest of nothing
                raise IngestError(str(p), "no files of this format in the folder: 0 rows")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise IngestError(str(p), "no such file or directory")
    return out


# -- time ------------------------------------------------------------------------------------------
def day_start_ns(day: date) -> int:
    """Naive midnight of ``day`` as int64 ns (no zone yet)."""
    return int(np.datetime64(day, "D").astype("datetime64[ns]").astype(np.int64))


def localize(naive_ns: np.ndarray, tz: str) -> np.ndarray:
    """Wall-clock ns in ``tz`` -> UTC ns, DST-aware per row.

    Ambiguous or non-existent wall times (the DST switch hours) come back as ``INT64_MIN`` so the
    caller can name the row. Within one day without a switch this is a single vectorised add.
    """
    if tz == "UTC" or len(naive_ns) == 0:
        return naive_ns.astype(np.int64, copy=False)
    lo, hi = int(naive_ns.min()), int(naive_ns.max())
    if hi - lo < 86_400 * 10**9:
        ends = pd.DatetimeIndex(np.array([lo, hi], dtype="datetime64[ns]")).tz_localize(
            tz, ambiguous="NaT", nonexistent="NaT")
        if not ends.isna().any():
            off_lo, off_hi = (ends.asi8 - np.array([lo, hi]))
            if off_lo == off_hi:  # no DST switch inside the span
                return naive_ns + off_lo
    idx = pd.DatetimeIndex(naive_ns.astype("datetime64[ns]")).tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return idx.asi8


def check_localized(utc_ns: np.ndarray, file: str, field_name: str, *, member: str | None = None,
                    first_line: int = 1) -> None:
    bad = np.flatnonzero(utc_ns == np.iinfo(np.int64).min)
    if len(bad):
        raise IngestError(file, "ambiguous or non-existent local time (DST switch)", member=member,
                          row=first_line + int(bad[0]), field=field_name)


# -- validation ------------------------------------------------------------------------------------
def first_not_increasing(ts: np.ndarray, *, strict: bool = True, groups: np.ndarray | None = None) -> int | None:
    """Index of the first row whose time is not after (``strict``) / is before the previous row's,
    comparing only rows of the same group (e.g. the same zip member) when ``groups`` is given."""
    if len(ts) < 2:
        return None
    d = np.diff(ts)
    bad = d <= 0 if strict else d < 0
    if groups is not None:
        bad &= groups[1:] == groups[:-1]
    idx = np.flatnonzero(bad)
    return int(idx[0]) + 1 if len(idx) else None


def first_bad_price(columns: dict[str, np.ndarray], *, allow_nan: bool = False,
                    allow_zero: bool | None = None) -> tuple[int, str, str] | None:
    """(row index, column, why) of the first price that is not a positive finite number.

    NaN is allowed only where it means "absent" (``allow_nan``: a missing quote side); there a
    zero stays allowed too unless ``allow_zero`` says otherwise (bid 0 = no bid; Lean quote
    ticks put 0 on the side they do not update). Every check is written so NaN cannot slip through
    a comparison (``NaN <= 0`` is false): inf, zero and negative are each named.
    """
    zero_ok = allow_nan if allow_zero is None else allow_zero
    first: tuple[int, str, str] | None = None
    for name, values in columns.items():
        nan = np.isnan(values)
        checks = (
            (np.isinf(values), "non-finite price"),
            (values < 0, "negative price"),
            (np.zeros(len(values), dtype=bool) if allow_nan else nan, "missing (NaN) price"),
            (np.zeros(len(values), dtype=bool) if zero_ok else values == 0, "zero price"),
        )
        for mask, why in checks:
            idx = np.flatnonzero(mask)
            if len(idx) and (first is None or idx[0] < first[0]):
                first = (int(idx[0]), name, why)
    return first


def first_bad_ohlc(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> tuple[int, str, str] | None:
    """(row index, field role, why) of the first bar whose high < low or open/close outside [low, high].

    Written as ``NOT (inside)`` so a NaN anywhere counts as bad rather than passing silently;
    rows where all four are NaN (an absent quote side) are allowed.
    """
    absent = np.isnan(o) & np.isnan(h) & np.isnan(lo) & np.isnan(c)
    checks = (
        ("high", "high below low", ~(h >= lo)),
        ("open", "open outside [low, high]", ~((o >= lo) & (o <= h))),
        ("close", "close outside [low, high]", ~((c >= lo) & (c <= h))),
    )
    first: tuple[int, str, str] | None = None
    for role, why, mask in checks:
        idx = np.flatnonzero(mask & ~absent)
        if len(idx) and (first is None or idx[0] < first[0]):
            first = (int(idx[0]), role, why)
    return first


def check_increasing(ts: np.ndarray, file: str, field_name: str, *, member: str | None = None,
                     first_line: int = 1, strict: bool = True) -> None:
    """Event times must not go backwards (bars: must strictly increase)."""
    i = first_not_increasing(ts, strict=strict)
    if i is not None:
        what = "time not after the previous row" if strict else "time goes backwards"
        raise IngestError(file, what, member=member, row=first_line + i, field=field_name)


def check_prices(columns: dict[str, np.ndarray], file: str, *, member: str | None = None, first_line: int = 1,
                 allow_nan: bool = False) -> None:
    """Reject prices that are not positive finite numbers (NaN allowed if asked), naming the first bad row."""
    bad = first_bad_price(columns, allow_nan=allow_nan)
    if bad is not None:
        raise IngestError(file, bad[2], member=member, row=first_line + bad[0], field=bad[1])


def check_ohlc(columns: dict[str, np.ndarray], file: str, *, member: str | None = None, first_line: int = 1) -> None:
    """``columns`` maps open/high/low/close to (file field name, values); reject inconsistent bars."""
    bad = first_bad_ohlc(*(columns[k][1] for k in ("open", "high", "low", "close")))
    if bad is not None:
        raise IngestError(file, bad[2], member=member, row=first_line + bad[0], field=columns[bad[1]][0])


# -- CSV -------------------------------------------------------------------------------------------
def read_csv(data: bytes, names: Sequence[str], types: dict[str, pa.DataType], file: str, *,
             member: str | None = None, delimiter: str = ",", skip_rows: int = 0, threads: bool = True) -> pa.Table:
    """Parse headerless CSV bytes with pyarrow; on failure, name the first bad line and field.
    ``threads=False`` parses on the calling thread (a read-ahead thread is already the parallelism)."""
    if data and not data.endswith(b"\n"):
        data += b"\n"  # pyarrow rejects a single line without a newline
    if not data or data.isspace():  # (not strip(): that copies the whole buffer)
        return pa.table({n: pa.array([], type=types.get(n, pa.string())) for n in names})
    try:
        tbl = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=list(names), skip_rows=skip_rows, use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        numeric = [n for n, t in types.items() if pa.types.is_integer(t) or pa.types.is_floating(t)]
        raise locate_csv_error(file, data, names, numeric, member=member, delimiter=delimiter,
                               first_line=skip_rows + 1, skip_lines=skip_rows, cause=exc) from exc
    _check_field_lengths(tbl, file, member=member, first_line=skip_rows + 1)
    return tbl


def _check_field_lengths(tbl: pa.Table, file: str, *, member: str | None, first_line: int) -> None:
    """Text fields over ``max_field_bytes`` are refused (numbers that long already failed to parse)."""
    cap = current().max_field_bytes
    for name in tbl.column_names:
        col = tbl.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_binary(col.type)) or not len(col):
            continue
        lengths = pc.binary_length(col)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > cap:
            row = int(np.flatnonzero(pc.greater(lengths, cap).to_numpy(zero_copy_only=False))[0])
            raise IngestError(file, f"field longer than {cap:,} bytes (limit max_field_bytes)", member=member,
                              row=first_line + row, field=name)


def f64(tbl: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 numpy, nulls as NaN."""
    col = tbl.column(name)
    if col.null_count:
        return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return np.asarray(col.to_numpy(), dtype=np.float64)
