"""Every compiled kernel of the gate: exposure refresh, order/fill/quote updates, rate rings, the policy
table, the validator chain. Layout of ``F`` and ``R``: :mod:`workbench.risk.layout`; the validators'
registry and semantics: :mod:`workbench.risk.validators`.

Every kernel has one eager signature and is cached on disk, so importing this module compiles once per
machine. They live in one module because numba's on-disk cache only notices edits to the file of the
cached function: a kernel calling into another file would keep running the stale callee. The float
operations are written in the same order as the pure-Python code they replaced, so totals and values
come out bit-for-bit the same.
"""

from __future__ import annotations

import math

import numpy as np
from numba import carray, cfunc, config, njit, types

from workbench.risk import layout as lay

_F = "float64[:, ::1]"
_R = "int64[:, ::1]"
# Microsecond kernels called under the gate's lock: releasing the GIL would only add two calls. The
# chain's helpers are inlined into it, so a decision runs as one compact piece of machine code (it
# is often cold: the first order after a burst of cancels pays for every cache line it touches).
# ``error_model="numpy"`` drops the division-by-zero checks where every divisor is a validated
# positive (touch, lot, price x multiplier, equity, constants).
_OPTS = {"cache": True}
_HOT = {"cache": True, "inline": "always", "error_model": "numpy"}

_NORMAL, _THROTTLE, _SOFT, _HARD = 0, 1, 2, 3


@njit(f"void({_F}, int64)", **_HOT)
def refresh(F, leg):
    """Recompute one leg's current/potential notional and PnL and move every total by the deltas."""
    mark = F[int(F[leg, lay.L_QROW]), lay.Q_MARK]
    pos = F[leg, lay.L_POS]
    mult = F[leg, lay.L_MULT]
    k = mark * mult
    cur = (pos if pos >= 0.0 else -pos) * k
    a = pos + F[leg, lay.L_OB]
    b = pos - F[leg, lay.L_OS]
    a = a if a >= 0.0 else -a
    b = b if b >= 0.0 else -b
    pot = (a if a > b else b) * k
    signed = pos * k
    upnl = (mark - F[leg, lay.L_AVG]) * pos * mult if pos != 0.0 else 0.0
    d_cur = cur - F[leg, lay.L_CUR]
    d_pot = pot - F[leg, lay.L_POT]
    d_upnl = upnl - F[leg, lay.L_UPNL]
    F[0, lay.T_GROSS_CUR] += d_cur
    F[0, lay.T_GROSS_POT] += d_pot
    old = F[leg, lay.L_LONG]
    if signed != old:
        F[0, lay.T_LONG] += (signed if signed > 0.0 else 0.0) - (old if old > 0.0 else 0.0)
        F[0, lay.T_SHORT] += (-signed if signed < 0.0 else 0.0) - (-old if old < 0.0 else 0.0)
    bucket = int(F[leg, lay.L_BROW])
    F[bucket, lay.A_CUR] += d_cur
    F[bucket, lay.A_POT] += d_pot
    strategy = int(F[leg, lay.L_SROW])
    F[strategy, lay.S_POT] += d_pot
    F[strategy, lay.S_PNL] += d_upnl
    group = int(F[leg, lay.L_GROW])
    if group >= 0:
        F[group, lay.G_POT] += d_pot
    F[0, lay.T_PNL] += d_upnl
    F[leg, lay.L_CUR], F[leg, lay.L_POT], F[leg, lay.L_LONG], F[leg, lay.L_UPNL] = cur, pot, signed, upnl


@njit(f"void({_F}, int64, float64, float64)", **_OPTS)
def set_mark(F, quote, bid, ask):
    F[quote, lay.Q_BID], F[quote, lay.Q_ASK], F[quote, lay.Q_MARK] = bid, ask, (bid + ask) * 0.5
    leg = int(F[quote, lay.Q_FIRST])
    while leg >= 0:  # the instrument's legs in creation order
        refresh(F, leg)
        leg = int(F[leg, lay.L_NEXT])


@njit(f"void({_F}, int64, int64, float64, float64)", **_HOT)
def move_open(F, leg, sign, delta, price):
    """Working quantity on one side changed by ``delta``. A new order (``price > 0``) values an
    instrument that has no quote yet at its own price."""
    if sign > 0:
        F[leg, lay.L_OB] += delta
    else:
        F[leg, lay.L_OS] += delta
    quote = int(F[leg, lay.L_QROW])
    if price > 0.0 and F[quote, lay.Q_MARK] == 0.0:
        F[quote, lay.Q_MARK] = price
    refresh(F, leg)


@njit(f"void({_F}, int64, int64, float64, float64)", **_OPTS)
def fill(F, leg, sign, qty, px):
    """Position, average price and realized PnL after a (partial) fill."""
    q = sign * qty
    pos = F[leg, lay.L_POS]
    apos = abs(pos)
    if pos == 0.0 or (pos > 0) == (q > 0):
        F[leg, lay.L_AVG] = (F[leg, lay.L_AVG] * apos + px * qty) / (apos + qty)
    else:
        closing = min(qty, apos)
        realized = closing * (px - F[leg, lay.L_AVG]) * (1.0 if pos > 0 else -1.0) * F[leg, lay.L_MULT]
        F[leg, lay.L_REAL] += realized
        F[int(F[leg, lay.L_SROW]), lay.S_PNL] += realized
        F[0, lay.T_PNL] += realized
        if abs(q) > apos:
            F[leg, lay.L_AVG] = px
    F[leg, lay.L_POS] = pos + q
    if F[leg, lay.L_POS] == 0.0:
        F[leg, lay.L_AVG] = 0.0
    quote = int(F[leg, lay.L_QROW])
    if F[quote, lay.Q_MARK] == 0.0:
        F[quote, lay.Q_MARK] = px
    refresh(F, leg)


# -- rate windows: FIFO rings of approval timestamps (exchange time) ------------------------------------
@njit(f"int64({_R}, int64, int64)", **_HOT)
def ring_trim(R, ring, lo):
    """Drop timestamps ``<= lo`` from the front; returns how many remain."""
    cap = R.shape[1] - lay.RING_HEAD
    head = R[ring, 0]
    n = R[ring, 1]
    while n > 0 and R[ring, lay.RING_HEAD + head] <= lo:
        head += 1
        if head == cap:
            head = 0
        n -= 1
    R[ring, 0], R[ring, 1] = head, n
    return n


@njit(f"boolean({_R}, int64, int64)", **_HOT)
def ring_push(R, ring, ts):
    """Append ``ts``; True when the ring is now full (the owner widens ``R`` before the next push).
    A push into a full ring is dropped rather than written past the array: the owner's job is to
    widen in time, this only keeps a missed widening from corrupting memory."""
    cap = R.shape[1] - lay.RING_HEAD
    n = R[ring, 1]
    if n >= cap:
        return True
    i = R[ring, 0] + n
    if i >= cap:
        i -= cap
    R[ring, lay.RING_HEAD + i] = ts
    R[ring, 1] = n + 1
    return n + 1 >= cap


@njit(f"boolean({_R}, int64, int64)", **_OPTS)
def count_rate(R, ring, ts):
    """One more approval at ``ts`` in a strategy's window (``ring``) and in the global one."""
    full = ring_push(R, ring, ts)
    return ring_push(R, lay.GLOBAL_RING, ts) or full


# -- the policy table --------------------------------------------------------------------------------
@njit(f"UniTuple(int64, 2)(float64, float64, float64, int64, float64, float64, {_F}, {_R})", **_HOT)
def decide_core(k, hard_cap_pct, tolerance_pct, flags, gross_cur, gross_pot, B, R):
    """(PolicyMode, row of :data:`CODES`) on notionals; ``k`` = equity / 100, ``flags`` bit 0
    allow_derisk, bit 1 hard; the configured buckets are the rows of ``B`` (current, potential,
    max %) listed in ``R[BUCKETS]``."""
    cap = hard_cap_pct * k
    tol = tolerance_pct * k
    if gross_cur > cap:
        return _HARD, 1
    allow = flags & 1
    if allow and gross_cur >= tol:
        return (_HARD if flags & 2 else _SOFT), 2
    n = R[lay.BUCKETS, 0]
    if allow:
        for i in range(n):
            r = R[lay.BUCKETS, 1 + i]
            if B[r, lay.A_CUR] > B[r, lay.B_MAX] * k:
                return _SOFT, 3
    if gross_pot > cap or gross_pot >= tol:
        return _THROTTLE, 4
    for i in range(n):
        r = R[lay.BUCKETS, 1 + i]
        if B[r, lay.A_POT] > B[r, lay.B_MAX] * k:
            return _THROTTLE, 5
    if gross_cur >= tol:
        return _THROTTLE, 6
    return _NORMAL, 0


@njit(f"UniTuple(int64, 2)({_F}, {_R}, int64)", **_HOT)
def policy(F, R, regime):
    """The policy table on the book's totals, for regime index ``regime`` of the current config."""
    row = int(F[0, lay.C_REG]) + regime
    return decide_core(
        F[0, lay.C_EQUITY] / 100.0,
        F[0, lay.C_HARD_CAP],
        F[row, lay.R_TOL],
        int(F[row, lay.R_FLAGS]),
        F[0, lay.T_GROSS_CUR],
        F[0, lay.T_GROSS_POT],
        F,
        R,
    )


# -- the compiled chain ---------------------------------------------------------------------------------
@njit("Tuple((float64, int64))(float64, float64, float64, boolean, int64)", **_HOT)
def _clip(q, limit_qty, lot, clip, reject):
    """(size, result bits) for an order over a size limit: clipped onto the lot grid when configured
    and something is left, else unchanged and rejected with ``reject``."""
    nq = math.floor(limit_qty / lot + 1e-9) * lot
    if clip and nq > 0.0:
        return nq, lay.W_SIZE_CLIPPED | lay.CLIPPED
    return q, reject


@njit("UniTuple(float64, 2)(float64, float64, float64, float64, int64, float64, float64)", **_HOT)
def _potential(pos, base_buy, base_sell, q, sign, mark, imult):
    """(worst-case notional, worst-case |position|) of the leg with this order working."""
    a = pos + base_buy + (q if sign > 0 else 0.0)
    b = pos - base_sell - (q if sign < 0 else 0.0)
    a = a if a >= 0.0 else -a
    b = b if b >= 0.0 else -b
    worst = a if a > b else b
    return worst * mark * imult, worst


@njit(f"float64({_F}, {_R}, int64, float64)", **_HOT)
def _available(F, R, me, equity):
    """Shared budget (see workbench.risk.budget): notional strategy row ``me`` may still add."""
    total = F[0, lay.C_BUDGET_PCT] * equity / 100.0
    used_total = 0.0
    mine = 0.0
    for i in range(R[lay.USED, 0]):
        s = R[lay.USED, 1 + i]
        used_total += F[s, lay.S_POT]
        if s == me:
            mine = F[s, lay.S_POT]
    reserved = 0.0
    for i in range(R[lay.GUARANTEED, 0]):
        s = R[lay.GUARANTEED, 1 + i]
        if s != me:
            gap = F[s, lay.S_GUAR] * total / 100.0 - F[s, lay.S_POT]
            if gap > 0.0:
                reserved += gap
    own = F[me, lay.S_QUOTA] * total / 100.0 - mine
    free = total - used_total - reserved
    return own if own < free else free


@njit(
    f"int64({_F}, {_R}, int64, float64, float64, int64, int64, boolean, int64, int64, float64)",
    cache=True,
    error_model="numpy",
)
def chain(F, R, leg, q, px, sign, ts, reduce_only, storm, regime, rem):
    """Judge one NEW (``rem < 0``) or MODIFY (``rem`` = the target's remaining size) intent on leg row
    ``leg`` and, if approved, commit it (rate windows, working size, exposure totals, budget peak).
    ``px`` NaN is a market order; ``storm`` the StormState and ``regime`` the regime index in force.
    Returns the result word (:mod:`workbench.risk.layout`); the values are in row ``lay.VAL``."""
    quote = int(F[leg, lay.L_QROW])
    bid = F[quote, lay.Q_BID]
    ask = F[quote, lay.Q_ASK]
    if bid <= 0.0:
        return lay.ST_NO_MARKET_DATA << lay.STATUS_SHIFT
    base_buy = F[leg, lay.L_OB]
    base_sell = F[leg, lay.L_OS]
    if rem >= 0.0:  # a modify replaces the target's working size
        if sign > 0:
            base_buy -= rem
        else:
            base_sell -= rem
    pos = F[leg, lay.L_POS]
    working_reduce = base_sell if pos > 0 else base_buy
    reducing = (pos * sign < 0) and q <= abs(pos) - working_reduce + 1e-9
    if reduce_only and not reducing:
        return lay.ST_REDUCE_ONLY << lay.STATUS_SHIFT
    if (int(F[0, lay.C_RO_MASK]) >> storm) & 1 and not reducing:
        return lay.ST_STORM_REDUCE_ONLY << lay.STATUS_SHIFT
    mode, code = policy(F, R, regime)
    equity = F[0, lay.C_EQUITY]
    tol = F[int(F[0, lay.C_REG]) + regime, lay.R_TOL]
    V = lay.VAL  # the values row (indexed in place: a view would cost a refcount round trip)
    for i in range(lay.NV):
        F[V, i] = np.nan
    mult = F[0, lay.C_MULT + storm]
    F[V, lay.V_LAYOUT] = F[0, lay.C_LAYOUT]
    F[V, lay.V_STORM_MULT], F[V, lay.V_REGIME], F[V, lay.V_REDUCING] = mult, regime, 1.0 if reducing else 0.0
    F[V, lay.X_GROSS_CUR], F[V, lay.X_GROSS_POT] = F[0, lay.T_GROSS_CUR], F[0, lay.T_GROSS_POT]
    mark = F[quote, lay.Q_MARK]
    imult = F[leg, lay.L_IMULT]
    lot = F[leg, lay.L_LOT]
    if px != px:  # market order: the touch
        px = ask if sign > 0 else bid
    clip = F[0, lay.C_CLIP] != 0.0
    srow = int(F[leg, lay.L_SROW])
    bits = 0
    pot_after = np.nan
    order = int(F[0, lay.C_VORDER])
    while order:
        v = order & 7
        order >>= 3
        if v == lay.VC_ORDER_SIZE:  # per-order quantity and notional, clipped when configured
            mq = F[leg, lay.L_LIM] * mult
            mn = F[leg, lay.L_LIM + 1] * mult
            F[V, lay.V_MAX_QTY], F[V, lay.V_MAX_NOTIONAL] = mq, mn
            if q > mq:
                q, b = _clip(q, mq, lot, clip, lay.RJ_MAX_ORDER_QTY)
                bits |= b
            unit = px * imult
            if q * unit > mn:
                q, b = _clip(q, mn / unit, lot, clip, lay.RJ_MAX_ORDER_NOTIONAL)
                bits |= b
            F[V, lay.V_NOTIONAL] = q * unit
        elif v == lay.VC_PRICE_BAND:  # bps through the touch: buy vs the ask, sell vs the bid
            dev = (px / ask - 1.0) * 1e4 if sign > 0 else (1.0 - px / bid) * 1e4
            band = F[leg, lay.L_LIM + 4]
            F[V, lay.V_BAND], F[V, lay.V_BAND_LIMIT] = dev, band
            if dev > band:
                bits |= lay.RJ_PRICE_BAND
        elif v == lay.VC_INST_NOTIONAL:  # worst case if every working order of the leg fills
            pot, _ = _potential(pos, base_buy, base_sell, q, sign, mark, imult)
            pot_after = pot
            lim = F[leg, lay.L_LIM + 2] * mult
            F[V, lay.V_INST_POT], F[V, lay.V_INST_LIMIT] = pot, lim
            if not reducing and pot > lim:
                bits |= lay.RJ_MAX_INSTRUMENT_NOTIONAL
        elif v == lay.VC_POSITION:  # worst-case |position| with same-side working orders and this one
            _, worst = _potential(pos, base_buy, base_sell, q, sign, mark, imult)
            lim = F[leg, lay.L_LIM + 3] * mult
            F[V, lay.V_WORST_POS], F[V, lay.V_POS_LIMIT] = worst, lim
            if not reducing and worst > lim:
                bits |= lay.RJ_POSITION_LIMIT
        elif v == lay.VC_RATE:  # sliding exchange-time windows: warn at warn_frac of the cap, block at it
            n = ring_trim(R, int(F[srow, lay.S_RING]), ts - int(F[srow, lay.S_RWIN]))
            gn = ring_trim(R, lay.GLOBAL_RING, ts - int(F[0, lay.C_GWIN]))
            cap = F[srow, lay.S_RCAP]
            gcap = F[0, lay.C_GCAP]
            F[V, lay.V_RATE], F[V, lay.V_RATE_CAP] = n, cap
            F[V, lay.V_GRATE], F[V, lay.V_GRATE_CAP] = gn, gcap
            if n >= cap or gn >= gcap:
                bits |= lay.RJ_RATE_LIMIT
            elif n >= F[srow, lay.S_RWARN] * cap or gn >= F[0, lay.C_GWARN] * gcap:
                bits |= lay.W_RATE_LIMIT_WARN
        elif v == lay.VC_EXPOSURE and not reducing:  # mode, gross cap, tolerance, bucket and group maxima
            if mode == 1:
                bits |= lay.RJ_POLICY_THROTTLE
            elif mode >= 2:
                bits |= lay.RJ_POLICY_DERISK
            if pot_after != pot_after:
                pot_after, _ = _potential(pos, base_buy, base_sell, q, sign, mark, imult)
            delta = pot_after - F[leg, lay.L_POT]
            pct = 100.0 / equity
            gp = (F[0, lay.T_GROSS_POT] + delta) * pct
            F[V, lay.V_GROSS_PCT] = gp
            if gp > F[0, lay.C_HARD_CAP]:
                bits |= lay.RJ_GROSS_EXPOSURE_CAP
            elif gp >= tol and mode == 0:
                bits |= lay.RJ_POLICY_THROTTLE
            bucket = int(F[leg, lay.L_BROW])
            bmax = F[bucket, lay.B_MAX]
            if bmax == bmax:
                bp = (F[bucket, lay.A_POT] + delta) * pct
                F[V, lay.V_BUCKET_PCT] = bp
                if bp > bmax:
                    bits |= lay.RJ_BUCKET_LIMIT
            group = int(F[leg, lay.L_GROW])
            if group >= 0:
                gpp = (F[group, lay.G_POT] + delta) * pct
                F[V, lay.V_GROUP_PCT] = gpp
                if gpp > F[group, lay.G_MAX]:
                    bits |= lay.RJ_GROUP_LIMIT
        elif v == lay.VC_BUDGET and not reducing:  # quota, and never into another's guaranteed minimum
            if pot_after != pot_after:
                pot_after, _ = _potential(pos, base_buy, base_sell, q, sign, mark, imult)
            delta = pot_after - F[leg, lay.L_POT]
            avail = _available(F, R, srow, equity)
            F[V, lay.V_BUDGET_DELTA], F[V, lay.V_BUDGET_AVAIL] = delta, avail
            if delta > 0.0 and delta > avail:
                bits |= lay.RJ_BUDGET_EXHAUSTED
    bits |= (mode << lay.MODE_SHIFT) | (code << lay.CODE_SHIFT)
    F[V, lay.X_Q], F[V, lay.X_PX] = q, px
    if bits & lay.REJECTS:
        return bits
    # Commit: the approved order now counts toward rate, exposure and budget.
    if ring_push(R, int(F[srow, lay.S_RING]), ts) | ring_push(R, lay.GLOBAL_RING, ts):
        bits |= lay.GROW
    before = F[leg, lay.L_POT]
    if rem >= 0.0:
        move_open(F, leg, sign, q - rem, 0.0)
    else:
        move_open(F, leg, sign, q, px)
    after = F[leg, lay.L_POT]
    if after != before:
        used = F[srow, lay.S_POT]
        F[V, lay.X_BUDGET_DELTA], F[V, lay.X_BUDGET_USED] = after - before, used
        if used > F[srow, lay.S_PEAK]:
            F[srow, lay.S_PEAK] = used
            if F[srow, lay.S_PEAKED] == 0.0:
                F[0, lay.T_PEAKED] += 1.0
                F[srow, lay.S_PEAKED] = F[0, lay.T_PEAKED]
        bits |= lay.BUDGET_MOVED
    return bits


_I = types.int64
_CHAIN_C_SIG = _I(
    types.CPointer(types.float64), _I, types.CPointer(types.int64), _I, _I,  # F, its rows; R, rows, width
    _I, types.float64, types.float64, _I, _I, _I, _I, _I, types.float64,  # leg .. rem as in ``chain``
)


def _chain_c(Fp, nf, Rp, nr, wr, leg, q, px, sign, ts, reduce_only, storm, regime, rem):
    """:func:`chain` with the arrays as raw pointers and shapes: the C entry the compiled gate calls
    through its address, with no Python boxing of the eleven arguments (see ``_core.pyx``). The
    result carries ``RETURNED``: a cfunc that raised returns 0, which the gate refuses."""
    F = carray(Fp, (nf, lay.WIDTH))
    R = carray(Rp, (nr, wr))
    return chain(F, R, leg, q, px, sign, ts, reduce_only != 0, storm, regime, rem) | lay.RETURNED


def _count_rate_c(Rp, nr, wr, ring, ts):
    """:func:`count_rate` on ``R`` given as a raw pointer and shape (the compiled gate's cancel path):
    ``RETURNED``, plus 1 when a ring is full."""
    return lay.RETURNED | (1 if count_rate(carray(Rp, (nr, wr)), ring, ts) else 0)


# The C entries exist only when numba compiles (under NUMBA_DISABLE_JIT the gate calls the Python
# kernels above); ``None`` tells the gate so.
chain_c = count_rate_c = None
if not config.DISABLE_JIT:
    chain_c = cfunc(_CHAIN_C_SIG, cache=True, error_model="numpy")(_chain_c)
    count_rate_c = cfunc(_I(types.CPointer(types.int64), _I, _I, _I, _I), cache=True)(_count_rate_c)
