"""The one exception every ingest path raises for bad input.

An :class:`IngestError` always says *where*: the file, the member inside a zip when there is one,
the 1-based line in that member (or file) and the field. Nothing is written when it is raised —
each file is one store batch, rolled back as a whole.

>>> str(IngestError("spy.zip", "negative price", member="spy.csv", row=12, field="close"))
"spy.zip[spy.csv] line 12, field 'close': negative price"
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from workbench.errors import WorkbenchError


class IngestError(WorkbenchError, ValueError):
    """Bad input, located: ``file[member] line N, field F: message``."""

    def __init__(self, file: str, message: str, *, member: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        self.file = str(file)
        self.member = member
        self.row = row
        self.field = field
        self.message = message
        where = self.file + (f"[{member}]" if member else "")
        if row is not None:
            where += f" line {row}"
        if field is not None:
            where += f", field {field!r}" if row is not None else f" field {field!r}"
        super().__init__(message, where=where)


def not_utf8(file: str, exc: UnicodeDecodeError, *, what: str = "not UTF-8 text", member: str | None = None,
             first_line: int = 1) -> IngestError:
    """The one message for undecodable text: 1-based line and 1-based byte within that line.

    Both are counted in the bytes that failed to decode (``exc.object``), whose first line is
    ``first_line`` of the file: a reader decoding the whole file gets file lines, one decoding a
    header gets line 1. (``exc.start`` alone is a 0-based offset into whatever was decoded.)
    """
    data = bytes(exc.object) if not isinstance(exc.object, bytes) else exc.object
    start = exc.start
    line = first_line + data.count(b"\n", 0, start)
    column = start - (data.rfind(b"\n", 0, start) + 1) + 1
    return IngestError(file, f"{what} (byte {column} of the line)", member=member, row=line)


def locate_csv_error(file: str, data: bytes, names: Sequence[str], numeric: Sequence[str], *,
                     member: str | None = None, delimiter: str = ",", first_line: int = 1, skip_lines: int = 0,
                     cause: Exception | None = None) -> IngestError:
    """Find the first malformed line of ``data`` after a fast parser rejected it.

    Only runs on the error path, so plain Python is fine here; it walks the buffer one line at a
    time (never a decoded copy of the whole file). ``skip_lines`` leading lines (a header) are not
    data; ``first_line`` is the line number of the first data line. Empty fields are allowed (they
    mean "absent"); text that is not UTF-8 is named with its line.
    """
    numeric_idx = sorted({names.index(n) for n in numeric if n in names})
    for offset, raw in enumerate(io.BytesIO(data)):
        if offset < skip_lines:
            continue
        line = first_line + offset - skip_lines
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return not_utf8(file, exc, member=member, first_line=line)
        try:
            fields = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), [])
        except csv.Error as exc:
            return IngestError(file, f"malformed CSV ({exc})", member=member, row=line)
        if not fields:
            continue
        if len(fields) != len(names):
            return IngestError(file, f"expected {len(names)} fields ({', '.join(names)}), got {len(fields)}",
                               member=member, row=line)
        for i in numeric_idx:
            value = fields[i].strip()
            if value == "":
                continue
            try:
                float(value)
            except ValueError:
                return IngestError(file, f"not a number: {value[:40]!r}", member=member, row=line, field=names[i])
    detail = f" ({' '.join(str(cause).split())[:200]})" if cause else ""
    return IngestError(file, f"unreadable CSV{detail}", member=member)
