"""Is a difference between two sets of samples real? Pure functions, no I/O.

compare tests log process values with a moderated t test
(moderated_t_test) and controls the false discovery rate over a whole
comparison (benjamini_hochberg). The Mann-Whitney U test below makes no assumption about the shape of the
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
# jitter move a figure between otherwise identical runs.
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


# -- replicated processes -----------------------------------------------------
# False discovery rate controlled over all tested rows of one comparison
# (Benjamini & Hochberg 1995): among the rows called different, at most this
# fraction is expected to be noise.
FDR = 0.05
# A prior fitted to rows whose variances agree to within their own sampling
# noise is worth infinitely many degrees of freedom (limma's df.prior = Inf);
# capped here, where the t distribution is the normal to 4 digits.
PRIOR_DF_MAX = 1000.0


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(prob: float, df: float) -> float:
    """The t with P(T <= t) = prob, 0.5 <= prob < 1 (bisection on the p-value)."""
    lo, hi = 0.0, 1e3
    target = 2.0 * (1.0 - prob)
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class TTest:
    difference: float  # mean of y minus mean of x
    t: float
    df: float
    p_value: float  # two-sided


def _sum_sq(xs: Sequence[float]) -> float:
    m = math.fsum(xs) / len(xs)
    return math.fsum((v - m) ** 2 for v in xs)


def pooled_variance(x: Sequence[float], y: Sequence[float]) -> tuple:
    """(variance, degrees of freedom) pooled over two groups."""
    df = len(x) + len(y) - 2
    if df < 1:
        raise ValueError("a pooled variance needs three values or more")
    return (_sum_sq(x) + _sum_sq(y)) / df, df


def moderated_t_test(x: Sequence[float], y: Sequence[float], prior: Prior | None = None,
                     floor_variance: float = 0.0) -> TTest:
    """Two-sample t test of y against x whose variance is the groups' pooled
    variance shrunk toward the prior's (Smyth 2004): few replicates a
    row, many rows alike. Without a prior it is Student's pooled t test.
    `floor_variance` keeps a row from looking more precise than the noise
    its values are known to carry."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError("a t test of processes needs two values a side")
    s2, df = pooled_variance(x, y)
    if prior is not None and prior.df > 0:
        s2 = (prior.df * prior.variance + df * s2) / (prior.df + df)
        df += prior.df
    s2 = max(s2, floor_variance)
    diff = math.fsum(y) / len(y) - math.fsum(x) / len(x)
    se = math.sqrt(s2 * (1.0 / len(x) + 1.0 / len(y)))
    if se == 0:
        t = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    else:
        t = diff / se
    return TTest(diff, t, df, t_two_sided_p(t, df))


def digamma(x: float) -> float:
    """psi(x) for x > 0: the recurrence up to 6, then the asymptotic series."""
    shift = 0.0
    while x < 6.0:
        shift -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    return shift + math.log(x) - 0.5 / x - inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (
        1 / 252 - inv2 * (1 / 240 - inv2 / 132))))


def trigamma(x: float) -> float:
    """psi'(x) for x > 0."""
    shift = 0.0
    while x < 6.0:
        shift += 1.0 / (x * x)
        x += 1.0
    inv, inv2 = 1.0 / x, 1.0 / (x * x)
    return shift + inv + inv2 / 2 + inv * inv2 * (1 / 6 - inv2 * (1 / 30 - inv2 * (
        1 / 42 - inv2 * (1 / 30 - inv2 * 5 / 66))))


def tetragamma(x: float) -> float:
    """psi''(x) for x > 0."""
    shift = 0.0
    while x < 6.0:
        shift -= 2.0 / (x * x * x)
        x += 1.0
    inv2 = 1.0 / (x * x)
    return shift - inv2 - inv2 / x - inv2 * inv2 * (0.5 - inv2 * (1 / 6 - inv2 * (
        1 / 6 - inv2 * (3 / 10 - inv2 * 5 / 6))))


def trigamma_inverse(x: float) -> float:
    """The y > 0 with trigamma(y) = x (Newton's method, as limma's
    trigammaInverse)."""
    if x > 1e7:
        return 1.0 / math.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = trigamma(y)
        step = tri * (1.0 - tri / x) / tetragamma(y)
        y += step
        if -step / y < 1e-8:
            break
    return y


@dataclass(frozen=True)
class Prior:
    """What the rows of a category say about one row's variance: a scaled
    inverse chi-square with `df` degrees of freedom about `variance`."""

    variance: float
    df: float


def fit_prior(variances: Sequence[float], dfs: Sequence[float]) -> Prior | None:
    """The prior the rows' sample variances (each with its degrees of
    freedom) were drawn from, by limma's method of moments on their logs
    (Smyth 2004, fitFDist): the more the variances scatter beyond what
    their own degrees of freedom explain, the less the prior weighs. None
    under three usable rows."""
    pairs = [(v, d) for v, d in zip(variances, dfs) if v > 0 and d > 0 and math.isfinite(v)]
    if len(pairs) < 3:
        return None
    floor = 1e-5 * sorted(v for v, _ in pairs)[len(pairs) // 2]
    e = [math.log(max(v, floor)) - digamma(d / 2.0) + math.log(d / 2.0) for v, d in pairs]
    mean = math.fsum(e) / len(e)
    excess = (math.fsum((x - mean) ** 2 for x in e) / (len(e) - 1)
              - math.fsum(trigamma(d / 2.0) for _, d in pairs) / len(pairs))
    if excess <= 0:
        return Prior(math.exp(mean), PRIOR_DF_MAX)
    df = min(2.0 * trigamma_inverse(excess), PRIOR_DF_MAX)
    return Prior(math.exp(mean + digamma(df / 2.0) - math.log(df / 2.0)), df)


def benjamini_hochberg(p_values: Sequence[float]) -> list:
    """Adjusted p-values (q-values) of Benjamini-Hochberg's step-up rule: a
    test is a discovery at false discovery rate q when its q-value <= q."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def geomean_ci(ratios: Sequence[float], level: float = 0.95) -> tuple | None:
    """Confidence interval of a geometric mean across its ratios (a t
    interval on their logs); None with fewer than two ratios."""
    if len(ratios) < 2 or any(r is None or r <= 0 for r in ratios):
        return None
    logs = [math.log(r) for r in ratios]
    m = math.fsum(logs) / len(logs)
    sd = math.sqrt(math.fsum((v - m) ** 2 for v in logs) / (len(logs) - 1))
    half = t_quantile(0.5 + level / 2.0, len(logs) - 1) * sd / math.sqrt(len(logs))
    return (math.exp(m - half), math.exp(m + half))
