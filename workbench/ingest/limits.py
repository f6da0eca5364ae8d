"""Memory caps for hostile input files: line and field length, zip member count, size and ratio.

Without them a 1 GB sparse file (no newline at all) or a 200 KB zip holding 200 MB of NULs was
read whole and handed to the CSV parser, peaking at several GB of RSS before a parser traceback.
Each cap is checked *before* the bytes it guards are held in memory:

- a text file is first streamed in :data:`BLOCK` chunks (hashing it on the way) and refused at the
  first line longer than ``max_line_bytes`` — so the sparse file costs one block, not 1 GB;
- a zip's directory is checked before any member is inflated: member count, each member's
  declared size against ``max_unpacked_bytes`` (the running total too) and its expansion ratio;
  ``zipfile`` never returns more than the declared size, so a lying header cannot get past;
- each inflated member gets the same line check as a text file;
- string fields (exchange, condition, text dates) longer than ``max_field_bytes`` are refused
  after the parse (numbers that long fail their conversion anyway).

Every refusal is an :class:`~workbench.ingest.errors.IngestError` naming the file, member and line.
The defaults are far above any real file in ``../shared/data/real`` (largest member 14 MB, ratio
10.7x, 2,192 members); raise them per call with ``ingest_lean(..., limits=IngestLimits(...))``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import msgspec

from workbench.ingest.errors import IngestError

MiB = 1 << 20
BLOCK = 4 * MiB
BINARY_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PAR1")  # zip, empty zip, parquet: no line structure


class IngestLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Caps on what one input file may make the ingest hold in memory (defaults documented inline)."""

    max_line_bytes: int = MiB                # one CSV line; the longest real line is ~300 bytes
    max_field_bytes: int = 64 * 1024         # one text field after parsing
    max_zip_members: int = 100_000           # members of one zip (real option zips: ~2,200)
    max_unpacked_bytes: int = 1024 * MiB     # all members of one zip, inflated
    max_zip_ratio: float = 200.0             # inflated / compressed size of one member (real: <= 11x)
    ratio_floor_bytes: int = MiB             # members smaller than this are exempt from the ratio cap

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if not getattr(self, name) > 0:  # NaN-safe: the accepting comparison must hold
                raise ValueError(f"IngestLimits.{name} must be > 0, got {getattr(self, name)!r}")


DEFAULT_LIMITS = IngestLimits()
_CURRENT: ContextVar[IngestLimits] = ContextVar("ingest_limits", default=DEFAULT_LIMITS)


def current() -> IngestLimits:
    """The limits of the ingest running in this context (defaults outside one)."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_limits(limits: IngestLimits | None) -> Iterator[IngestLimits]:
    """Apply ``limits`` (None: keep the current ones) to every file read inside the block."""
    token = _CURRENT.set(limits) if limits is not None else None
    try:
        yield current()
    finally:
        if token is not None:
            _CURRENT.reset(token)


class LineScan:
    """Streams a buffer's blocks and raises at the first line longer than ``max_line_bytes``.

    Costs one ``rfind`` per ``max_line_bytes`` of input (a jump to the last newline in reach), so it
    reads at memory speed and never splits the data into lines.
    """

    def __init__(self, file: str, *, member: str | None = None, limits: IngestLimits | None = None,
                 track: bool = True) -> None:
        self.file, self.member, self.track = file, member, track  # track: line numbers across blocks
        self.max = (limits or current()).max_line_bytes
        self.lines = 0  # complete lines seen before the current block
        self.run = 0    # bytes of the unfinished line carried from the previous block

    def feed(self, block: bytes) -> None:
        # a line ends at LF or CR (pyarrow reads CR-only files too); line numbers count LFs
        first = _first_break(block)
        if first < 0:
            self.run += len(block)
            if self.run > self.max:
                self._fail(block, 0)
            return
        if self.run + first > self.max:
            self._fail(block, 0)
        pos = first + 1
        while len(block) - pos > self.max:
            nl = _last_break(block, pos, pos + self.max + 1)
            if nl < 0:
                self._fail(block, pos)
            pos = nl + 1
        self.run = len(block) - _last_break(block, 0, len(block)) - 1
        if self.track:
            self.lines += block.count(b"\n")

    def _fail(self, block: bytes, pos: int) -> None:
        line = self.lines + block.count(b"\n", 0, pos) + 1
        raise IngestError(self.file, f"line longer than {self.max:,} bytes (limit max_line_bytes; a text file "
                          "of this shape is not market data)", member=self.member, row=line)


def _first_break(block: bytes) -> int:
    lf, cr = block.find(b"\n"), block.find(b"\r")
    return lf if cr < 0 else cr if lf < 0 else min(lf, cr)


def _last_break(block: bytes, lo: int, hi: int) -> int:
    return max(block.rfind(b"\n", lo, hi), block.rfind(b"\r", lo, hi))


def check_lines(data: bytes, file: str, *, member: str | None = None) -> None:
    """:class:`LineScan` over one in-memory buffer (a zip member)."""
    LineScan(file, member=member, track=False).feed(data)
