"""Is a difference between two sets of samples real? Pure functions, no I/O.

The Mann-Whitney U test makes no assumption about the shape of the
distribution, which suits benchmark samples (skewed, with a long slow tail
on a noisy machine). Exact p-values for small samples without ties; the
normal approximation with tie and continuity correction otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# Two-sided significance level. 0.05 is the level Google Benchmark's
# tools/compare.py uses for its U test (tools/gbench/report.py, `alpha`).
ALPHA = 0.05
# A statistically significant change smaller than this is reported as no
# change: below ~2% a difference is within what frequency and placement
# jitter move a figure between otherwise identical runs (issue 8's rule).
MIN_EFFECT = 0.02
# Exact distribution up to this many samples in the smaller group (no ties);
# beyond it the normal approximation is accurate to well under 0.01 in p
# (Mann & Whitney 1947 tabulated exact values only up to n = 8; the
# polynomial below stays cheap far past that).
EXACT_MAX_SMALLER = 30


@dataclass(frozen=True)
class UTest:
    u: float  # U statistic of the first sample
    p_value: float  # two-sided
    method: str  # "exact" | "normal"


def _ranks(values: Sequence[float]) -> tuple[list, list]:
    """Mid-ranks (1-based) of `values`, and the sizes of tied groups."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties: list = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _u_distribution(n1: int, n2: int) -> list:
    """Counts of arrangements giving U = 0 .. n1*n2 (no ties).

    They are the coefficients of the Gaussian binomial coefficient
    [n1+n2 choose n1]_q = prod_{i=1..n1} (1 - q^(n2+i)) / (1 - q^i).
    """
    size = n1 * n2 + 1
    poly = [1] + [0] * (size - 1)
    for i in range(1, n1 + 1):
        k = n2 + i
        for d in range(size - 1, k - 1, -1):  # multiply by (1 - q^k)
            poly[d] -= poly[d - k]
        for d in range(i, size):  # divide by (1 - q^i): a strided running sum
            poly[d] += poly[d - i]
    return poly


def smallest_p_value(n1: int, n2: int) -> float:
    """The smallest two-sided p the test can give with these sample sizes."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> UTest:
    """Two-sided Mann-Whitney U test of `x` against `y`."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs at least one sample on each side")
    ranks, ties = _ranks(list(x) + list(y))
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    u_small = min(u1, n1 * n2 - u1)
    if not ties and min(n1, n2) <= EXACT_MAX_SMALLER:
        counts = _u_distribution(n1, n2)
        tail = sum(counts[: int(u_small) + 1])
        p = min(1.0, 2.0 * tail / math.comb(n1 + n2, n1))
        return UTest(u1, p, "exact")
    n = n1 + n2
    tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1))
    variance = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if variance <= 0:  # every sample equal: no evidence of any difference
        return UTest(u1, 1.0, "normal")
    z = max(0.0, abs(u1 - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    return UTest(u1, min(1.0, math.erfc(z / math.sqrt(2.0))), "normal")
