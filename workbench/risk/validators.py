"""Composable validators. Each is a function of one evaluation context that may

* reject (append a reason to ``c.rejects``),
* modify (clip ``c.q`` and record the change in ``c.changes``; later validators see the clipped size),
* warn (append to ``c.warns``; the decision stays an approval),

and records the number it compared and its limit in ``c.values`` so the journal shows *why*. The
config's ``validators`` list picks and orders them (default: all, in :data:`DEFAULT_ORDER`). They run
on one consistent state: the gate holds its lock for the whole evaluation, and ``c.cfg`` is the one
config object captured at the start.

Limits are multiplied by the StormGuard multiplier of the worse of the strategy's and the global
state; a *reducing* order is never blocked by exposure, policy or budget checks, only by hard sanity
(price band, order size, rate).
"""

from __future__ import annotations

import math
from decimal import Decimal

from workbench.risk.types import PolicyMode, Reason, exact_decimal

_R = Reason


class Ctx:
    __slots__ = (
        "cfg",
        "book",
        "gate",
        "intent",
        "leg",
        "quote",
        "sign",
        "q",
        "q0",
        "px",
        "mark",
        "imult",
        "lot",
        "lim",
        "mult",
        "reducing",
        "base_buy",
        "base_sell",
        "pot_after",
        "values",
        "changes",
        "rejects",
        "warns",
        "ts",
        "regime",
        "mode",
        "clip",
    )


def _clip(c: Ctx, limit_qty: float, reason: Reason) -> None:
    new_q = math.floor(limit_qty / c.lot + 1e-9) * c.lot
    if c.clip and new_q > 0.0:
        c.changes["qty"] = [str(c.intent.qty), repr(new_q)]
        c.q = new_q
        if Reason.SIZE_CLIPPED not in c.warns:
            c.warns.append(Reason.SIZE_CLIPPED)
    else:
        c.rejects.append(reason)


def price_band(c: Ctx) -> None:
    """Buy no higher than ask * (1 + band), sell no lower than bid * (1 - band); bps vs the touch."""
    qt = c.quote
    dev = (c.px / qt.ask - 1.0) * 1e4 if c.sign > 0 else (1.0 - c.px / qt.bid) * 1e4
    band = c.lim[4]
    c.values["band_bps"] = dev
    c.values["band_limit_bps"] = band
    if dev > band:
        c.rejects.append(_R.PRICE_BAND)


def order_size(c: Ctx) -> None:
    """Per-order quantity and notional; clipped to the limit when ``clip_to_limits`` (APPROVE_MODIFIED)."""
    mq = c.lim[0] * c.mult
    mn = c.lim[1] * c.mult
    c.values["max_order_qty"] = mq
    c.values["max_order_notional"] = mn
    if c.q > mq:
        _clip(c, mq, _R.MAX_ORDER_QTY)
    unit = c.px * c.imult
    if c.q * unit > mn:
        _clip(c, mn / unit, _R.MAX_ORDER_NOTIONAL)
    c.values["order_notional"] = c.q * unit


def _potential(c: Ctx) -> tuple[float, float]:
    """(worst-case notional, worst-case |position|) of the leg with this order working."""
    pos = c.leg.pos
    q = c.q
    a = pos + c.base_buy + (q if c.sign > 0 else 0.0)
    b = pos - c.base_sell - (q if c.sign < 0 else 0.0)
    a = a if a >= 0.0 else -a
    b = b if b >= 0.0 else -b
    worst = a if a > b else b
    return worst * c.mark * c.imult, worst


def instrument_notional(c: Ctx) -> None:
    """The strategy's worst-case notional in this instrument if every working order fills."""
    pot, worst_pos = _potential(c)
    c.pot_after = pot
    lim = c.lim[2] * c.mult
    c.values["instrument_potential"] = pot
    c.values["max_instrument_notional"] = lim
    if not c.reducing and pot > lim:
        c.rejects.append(_R.MAX_INSTRUMENT_NOTIONAL)


def position_limit(c: Ctx) -> None:
    """Worst-case absolute position (position plus same-side working orders plus this one)."""
    _, worst_pos = _potential(c)
    lim = c.lim[3] * c.mult
    c.values["worst_position"] = worst_pos
    c.values["max_position_qty"] = lim
    if not c.reducing and worst_pos > lim:
        c.rejects.append(_R.POSITION_LIMIT)


def order_rate(c: Ctx) -> None:
    """Sliding windows (exchange time) per strategy and global: warn at ``warn_frac`` of the soft
    cap, block at the cap."""
    n, cap, gn, gcap, warn_frac, gwarn_frac = c.gate._rate_counts(c.cfg, c.intent.strategy_id, c.ts)
    c.values["rate_count"] = n
    c.values["rate_cap"] = cap
    c.values["global_rate_count"] = gn
    c.values["global_rate_cap"] = gcap
    if n >= cap or gn >= gcap:
        c.rejects.append(_R.RATE_LIMIT)
    elif n >= warn_frac * cap or gn >= gwarn_frac * gcap:
        c.warns.append(_R.RATE_LIMIT_WARN)


def exposure_policy(c: Ctx) -> None:
    """Policy mode, gross hard cap, regime tolerance on potential, bucket and group maxima."""
    if c.reducing:
        return
    mode = c.mode
    if mode is PolicyMode.THROTTLE_NEW_ORDERS:
        c.rejects.append(_R.POLICY_THROTTLE)
    elif mode >= PolicyMode.SOFT_DERISK:
        c.rejects.append(_R.POLICY_DERISK)
    book, spec = c.book, c.cfg.spec
    if c.pot_after is None:
        c.pot_after = _potential(c)[0]
    delta = c.pot_after - c.leg.pot
    pct = 100.0 / spec.equity
    gp = (book.gross_pot + delta) * pct
    c.values["potential_gross_pct"] = gp
    cap = spec.exposure.hard_cap_pct
    if gp > cap:
        c.rejects.append(_R.GROSS_EXPOSURE_CAP)
    elif gp >= c.regime.tolerance_pct and mode is PolicyMode.NORMAL:
        c.rejects.append(_R.POLICY_THROTTLE)
    b = spec.exposure.buckets.get(c.leg.bucket)
    if b is not None:
        bp = (c.leg.cells[0][1] + delta) * pct
        c.values["bucket_potential_pct"] = bp
        if bp > b.max_pct:
            c.rejects.append(_R.BUCKET_LIMIT)
    g = c.leg.group
    if g:
        gmax = spec.exposure.group_max_pct[g]
        gpp = (c.leg.cells[2][0] + delta) * pct
        c.values["group_potential_pct"] = gpp
        if gpp > gmax:
            c.rejects.append(_R.GROUP_LIMIT)


def budget(c: Ctx) -> None:
    """Shared budget: quota, and never into a critical strategy's unused guaranteed minimum."""
    if c.reducing:
        return
    if c.pot_after is None:
        c.pot_after = _potential(c)[0]
    delta = c.pot_after - c.leg.pot
    avail = c.gate.budget.available(c.cfg, c.intent.strategy_id, c.book.strategies, c.cfg.spec.equity)
    c.values["budget_delta"] = delta
    c.values["budget_available"] = avail
    if delta > 0.0 and delta > avail:
        c.rejects.append(_R.BUDGET_EXHAUSTED)


VALIDATORS = {
    "order_size": order_size,
    "price_band": price_band,
    "instrument_notional": instrument_notional,
    "position_limit": position_limit,
    "order_rate": order_rate,
    "exposure_policy": exposure_policy,
    "budget": budget,
}
DEFAULT_ORDER = tuple(VALIDATORS)


def to_decimal_qty(q: float, lot: float) -> Decimal:
    """Back to an exact Decimal on the lot grid for the order edge."""
    return exact_decimal(q, lot)
