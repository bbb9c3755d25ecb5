#!/usr/bin/env python3
"""gen_erf_poly.py: the piecewise polynomial for erf that src/kern/ops_avx2.c
uses in GELU (erf).  [0, 4) is cut into 8 intervals of width 1/2; on each,
erf(c + t) for t in [-1/4, 1/4] (c the interval's centre) is fitted by a
degree-6 polynomial in t (least squares at Chebyshev nodes, in double), then
rounded to float.  The script checks the float evaluation (Horner with
single roundings, as FMA does) against math.erf on a dense grid and prints
the worst absolute error with the C table.

    python3 tools/gen_erf_poly.py > /tmp/erf.txt   # needs numpy

The table is written [power][interval] so that one row is one AVX2 vector,
indexed per lane by the interval (vpermps)."""
import math
import sys

import numpy as np

DEG, WIDTH, N_INTERVALS = 6, 0.5, 8


def fit(k):
    c = k * WIDTH + WIDTH / 2
    nodes = np.cos(np.pi * (np.arange(200) + 0.5) / 200) * WIDTH / 2
    p = np.polynomial.chebyshev.Chebyshev.fit(nodes, [math.erf(c + t) for t in nodes], DEG,
                                              domain=[-WIDTH / 2, WIDTH / 2])
    return c, [np.float32(v) for v in p.convert(kind=np.polynomial.Polynomial).coef]


def worst_error(c, cf):
    worst = 0.0
    for t in np.linspace(-WIDTH / 2, WIDTH / 2, 20001):
        a = np.float32(c + t)
        tf = np.float32(a - np.float32(c))
        r = cf[-1]
        for q in cf[-2::-1]:
            r = np.float32(float(r) * float(tf) + float(q))  # one rounding: FMA
        worst = max(worst, abs(float(r) - math.erf(float(a))))
    return worst


def main():
    fits = [fit(k) for k in range(N_INTERVALS)]
    worst = max(worst_error(c, cf) for c, cf in fits)
    print(f"/* erf on [0, 4): {N_INTERVALS} intervals of {WIDTH}, degree {DEG} in t = |z| - centre;\n"
          f" * worst absolute error {worst:.2g} (tools/gen_erf_poly.py) */")
    print(f"static const float erf_poly[{DEG + 1}][{N_INTERVALS}] = {{")
    for j in range(DEG + 1):
        print("    {" + ", ".join("%.9ef" % fits[k][1][j] for k in range(N_INTERVALS)) + "},")
    print("};")
    if worst > 1e-7:
        sys.exit(f"gen_erf_poly.py: worst error {worst} above 1e-7")


if __name__ == "__main__":
    main()
