"""Composable validators, compiled into one chain. Each validator may

* reject (a reason bit),
* modify (clip the size; later validators see the clipped size; the decision records the change),
* warn (a warning bit; the decision stays an approval),

and records the number it compared and its limit in the decision's ``values`` so the journal shows
*why*. The config's ``validators`` list picks and orders them (default: all, in :data:`DEFAULT_ORDER`);
a decision's reasons come out in that order. They run on one consistent state: the gate holds its
lock for the whole evaluation and the config numbers were written into the book by the one config
object the decision records.

Limits are multiplied by the StormGuard multiplier of the worse of the strategy's and the global
state; a *reducing* order is never blocked by exposure, policy or budget checks, only by hard sanity
(price band, order size, rate).

This module is the registry (names, codes, reasons, recorded values); the checks themselves are the
compiled :func:`workbench.risk.kernels.chain`. Why compiled: the chain is ~150 float operations and
CPython boxes every intermediate float; as one numba call on the book's arrays
(:mod:`workbench.risk.layout`) the whole chain plus the commit costs less than the Python call that
used to run a single validator. The values are written to the book's scratch row and copied out as
bytes; :mod:`workbench.risk.outcome` turns them into the dict on demand.
"""

from __future__ import annotations

from workbench.risk import layout as lay
from workbench.risk.types import Reason

# name -> (code, reason bits in the order the validator raises them, value slots in recording order)
_R = Reason
VALIDATORS = {
    "order_size": (
        lay.VC_ORDER_SIZE,
        (
            (lay.RJ_MAX_ORDER_QTY, _R.MAX_ORDER_QTY),
            (lay.RJ_MAX_ORDER_NOTIONAL, _R.MAX_ORDER_NOTIONAL),
            (lay.W_SIZE_CLIPPED, _R.SIZE_CLIPPED),
        ),
        (
            ("max_order_qty", lay.V_MAX_QTY),
            ("max_order_notional", lay.V_MAX_NOTIONAL),
            ("order_notional", lay.V_NOTIONAL),
        ),
    ),
    "price_band": (
        lay.VC_PRICE_BAND,
        ((lay.RJ_PRICE_BAND, _R.PRICE_BAND),),
        (("band_bps", lay.V_BAND), ("band_limit_bps", lay.V_BAND_LIMIT)),
    ),
    "instrument_notional": (
        lay.VC_INST_NOTIONAL,
        ((lay.RJ_MAX_INSTRUMENT_NOTIONAL, _R.MAX_INSTRUMENT_NOTIONAL),),
        (("instrument_potential", lay.V_INST_POT), ("max_instrument_notional", lay.V_INST_LIMIT)),
    ),
    "position_limit": (
        lay.VC_POSITION,
        ((lay.RJ_POSITION_LIMIT, _R.POSITION_LIMIT),),
        (("worst_position", lay.V_WORST_POS), ("max_position_qty", lay.V_POS_LIMIT)),
    ),
    "order_rate": (
        lay.VC_RATE,
        ((lay.RJ_RATE_LIMIT, _R.RATE_LIMIT), (lay.W_RATE_LIMIT_WARN, _R.RATE_LIMIT_WARN)),
        (
            ("rate_count", lay.V_RATE),
            ("rate_cap", lay.V_RATE_CAP),
            ("global_rate_count", lay.V_GRATE),
            ("global_rate_cap", lay.V_GRATE_CAP),
        ),
    ),
    "exposure_policy": (
        lay.VC_EXPOSURE,
        (
            # A throttle comes from the policy mode or from the regime tolerance, never both, and
            # either way before the cap/bucket/group checks: one position per reason is exact.
            (lay.RJ_POLICY_THROTTLE, _R.POLICY_THROTTLE),
            (lay.RJ_POLICY_DERISK, _R.POLICY_DERISK),
            (lay.RJ_GROSS_EXPOSURE_CAP, _R.GROSS_EXPOSURE_CAP),
            (lay.RJ_BUCKET_LIMIT, _R.BUCKET_LIMIT),
            (lay.RJ_GROUP_LIMIT, _R.GROUP_LIMIT),
        ),
        (
            ("potential_gross_pct", lay.V_GROSS_PCT),
            ("bucket_potential_pct", lay.V_BUCKET_PCT),
            ("group_potential_pct", lay.V_GROUP_PCT),
        ),
    ),
    "budget": (
        lay.VC_BUDGET,
        ((lay.RJ_BUDGET_EXHAUSTED, _R.BUDGET_EXHAUSTED),),
        (("budget_delta", lay.V_BUDGET_DELTA), ("budget_available", lay.V_BUDGET_AVAIL)),
    ),
}
DEFAULT_ORDER = tuple(VALIDATORS)


def chain_code(names) -> int:
    """The validator order packed 3 bits per validator, as the chain kernel reads it."""
    return sum(VALIDATORS[n][0] << (3 * i) for i, n in enumerate(names))
