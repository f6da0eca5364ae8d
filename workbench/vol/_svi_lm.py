"""Numba kernels: raw-SVI fit to a bid/ask band under butterfly and calendar constraints.

One expiry, parameters ``p = (a, b, rho, m, sigma)``, total variance ``w(k)`` and Gatheral's density factor
``g(k) = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2``.  The loss, in units of "vol error over the
quote's bid/ask half-width" (the caller's ``sw``), is

* a dead-zone term: zero while the fitted total variance is inside the quote's band, quadratic outside;
* a small pull ``eta`` towards the mid, so that among the fits inside the bands the smoothest central one
  wins (and the problem is well posed when every quote is already inside);
* quadratic penalties ``mu * min(0, g - eps_g)^2`` (butterfly), ``mu * min(0, w/w_prev - 1 - eps_c)^2``
  (calendar: at least the previous slice's total variance, at most the next one's where only the next is
  quoted) and ``mu * min(0, w - eps_w)^2`` on a k grid.

Levenberg-Marquardt with analytic derivatives of w and g, ``log sigma`` as the internal variable, box
projection for ``b >= 0`` and ``|rho| < 1``, and a continuation in ``mu`` until the grid is feasible:
a few hundred microseconds per expiry instead of the tens of milliseconds of SLSQP with Python
callbacks.  Why penalties and not an exact active-set method: with 5 unknowns and a few hundred grid
constraints of which only a handful are ever active, a penalty path is simple, robust to the kinks of
the dead zone, and its result is verified on the grid before it is accepted.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_RHO_MAX = 0.999
_SIG_MIN, _SIG_MAX = 1e-4, 10.0
LEE_MAX = 2.0  # Lee (2004): the wings of total variance grow at most like 2|k|


@njit(cache=True, inline="always")
def _w_and_grad(p0, p1, p2, p3, sig, kk, dw):
    """w(k) and dw/d(a, b, rho, m, log sigma) into ``dw``."""
    x = kk - p3
    r = math.sqrt(x * x + sig * sig)
    dw[0] = 1.0
    dw[1] = p2 * x + r
    dw[2] = p1 * x
    dw[3] = -p1 * (p2 + x / r)
    dw[4] = p1 * sig * sig / r  # sigma * dw/dsigma
    return p0 + p1 * (p2 * x + r)


@njit(cache=True, inline="always")
def _g_and_grad(p0, p1, p2, p3, sig, kk, dg, want):
    """g(k), w(k); dg/d(a, b, rho, m, log sigma) into ``dg`` when ``want``."""
    x = kk - p3
    s2 = sig * sig
    r = math.sqrt(x * x + s2)
    r3 = r * r * r
    w = p0 + p1 * (p2 * x + r)
    w1 = p1 * (p2 + x / r)
    w2 = p1 * s2 / r3
    if w <= 0.0:
        return -1.0, w
    A = 1.0 - kk * w1 / (2.0 * w)
    c = 1.0 / w + 0.25
    g = A * A - 0.25 * w1 * w1 * c + 0.5 * w2
    if want:
        r5 = r3 * r * r
        # derivatives of w, w', w'' in (a, b, rho, m, sigma)
        dw0, dw1, dw2, dw3, dw4 = 1.0, p2 * x + r, p1 * x, -p1 * (p2 + x / r), p1 * sig / r
        e0, e1, e2, e3, e4 = 0.0, p2 + x / r, p1, -p1 * s2 / r3, -p1 * x * sig / r3
        f0, f1, f2, f3, f4 = 0.0, s2 / r3, 0.0, 3.0 * p1 * s2 * x / r5, p1 * (2.0 * sig / r3 - 3.0 * s2 * sig / r5)
        ka = -kk / (2.0 * w * w)
        q = 0.25 * w1 * w1 / (w * w)
        h = 0.5 * w1 * c
        dws = (dw0, dw1, dw2, dw3, dw4)
        des = (e0, e1, e2, e3, e4)
        dfs = (f0, f1, f2, f3, f4)
        for j in range(5):
            dA = ka * (des[j] * w - w1 * dws[j])
            dg[j] = 2.0 * A * dA - h * des[j] + q * dws[j] + 0.5 * dfs[j]
        dg[4] *= sig  # d/d(log sigma)
    return g, w


@njit(cache=True)
def svi_w(params, k):
    """Raw-SVI total variance on the points ``k`` (the same formula the fit differentiates)."""
    dv = np.empty(5)
    out = np.empty(k.shape[0])
    for i in range(k.shape[0]):
        out[i] = _w_and_grad(params[0], params[1], params[2], params[3], params[4], k[i], dv)
    return out


@njit(cache=True)
def svi_g(params, k):
    """Gatheral's density factor g(k); butterfly-free iff g >= 0 and w > 0 (g is -1 where w <= 0)."""
    dv = np.empty(5)
    out = np.empty(k.shape[0])
    for i in range(k.shape[0]):
        out[i] = _g_and_grad(params[0], params[1], params[2], params[3], params[4], k[i], dv, False)[0]
    return out


@njit(cache=True)
def _loss(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, mu, eps_g, eps_c, want, jtj, jtr, c2, msw):
    """Loss at internal point ``x = (a, b, rho, m, log sigma)``; J^T J and J^T r when ``want``."""
    p0, p1, p2, p3 = x[0], x[1], x[2], x[3]
    sig = math.exp(x[4])
    dv = np.empty(5)
    if want:
        jtj[:, :] = 0.0
        jtr[:] = 0.0
    f = 0.0
    se = math.sqrt(eta)
    for i in range(k.shape[0]):
        w = _w_and_grad(p0, p1, p2, p3, sig, k[i], dv)
        if w < lo[i]:
            r0 = sw[i] * (w - lo[i])
        elif w > hi[i]:
            r0 = sw[i] * (w - hi[i])
        else:
            r0 = 0.0
        r1 = se * msw[i] * (w - mid[i])
        # Cauchy loss on the band distance: a quote far outside costs ~log(distance), so a few quotes the
        # model cannot reach do not pull the smile out of many others' bands.
        u = r0 * r0 / c2
        f += c2 * math.log1p(u) + r1 * r1
        if want:
            rw = 1.0 / (1.0 + u)  # IRLS weight
            c0 = sw[i] if r0 != 0.0 else 0.0
            c1 = se * msw[i]
            cc = rw * c0 * c0 + c1 * c1
            rr = rw * c0 * r0 + c1 * r1
            for a in range(5):
                jtr[a] += rr * dv[a]
                for b in range(a, 5):
                    jtj[a, b] += cc * dv[a] * dv[b]
    sm = math.sqrt(mu)
    for j in range(grid.shape[0]):
        g, w = _g_and_grad(p0, p1, p2, p3, sig, grid[j], dv, False)
        if w < 1e-12:  # positivity first: g is meaningless for w <= 0
            r = sm * (w - 1e-12) * 100.0
            f += r * r
            if want:
                _w_and_grad(p0, p1, p2, p3, sig, grid[j], dv)
                _add_row(jtj, jtr, dv, r, sm * 100.0)
            continue
        if g < eps_g:
            r = sm * (g - eps_g)
            f += r * r
            if want:
                _g_and_grad(p0, p1, p2, p3, sig, grid[j], dv, True)
                _add_row(jtj, jtr, dv, r, sm)
        fl = floor[j]
        if fl > 0.0 and w < fl * (1.0 + eps_c):
            r = sm * (w / fl - 1.0 - eps_c)
            f += r * r
            if want:
                _w_and_grad(p0, p1, p2, p3, sig, grid[j], dv)
                _add_row(jtj, jtr, dv, r, sm / fl)
        cl = ceil[j]
        if w > cl * (1.0 - eps_c):  # ceil = inf: no ceiling
            r = sm * (w / cl - 1.0 + eps_c)
            f += r * r
            if want:
                _w_and_grad(p0, p1, p2, p3, sig, grid[j], dv)
                _add_row(jtj, jtr, dv, r, sm / cl)
    if want:
        for a in range(5):
            for b in range(a):
                jtj[a, b] = jtj[b, a]
    return f


@njit(cache=True, inline="always")
def _add_row(jtj, jtr, dv, r, scale):
    for a in range(5):
        ja = scale * dv[a]
        jtr[a] += r * ja
        for b in range(a, 5):
            jtj[a, b] += ja * scale * dv[b]


@njit(cache=True)
def _solve5(m, v):
    """Cholesky solve of a 5x5 SPD system; returns (ok, x)."""
    n = 5
    L = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1):
            s = m[i, j]
            for q in range(j):
                s -= L[i, q] * L[j, q]
            if i == j:
                if s <= 0.0:
                    return False, v
                L[i, i] = math.sqrt(s)
            else:
                L[i, j] = s / L[j, j]
    y = np.empty(n)
    for i in range(n):
        s = v[i]
        for q in range(i):
            s -= L[i, q] * y[q]
        y[i] = s / L[i, i]
    out = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = y[i]
        for q in range(i + 1, n):
            s -= L[q, i] * out[q]
        out[i] = s / L[i, i]
    return True, out


@njit(cache=True)
def _project(x, m_lo, m_hi):
    x[2] = min(max(x[2], -_RHO_MAX), _RHO_MAX)
    # Lee's moment bound on the wings' slope, b (1 + |rho|) <= 2: steeper wings make OTM call prices
    # rise with strike somewhere beyond the quotes, whatever g looks like on a finite grid
    x[1] = min(max(x[1], 0.0), LEE_MAX / (1.0 + abs(x[2])))
    x[3] = min(max(x[3], m_lo), m_hi)
    x[4] = min(max(x[4], math.log(_SIG_MIN)), math.log(_SIG_MAX))


@njit(cache=True)
def _lm(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, mu, eps_g, eps_c, m_lo, m_hi, max_iter, c2, msw):
    jtj = np.empty((5, 5))
    jtr = np.empty(5)
    tj = np.empty((5, 5))
    tr = np.empty(5)
    f = _loss(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, mu, eps_g, eps_c, True, jtj, jtr, c2, msw)
    lam = 1e-3
    xn = np.empty(5)
    a_m = np.empty((5, 5))
    slow = 0
    rel = 1.0
    for _ in range(max_iter):
        improved = False
        for _try in range(12):
            for i in range(5):
                for j in range(5):
                    a_m[i, j] = jtj[i, j]
                a_m[i, i] = jtj[i, i] * (1.0 + lam) + 1e-14
            ok, step = _solve5(a_m, -jtr)
            if not ok:
                lam *= 10.0
                continue
            for i in range(5):
                xn[i] = x[i] + step[i]
            _project(xn, m_lo, m_hi)
            fn = _loss(xn, k, lo, hi, mid, sw, eta, grid, floor, ceil, mu, eps_g, eps_c, False, tj, tr, c2, msw)
            if fn < f:
                rel = (f - fn) / max(f, 1e-300)
                x[:] = xn
                f = _loss(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, mu, eps_g, eps_c, True, jtj, jtr, c2, msw)
                lam = max(lam / 3.0, 1e-9)
                improved = True
                break
            lam *= 4.0
        # flat valleys (large sigma trades against a) creep for hundreds of steps: stop after three
        # consecutive steps that each gain less than 1e-7 of the loss
        slow = slow + 1 if rel < 1e-4 else 0
        if not improved or slow >= 2:
            break
    return f


@njit(cache=True)
def _max_violation(x, grid, floor, ceil, eps_c):
    """Worst grid violation: max of -g, -w and relative calendar shortfall (<= 0 means feasible)."""
    sig = math.exp(x[4])
    dv = np.empty(5)
    worst = -math.inf
    for j in range(grid.shape[0]):
        g, w = _g_and_grad(x[0], x[1], x[2], x[3], sig, grid[j], dv, False)
        worst = max(worst, -w, -g)
        if floor[j] > 0.0:
            worst = max(worst, 1.0 + eps_c * 0.1 - w / floor[j])
        if ceil[j] < math.inf:
            worst = max(worst, w / ceil[j] - 1.0 + eps_c * 0.1)
    return worst


@njit(cache=True)
def _feasible_stage(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, m_lo, m_hi, c2, msw):
    """Minimise one (eta, c2) loss from ``x`` in place, raising mu until the grid is feasible."""
    eps_g, eps_c = 1e-3, 1e-6
    mu = 1e2
    for _stage in range(5):
        _lm(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, mu, eps_g, eps_c, m_lo, m_hi, 40, c2, msw)
        if _max_violation(x, grid, floor, ceil, eps_c) <= 0.0:
            return True
        mu *= 100.0
    return False


@njit(cache=True)
def _stage(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, m_lo, m_hi, c2, msw, step):
    """One homotopy stage on every ``step``-th grid point (cheap), then on the full grid only if the
    coarse solution violates a constraint between the coarse points."""
    if step > 1:
        ok = _feasible_stage(x, k, lo, hi, mid, sw, eta, grid[::step], floor[::step], ceil[::step], m_lo, m_hi, c2, msw)
        if ok and _max_violation(x, grid, floor, ceil, 1e-6) <= 0.0:
            return True
    return _feasible_stage(x, k, lo, hi, mid, sw, eta, grid, floor, ceil, m_lo, m_hi, c2, msw)


@njit(cache=True)
def _inside_count(x, k, lo, hi):
    sig = math.exp(x[4])
    n = 0
    for i in range(k.shape[0]):
        xx = k[i] - x[3]
        w = x[0] + x[1] * (x[2] * xx + math.sqrt(xx * xx + sig * sig))
        if lo[i] <= w <= hi[i]:
            n += 1
    return n


@njit(cache=True)
def fit_band(p_init, k, lo, hi, mid, sw, msw, grid, floor, ceil, m_lo, m_hi, etas, c2s):
    """Constrained band fit from raw SVI ``p_init`` along a homotopy of losses.

    Stage j minimises ``c2s[j] log(1 + dz^2 / c2s[j]) + etas[j] mid^2`` warm-started from stage j-1: the
    first stages (large eta) are nearly the convex mid fit, the last ones (small eta, small c2) nearly
    count the quotes outside their bands -- a path that avoids the local minima a direct start on the
    band loss falls into.  Returns the feasible result (the start or a stage) with the most quotes inside
    (ties: the later stage), its inside count, and whether any stage was feasible.
    """
    x = np.empty(5)
    x[0], x[1], x[2], x[3] = p_init[0], p_init[1], p_init[2], p_init[3]
    x[4] = math.log(min(max(p_init[4], _SIG_MIN), _SIG_MAX))
    _project(x, m_lo, m_hi)
    best = x.copy()
    best_n = -1
    if _max_violation(x, grid, floor, ceil, 1e-6) <= 0.0:  # a feasible start competes too
        best_n = _inside_count(x, k, lo, hi)
    for j in range(etas.shape[0]):
        if _stage(x, k, lo, hi, mid, sw, etas[j], grid, floor, ceil, m_lo, m_hi, c2s[j], msw, 8):
            n = _inside_count(x, k, lo, hi)
            if n >= best_n:
                best_n = n
                best[:] = x
                if n == k.shape[0]:  # every quote inside its band: later stages cannot do better
                    break
    out = np.empty(5)
    out[0], out[1], out[2], out[3], out[4] = best[0], best[1], best[2], best[3], math.exp(best[4])
    return out, best_n, best_n >= 0
