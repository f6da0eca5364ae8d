"""The one way a benchmark suite writes a metric line (``python -m benchmarks`` prints them as JSON).

Every line carries the same fields, so a reader never has to guess a suite's conventions:

- ``value``/``unit`` — what the project measured; ``anchor``/``anchor_value`` — the reference
  measured in the same run (``anchor_value`` None when there is no anchor by design: ``anchor`` then
  says ``"none"``);
- ``ratio`` — always project / anchor, whichever way is good; ``higher_is_better`` says which way
  that is (required: there is no default to forget);
- ``goal``/``meets`` — when the metric has a goal;
- ``anchor_status`` — ``"anchor unavailable: <why>"`` when the anchor could not run (a missing
  package, environment or tool): the line is still printed, never silence or a TypeError.

>>> metric("x_per_s", 200.0, "1/s", "naive loop", 100.0, higher_is_better=True, goal=150)["ratio"]
2.0
>>> row = metric("x_ms", 5.0, "ms", "naive", anchor_error="ImportError: no module named 'q'", higher_is_better=False)
>>> row["anchor_status"], row["ratio"]
("anchor unavailable: ImportError: no module named 'q'", None)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["emit", "metric", "try_anchor"]


def _num(x: Any) -> float | None:
    """Six significant digits (an error of 1e-9 must not print as 0.0); None for None/NaN/inf."""
    if x is None:
        return None
    x = float(x)
    return float(f"{x:.6g}") if math.isfinite(x) else None


def metric(name: str, value: Any, unit: str, anchor: str, anchor_value: Any = None, *, higher_is_better: bool,
           goal: Any = None, anchor_error: str | None = None, **extra: Any) -> dict[str, Any]:
    """One metric line; ``anchor_error`` marks the anchor as unavailable (and says why)."""
    v, a = _num(value), None if anchor_error else _num(anchor_value)
    row: dict[str, Any] = {"metric": name, "value": v, "unit": unit, "anchor": anchor, "anchor_value": a,
                           "ratio": _num(float(value) / float(anchor_value)) if v is not None and a else None,
                           "higher_is_better": bool(higher_is_better)}
    if anchor_error:
        row["anchor_status"] = f"anchor unavailable: {' '.join(str(anchor_error).split())}"
    if goal is not None:
        row["goal"] = goal
        # a NaN/None value meets no goal (the accepting comparison must hold)
        row["meets"] = v is not None and bool(v >= float(goal) if higher_is_better else v <= float(goal))
    row.update(extra)
    return row


def try_anchor(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Run an anchor measurement: ``(result, None)``, or ``(None, "Type: message")`` if it cannot run."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # an anchor is someone else's code in someone else's environment
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def emit(rows: list[dict[str, Any]]) -> None:
    """Print each row as one JSON line (what ``python -m benchmarks.<suite>`` does when run directly)."""
    for row in rows:
        print(json.dumps(row, default=float), flush=True)
