"""The one base exception of workbench, and how the command line renders it.

Every error raised for *bad input or a bad environment* (a malformed file, a non-finite limit, a
store locked by another process, a gateway that is not listening) is a :class:`WorkbenchError`.
It carries three structured fields so a caller can act on it and ``wb`` can print it on one line:

- ``what``:  what is wrong, in a trader's words (``"price_band_bps must be a finite number > 0"``);
- ``where``: the file/row/field, config path or endpoint it concerns (``"config/risk.yaml: defaults.price_band_bps"``);
- ``hint``:  what to do about it, when there is something to do (``"stop the node (PID 4242) or use --store"``).

>>> e = WorkbenchError("not a number: 'x'", where="bars.csv line 3, field 'close'", hint="fix the file")
>>> str(e)
"bars.csv line 3, field 'close': not a number: 'x'"
>>> e.one_line()
"bars.csv line 3, field 'close': not a number: 'x' (hint: fix the file)"

Capability packages subclass it (``IngestError``, ``ConfigError``, ``RunConfigError`` …) and may also
subclass the builtin their callers historically caught (``ValueError``), so ``except ValueError``
keeps working.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Bad input or environment, with ``what`` / ``where`` / ``hint`` for a one-line message."""

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = str(what)
        self.where = where
        self.hint = hint
        super().__init__(f"{where}: {self.what}" if where else self.what)

    def one_line(self) -> str:
        """``where: what (hint: ...)`` on a single line (newlines folded), as ``wb`` prints it."""
        text = str(self) + (f" (hint: {self.hint})" if self.hint else "")
        return " ".join(text.split())


def one_line(exc: BaseException) -> str:
    """A single line for any exception: the structured form for ours, ``Type: message`` otherwise."""
    if isinstance(exc, WorkbenchError):
        return exc.one_line()
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"
