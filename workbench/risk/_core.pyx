# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The gate's decision path, compiled (Cython): :class:`GateCore` is the base of
:class:`~workbench.risk.gate.RiskGate` and holds the state every decision reads as C fields.

Why compiled: a decision is ~15 dictionary and attribute reads, one call into the numba validator
chain, and two small objects. Interpreted, that glue was ~300 bytecodes (30k machine instructions),
five times the chain itself, and it was what made the first order after a burst of cancels slow: the
interpreter's code and data had gone cold. Compiled, the glue is straight-line C with typed locals.

The semantics are the gate's (see :mod:`workbench.risk.gate` for the ordering guarantee); the rare
paths (outcome decoding, early rejects, policy events, new legs) stay in Python on the subclass.
"""

from posix.time cimport CLOCK_MONOTONIC, CLOCK_REALTIME, clock_gettime, timespec

import time

from cpython.bytes cimport PyBytes_FromStringAndSize

from workbench.risk import layout as lay
from workbench.risk.stormguard import StormGuard
from workbench.risk.types import (
    Action,
    Reason,
    RiskDecision,
    StormState,
    Verdict,
    COID_PREFIX,
    OpenOrder,
    exact_decimal,
)

cdef object _APPROVE = Verdict.APPROVE
cdef object _REJECT = Verdict.REJECT
cdef tuple _VERDICTS = (Verdict.APPROVE, Verdict.APPROVE_MODIFIED, Verdict.REJECT)
cdef dict _VCODE = {v: i for i, v in enumerate(_VERDICTS)}
cdef object _MODIFY = Action.MODIFY
cdef object _CANCEL = Action.CANCEL
cdef object _HALT = StormState.HALT
# shared reason tuples: no allocation (nor GC tracking) per decision
cdef dict _ONE = {r: (r,) for r in Reason}
cdef object _R_DUPLICATE = Reason.DUPLICATE_INTENT
cdef object _R_UNKNOWN_ORDER = Reason.UNKNOWN_ORDER
cdef object _R_CANCEL_ALLOWED = Reason.CANCEL_ALLOWED
cdef object _R_KILL_SWITCH = Reason.KILL_SWITCH
cdef object _R_UNKNOWN_STRATEGY = Reason.UNKNOWN_STRATEGY
cdef object _R_STRATEGY_HALTED = Reason.STRATEGY_HALTED
cdef object _R_STRATEGY_DISABLED = Reason.STRATEGY_DISABLED
cdef object _R_BAD_INTENT = Reason.BAD_INTENT
cdef object _R_STALE_INTENT = Reason.STALE_INTENT
cdef object _R_NO_MARKET_DATA = Reason.NO_MARKET_DATA

cdef long long _OUTCOME = lay.OUTCOME
cdef long long _CLIPPED = lay.CLIPPED
cdef long long _GROW = lay.GROW
cdef long long _BUDGET_MOVED = lay.BUDGET_MOVED
cdef long long _RETURNED = lay.RETURNED
cdef object _TIME_NS = time.time_ns  # the real clock, whatever a test later patches
cdef long long _CODE_SHIFT = lay.CODE_SHIFT
cdef Py_ssize_t _X_GROSS_CUR = lay.X_GROSS_CUR
cdef Py_ssize_t _X_GROSS_POT = lay.X_GROSS_POT
cdef Py_ssize_t _X_Q = lay.X_Q
cdef Py_ssize_t _X_PX = lay.X_PX
cdef Py_ssize_t _VAL_AT = lay.VAL * lay.WIDTH  # the values row's offset in F (doubles)
cdef Py_ssize_t _NV = lay.NV


cdef inline long long _now() noexcept nogil:
    """CLOCK_MONOTONIC in ns: what ``time.perf_counter_ns`` reads on Linux, without a Python call."""
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec * 1000000000LL + t.tv_nsec


cdef inline long long _wall_now() noexcept nogil:
    """CLOCK_REALTIME in ns: what ``time.time_ns`` reads, without a Python call."""
    cdef timespec t
    clock_gettime(CLOCK_REALTIME, &t)
    return t.tv_sec * 1000000000LL + t.tv_nsec


ctypedef long long (*ChainFn)(
    double*, long long, long long*, long long, long long,
    long long, double, double, long long, long long, long long, long long, long long, double,
) noexcept nogil

ctypedef long long (*CountRateFn)(long long*, long long, long long, long long, long long) noexcept nogil

cdef long long _WIDTH = lay.WIDTH
cdef str _COID = COID_PREFIX


cdef class BookCore:
    """The fields of :class:`~workbench.risk.exposure.Book` a decision reads (the arrays and the
    lookups), as C fields of its base. Assigning ``F`` or ``R`` checks the array (C-contiguous
    float64 / int64, 2-D) and re-reads its data pointer and shape, which the compiled chain is
    called with: the only way the arrays change is by assignment, so the pointers cannot go stale."""

    cdef object _F, _R
    cdef public object V
    cdef public dict rows, quotes, orders, rings
    cdef double* _Fp
    cdef long long* _Rp
    cdef long long _nf, _nr, _wr

    @property
    def F(self):
        return self._F

    @F.setter
    def F(self, a):
        if a.dtype.str != "<f8" or a.ndim != 2 or a.shape[1] != _WIDTH or not a.flags.c_contiguous:
            raise ValueError(f"book F: need a C-contiguous float64 (n, {_WIDTH}) array")
        self._F = a
        self._Fp = <double*><size_t>a.ctypes.data
        self._nf = a.shape[0]

    @property
    def R(self):
        return self._R

    @R.setter
    def R(self, a):
        if a.dtype.str != "<i8" or a.ndim != 2 or not a.flags.c_contiguous:
            raise ValueError("book R: need a C-contiguous int64 2-D array")
        self._R = a
        self._Rp = <long long*><size_t>a.ctypes.data
        self._nr, self._wr = a.shape[0], a.shape[1]


cdef class ClockCore:
    """The last regime interval ``[_lo, _hi)`` of a :class:`~workbench.risk.policy.RegimeClock` and
    its index: the O(1) case of ``index`` without a call."""

    cdef public long long _lo, _hi
    cdef public object _cached


cdef class MetricsCore:
    """The counters of :class:`~workbench.risk.metrics.RiskMetrics` that every decision moves."""

    cdef public dict _by
    cdef public long long _sum_ns
    cdef long long _bounds[16]
    cdef long long _hist[17]
    cdef int _nb

    def _set_bounds(self, bounds_ns):
        """The latency buckets' upper bounds (ns, ascending, at most 16); resets the histogram."""
        if len(bounds_ns) > 16:
            raise ValueError("at most 16 latency buckets")
        self._nb = len(bounds_ns)
        for i in range(17):
            self._hist[i] = 0
        for i, b in enumerate(bounds_ns):
            self._bounds[i] = b

    @property
    def _counts(self):
        """Decisions per latency bucket (the last one: above every bound)."""
        return [self._hist[i] for i in range(self._nb + 1)]

    cdef inline void _observe(self, verdict, reasons, long long latency_ns):
        cdef dict by = self._by[verdict]
        by[reasons] = by.get(reasons, 0) + 1
        cdef int i = 0
        while i < self._nb and self._bounds[i] < latency_ns:  # bisect_left on the bucket bounds
            i += 1
        self._hist[i] += 1
        self._sum_ns += latency_ns

    def observe(self, verdict, reasons, latency_ns):
        """Count one decision and its latency (ns)."""
        self._observe(verdict, reasons, latency_ns)


cdef class JournalCore:
    """The decision buffer of :class:`~workbench.risk.journal.Journal`: one list for the life of the
    journal (a flush takes and deletes a prefix), so the gate appends to it without a call."""

    cdef public list _decisions
    cdef public Py_ssize_t flush_every  # the gate flushes, after releasing its lock, at this many


cdef class GateCore:
    """The hot state of a gate and its decision path. Subclassed by ``RiskGate``; the fields are
    readable (most also writable) from Python under the same name. Typed fields take only their
    type: ``journal`` a :class:`~workbench.risk.journal.Journal` (its buffer is appended to directly),
    ``metrics`` a :class:`~workbench.risk.metrics.RiskMetrics`, ``book`` a ``Book``, and the dicts
    plain ``dict``; timestamps are integer ns."""

    cdef public object _lock, global_guard, budget, mode
    cdef readonly object _active  # (config, clock): set only by ``_activate``, with the copies below
    cdef object _wall
    cdef bint _wall_c
    cdef object _lv, _lr  # verdict and reasons of the last decision recorded (for the metrics)
    cdef public dict guards, _decided, _enabled
    cdef public list _pending
    cdef public long long _seq, _market_ts
    cdef public BookCore book
    cdef public JournalCore journal
    cdef public MetricsCore metrics
    # the active config's numbers a decision reads, set with ``_active`` by ``_activate``
    cdef object _cfg, _version
    cdef ClockCore _clock
    cdef dict _outcomes, _strategies
    cdef long long _lag_ns
    # the kernels: Python callables, and their C entries (NULL: call the callables)
    cdef object _count_rate_py
    cdef CountRateFn _count_rate_c
    cdef object _chain_py
    cdef ChainFn _chain_c

    @property
    def wall(self):
        """The wall clock stamped on decisions (ns); ``time.time_ns`` is read in C."""
        return self._wall

    @wall.setter
    def wall(self, fn):
        self._wall = fn
        self._wall_c = fn is _TIME_NS

    @property
    def _chain(self):
        """The validator chain as a Python callable (numba's ``chain``). Assigning one (a test's
        wrapper) makes decisions call it instead of the C entry ``kernels.chain_c``."""
        return self._chain_py

    @_chain.setter
    def _chain(self, fn):
        self._chain_py = fn
        self._chain_c = NULL

    def _bind_kernels(self, chain, size_t chain_address, count_rate, size_t count_rate_address):
        """Use the kernels ``chain`` and ``count_rate`` and, when the addresses are not 0, their C
        entries (``kernels.chain_c``, ``kernels.count_rate_c``)."""
        self._chain_py, self._chain_c = chain, <ChainFn>chain_address
        self._count_rate_py, self._count_rate_c = count_rate, <CountRateFn>count_rate_address

    def _activate(self, cfg, clock):
        """Make (``cfg``, ``clock``) the active config (the caller holds the lock or owns the gate)."""
        self._active = (cfg, clock)
        self._cfg, self._clock, self._version = cfg, clock, cfg.version
        self._outcomes, self._strategies, self._lag_ns = cfg.outcomes, cfg.spec.strategies, cfg.lag_ns

    def evaluate(self, intent):
        """Decide on ``intent`` (see :class:`~workbench.risk.gate.RiskGate`)."""
        cdef long long t0 = _now()
        lock = self._lock
        lock.acquire()
        try:
            d = self._decide(intent)
        finally:
            lock.release()
        cdef MetricsCore m = self.metrics
        if m is not None:
            m._observe(self._lv, self._lr, _now() - t0)
        if self._pending:
            self._dispatch()
        cdef JournalCore j = self.journal
        if j is not None and len(j._decisions) >= j.flush_every:
            j.flush()  # outside the gate lock: other threads keep deciding during the write
        return d

    def _evaluate(self, intent):
        """The decision without lock, metrics or dispatch (the caller holds the lock)."""
        return self._decide(intent)

    def _reject(self, intent, reason, storm, values=None):
        return self._rej(intent, reason, storm, values)

    cdef object _record(self, intent, intent_id, verdict, reasons, values, changes, qty, storm, mode):
        cdef long long seq = self._seq + 1
        self._seq = seq
        wall = _wall_now() if self._wall_c else self._wall()
        d = RiskDecision(intent, verdict, reasons, values, changes, qty, self._version, storm, mode, seq, wall)
        # duplicates cite the first decision: (decision_seq << 2 | verdict code), one int per intent
        self._decided.setdefault(intent_id, (seq << 2) | <long long>_VCODE[verdict])
        self._lv, self._lr = verdict, reasons
        cdef JournalCore j = self.journal
        if j is not None:
            j._decisions.append(d)
        return d

    cdef object _rej(self, intent, reason, storm, values):
        return self._record(
            intent, intent.intent_id, _REJECT, _ONE[reason], values if values else {}, {}, None, storm, self.mode
        )

    cdef object _decide(self, intent):
        cdef long long first, res, ts
        cdef bint full
        cdef double q, px, rem
        cdef BookCore book = self.book
        cdef ClockCore clock = self._clock
        cdef dict legs
        cfg = self._cfg
        sid = intent.strategy_id
        intent_id = intent.intent_id
        gstate = self.global_guard.state
        guard = self.guards.get(sid)
        gs = guard.state if guard is not None else None
        storm = gstate if guard is None or gstate >= gs else gs
        got = self._decided.get(intent_id)
        if got is not None:
            first = got
            values = {"first_decision_seq": first >> 2, "first_verdict": _VERDICTS[first & 3]}
            return self._rej(intent, _R_DUPLICATE, storm, values)
        action = intent.action
        if action is _CANCEL:
            o = book.orders.get(intent.target_id or "")
            if o is None or o.strategy != sid:
                return self._rej(intent, _R_UNKNOWN_ORDER, storm, None)
            if self._count_rate_c != NULL:
                res = self._count_rate_c(book._Rp, book._nr, book._wr, book.rings[sid], intent.ts_event)
                if not res & _RETURNED:
                    raise RuntimeError("risk gate: the compiled rate window failed; the cancel is not approved")
                full = res & 1
            else:
                full = self._count_rate_py(book._R, book.rings[sid], intent.ts_event)
            if full:
                book.grow_rings()
            return self._record(
                intent, intent_id, _APPROVE, _ONE[_R_CANCEL_ALLOWED], {}, {}, intent.qty, storm, self.mode
            )

        if gstate is _HALT:
            return self._rej(intent, _R_KILL_SWITCH, storm, {"halt_reason": self.global_guard.halt_reason})
        strat = self._strategies.get(sid)
        if strat is None:
            return self._rej(intent, _R_UNKNOWN_STRATEGY, storm, None)
        if guard is None:
            guard = self.guards[sid] = StormGuard(sid)
            gs = guard.state
        if gs is _HALT:
            return self._rej(intent, _R_STRATEGY_HALTED, storm, {"halt_reason": guard.halt_reason})
        if not self._enabled.get(sid, strat.enabled):
            return self._rej(intent, _R_STRATEGY_DISABLED, storm, None)
        q = intent.qty_f
        px = intent.px_f
        if not q > 0.0 or px <= 0.0:
            return self._rej(
                intent, _R_BAD_INTENT, storm, {"qty": str(intent.qty), "price": str(intent.price)}
            )
        ts = intent.ts_event
        if ts < self._market_ts - self._lag_ns:
            return self._rej(intent, _R_STALE_INTENT, storm, {"intent_ts": ts, "market_ts": self._market_ts})
        iid = intent.instrument_id
        sign = intent.sign
        legs = book.rows.get(sid)
        row = legs.get(iid) if legs is not None else None
        target = None
        if row is None or action is _MODIFY:  # the compiled chain checks the quote of an existing leg
            quote = book.quotes.get(iid)
            if quote is None or quote.bid <= 0.0:
                return self._rej(intent, _R_NO_MARKET_DATA, storm, None)
            row = book.leg(sid, iid, cfg).row
            if action is _MODIFY:
                target = book.orders.get(intent.target_id or "")
                if target is None or target.strategy != sid or target.sign != sign:
                    return self._rej(intent, _R_UNKNOWN_ORDER, storm, None)
        rem = target.remaining if target is not None else -1.0
        # the regime index: the clock's cached interval, else its (per-day) lookup
        regime = clock._cached if clock._lo <= ts < clock._hi else clock.index(ts)
        if self._chain_c != NULL:
            res = self._chain_c(
                book._Fp, book._nf, book._Rp, book._nr, book._wr,
                row, q, px, sign, ts, 1 if intent.reduce_only else 0, storm, regime, rem,
            )
            if not res & _RETURNED:  # fail closed: a chain that raised returned 0, which would read as OK
                raise RuntimeError("risk gate: the compiled validator chain failed; the intent is not approved")
            res &= ~_RETURNED
        else:
            res = self._chain_py(book._F, book._R, row, q, px, sign, ts, intent.reduce_only, storm, regime, rem)
        if res & _GROW:  # before anything that could raise: the next push must find room
            book.grow_rings()
        out = self._outcomes.get(res & _OUTCOME)
        if out is None:
            out = self._outcome(cfg, res)
        status, verdict, reasons, mode = <tuple>out
        if status:
            return self._early_reject(intent, status, storm)
        cdef double* V = book._Fp + _VAL_AT  # the values row (``book.V``)
        if mode is not self.mode:  # explained with the totals the table saw, before the commit
            self._policy_changed(cfg, clock, ts, mode, (res >> _CODE_SHIFT) & 7, V[_X_GROSS_CUR], V[_X_GROSS_POT])
        changes = {}
        qty = None if verdict is _REJECT else intent.qty
        if res & _CLIPPED:
            q = V[_X_Q]
            changes = {"qty": [str(intent.qty), repr(q)]}
            if qty is not None:
                qty = exact_decimal(q, cfg.instrument(iid).lot)  # the lot grid
        values = PyBytes_FromStringAndSize(<char*>V, _NV * sizeof(double))  # = book.V.tobytes()
        d = self._record(intent, intent_id, verdict, reasons, values, changes, qty, storm, mode)
        if verdict is not _REJECT:  # the chain committed the numbers; here the order book and logs
            if px != px:
                px = V[_X_PX]
            if target is None:
                coid = _COID + intent_id  # OrderIntent.client_order_id, without the call
                book.orders[coid] = OpenOrder(coid, intent_id, sid, iid, sign, q, px, ts, row)
            else:
                target.remaining = q
                target.price = px
            if res & _BUDGET_MOVED:
                self.budget.log.append(d)
        return d
