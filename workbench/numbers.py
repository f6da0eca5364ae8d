"""NaN-safe number checks shared by every boundary (risk config, feeds, fills, intents, ingest).

Written the way nautilus's ``Condition.positive`` is: the *accepting* comparison is the one that must
hold (``x > 0``), so NaN — for which every comparison is false — is refused instead of slipping
through a refusing comparison such as ``if x <= 0: refuse``.

>>> is_positive(1.5), is_positive(0.0), is_positive(float("nan")), is_positive(float("inf"))
(True, False, False, False)
>>> require_positive(float("nan"), "defaults.price_band_bps", where="config/risk.yaml")
Traceback (most recent call last):
...
workbench.numbers.BadNumber: config/risk.yaml: defaults.price_band_bps must be a finite number > 0, got nan
"""

from __future__ import annotations

import math
from decimal import Decimal
from numbers import Real

from workbench.errors import WorkbenchError

__all__ = ["BadNumber", "is_finite", "is_non_negative", "is_positive", "require_finite", "require_non_negative",
           "require_positive"]


class BadNumber(WorkbenchError, ValueError):
    """A value that is not the finite number its field needs; ``field`` names it."""

    def __init__(self, field: str, need: str, value: object, *, where: str | None = None) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} must be {need}, got {value!r}", where=where)


def _real(x: object) -> float | None:
    # bool is an int subclass but `True` is never a meaningful limit or price
    if isinstance(x, bool) or not isinstance(x, Real | Decimal):
        return None
    try:
        return float(x)
    except (ValueError, OverflowError):  # Decimal('sNaN') cannot even be converted
        return None


def is_finite(x: object) -> bool:
    """A real number that is neither NaN nor ±inf."""
    if type(x) is float:  # the per-quote case: skip _real's ABC isinstance checks, same verdict
        return math.isfinite(x)
    v = _real(x)
    return v is not None and math.isfinite(v)


def is_positive(x: object) -> bool:
    """Finite and ``> 0``; False for NaN, ±inf, None, bools and non-numbers."""
    v = _real(x)
    return v is not None and v > 0 and v < math.inf


def is_non_negative(x: object) -> bool:
    """Finite and ``>= 0``; False for NaN, ±inf, None, bools and non-numbers."""
    v = _real(x)
    return v is not None and v >= 0 and v < math.inf


def require_finite(x: object, field: str, *, where: str | None = None) -> float:
    if is_finite(x):
        return float(x)  # type: ignore[arg-type]
    raise BadNumber(field, "a finite number", x, where=where)


def require_positive(x: object, field: str, *, where: str | None = None) -> float:
    if is_positive(x):
        return float(x)  # type: ignore[arg-type]
    raise BadNumber(field, "a finite number > 0", x, where=where)


def require_non_negative(x: object, field: str, *, where: str | None = None) -> float:
    if is_non_negative(x):
        return float(x)  # type: ignore[arg-type]
    raise BadNumber(field, "a finite number >= 0", x, where=where)
