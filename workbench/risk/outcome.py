"""Reading a validator chain's result back: reason codes in chain order, and the ``values`` dict of a
decision from the values row the compiled chain wrote (:mod:`workbench.risk.validators`).

A values row records which chain and which regime names it was made under (an interned layout id), so
a decision can be decoded long after the config it came from was swapped out.
"""

from __future__ import annotations

import numpy as np

from workbench.risk import layout as lay
from workbench.risk.types import Reason
from workbench.risk.validators import VALIDATORS

_INT_VALUES = frozenset({"rate_count", "rate_cap", "global_rate_count", "global_rate_cap"})
_LAYOUTS: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
_LAYOUT_IDS: dict[tuple, int] = {}
_PLANS: dict[int, tuple] = {}


def reasons_of(names, bits: int) -> tuple[Reason, ...]:
    """Reason codes of a result word in chain order: rejects if any, else warnings."""
    rejects = bits & lay.REJECTS
    wanted = rejects if rejects else bits & ~lay.REJECTS
    return tuple(r for n in names for bit, r in VALIDATORS[n][1] if wanted & bit)


def layout_id(names, regimes) -> int:
    """The interned id of a (validator order, regime names) pair, written into every values row."""
    key = (tuple(names), tuple(regimes))
    got = _LAYOUT_IDS.get(key)
    if got is None:
        got = _LAYOUT_IDS.setdefault(key, len(_LAYOUTS))
        if got == len(_LAYOUTS):
            _LAYOUTS.append(key)
    return got


def _plan(layout: int) -> tuple[tuple[str, ...], tuple[tuple[str, int, bool], ...]]:
    """(regime names, (key, slot, is_int) in recording order) of a layout id."""
    got = _PLANS.get(layout)
    if got is None:
        names, regimes = _LAYOUTS[layout]
        slots = tuple((k, slot, k in _INT_VALUES) for n in names for k, slot in VALIDATORS[n][2])
        got = _PLANS[layout] = (regimes, slots)
    return got


def decode_rows(raw: list[dict | bytes]) -> list[dict]:
    """``values`` dicts of many decisions (values rows decoded in one pass; dicts passed through):
    validator by validator in chain order, each in the order it records, only what was recorded."""
    blobs = [v for v in raw if type(v) is bytes]
    rows = iter(np.frombuffer(b"".join(blobs), dtype=np.float64).reshape(len(blobs), lay.NV).tolist())
    out = []
    for v in raw:
        if type(v) is not bytes:
            out.append(v)
            continue
        row = next(rows)
        regimes, slots = _plan(int(row[lay.V_LAYOUT]))
        d = {
            "storm_multiplier": row[lay.V_STORM_MULT],
            "regime": regimes[int(row[lay.V_REGIME])],
            "reducing": bool(row[lay.V_REDUCING]),
        }
        for key, slot, as_int in slots:
            x = row[slot]
            if x == x:
                d[key] = int(x) if as_int else x
        out.append(d)
    return out


def decode_values(blob: bytes) -> dict:
    """The ``values`` dict of one decision's values row."""
    return decode_rows([blob])[0]


def commit_record(blob: bytes) -> tuple[float, float, float, float]:
    """(final qty, price, budget delta, strategy potential after) of an approved decision."""
    row = np.frombuffer(blob, dtype=np.float64)
    return tuple(row[[lay.X_Q, lay.X_PX, lay.X_BUDGET_DELTA, lay.X_BUDGET_USED]].tolist())
