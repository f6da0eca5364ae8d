"""Numba kernels for raw-SVI calibration: quasi-explicit inner QP and Nelder-Mead outer loops.

Raw SVI total variance ``w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))``.  For fixed
``(m, sigma)`` Zeliade's quasi-explicit change of variables ``y = (k - m)/sigma``, ``z = sqrt(y^2 + 1)``
makes ``w = a + d y + c z`` linear in ``(a, d, c) = (a, rho b sigma, b sigma)``, so the inner problem is a
3-variable weighted least-squares with linear constraints:

* ``|d| <= c`` (``|rho| <= 1``);
* ``c +/- d <= 2 sigma`` -- Lee's moment bound: wing slopes of total variance ``b (1 +/- rho) <= 2``;
* ``a + c - |d| >= 0`` -- a polyhedral sufficient condition for ``min w = a + c sqrt(1 - rho^2) >= 0``;
* ``a <= max w``.

A convex QP in three unknowns is solved exactly by enumerating active sets (at most three active
constraints): each candidate solves a small KKT system, and the feasible candidate with the least
objective is the optimum.  The outer 2-d search over ``(m, ln sigma)`` is Nelder-Mead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_NC = 7  # number of inner constraints


@njit(cache=True, inline="always")
def _inv3(h, out):
    """Inverse of a symmetric 3x3 into ``out``; returns False when (nearly) singular."""
    c00 = h[1, 1] * h[2, 2] - h[1, 2] * h[2, 1]
    c01 = h[1, 2] * h[2, 0] - h[1, 0] * h[2, 2]
    c02 = h[1, 0] * h[2, 1] - h[1, 1] * h[2, 0]
    det = h[0, 0] * c00 + h[0, 1] * c01 + h[0, 2] * c02
    scale = abs(h[0, 0] * h[1, 1] * h[2, 2]) + 1e-300
    if abs(det) <= 1e-14 * scale:
        return False
    out[0, 0] = c00 / det
    out[0, 1] = (h[0, 2] * h[2, 1] - h[0, 1] * h[2, 2]) / det
    out[0, 2] = (h[0, 1] * h[1, 2] - h[0, 2] * h[1, 1]) / det
    out[1, 0] = c01 / det
    out[1, 1] = (h[0, 0] * h[2, 2] - h[0, 2] * h[2, 0]) / det
    out[1, 2] = (h[0, 2] * h[1, 0] - h[0, 0] * h[1, 2]) / det
    out[2, 0] = c02 / det
    out[2, 1] = (h[0, 1] * h[2, 0] - h[0, 0] * h[2, 1]) / det
    out[2, 2] = (h[0, 0] * h[1, 1] - h[0, 1] * h[1, 0]) / det
    return True


@njit(cache=True)
def _constraints(sig, wmax):
    a = np.zeros((_NC, 3))
    b = np.zeros(_NC)
    # rows act on p = (a, d, c): A p <= b
    a[0, 1], a[0, 2] = 1.0, -1.0
    a[1, 1], a[1, 2] = -1.0, -1.0
    a[2, 1], a[2, 2], b[2] = 1.0, 1.0, 2.0 * sig
    a[3, 1], a[3, 2], b[3] = -1.0, 1.0, 2.0 * sig
    a[4, 0], a[4, 1], a[4, 2] = -1.0, 1.0, -1.0
    a[5, 0], a[5, 1], a[5, 2] = -1.0, -1.0, -1.0
    a[6, 0], b[6] = 1.0, wmax
    return a, b


@njit(cache=True)
def inner_qp(k, w, wt, m, sig, wmax):
    """Best (a, d, c) and weighted SSE for fixed (m, sig).

    Range-space active-set enumeration: with ``Hi = H^-1`` and the unconstrained optimum ``p0``, the
    optimum on active set S is ``p = p0 - Hi A_S^T lam`` with ``(A_S Hi A_S^T) lam = A_S p0 - b_S``;
    the first S (by size) whose ``p`` is feasible with ``lam >= 0`` satisfies KKT, hence is optimal.
    """
    h = np.zeros((3, 3))
    g = np.zeros(3)
    ww = 0.0
    for i in range(k.shape[0]):
        y = (k[i] - m) / sig
        z = math.sqrt(y * y + 1.0)
        q = wt[i]
        h[0, 0] += q
        h[0, 1] += q * y
        h[0, 2] += q * z
        h[1, 1] += q * y * y
        h[1, 2] += q * y * z
        h[2, 2] += q * z * z
        g[0] += q * w[i]
        g[1] += q * w[i] * y
        g[2] += q * w[i] * z
        ww += q * w[i] * w[i]
    h[1, 0], h[2, 0], h[2, 1] = h[0, 1], h[0, 2], h[1, 2]
    hi = np.empty((3, 3))
    best = np.zeros(3)
    if not _inv3(h, hi):
        return best, math.inf
    ca, cb = _constraints(sig, wmax)
    p0 = hi @ g
    hia = ca @ hi  # rows: (Hi A^T)^T = A Hi (Hi symmetric)
    mm = hia @ ca.T  # A Hi A^T
    r0 = ca @ p0 - cb  # constraint slack violations at p0
    p = np.empty(3)
    lam = np.empty(3)
    idx = np.empty(3, dtype=np.int64)
    sub = np.empty((3, 3))
    subi = np.empty((3, 3))
    best_obj = math.inf
    for size in range(4):
        # iterate over all index combinations of this size (i0 < i1 < i2)
        for i0 in range(_NC if size >= 1 else 1):
            for i1 in range(i0 + 1 if size >= 2 else 0, _NC if size >= 2 else 1):
                for i2 in range(i1 + 1 if size >= 3 else 0, _NC if size >= 3 else 1):
                    idx[0], idx[1], idx[2] = i0, i1, i2
                    ok = True
                    if size == 1:
                        if mm[i0, i0] <= 1e-300:
                            ok = False
                        else:
                            lam[0] = r0[i0] / mm[i0, i0]
                    elif size >= 2:
                        for r in range(3):
                            for c in range(3):
                                sub[r, c] = 0.0
                            sub[r, r] = 1.0
                        for r in range(size):
                            for c in range(size):
                                sub[r, c] = mm[idx[r], idx[c]]
                        if not _inv3(sub, subi):
                            ok = False
                        else:
                            for r in range(size):
                                acc = 0.0
                                for c in range(size):
                                    acc += subi[r, c] * r0[idx[c]]
                                lam[r] = acc
                    if not ok:
                        continue
                    dual_ok = True
                    for r in range(size):
                        if lam[r] < -1e-12:
                            dual_ok = False
                    p[:] = p0
                    for r in range(size):
                        for c in range(3):
                            p[c] -= lam[r] * hia[idx[r], c]
                    feas = True
                    for r in range(_NC):
                        if ca[r, 0] * p[0] + ca[r, 1] * p[1] + ca[r, 2] * p[2] > cb[r] + 1e-12 * (1.0 + abs(cb[r])):
                            feas = False
                            break
                    if not feas:
                        continue
                    obj = ww - 2.0 * (g[0] * p[0] + g[1] * p[1] + g[2] * p[2])
                    for r in range(3):
                        for c in range(3):
                            obj += p[r] * h[r, c] * p[c]
                    if obj < best_obj:
                        best_obj = obj
                        best[:] = p
                    if dual_ok:
                        return best, max(best_obj, 0.0)
    return best, max(best_obj, 0.0)


@njit(cache=True)
def _qe_objective(x, k, w, wt, wmax, m_lo, m_hi):
    m = x[0]
    sig = math.exp(x[1])
    if m < m_lo or m > m_hi or sig < 1e-4 or sig > 10.0:
        return 1e300
    return inner_qp(k, w, wt, m, sig, wmax)[1]


@njit(cache=True)
def _nelder_mead_qe(x0, step, k, w, wt, wmax, m_lo, m_hi, max_eval, tol):
    n = x0.shape[0]
    simplex = np.empty((n + 1, n))
    fv = np.empty(n + 1)
    for i in range(n + 1):
        simplex[i] = x0
        if i > 0:
            simplex[i, i - 1] += step[i - 1]
        fv[i] = _qe_objective(simplex[i], k, w, wt, wmax, m_lo, m_hi)
    evals = n + 1
    while evals < max_eval:
        order = np.argsort(fv)
        simplex = simplex[order]
        fv = fv[order]
        if abs(fv[-1] - fv[0]) <= tol * (abs(fv[0]) + 1e-30) and evals > 4 * n:
            break
        cen = simplex[:-1].sum(axis=0) / n
        xr = cen + (cen - simplex[-1])
        fr = _qe_objective(xr, k, w, wt, wmax, m_lo, m_hi)
        evals += 1
        if fr < fv[0]:
            xe = cen + 2.0 * (cen - simplex[-1])
            fe = _qe_objective(xe, k, w, wt, wmax, m_lo, m_hi)
            evals += 1
            if fe < fr:
                simplex[-1], fv[-1] = xe, fe
            else:
                simplex[-1], fv[-1] = xr, fr
        elif fr < fv[-2]:
            simplex[-1], fv[-1] = xr, fr
        else:
            xc = cen + 0.5 * (simplex[-1] - cen) if fr >= fv[-1] else cen + 0.5 * (xr - cen)
            fc = _qe_objective(xc, k, w, wt, wmax, m_lo, m_hi)
            evals += 1
            if fc < min(fr, fv[-1]):
                simplex[-1], fv[-1] = xc, fc
            else:
                for i in range(1, n + 1):
                    simplex[i] = simplex[0] + 0.5 * (simplex[i] - simplex[0])
                    fv[i] = _qe_objective(simplex[i], k, w, wt, wmax, m_lo, m_hi)
                evals += n
    i = np.argmin(fv)
    return simplex[i], fv[i], evals


@njit(cache=True)
def _qe_bounds(k, w):
    wmax = 0.0
    kmin, kmax = k[0], k[0]
    for i in range(k.shape[0]):
        wmax = max(wmax, w[i])
        kmin = min(kmin, k[i])
        kmax = max(kmax, k[i])
    span = max(kmax - kmin, 1e-3)
    return wmax, kmin, kmax, span


@njit(cache=True)
def _qe_params(k, w, wt, x, wmax):
    m, sig = x[0], math.exp(x[1])
    p, f = inner_qp(k, w, wt, m, sig, wmax)
    a, d, c = p[0], p[1], p[2]
    rho = d / c if c > 0 else 0.0
    return a, c / sig, min(max(rho, -1.0), 1.0), m, sig, f


@njit(cache=True)
def qe_fit(k, w, wt):
    """Quasi-explicit raw-SVI fit; returns (a, b, rho, m, sigma, weighted SSE).

    The (m, sigma) landscape is multi-modal, so a coarse 7 x 6 grid picks the two best basins and
    Nelder-Mead polishes each.
    """
    wmax, kmin, kmax, span = _qe_bounds(k, w)
    m_lo, m_hi = kmin - span, kmax + span
    n_m, n_s = 7, 6
    cand = np.empty((n_m * n_s, 3))
    j = 0
    for i in range(n_m):
        m0 = kmin + span * (i / (n_m - 1.0))
        for q in range(n_s):
            ls0 = math.log(span * 0.02 * 3.0**q)
            x = np.array([m0, ls0])
            cand[j, 0], cand[j, 1] = m0, ls0
            cand[j, 2] = _qe_objective(x, k, w, wt, wmax, m_lo, m_hi)
            j += 1
    order = np.argsort(cand[:, 2])
    best_x = np.zeros(2)
    best_f = math.inf
    for r in range(2):
        x0 = cand[order[r], :2].copy()
        x, f, _ = _nelder_mead_qe(x0, np.array([0.05 * span, 0.5]), k, w, wt, wmax, m_lo, m_hi, 120, 1e-6)
        if f < best_f:
            best_f, best_x = f, x
    return _qe_params(k, w, wt, best_x, wmax)
