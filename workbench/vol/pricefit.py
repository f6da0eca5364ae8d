"""The default surface: arbitrage-free call prices fitted to the bid/ask band, one linear programme per expiry.

**Representation.** Each expiry i is the law of ``S_T / F_i = Y_i L_i``: ``Y_i`` has atoms ``p_l >= 0`` on
nodes ``y_l = e^{kappa_l}`` (mass 1, mean 1) and ``L_i`` is an independent mean-one lognormal with total std
``s_i`` (a smoothing kernel, a quarter of the expiry's ATM total std).  Every slice is therefore a genuine
distribution of a positive price with the right forward: calls are decreasing and convex in strike, within
their bounds, and positive at every strike (no butterfly arbitrage, at any k, wings included).

**Calendar.** ``Y_i <=cx Y_{i+1}`` (calls of Y non-decreasing in T at every fixed forward-moneyness) together
with ``s_i <= s_{i+1}`` implies ``Y_i L_i <=cx Y_{i+1} L_{i+1}``: multiplying by an independent mean-one
variable preserves the convex order and only increases it.  The node sets are nested (later expiries use a
subset of the earlier ones' nodes), so ``Y_i``'s and ``Y_{i+1}``'s calls are piecewise linear on the finer
set and the convex order holds at every x iff it holds at its nodes: a finite set of linear constraints.
Between expiries the surface interpolates *prices* linearly in T at fixed forward-moneyness (a convex
combination of ordered convex prices: arbitrage-free); before the first expiry it blends with the payoff.

**Fit.** One sparse LP per expiry, in T order (HiGHS dual simplex): variables are the time values ``O_l`` of
Y's calls at the nodes and the atoms; the objective is the distance of each quote's model price outside its
[bid, ask] band in half-spreads (zero inside), plus a small L1 pull to the mid, a small total-variation
penalty on the atoms' density (smoothness) and a soft ceiling from the later expiries' asks (see
:func:`_ceilings`); the calendar rows hold it above the expiry before.  Quotes left outside that conflict with
other quotes of their expiry are reported by :mod:`workbench.vol.admissible`.  docs/vol.md has the details.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from workbench.vol._mixture import time_values

__all__ = ["fit_price_surface"]

# kernel std and near-the-money node spacing, as fractions of the expiry's ATM total std; wing spacing
# grows as _ALPHA |k|; nodes cover [-3.5, 2.5] widened by 1 beyond the quotes
_KERNEL = 0.25
_SPACING = 0.25
_ALPHA = 0.1
_K_LO, _K_HI, _PAD = -3.5, 2.5, 1.0
_W_MID = 0.02  # L1 pull to the mid, per half-spread (the band term counts 1 per half-spread outside)
_W_TV = 0.02  # total variation of the density in log-moneyness, times the ATM std
_W_CEIL = 0.5  # per half-spread of the later quote, per node above the later expiries' ask chords
_FLOOR = 1e-10  # minimum atom mass: every slice keeps a positive price at every strike
_CAL_MARGIN = 1e-9  # calendar rows: C_{i+1} >= C_i + margin at the nodes (absorbs the solver tolerance)
_TOL = 1e-10
_INSIDE = 1e-3


def _atm_std(k: np.ndarray, iv: np.ndarray, T: float) -> float:
    order = np.argsort(k)
    v = float(np.interp(0.0, k[order], iv[order]))
    return v * np.sqrt(T) if np.isfinite(v) and v > 0 else float("nan")


def _node_sets(s: np.ndarray, k_lo: float, k_hi: float) -> list[np.ndarray]:
    """Nested node sets (in k) per expiry: a uniform master lattice thinned to spacing ~max(_SPACING s_i,
    _ALPHA |k|) rounded down to a power of two, so a later (wider) expiry keeps a subset of the earlier ones'
    nodes.  k = 0 and both ends are always nodes."""
    dm = _SPACING * float(s[0])
    m = np.arange(int(np.floor(k_lo / dm)), int(np.ceil(k_hi / dm)) + 1)
    kap = m * dm
    out = []
    for si in s:
        target = np.maximum(_SPACING * si, _ALPHA * np.abs(kap))
        j = np.maximum(np.floor(np.log2(target / dm)), 0).astype(np.int64)
        keep = (m % (2**j)) == 0
        keep[0] = keep[-1] = True
        out.append(kap[keep])
    return out


def _interp_rows(xq: np.ndarray, y: np.ndarray):
    """(row index, node index, weight) of linear interpolation in x of a function given on nodes ``y``."""
    j = np.clip(np.searchsorted(y, xq, side="right") - 1, 0, y.size - 2)
    t = (xq - y[j]) / (y[j + 1] - y[j])
    r = np.arange(xq.size)
    return np.concatenate((r, r)), np.concatenate((j, j + 1)), np.concatenate((1.0 - t, t))


class _Builder:
    """Sparse LP rows accumulated as COO triplets."""

    def __init__(self):
        self.nvar = 0
        self.cost, self.lo, self.hi = [], [], []
        self.ub = ([], [], [], [])  # rows, cols, vals, rhs
        self.eq = ([], [], [], [])
        self.n_ub = self.n_eq = 0
        self.basic = []  # column indices of the starting basis (see _highs_direct)
        self.twins = ([], [])  # (source, copy) columns: a copy gets every entry of its source column

    def var(self, n, cost=0.0, lo=0.0, hi=np.inf, basic=False) -> np.ndarray:
        idx = np.arange(self.nvar, self.nvar + n)
        self.nvar += n
        if basic:
            self.basic.append(idx)
        for store, v in ((self.cost, cost), (self.lo, lo), (self.hi, hi)):
            store.append(np.full(n, float(v)) if np.ndim(v) == 0 else np.asarray(v, float))
        return idx

    def twin(self, cols: np.ndarray, cost) -> np.ndarray:
        """New columns >= 0 with the entries of ``cols`` (``x_col + x_twin`` acts as one variable whose
        part above the source's upper bound costs ``cost``): a soft bound without a row."""
        idx = self.var(cols.size, cost)
        self.twins[0].append(np.asarray(cols))
        self.twins[1].append(idx)
        return idx

    def add(self, kind, rows, cols, vals, rhs):
        """Rows numbered locally from 0; ``rhs`` one per local row."""
        store = self.ub if kind == "ub" else self.eq
        base = self.n_ub if kind == "ub" else self.n_eq
        store[0].append(np.asarray(rows) + base)
        store[1].append(np.asarray(cols))
        store[2].append(np.asarray(vals, float))
        store[3].append(np.asarray(rhs, float))
        if kind == "ub":
            self.n_ub += len(rhs)
        else:
            self.n_eq += len(rhs)

    def solve(self) -> np.ndarray | None:
        """The optimal x, or None when HiGHS finds no optimum."""
        n_ub, n_eq = self.n_ub, self.n_eq
        rows = np.concatenate(self.ub[0] + [r + n_ub for r in self.eq[0]])
        cols, vals = np.concatenate(self.ub[1] + self.eq[1]), np.concatenate(self.ub[2] + self.eq[2])
        if self.twins[0]:
            copy = np.full(self.nvar, -1)
            copy[np.concatenate(self.twins[0])] = np.concatenate(self.twins[1])
            sel = copy[cols] >= 0
            rows, cols = np.concatenate((rows, rows[sel])), np.concatenate((cols, copy[cols[sel]]))
            vals = np.concatenate((vals, vals[sel]))
        a = _csc(rows, cols, vals, self.nvar)
        b_ub = np.concatenate(self.ub[3]) if n_ub else np.empty(0)
        b_eq = np.concatenate(self.eq[3]) if n_eq else np.empty(0)
        lhs, rhs = np.concatenate((np.full(n_ub, -np.inf), b_eq)), np.concatenate((b_ub, b_eq))
        c, lo, hi = np.concatenate(self.cost), np.concatenate(self.lo), np.concatenate(self.hi)
        col_basic = np.zeros(self.nvar, bool)
        col_basic[np.concatenate(self.basic)] = True
        try:
            return _highs_direct(c, a, lhs, rhs, lo, hi, (col_basic, n_ub))
        except (ImportError, AttributeError, TypeError):  # scipy's private HiGHS binding moved: public path
            return _linprog(c, sp.csc_matrix(a, shape=(lhs.size, c.size)), n_ub, b_ub, b_eq, lo, hi)


def _csc(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, ncol: int):
    """(values, row indices, column starts) of the compressed-column matrix of COO triplets, entries of a
    column sorted by row and duplicates summed: what ``scipy.sparse.csc_matrix`` gives, without its
    per-call validation (~0.5 ms an LP).  Duplicates come in pairs here (the atom rows), so the sum does
    not depend on the order."""
    order = np.lexsort((rows, cols))
    r, c, v = rows[order], cols[order], vals[order]
    new = np.ones(r.size, bool)
    new[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    first = np.flatnonzero(new)
    v = np.add.reduceat(v, first) if first.size < r.size else v
    r, c = r[first], c[first]
    start = np.zeros(ncol + 1, np.int32)
    np.cumsum(np.bincount(c, minlength=ncol), out=start[1:])
    return v, r.astype(np.int32), start


_HIGHS_OPTIONS = (("output_flag", False), ("simplex_strategy", 1), ("simplex_dual_edge_weight_strategy", 1),
                  ("primal_feasibility_tolerance", _TOL), ("dual_feasibility_tolerance", _TOL))
# the same tolerances, other paths: without presolve, then primal simplex
_RETRY = ((), (("presolve", "off"),), (("simplex_strategy", 4),))


# the fallback's attempts, like _RETRY: dual simplex, then without presolve, then the interior point method
_LINPROG_RETRY = (("highs-ds", {}), ("highs-ds", {"presolve": False}), ("highs-ipm", {}))


def _linprog(c, a, n_ub, b_ub, b_eq, lo, hi) -> np.ndarray | None:
    """The same LP through the public ``linprog`` (slower: it validates its options on every call), for a
    scipy whose private HiGHS binding has moved; retried like the direct path."""
    for method, extra in _LINPROG_RETRY:
        opts = {"primal_feasibility_tolerance": _TOL, "dual_feasibility_tolerance": _TOL} | extra
        if method == "highs-ds":
            opts["simplex_dual_edge_weight_strategy"] = "devex"
        res = linprog(c, A_ub=a[:n_ub] if n_ub else None, b_ub=b_ub if n_ub else None,
                      A_eq=a[n_ub:] if b_eq.size else None, b_eq=b_eq if b_eq.size else None,
                      bounds=np.column_stack([lo, hi]), method=method, options=opts)
        if res.status == 0:
            return res.x
    return None


def _highs_direct(c, a, lhs, rhs, lo, hi, start=None) -> np.ndarray | None:
    """HiGHS through scipy's own binding, without ``linprog``'s per-call option validation (~8 ms a call,
    more than many of these LPs take to solve).  Dual simplex with devex pricing (2-7x faster here than
    steepest edge), tolerances 1e-10.  ``a`` = (values, row indices, column starts) of the column-wise
    matrix (:func:`_csc`), passed as arrays (building a ``HighsLp`` attribute by attribute cost ~0.6 ms).

    ``start`` = (basic column mask, number of inequality rows): a starting basis with one structural column
    per equality row (every other column at its lower bound, inequality rows' slacks basic).  The fit passes
    each atom for its own definition row, one band variable per quote row and one total-variation part per
    smoothness row: a triangular, hence valid, basis that is dual feasible except for the time values
    ``O`` and their ceiling twins, from which the dual simplex needs ~23 % fewer iterations than from the
    all-slack basis (and skips presolve).  If that run does not reach an optimum (or HiGHS rejects the
    basis), the retries of ``_RETRY`` start from scratch."""
    import scipy.optimize._highspy._core as _h

    inf = _h.kHighsInf
    value, index, start_ = a
    model = (c.size, lhs.size, value.size, int(_h.MatrixFormat.kColwise), int(_h.ObjSense.kMinimize), 0.0, c,
             np.clip(lo, -inf, inf), np.clip(hi, -inf, inf), np.clip(lhs, -inf, inf), np.clip(rhs, -inf, inf),
             start_, index, value, np.zeros(c.size, np.int32))  # integrality: all continuous
    attempts = ([(_RETRY[0], start)] if start is not None else []) + [(retry, None) for retry in _RETRY]
    for n_try, (retry, basis) in enumerate(attempts):  # on numerical trouble ("Unknown" status), again
        highs = _kept(_h, _HIGHS_OPTIONS + retry) if n_try == 0 else _h._Highs()
        if n_try:
            for key, val in _HIGHS_OPTIONS + retry:
                highs.setOptionValue(key, val)
        highs.passModel(*model)
        if basis is not None:
            highs.setBasis(_basis(_h, *basis, lhs.size))
        highs.run()
        if highs.getModelStatus() == _h.HighsModelStatus.kOptimal:
            return np.asarray(highs.getSolution().col_value, float)
    return None


_LOCAL = threading.local()


def _kept(_h, options: tuple):
    """This thread's HiGHS instance with ``options`` set (setting them costs ~0.3 ms an LP); ``passModel``
    replaces its model, basis and solution.  The retries use fresh instances."""
    kept = getattr(_LOCAL, "highs", None)
    if kept is None or kept[0] != options:
        highs = _h._Highs()
        for key, val in options:
            highs.setOptionValue(key, val)
        kept = _LOCAL.highs = (options, highs)
    return kept[1]


def _basis(_h, col_basic: np.ndarray, n_ub: int, n_row: int):
    status = (_h.HighsBasisStatus.kLower, _h.HighsBasisStatus.kBasic)
    basis = _h.HighsBasis()
    basis.col_status = [status[b] for b in col_basic.tolist()]
    basis.row_status = [status[1]] * n_ub + [status[0]] * (n_row - n_ub)
    basis.valid = True
    return basis


def fit_price_surface(slices: list[dict]) -> list[dict]:
    """Fit every expiry of ``slices`` (increasing T; dicts with ``T``, ``k``, ``bid``, ``ask``, ``mid`` and
    ``tick`` as OTM prices normalised by ``DF F``, and ``iv_mid``), each under the calendar floor of the
    one before.  Returns per expiry ``y`` (nodes), ``p`` (atoms) and ``s`` (kernel std), or None where the LP
    found no optimum (that expiry is dropped)."""
    raw = np.array([_atm_std(sl["k"], sl["iv_mid"], sl["T"]) for sl in slices])
    fill = np.nanmin(raw) if np.isfinite(raw).any() else 0.01
    s_atm = np.maximum.accumulate(np.maximum(np.where(np.isfinite(raw), raw, fill), 2e-3))
    kq_lo = min(float(np.min(sl["k"])) for sl in slices)
    kq_hi = max(float(np.max(sl["k"])) for sl in slices)
    kaps = _node_sets(s_atm, min(_K_LO, kq_lo - _PAD), max(_K_HI, kq_hi + _PAD))
    out, prev = [], None
    ceilings = _ceilings([np.exp(kap) for kap in kaps], slices)
    for sl, kap, si, ceiling in zip(slices, kaps, s_atm, ceilings, strict=True):
        fit = _fit_one(sl, kap, float(si), prev, ceiling)
        out.append(fit)
        prev = fit if fit is not None else prev  # nested nodes: the next one nests in the one before too
    return out


def _ceilings(ys: list[np.ndarray], slices: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per expiry, the upper bound on its time value at its nodes ``ys[i]`` implied by the later expiries'
    asks, and the half-spread it is measured in (the lowest later chord wins).  A later expiry inside its
    band has calls below the chords of its call-equivalent asks (calls are convex), and calendar order
    puts this expiry below it: without this the forward pass lets an expiry quoted on a narrow range
    extrapolate wings that every later expiry must then stay above, out of its own bands.  One pass from
    the last expiry back on the first expiry's nodes, which hold every later expiry's (nested)."""
    y0 = ys[0]
    ceil, half = np.full(y0.size, np.inf), np.ones(y0.size)
    out = [None] * len(slices)
    for i in range(len(slices) - 1, -1, -1):
        idx = np.searchsorted(y0, ys[i])
        out[i] = (ceil[idx], half[idx])
        sl = slices[i]
        x = np.exp(sl["k"])
        ca = sl["ask"] + np.where(x < 1.0, 1.0 - x, 0.0)
        inside = (y0 >= x[0]) & (y0 <= x[-1])
        bound = np.where(inside, np.interp(y0, x, ca) - np.maximum(1.0 - y0, 0.0), np.inf)
        h = np.interp(y0, x, np.maximum(0.5 * (sl["ask"] - sl["bid"]), sl["tick"]))
        lower = bound <= ceil  # ties: the earlier expiry's chord, as a forward scan keeps the first
        ceil, half = np.where(lower & inside, bound, ceil), np.where(lower & inside, h, half)
    return out


def _fit_one(sl: dict, kap: np.ndarray, s_atm: float, prev: dict | None, ceiling) -> dict | None:
    y = np.exp(kap)
    n = y.size
    s_ker = _KERNEL * s_atm
    lp = _Builder()
    hi_o = np.full(n, np.inf)
    hi_o[[0, -1]] = 0.0  # no mass beyond the end nodes: O vanishes there
    lo_o = np.zeros(n)
    if prev is not None:  # calendar at this expiry's nodes (rows below hold it at the previous ones')
        lo_o[1:-1] = np.interp(y[1:-1], prev["y"], prev["o"]) + _CAL_MARGIN
    # soft ceiling (the later quotes may themselves be inadmissible): O is split into a part bounded by the
    # ceiling (or by the calendar floor where that is higher) and a twin column above it that costs
    # _W_CEIL per half-spread -- the same optimum as a row O - v <= ceil, without the row
    ceil, half = ceiling
    m_idx = np.flatnonzero(np.isfinite(ceil[1:-1])) + 1
    hi_o[m_idx] = np.maximum(ceil[m_idx], lo_o[m_idx])
    o = lp.var(n, 0.0, lo_o, hi_o)
    p = lp.var(n, 0.0, _FLOOR, basic=True)
    # p = second differences of C = O + (1 - y)^+ (the payoff's unit atom at y = 1): D O - p = -e
    inv = 1.0 / np.diff(y)
    seg = np.arange(n - 1)
    rows = np.concatenate((seg, seg, seg + 1, seg + 1, np.arange(n)))
    cols = np.concatenate((o[seg + 1], o[seg], o[seg + 1], o[seg], p))
    vals = np.concatenate((inv, -inv, -inv, inv, -np.ones(n)))
    rhs = np.zeros(n)
    rhs[int(np.argmin(np.abs(kap)))] = -1.0
    lp.add("eq", rows, cols, vals, rhs)
    # quotes: model OTM price = O_PL(x) + sum_l r_l(x) p_l, in half-spreads
    x = np.exp(sl["k"])
    nq = x.size
    h = np.maximum(0.5 * (sl["ask"] - sl["bid"]), sl["tick"])
    ri, ci, wi = _interp_rows(x, y)
    r = time_values(x, y, s_ker)
    rq, rl = np.nonzero(r)
    qrows = np.concatenate((ri, rq))
    qcols = np.concatenate((o[ci], p[rl]))
    qvals = np.concatenate((wi, r[rq, rl])) / h[qrows]
    # model - mid = z_in_up - z_in_dn + z_out_up - z_out_dn (in half-spreads): the inner parts are bounded by
    # the band (shrunk by _INSIDE so a quote the fit puts inside stays inside after rounding) and cost
    # _W_MID; the outer parts cost 1 + _W_MID, so the LP uses them only when it must: one row per quote
    up = np.maximum((sl["ask"] - sl["mid"]) / h - _INSIDE, 0.0)
    dn = np.maximum((sl["mid"] - sl["bid"]) / h - _INSIDE, 0.0)
    z = [lp.var(nq, _W_MID, 0.0, up, basic=True), lp.var(nq, _W_MID, 0.0, dn), lp.var(nq, 1.0 + _W_MID),
         lp.var(nq, 1.0 + _W_MID)]
    q = np.arange(nq)
    lp.add("eq", np.concatenate((qrows, q, q, q, q)), np.concatenate((qcols, z[0], z[1], z[2], z[3])),
           np.concatenate((qvals, -np.ones(nq), np.ones(nq), -np.ones(nq), np.ones(nq))), sl["mid"] / h)
    # smoothness: total variation of the atoms' density per unit k, scaled by the ATM std
    width = np.gradient(kap)
    t_up, t_dn = lp.var(n - 1, _W_TV * s_atm, basic=True), lp.var(n - 1, _W_TV * s_atm)
    lp.add("eq", np.concatenate((seg, seg, seg, seg)), np.concatenate((p[1:], p[:-1], t_up, t_dn)),
           np.concatenate((1.0 / width[1:], -1.0 / width[:-1], -np.ones(n - 1), np.ones(n - 1))), np.zeros(n - 1))
    if prev is not None:  # calendar: C_prev(y_m) + margin <= C(y_m) at the previous nodes not shared (bounds)
        m_in = np.flatnonzero(~np.isin(prev["y"][1:-1], y)) + 1
        if m_in.size:
            ri, ci, wi = _interp_rows(prev["y"][m_in], y)
            lp.add("ub", ri, o[ci], -wi, -(prev["o"][m_in] + _CAL_MARGIN))
    v = lp.twin(o[m_idx], _W_CEIL / half[m_idx])
    x = lp.solve()
    if x is None:  # the expiry is dropped ("no acceptable fit"), not the surface
        return None
    ov = x[o]
    ov[m_idx] += x[v]
    ov[[0, -1]] = 0.0
    atoms, ov = _atoms(ov, y, int(np.argmin(np.abs(kap))))
    return {"y": y, "p": atoms, "s": s_ker, "o": ov}


def _atoms(o: np.ndarray, y: np.ndarray, at_one: int) -> tuple[np.ndarray, np.ndarray]:
    """Atoms of ``C = O + (1 - y)^+`` recomputed from the solved time values ``O`` (``O`` is 0 at both
    ends), and ``O`` itself after the end-atom guard.  The slopes telescope, so mass and mean are 1 to
    rounding, and the calls are exactly the piecewise-linear ``C`` the calendar rows constrained.
    Negative atoms within the solver's tolerance are set to 0.

    End-atom guard: the LP holds the end atoms at >= _FLOOR only to its tolerance, and an end atom lost
    to it leaves the wing beyond the next atom priced at 0 (no finite w there).  Then the law is mixed
    with a small weight ``eps`` of the two-point law ``Q`` on the end nodes with mean 1: mass and mean
    stay 1, both ends get >= _FLOOR, and since ``Q`` is the most spread law on the nodes the calls only
    rise (by <= eps), which keeps the calendar order to the expiry before; the returned ``O`` is the
    mixed one, so the next expiry's calendar rows see the calls actually kept."""
    slope = np.diff(o) / np.diff(y)
    p = np.diff(np.r_[0.0, slope, 0.0])
    p[at_one] += 1.0
    p = np.maximum(p, 0.0)
    ends = np.array([0, y.size - 1])
    if np.all(p[ends] >= _FLOOR):
        return p, o
    q = np.array([y[-1] - 1.0, 1.0 - y[0]]) / (y[-1] - y[0])  # Q's atoms at y[0], y[-1] (mean 1)
    low = p[ends] < _FLOOR  # there q > _FLOOR > p: eps (q - p) >= _FLOOR - p lifts it to _FLOOR
    eps = float(np.max((_FLOOR - p[ends][low]) / (q[low] - p[ends][low])))
    p = (1.0 - eps) * p
    p[ends] += eps * q
    o_q = q[1] * (y[-1] - y) - np.maximum(1.0 - y, 0.0)  # Q's calls are linear between its two atoms
    return p, (1.0 - eps) * o + eps * o_q
