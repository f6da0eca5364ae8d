"""eSSVI (extended SSVI): one SSVI slice per expiry, calibrated in increasing T, arbitrage-free by construction.

Conventions as in :mod:`workbench.vol.svi`: ``k = ln(K/F)``, ``w = sigma^2 T``.  A slice is

    ``w(k) = theta/2 (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2))``,  ``psi = theta phi``,

with ``theta`` the ATM total variance, ``rho`` the skew -- one per expiry, hence "extended" (Hendriks &
Martini 2019) where SSVI (:mod:`workbench.vol.ssvi`) has one for the surface -- and ``psi`` the scale of
the smile: ``w'(0) = rho psi`` and the wings are ``w ~ p k / 2`` (k -> +inf), ``q |k| / 2`` (k -> -inf)
with slopes ``p = psi (1 + rho)``, ``q = psi (1 - rho)``.  Every slice is a raw-SVI slice
(:meth:`EssviSlice.to_svi`): ``a = theta (1 - rho^2)/2, b = psi/2, m = -rho/phi, sigma = sqrt(1 - rho^2)/phi``.

No-arbitrage conditions (sufficient ones; the parametrisation imposes them, so there is no repair step):

* butterfly (Gatheral & Jacquier 2014, Thm 4.2): ``psi (1 + |rho|) < 4`` and ``psi^2 (1 + |rho|) <= 4 theta``;
* calendar between consecutive slices 1 -> 2 (Hendriks & Martini 2019; Mingone 2022): ``theta2 >= theta1``,
  both wing slopes non-decreasing (``p2 >= p1, q2 >= q1``, i.e. ``|rho2 psi2 - rho1 psi1| <= psi2 - psi1``)
  *and* ``phi2 <= phi1`` (``psi2 / psi1 <= theta2 / theta1``).  The last one is not optional: with equal
  thetas and different ATM slopes ``rho psi`` two slices cross at k = 0, and about one random pair in six
  that meets only the first two conditions crosses somewhere.

Calibration follows Corbetta, Cohort, Laachir & Martini (2019), "Robust calibration and arbitrage-free
interpolation of SSVI slices": expiries in increasing T, each searched only over the set the previous
slice leaves admissible.  In the wing slopes that set is simple: ``p >= p1``, ``q >= q1`` and
``max(p, q) = psi (1 + |rho|) < 4`` form a box, and given (p, q) the admissible thetas are
``theta >= max(theta1, psi / phi1, psi max(p, q) / 4)``.  The search runs on (ln p, ln q, ln theta), and a
point outside is clipped onto the set (plus a small penalty that keeps the simplex near it), so every
candidate is arbitrage-free.  A coarse (p, q) grid with theta anchored to the quotes' ATM total variance
(exactly through k = 0, interpolated) picks the start; a 3-D Nelder-Mead and a restart finish.

Loss (in vol units over the bid/ask half-width, via the weights of :func:`workbench.vol.svi.fit_weights`):
the distance outside the band, which is zero inside it, plus ``MID_WEIGHT`` times the distance to mid,
which pins the slice down where the bands leave it free.  Both are absolute values, not squares: three
parameters cannot follow every SPX smile, and a square lets the few quotes the family cannot reach (deep
wings) drag the slice out of everyone else's band.  The search runs in numba (~70 us per 100-quote expiry,
about 300 loss evaluations); a 16 x 100 surface takes ~2.5-3.5 ms including the Python around it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit

from workbench.vol.svi import CAL_TOL, G_TOL, SviParams, fit_weights

__all__ = ["EssviFit", "EssviSlice", "calendar_params_ok", "fit_essvi"]

CHECK_GRID = np.linspace(-2.5, 1.5, 401)
MID_WEIGHT = 0.05  # weight of |fit - mid| next to the distance outside the band
PARAM_TOL = 1e-9  # relative slack when re-checking the parameter conditions of a fit
_C4 = 4.0 * (1.0 - 1e-6)  # psi (1 + |rho|) < 4 is strict


@dataclass(frozen=True)
class EssviSlice:
    """One expiry ``T`` of an eSSVI surface: ATM total variance ``theta``, skew ``rho``, ``psi = theta phi``."""

    T: float
    theta: float
    rho: float
    psi: float

    @property
    def phi(self) -> float:
        return self.psi / self.theta

    def w(self, k) -> np.ndarray:
        k = np.asarray(k, float)
        p, r = self.phi, self.rho
        return 0.5 * self.theta * (1.0 + r * p * k + np.sqrt((p * k + r) ** 2 + 1.0 - r * r))

    def iv(self, k) -> np.ndarray:
        return np.sqrt(self.w(k) / self.T)

    def to_svi(self) -> SviParams:
        """The same smile in raw-SVI form (Gatheral & Jacquier 2014, Lemma 3.2)."""
        p, r = self.phi, self.rho
        return SviParams(
            a=0.5 * self.theta * (1 - r * r),
            b=0.5 * self.psi,
            rho=r,
            m=-r / p,
            sigma=float(np.sqrt(1 - r * r) / p),
            T=self.T,
        )

    def butterfly_margin(self) -> float:
        """min(1 - psi (1+|rho|)/4, 1 - psi^2 (1+|rho|)/(4 theta)): >= 0 inside the GJ Thm 4.2 conditions."""
        s = 1.0 + abs(self.rho)
        return float(min(1.0 - self.psi * s / 4.0, 1.0 - self.psi**2 * s / (4.0 * self.theta)))


def calendar_params_ok(s1: EssviSlice, s2: EssviSlice, tol: float = PARAM_TOL) -> bool:
    """The sufficient calendar conditions of the module docstring for ``s1.T < s2.T``."""
    return bool(
        s2.theta >= s1.theta * (1 - tol)
        and s2.psi * (1 + s2.rho) >= s1.psi * (1 + s1.rho) * (1 - tol)
        and s2.psi * (1 - s2.rho) >= s1.psi * (1 - s1.rho) * (1 - tol)
        and s2.phi <= s1.phi * (1 + tol)
    )


@dataclass
class EssviFit:
    """Result of :func:`fit_essvi`: slices in increasing T plus the quotes and fit diagnostics."""

    slices: list[EssviSlice]
    # per slice: T, k, iv_mid, iv_bid, iv_ask, fit_iv, inside (and expiry when given)
    quotes: list[dict] = field(repr=False)
    fit_ms: float = float("nan")

    def svi_params(self) -> list[SviParams]:
        return [s.to_svi() for s in self.slices]

    @property
    def inside_pct(self) -> float:
        """% of quotes whose fitted vol lies in [iv_bid, iv_ask] (NaN bid: 0, NaN ask: no top)."""
        return float(np.mean(np.concatenate([q["inside"] for q in self.quotes])) * 100)

    @property
    def rmse_vol_pts(self) -> float:
        r = np.concatenate([q["fit_iv"] - q["iv_mid"] for q in self.quotes])
        return float(np.sqrt(np.mean(r**2)) * 100)

    def butterfly_ok(self, grid=CHECK_GRID) -> bool:
        """GJ conditions on every slice, and g(k) >= -1e-9, w > 0 on ``grid`` for the SVI form."""
        for s in self.slices:
            p = s.to_svi()
            if s.butterfly_margin() < -PARAM_TOL or p.g(grid).min() < G_TOL or p.w(grid).min() <= 0:
                return False
        return True

    def calendar_ok(self, grid=CHECK_GRID) -> bool:
        """Calendar conditions on every consecutive pair, and SVI-form w non-decreasing in T on ``grid``."""
        svi = self.svi_params()
        for i in range(len(svi) - 1):
            w1, w2 = svi[i].w(grid), svi[i + 1].w(grid)
            if np.any(w1 > w2 * (1 + CAL_TOL) + 1e-14):
                return False
        return all(calendar_params_ok(a, b) for a, b in zip(self.slices[:-1], self.slices[1:], strict=True))

    def to_frame(self) -> pd.DataFrame:
        """One row per expiry: eSSVI and raw-SVI parameters, ATM vol, fit statistics, butterfly margin."""
        rows = []
        for s, q in zip(self.slices, self.quotes, strict=True):
            r = q["fit_iv"] - q["iv_mid"]
            rows.append(
                {
                    **({"expiry": q["expiry"]} if "expiry" in q else {}),
                    "T": s.T,
                    "theta": s.theta,
                    "rho": s.rho,
                    "psi": s.psi,
                    "phi": s.phi,
                    "atm_vol": float(np.sqrt(s.theta / s.T)),
                    "n": len(r),
                    "rmse_vol_pts": float(np.sqrt(np.mean(r**2)) * 100),
                    "inside_pct": float(np.mean(q["inside"]) * 100),
                    "butterfly_margin": s.butterfly_margin(),
                    **{f"svi_{k}": v for k, v in s.to_svi().to_dict().items() if k != "T"},
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> str:
        head = (
            f"eSSVI: {len(self.slices)} expiries, {sum(len(q['k']) for q in self.quotes)} quotes, "
            f"fit {self.fit_ms:.1f} ms\n  inside bid/ask IV band: {self.inside_pct:.1f}%  RMSE: "
            f"{self.rmse_vol_pts:.2f} vol pts  butterfly ok: {self.butterfly_ok()}  "
            f"calendar ok: {self.calendar_ok()}\n"
        )
        cols = ["T", "theta", "rho", "psi", "atm_vol", "n", "rmse_vol_pts", "inside_pct", "butterfly_margin"]
        return head + self.to_frame()[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def __repr__(self) -> str:
        return (
            f"EssviFit({len(self.slices)} expiries, inside={self.inside_pct:.1f}%, fit_ms={self.fit_ms:.1f})"
        )


# -- numba kernels ---------------------------------------------------------------------------------------
# Q rows: k, mid w, band bottom w, band top w, sqrt(fit_weights).  b = (p1, q1, theta1, phi1) of the
# previous slice (0, 0, 0, inf for the first); anchor = (k*, w*, slope floor).  x = (ln p, ln q[, ln theta]).


@njit(cache=True)
def _params(x, b, anchor):
    """Project a search point onto the admissible set: (theta, rho, psi, penalty for the distance)."""
    p = min(max(np.exp(x[0]), b[0], anchor[2]), _C4)
    q = min(max(np.exp(x[1]), b[1], anchor[2]), _C4)
    pen = (x[0] - np.log(p)) ** 2 + (x[1] - np.log(q)) ** 2
    psi, rho = 0.5 * (p + q), (p - q) / (p + q)
    th_lo = max(b[2], psi / b[3], 0.25 * psi * max(p, q))
    if x.size == 2:
        # theta through (k*, w*) exactly: w^2 - (theta + rho psi k) w - psi^2 (1 - rho^2) k^2 / 4 = 0
        k, w = anchor[0], anchor[1]
        theta = w - 0.5 * (p - q) * k - p * q * k * k / (4 * w)
    else:
        theta = np.exp(x[2])
        if theta < th_lo:
            pen += (x[2] - np.log(th_lo)) ** 2
    return max(theta, th_lo), rho, psi, pen


@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})
def _loss(x, Q, b, anchor):
    theta, rho, psi, pen = _params(x, b, anchor)
    tot = 0.0
    for j in range(Q.shape[1]):
        pk = psi * Q[0, j]
        w = 0.5 * (theta + rho * pk + np.sqrt(pk * pk + 2 * rho * pk * theta + theta * theta))
        # total-variance residual x sqrt(weight) = vol residual / half-width to first order; the band
        # test itself is exact, and there is no second square root per quote
        out = max(Q[2, j] - w, 0.0) + max(w - Q[3, j], 0.0)
        tot += (out + MID_WEIGHT * abs(w - Q[1, j])) * Q[4, j]
    return tot / Q.shape[1] + pen


@njit(cache=True)
def _nelder_mead(x0, step, Q, b, anchor, max_iter=400, xtol=1e-4, ftol=1e-8):
    """Plain Nelder-Mead, allocation-free per iteration: at ~0.3 us per loss evaluation, argsort and
    temporary arrays would otherwise cost as much as the loss itself."""
    n = x0.size
    S = np.empty((n + 1, n))
    f = np.empty(n + 1)
    c, xr, xt = np.empty(n), np.empty(n), np.empty(n)
    for i in range(n + 1):
        S[i] = x0
        if i > 0:
            S[i, i - 1] += step[i - 1]
        f[i] = _loss(S[i], Q, b, anchor)
    for _ in range(max_iter):
        for i in range(1, n + 1):  # insertion sort of the n + 1 vertices by f
            j = i
            while j > 0 and f[j - 1] > f[j]:
                f[j - 1], f[j] = f[j], f[j - 1]
                for d in range(n):
                    S[j - 1, d], S[j, d] = S[j, d], S[j - 1, d]
                j -= 1
        spread = 0.0
        for d in range(n):
            spread = max(spread, abs(S[n, d] - S[0, d]))
        if f[n] - f[0] <= ftol * (abs(f[0]) + 1e-10) or spread < xtol:
            break
        for d in range(n):
            c[d] = 0.0
            for i in range(n):
                c[d] += S[i, d] / n
            xr[d] = 2.0 * c[d] - S[n, d]
        fr = _loss(xr, Q, b, anchor)
        if fr < f[0]:
            for d in range(n):
                xt[d] = 3.0 * c[d] - 2.0 * S[n, d]  # expansion
            ft = _loss(xt, Q, b, anchor)
            S[n], f[n] = (xt, ft) if ft < fr else (xr, fr)
        elif fr < f[n - 1]:
            S[n], f[n] = xr, fr
        else:
            inside = fr >= f[n]  # contract towards the worse of the reflected and the worst vertex
            for d in range(n):
                xt[d] = 0.5 * (c[d] + (S[n, d] if inside else xr[d]))
            ft = _loss(xt, Q, b, anchor)
            if ft < min(fr, f[n]):
                S[n], f[n] = xt, ft
            else:  # shrink towards the best vertex
                for i in range(1, n + 1):
                    for d in range(n):
                        S[i, d] = S[0, d] + 0.5 * (S[i, d] - S[0, d])
                    f[i] = _loss(S[i], Q, b, anchor)
    i = np.argmin(f)
    return S[i].copy(), f[i]


@njit(cache=True)
def _fit_slice(Q, b, anchor, n_grid=6):
    """(theta, rho, psi) of one expiry: coarse (p, q) grid with theta anchored, then 3-D Nelder-Mead.

    The grid spans p, q / sqrt(theta*) in [0.03, 3] geometrically: the butterfly bound caps the slopes at
    2 sqrt(2 theta), and below 0.03 a wing is flat for any quoted k.
    """
    scale = np.sqrt(anchor[1])
    best, x3 = np.inf, np.zeros(3)
    x = np.empty(2)
    for i in range(n_grid):
        x[0] = np.log(scale * 0.03 * 100.0 ** (i / (n_grid - 1)))
        for j in range(n_grid):
            x[1] = np.log(scale * 0.03 * 100.0 ** (j / (n_grid - 1)))
            f = _loss(x, Q, b, anchor)
            if f < best:
                best = f
                theta, rho, psi, _ = _params(x, b, anchor)
                x3[0], x3[1], x3[2] = np.log(psi * (1 + rho)), np.log(psi * (1 - rho)), np.log(theta)
    x3, _ = _nelder_mead(x3, np.array([0.2, 0.2, 0.03]), Q, b, anchor)
    # the restart re-opens a simplex that collapsed early on a kink of the absolute-value loss
    x3, _ = _nelder_mead(x3, np.array([0.01, 0.01, 0.002]), Q, b, anchor)
    theta, rho, psi, _ = _params(x3, b, anchor)
    return theta, rho, psi


# -- driver ----------------------------------------------------------------------------------------------

_FIELDS = ("T", "k", "iv_mid", "iv_bid", "iv_ask")


def _read_slice(s) -> dict:
    d = (
        {c: s[c] for c in (*_FIELDS, "expiry") if c in s}
        if isinstance(s, Mapping)
        else dict(zip(_FIELDS, s, strict=True))
    )
    T = float(d["T"])
    if not T > 0:
        raise ValueError(f"fit_essvi: expiry T={T!r} must be > 0")
    arr = {c: np.asarray(d[c], float).ravel() for c in _FIELDS[1:]}
    ok = np.isfinite(arr["k"]) & np.isfinite(arr["iv_mid"]) & (arr["iv_mid"] > 0)
    if ok.sum() < 3:
        raise ValueError(f"fit_essvi: expiry T={T:.6f} has {int(ok.sum())} finite quotes, need >= 3")
    order = np.argsort(arr["k"][ok])
    return {**d, **{c: v[ok][order] for c, v in arr.items()}, "T": T}


def _quote_slices(quotes: pd.DataFrame) -> list[dict]:
    # numpy rather than a boolean-filtered groupby: this runs inside the timed fit and pandas costs ms
    use = quotes["use"].to_numpy(bool) if "use" in quotes else np.ones(len(quotes), bool)
    cols = {c: quotes[c].to_numpy(float)[use] for c in _FIELDS}
    codes, expiries = pd.factorize(quotes["expiry"].to_numpy()[use], sort=True)
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    return [
        {"expiry": expiries[codes[g[0]]], **{c: v[g] for c, v in cols.items()}, "T": float(cols["T"][g[0]])}
        for g in groups
        if g.size
    ]


def fit_essvi(slices) -> EssviFit:
    """Fit an arbitrage-free eSSVI surface, one expiry at a time in increasing T (see the module docstring).

    ``slices``: a list (any order) of per-expiry mappings with keys ``T, k, iv_mid, iv_bid, iv_ask``
    (optionally ``expiry``, carried into :meth:`EssviFit.to_frame`) or tuples ``(T, k, iv_mid, iv_bid,
    iv_ask)``; or a :func:`~workbench.vol.chain.prepare_chain` frame, whose ``use`` rows are fitted.  A NaN
    ``iv_bid`` (zero bid) puts the band's bottom at 0, a NaN ``iv_ask`` leaves it without a top.  Raises
    ValueError naming the expiry when one has fewer than three finite quotes (three parameters per slice).
    """
    t0 = time.perf_counter()
    if isinstance(slices, pd.DataFrame):
        slices = _quote_slices(slices)
    data = sorted((_read_slice(s) for s in slices), key=lambda d: d["T"])
    if not data:
        raise ValueError("fit_essvi: no expiries given")
    b = np.array([0.0, 0.0, 0.0, np.inf])
    fitted, quotes = [], []
    for d in data:
        k, mid, T = d["k"], d["iv_mid"], d["T"]
        lo = np.where(np.isnan(d["iv_bid"]), 0.0, d["iv_bid"])
        hi = np.where(np.isnan(d["iv_ask"]), np.inf, d["iv_ask"])
        sw = np.sqrt(fit_weights(mid, d["iv_bid"], d["iv_ask"], T))
        Q = np.ascontiguousarray(np.stack([k, mid * mid * T, lo * lo * T, hi * hi * T, sw]))
        # anchor theta at k = 0 when the quotes straddle it, else at the quote nearest to it
        k0 = 0.0 if k[0] < 0 < k[-1] else float(k[np.argmin(np.abs(k))])
        iv0 = float(np.interp(k0, k, mid))
        theta, rho, psi = _fit_slice(Q, b, np.array([k0, iv0 * iv0 * T, 1e-4 * iv0 * np.sqrt(T)]))
        s = EssviSlice(T=T, theta=float(theta), rho=float(rho), psi=float(psi))
        b = np.array([psi * (1 + rho), psi * (1 - rho), theta, psi / theta])
        fit_iv = s.iv(k)
        fitted.append(s)
        quotes.append({**d, "fit_iv": fit_iv, "inside": (fit_iv >= lo) & (fit_iv <= hi)})
    return EssviFit(fitted, quotes, fit_ms=(time.perf_counter() - t0) * 1e3)
