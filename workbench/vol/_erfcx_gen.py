"""Regenerates ``_erfcx_table.py``: run with an interpreter that has mpmath (``benchmarks/anchors_env.sh``
builds one), ``.venv-bench/bin/python -m workbench.vol._erfcx_gen > workbench/vol/_erfcx_table_rows.txt``.

Piecewise polynomials for erfcx(x) on x in [-0.75, 50]: interval i is picked by y = 4/(4+x) in
[iW, (i+1)W) -- a map that gives narrow intervals where erfcx curves most -- but each polynomial is
in u = (x - xc_i) * xs_i so that the rounding of y never reaches the value.  Chebyshev interpolation at
degree 11 on nodes stretched 0.1 % past [-1, 1] so that boundary rounding stays inside the fit.
"""

from __future__ import annotations

W, I0, I1, DEG = 0.01, 7, 124, 11


def rows(mp):
    mp.mp.dps = 40
    out = []
    for i in range(I0, I1):
        ya, yb = mp.mpf(i) * W, mp.mpf(i + 1) * W
        xa, xb = 4 / yb - 4, 4 / ya - 4
        xc = float((xa + xb) / 2)
        xs = float(2 / (xb - xa))
        xcm, xsm = mp.mpf(xc), mp.mpf(xs)
        nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / (DEG + 1)) * mp.mpf("1.001") for k in range(DEG + 1)]
        vals = [mp.erfc(xcm + u / xsm) * mp.exp((xcm + u / xsm) ** 2) for u in nodes]
        vander = mp.matrix([[u**j for j in range(DEG + 1)] for u in nodes])
        coef = mp.lu_solve(vander, mp.matrix(vals))
        out.append([xc, xs] + [float(coef[j]) for j in range(DEG + 1)])
    return out


if __name__ == "__main__":
    import mpmath

    for row in rows(mpmath):
        print("    [" + ", ".join(repr(float(v)) for v in row) + "],")
