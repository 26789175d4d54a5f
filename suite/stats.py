"""Pure statistics over samples. No I/O, no state."""
from __future__ import annotations

import math
from typing import Sequence


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        raise ValueError("median of no samples")
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def mean(xs: Sequence[float]) -> float:
    return math.fsum(xs) / len(xs)


def stdev(xs: Sequence[float]) -> float:
    """Sample standard deviation (n-1); 0.0 for fewer than two samples."""
    n = len(xs)
    if n < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (n - 1))


def cv(xs: Sequence[float]) -> float | None:
    """Coefficient of variation stdev/mean; None when undefined."""
    if len(xs) < 2:
        return None
    m = mean(xs)
    return None if m == 0 else stdev(xs) / abs(m)


def percentile(xs: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100] (numpy's default method)."""
    s = sorted(xs)
    if not s:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} outside [0, 100]")
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def mad(xs: Sequence[float]) -> float:
    """Median absolute deviation (unscaled)."""
    m = median(xs)
    return median([abs(x - m) for x in xs])


def geometric_mean(xs: Sequence[float]) -> float:
    if not xs or any(x <= 0 for x in xs):
        raise ValueError("geometric mean needs positive values")
    return math.exp(math.fsum(math.log(x) for x in xs) / len(xs))


def summarize(xs: Sequence[float]) -> dict:
    """The `stats` block of a result record."""
    if not xs:
        return {"n": 0, "min": None, "median": None, "mean": None, "max": None,
                "stdev": None, "cv": None}
    return {
        "n": len(xs),
        "min": min(xs),
        "median": median(xs),
        "mean": mean(xs),
        "max": max(xs),
        "stdev": stdev(xs),
        "cv": cv(xs),
    }


def robust_sigma(xs: Sequence[float]) -> float:
    """Noise of a series from its successive differences: 1.4826 MAD / sqrt(2).
    A step in the series moves one difference only, so it barely moves this
    (unlike the spread of the values themselves)."""
    if len(xs) < 2:
        return 0.0
    diffs = [b - a for a, b in zip(xs, xs[1:])]
    return 1.4826 * median([abs(d) for d in diffs]) / math.sqrt(2.0)


def difference_rms(xs: Sequence[float]) -> float:
    """Noise of a series from the root mean square of its successive
    differences / sqrt(2). A step moves one difference only; and unlike
    robust_sigma (a median of 20 differences can be half the noise) it is
    seldom far below the noise, so a step fit priced in it does not cut a
    noisy series into spurious levels."""
    if len(xs) < 2:
        return 0.0
    diffs = [b - a for a, b in zip(xs, xs[1:])]
    return math.sqrt(math.fsum(d * d for d in diffs) / (2.0 * len(diffs)))


def step_fit(ys: Sequence[float], penalty: float) -> list:
    """Piecewise-constant least-squares fit of `ys` with `penalty` added per
    segment (the penalized step fit of asv's step_detect, solved exactly by
    dynamic programming over segment starts: optimal partitioning, Jackson
    et al. 2005). Returns [(start, end, mean)], end exclusive, in order."""
    n = len(ys)
    if n == 0:
        return []
    center = math.fsum(ys) / n  # centred sums: no cancellation in s2 - s1**2 / k
    s1 = [0.0] * (n + 1)
    s2 = [0.0] * (n + 1)
    for i, y in enumerate(ys):
        s1[i + 1] = s1[i] + (y - center)
        s2[i + 1] = s2[i] + (y - center) ** 2
    best = [0.0] * (n + 1)
    start = [0] * (n + 1)
    for end in range(1, n + 1):
        best_cost, best_start = math.inf, 0
        for s in range(end):
            k = end - s
            total = s1[end] - s1[s]
            cost = best[s] + (s2[end] - s2[s]) - total * total / k + penalty
            if cost < best_cost:
                best_cost, best_start = cost, s
        best[end], start[end] = best_cost, best_start
    segments = []
    end = n
    while end > 0:
        s = start[end]
        segments.append((s, end, center + (s1[end] - s1[s]) / (end - s)))
        end = s
    return segments[::-1]
