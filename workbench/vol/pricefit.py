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
:func:`_ceiling`); the calendar rows hold it above the expiry before.  Quotes left outside that conflict with
other quotes of their expiry are reported by :mod:`workbench.vol.admissible`.  docs/vol.md has the details.
"""

from __future__ import annotations

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
    return np.r_[r, r], np.r_[j, j + 1], np.r_[1.0 - t, t]


class _Builder:
    """Sparse LP rows accumulated as COO triplets."""

    def __init__(self):
        self.nvar = 0
        self.cost, self.lo, self.hi = [], [], []
        self.ub = ([], [], [], [])  # rows, cols, vals, rhs
        self.eq = ([], [], [], [])
        self.n_ub = self.n_eq = 0

    def var(self, n, cost=0.0, lo=0.0, hi=np.inf) -> np.ndarray:
        idx = np.arange(self.nvar, self.nvar + n)
        self.nvar += n
        self.cost.append(np.broadcast_to(np.asarray(cost, float), (n,)).copy())
        self.lo.append(np.broadcast_to(np.asarray(lo, float), (n,)).copy())
        self.hi.append(np.broadcast_to(np.asarray(hi, float), (n,)).copy())
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
        a = sp.csc_matrix((np.concatenate(self.ub[2] + self.eq[2]), (rows, np.concatenate(self.ub[1] + self.eq[1]))),
                          shape=(n_ub + n_eq, self.nvar))
        b_ub = np.concatenate(self.ub[3]) if n_ub else np.empty(0)
        b_eq = np.concatenate(self.eq[3]) if n_eq else np.empty(0)
        lhs, rhs = np.r_[np.full(n_ub, -np.inf), b_eq], np.r_[b_ub, b_eq]
        c, lo, hi = np.concatenate(self.cost), np.concatenate(self.lo), np.concatenate(self.hi)
        try:
            return _highs_direct(c, a, lhs, rhs, lo, hi)
        except (ImportError, AttributeError, TypeError):  # scipy's private HiGHS binding moved: public path
            res = linprog(c, A_ub=a[:n_ub] if n_ub else None, b_ub=b_ub if n_ub else None,
                          A_eq=a[n_ub:] if n_eq else None, b_eq=b_eq if n_eq else None,
                          bounds=np.column_stack([lo, hi]), method="highs-ds",
                          options={"primal_feasibility_tolerance": _TOL, "dual_feasibility_tolerance": _TOL,
                                   "simplex_dual_edge_weight_strategy": "devex"})
            return res.x if res.status == 0 else None


_HIGHS_OPTIONS = (("output_flag", False), ("simplex_strategy", 1), ("simplex_dual_edge_weight_strategy", 1),
                  ("primal_feasibility_tolerance", _TOL), ("dual_feasibility_tolerance", _TOL))
# the same tolerances, other paths: without presolve, then primal simplex
_RETRY = ((), (("presolve", "off"),), (("simplex_strategy", 4),))


def _highs_direct(c, a, lhs, rhs, lo, hi) -> np.ndarray | None:
    """HiGHS through scipy's own binding, without ``linprog``'s per-call option validation (~8 ms a call,
    more than many of these LPs take to solve).  Dual simplex with devex pricing (2-7x faster here than
    steepest edge), tolerances 1e-10."""
    import scipy.optimize._highspy._core as _h

    inf = _h.kHighsInf
    lp = _h.HighsLp()
    lp.num_col_, lp.num_row_ = c.size, lhs.size
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = c.size, lhs.size
    lp.a_matrix_.format_ = _h.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    lp.col_cost_ = c
    lp.col_lower_, lp.col_upper_ = np.clip(lo, -inf, inf), np.clip(hi, -inf, inf)
    lp.row_lower_, lp.row_upper_ = np.clip(lhs, -inf, inf), np.clip(rhs, -inf, inf)
    for retry in _RETRY:  # dual simplex first; on numerical trouble ("Unknown" status), the same LP again
        highs = _h._Highs()
        for key, val in _HIGHS_OPTIONS + retry:
            highs.setOptionValue(key, val)
        highs.passModel(lp)
        highs.run()
        if highs.getModelStatus() == _h.HighsModelStatus.kOptimal:
            return np.asarray(highs.getSolution().col_value, float)
    return None


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
    for i, (sl, kap, si) in enumerate(zip(slices, kaps, s_atm, strict=True)):
        fit = _fit_one(sl, kap, float(si), prev, _ceiling(np.exp(kap), slices[i + 1:]))
        out.append(fit)
        prev = fit if fit is not None else prev  # nested nodes: the next one nests in the one before too
    return out


def _ceiling(y: np.ndarray, later: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Upper bound on this expiry's time value at nodes ``y`` implied by the later expiries' asks, and the
    half-spread it is measured in.  A later expiry inside its band has calls below the chords of its
    call-equivalent asks (calls are convex), and calendar order puts this expiry below it: without this
    the forward pass lets an expiry quoted on a narrow range extrapolate wings that every later expiry
    must then stay above, out of its own bands."""
    ceil, half = np.full(y.size, np.inf), np.ones(y.size)
    for sl in later:
        x = np.exp(sl["k"])
        put = x < 1.0
        ca = sl["ask"] + np.where(put, 1.0 - x, 0.0)
        inside = (y >= x[0]) & (y <= x[-1])
        bound = np.interp(y[inside], x, ca) - np.maximum(1.0 - y[inside], 0.0)
        h = np.interp(y[inside], x, np.maximum(0.5 * (sl["ask"] - sl["bid"]), sl["tick"]))
        lower = bound < ceil[inside]
        idx = np.flatnonzero(inside)[lower]
        ceil[idx], half[idx] = bound[lower], h[lower]
    return ceil, half


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
    o = lp.var(n, 0.0, lo_o, hi_o)
    p = lp.var(n, 0.0, _FLOOR)
    # p = second differences of C = O + (1 - y)^+ (the payoff's unit atom at y = 1): D O - p = -e
    inv = 1.0 / np.diff(y)
    seg = np.arange(n - 1)
    rows = np.r_[seg, seg, seg + 1, seg + 1, np.arange(n)]
    cols = np.r_[o[seg + 1], o[seg], o[seg + 1], o[seg], p]
    vals = np.r_[inv, -inv, -inv, inv, -np.ones(n)]
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
    qrows = np.r_[ri, rq]
    qcols = np.r_[o[ci], p[rl]]
    qvals = np.r_[wi, r[rq, rl]] / h[qrows]
    # model - mid = z_in_up - z_in_dn + z_out_up - z_out_dn (in half-spreads): the inner parts are bounded by
    # the band (shrunk by _INSIDE so a quote the fit puts inside stays inside after rounding) and cost
    # _W_MID; the outer parts cost 1 + _W_MID, so the LP uses them only when it must: one row per quote
    up = np.maximum((sl["ask"] - sl["mid"]) / h - _INSIDE, 0.0)
    dn = np.maximum((sl["mid"] - sl["bid"]) / h - _INSIDE, 0.0)
    z = [lp.var(nq, _W_MID, 0.0, up), lp.var(nq, _W_MID, 0.0, dn), lp.var(nq, 1.0 + _W_MID),
         lp.var(nq, 1.0 + _W_MID)]
    q = np.arange(nq)
    lp.add("eq", np.r_[qrows, q, q, q, q], np.r_[qcols, z[0], z[1], z[2], z[3]],
           np.r_[qvals, -np.ones(nq), np.ones(nq), -np.ones(nq), np.ones(nq)], sl["mid"] / h)
    # smoothness: total variation of the atoms' density per unit k, scaled by the ATM std
    width = np.gradient(kap)
    t_up, t_dn = lp.var(n - 1, _W_TV * s_atm), lp.var(n - 1, _W_TV * s_atm)
    lp.add("eq", np.r_[seg, seg, seg, seg], np.r_[p[1:], p[:-1], t_up, t_dn],
           np.r_[1.0 / width[1:], -1.0 / width[:-1], -np.ones(n - 1), np.ones(n - 1)], np.zeros(n - 1))
    if prev is not None:  # calendar: C_prev(y_m) + margin <= C(y_m) at the previous nodes not shared (bounds)
        m_in = np.flatnonzero(~np.isin(prev["y"][1:-1], y)) + 1
        if m_in.size:
            ri, ci, wi = _interp_rows(prev["y"][m_in], y)
            lp.add("ub", ri, o[ci], -wi, -(prev["o"][m_in] + _CAL_MARGIN))
    ceil, half = ceiling
    m_idx = np.flatnonzero(np.isfinite(ceil))
    if m_idx.size:  # soft: the later quotes may themselves be inadmissible
        v = lp.var(m_idx.size, _W_CEIL / half[m_idx])
        rows = np.arange(m_idx.size)
        lp.add("ub", np.r_[rows, rows], np.r_[o[m_idx], v], np.r_[np.ones(m_idx.size), -np.ones(m_idx.size)],
               ceil[m_idx])
    x = lp.solve()
    if x is None:  # the expiry is dropped ("no acceptable fit"), not the surface
        return None
    ov = x[o]
    ov[[0, -1]] = 0.0
    return {"y": y, "p": _atoms(ov, y, int(np.argmin(np.abs(kap)))), "s": s_ker, "o": ov}


def _atoms(o: np.ndarray, y: np.ndarray, at_one: int) -> np.ndarray:
    """Atoms of ``C = O + (1 - y)^+`` recomputed from the solved time values ``O`` (``O`` is 0 at both
    ends): the slopes telescope, so mass and mean are 1 to rounding, and the calls are exactly the
    piecewise-linear ``C`` the calendar rows constrained.  Negative atoms within the solver's tolerance
    are set to 0."""
    slope = np.diff(o) / np.diff(y)
    p = np.diff(np.r_[0.0, slope, 0.0])
    p[at_one] += 1.0
    return np.maximum(p, 0.0)
