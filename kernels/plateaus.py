"""Cache-level plateaus of a latency curve (ns per load against working set).

The curve is cut into one flat segment per cache level plus DRAM, choosing
the cuts that make the segments flattest in log-latency (least absolute
deviation from each segment's median, found exactly by dynamic
programming). The known cache sizes bound each cut: the plateau of a level
cannot reach far past that level's size, though it may end early (a shared
or partitioned cache gives one core less than sysinfo reports). Medians and
absolute deviations keep a noisy point from moving a cut, which the largest
latency steps (2x to 5x between levels) decide.

Pure functions, importable without Numba.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from suite.units import bytes_text

from suite import stats

# Two neighbouring plateaus are distinct when the later one is at least this
# much slower. 25% is above the repetition noise of a median-of-N chase even
# on a shared VM, and far below the >= 2x step between cache levels that
# lmbench's lat_mem_rd curves show on every published machine.
PLATEAU_RISE = 0.25
MIN_PLATEAU_POINTS = 2  # at half-octave steps: a plateau spans >= half an octave
# A level's plateau may end at most this factor past the level's size
# (associativity and replacement keep a set slightly larger than the cache
# partly cached), and a detected boundary "matches" sysinfo when the size
# lies within this factor of the interval between the plateau's last point
# and the next one.
BOUNDARY_SLACK = 2.0
# Without cache sizes the number of plateaus is chosen too: one more is
# accepted when it removes at least this much total absolute log-deviation,
# the cost of two points misplaced by a 2x step (the smallest step between
# levels, see PLATEAU_RISE) -- more than noise can remove.
SPLIT_GAIN = MIN_PLATEAU_POINTS * math.log(2.0)
MAX_LEVELS_WITHOUT_SYSINFO = 4


@dataclass(frozen=True)
class Plateau:
    name: str  # "L1", "L2", ... or "DRAM"
    first: int  # indices into the size-sorted curve: the whole segment
    last: int
    flat_first: int  # the points within PLATEAU_RISE of the segment's latency
    flat_last: int
    latency: float  # median of the segment's points


def find_plateaus(sizes: Sequence[int], latencies: Sequence[float],
                  cache_sizes: Mapping[int, int]) -> tuple:
    """(plateaus in size order, warnings) of a curve sorted by size.

    `cache_sizes` maps cache level -> bytes (sysinfo); it may be empty.
    """
    if any(a >= b for a, b in zip(sizes, sizes[1:])):
        raise ValueError("latency curve sizes must be strictly increasing")
    if len(sizes) < MIN_PLATEAU_POINTS:
        return [], ["no latency plateau detected"]
    y = [math.log(x) for x in latencies]
    cost = _cost_table(y)
    levels = sorted(cache_sizes)
    warnings: list = []
    segments = None
    if levels:
        max_last = [_last_index_within(sizes, BOUNDARY_SLACK * cache_sizes[lvl])
                    for lvl in levels] + [len(y) - 1]
        segments = _flattest_segments(cost, max_last)
        names = [f"L{lvl}" for lvl in levels] + ["DRAM"]
        if segments is None:
            warnings.append(f"latency curve of {len(y)} points cannot hold a plateau "
                            f"for each of the cache levels {levels} and DRAM")
    if segments is None:
        if not levels:
            warnings.append("no cache sizes in sysinfo: plateaus named L1, L2, ... in order")
        segments = _segments_by_gain(cost, len(y))
        names = [f"L{k + 1}" for k in range(len(segments) - 1)] + ["DRAM"]
        if not segments:
            return [], warnings + ["no latency plateau detected"]
    merged = _merge_indistinct(list(zip(names, segments)), latencies, warnings)
    plateaus = [_plateau(name, a, b, latencies) for name, (a, b) in merged]
    warnings.extend(_boundary_warnings(plateaus, sizes, cache_sizes))
    return plateaus, warnings


def _cost_table(y: Sequence[float]) -> list:
    """cost[a][b]: total absolute deviation of y[a..b] from its median."""
    n = len(y)
    cost = [[0.0] * n for _ in range(n)]
    for a in range(n):
        for b in range(a + 1, n):
            seg = y[a:b + 1]
            m = stats.median(seg)
            cost[a][b] = math.fsum(abs(v - m) for v in seg)
    return cost


def _last_index_within(sizes: Sequence[int], limit: float) -> int:
    """Index of the last size <= limit (-1 when none)."""
    return max((i for i, s in enumerate(sizes) if s <= limit), default=-1)


def _flattest_segments(cost: list, max_last: Sequence[int]) -> list | None:
    """Cut 0..n-1 into len(max_last) segments of >= MIN_PLATEAU_POINTS points,
    segment k ending at or before max_last[k] and the last at n-1, with the
    least total cost; [(first, last)] or None when no cut fits."""
    n, m, span = len(cost), len(max_last), MIN_PLATEAU_POINTS
    best = [[math.inf] * n for _ in range(m)]
    start = [[-1] * n for _ in range(m)]
    for b in range(span - 1, min(max_last[0], n - 1) + 1):
        best[0][b], start[0][b] = cost[0][b], 0
    for k in range(1, m):
        for b in range((k + 1) * span - 1, min(max_last[k], n - 1) + 1):
            for a in range(k * span, b - span + 2):
                c = best[k - 1][a - 1] + cost[a][b]
                if c < best[k][b]:
                    best[k][b], start[k][b] = c, a
    if m == 0 or math.isinf(best[m - 1][n - 1]):
        return None
    segments, b = [], n - 1
    for k in range(m - 1, -1, -1):
        a = start[k][b]
        segments.append((a, b))
        b = a - 1
    return segments[::-1]


def _segments_by_gain(cost: list, n: int) -> list:
    """Without cache sizes: the fewest segments after which one more would
    remove less than SPLIT_GAIN of deviation."""
    chosen: list = []
    chosen_cost = math.inf
    for m in range(1, MAX_LEVELS_WITHOUT_SYSINFO + 2):
        segs = _flattest_segments(cost, [n - 1] * m)
        if segs is None:
            break
        c = math.fsum(cost[a][b] for a, b in segs)
        if chosen and chosen_cost - c < SPLIT_GAIN:
            break
        chosen, chosen_cost = segs, c
    return chosen


def _merge_indistinct(named: list, latencies: Sequence[float], warnings: list) -> list:
    """Fold a segment into the one before it unless it is PLATEAU_RISE slower."""
    out: list = []
    for name, (a, b) in named:
        if out:
            prev_name, (pa, _) = out[-1]
            if (stats.median(latencies[a:b + 1])
                    < stats.median(latencies[pa:a]) * (1 + PLATEAU_RISE)):
                warnings.append(f"no distinct {name} plateau: its latency is within "
                                f"{PLATEAU_RISE:.0%} of the {prev_name} plateau's")
                out[-1] = (prev_name, (pa, b))
                continue
        out.append((name, (a, b)))
    return out


def _plateau(name: str, a: int, b: int, latencies: Sequence[float]) -> Plateau:
    value = stats.median(latencies[a:b + 1])
    flat = [i for i in range(a, b + 1)
            if abs(math.log(latencies[i] / value)) <= math.log(1 + PLATEAU_RISE)]
    # A short segment's median can sit between points that are all far from
    # it (two points, 1 and 3 ns): its flat part is then the nearest point.
    flat = flat or [min(range(a, b + 1), key=lambda i: abs(math.log(latencies[i] / value)))]
    return Plateau(name, a, b, min(flat), max(flat), value)


def _boundary_warnings(plateaus: list, sizes: Sequence[int],
                       cache_sizes: Mapping[int, int]) -> list:
    out = []
    for p in plateaus:
        level = int(p.name[1:]) if p.name != "DRAM" else None
        if level not in cache_sizes:
            continue
        expected = cache_sizes[level]
        last = sizes[p.last]
        nxt = sizes[p.last + 1] if p.last + 1 < len(sizes) else last
        if not (last / BOUNDARY_SLACK <= expected <= nxt * BOUNDARY_SLACK):
            out.append(f"{p.name} plateau ends near {_size(last)}-{_size(nxt)}, but "
                       f"sysinfo reports a {_size(expected)} {p.name} cache")
    return out


def _size(n: int) -> str:
    return bytes_text(n, digits=0 if n < (1 << 20) else 1)
