"""Summary records derived from the memory kernels' per-configuration records.

Pure functions run in the parent after a spec's children finished; they
derive (single-core and all-core bandwidth, saturation point, cache-level
latency plateaus) and never re-measure. Importable without Numba.
"""
from __future__ import annotations

import math
from typing import Sequence

from suite import stats
from suite.model import Outcome, Record, measurement

# Saturation point: the fewest cores reaching this share of the sweep's
# maximum bandwidth (the definition in the project's memory-kernel issue).
SATURATION_FRACTION = 0.90
# A plateau ends where the smoothed latency rises more than this above the
# plateau's median so far. 25% is above the few-percent repetition noise of a
# best-of-N chase, and far below the >= 2x step between cache levels that
# lmbench's lat_mem_rd curves show on every published machine.
PLATEAU_RISE = 0.25
MIN_PLATEAU_POINTS = 2  # at half-octave steps: a plateau spans >= half an octave
# A detected boundary matches sysinfo when the cache size lies within one
# octave of the interval between the last plateau point and the next one.
BOUNDARY_SLACK = 2.0


# -- STREAM --------------------------------------------------------------------
def summarize_stream(records: Sequence[Record], ctx) -> Outcome:
    topo = ctx.topology
    cores = topo.physical_cores
    curves: dict = {}
    for r in records:
        if r.metric == "bandwidth" and r.value is not None and "threads" in r.params:
            key = (r.benchmark, r.params.get("kernel"), r.params.get("bind"))
            curves.setdefault(key, {})[int(r.params["threads"])] = r
    out = []
    for (bench, kernel, bind), by_threads in sorted(curves.items(), key=lambda kv: str(kv[0])):
        out.extend(_stream_curve_summary(bench, kernel, bind, by_threads, cores))
    return Outcome(records=tuple(out))


def _stream_curve_summary(bench, kernel, bind, by_threads: dict, cores: int) -> list:
    params = {"kernel": kernel, "bind": bind, "summary": True}
    valid = all(r.validated for r in by_threads.values())
    counts = sorted(by_threads)
    info = {"thread_counts": counts, "physical_cores": cores}
    out = []

    def rec(metric, unit, value, extra=None):
        out.append(measurement(bench, params, metric, unit, [value], higher_is_better=True,
                               value=value, validated=valid, info={**info, **(extra or {})}))

    if 1 in by_threads:
        rec("bandwidth_single_core", "GB/s", by_threads[1].value)
    if cores in by_threads:
        all_core = by_threads[cores].value
        rec("bandwidth_all_cores", "GB/s", all_core)
        rec("bandwidth_per_core_all_cores", "GB/s/core", all_core / cores)
    best = max(r.value for r in by_threads.values())
    sat = saturation_point({n: r.value for n, r in by_threads.items()})
    out.append(measurement(bench, params, "saturation_cores", "threads", [sat],
                           higher_is_better=False, value=sat, validated=valid,
                           info={**info, "fraction_of_max": SATURATION_FRACTION,
                                 "max_bandwidth_gbs": best}))
    return out


def saturation_point(bandwidth_by_threads: dict) -> int:
    """Fewest threads whose bandwidth reaches SATURATION_FRACTION of the max."""
    best = max(bandwidth_by_threads.values())
    return min(n for n, bw in bandwidth_by_threads.items() if bw >= SATURATION_FRACTION * best)


# -- latency plateaus ----------------------------------------------------------
def detect_plateaus(sizes: Sequence[int], latencies: Sequence[float]) -> list:
    """Plateaus of a latency curve: [(first_index, last_index, latency)].

    A median-of-3 filter removes single-point spikes (a noisy neighbour);
    then a plateau grows while the smoothed latency stays within PLATEAU_RISE
    of the median of its points so far. Runs shorter than MIN_PLATEAU_POINTS are transitions.
    Latency of a plateau is the median of its raw points.
    """
    pts = sorted(zip(sizes, latencies))
    lat = [x for _, x in pts]
    n = len(lat)
    smooth = [stats.median(lat[max(0, i - 1):i + 2]) for i in range(n)]
    segments, start = [], 0
    for i in range(1, n + 1):
        if i == n or smooth[i] > stats.median(smooth[start:i]) * (1 + PLATEAU_RISE):
            segments.append((start, i - 1))
            start = i
    return [(a, b, stats.median(lat[a:b + 1])) for a, b in segments
            if b - a + 1 >= MIN_PLATEAU_POINTS]


def name_plateaus(plateaus: list, sizes: Sequence[int], cache_sizes: dict) -> tuple:
    """Name plateaus L1, L2, ... and DRAM; returns ({name: plateau}, warnings).

    `cache_sizes` maps cache level -> bytes (sysinfo). With exactly one more
    plateau than cache levels, they are named in order; otherwise each is
    named by the cache level nearest its end, and the count is a warning.
    """
    sizes = sorted(sizes)
    levels = sorted(cache_sizes)
    warnings = []
    if not plateaus:
        return {}, ["no latency plateau detected"]
    named: dict = {}
    if len(plateaus) == len(levels) + 1:
        for lvl, p in zip(levels, plateaus):
            named[f"L{lvl}"] = p
        named["DRAM"] = plateaus[-1]
    else:
        warnings.append(f"detected {len(plateaus)} latency plateaus, expected "
                        f"{len(levels) + 1} (cache levels {levels} + DRAM)")
        llc = cache_sizes[levels[-1]] if levels else 0
        for p in plateaus:
            end = sizes[p[1]]
            if levels and end <= llc * BOUNDARY_SLACK:
                lvl = min(levels, key=lambda l: abs(math.log2(cache_sizes[l] / end)))
                named.setdefault(f"L{lvl}", p)
            else:
                named["DRAM"] = p
    for name, p in named.items():
        if name == "DRAM":
            continue
        expected = cache_sizes[int(name[1:])]
        last = sizes[p[1]]
        nxt = sizes[p[1] + 1] if p[1] + 1 < len(sizes) else last
        if not (last / BOUNDARY_SLACK <= expected <= nxt * BOUNDARY_SLACK):
            warnings.append(f"{name} plateau ends near {_kib(last)}-{_kib(nxt)}, but sysinfo "
                            f"reports a {_kib(expected)} {name} cache")
    return named, warnings


def _kib(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < (1 << 20) else f"{n / (1 << 20):.1f} MiB"


def summarize_latency(records: Sequence[Record], ctx) -> Outcome:
    topo = ctx.topology
    cache_sizes = {lvl: topo.cache_size(lvl) for lvl in sorted({c.level for c in topo.caches
                                                               if c.type != "Instruction"})}
    cache_sizes = {k: v for k, v in cache_sizes.items() if v}
    curves: dict = {}
    for r in records:
        if r.metric == "latency" and "working_set_bytes" in r.params and r.value is not None:
            key = tuple(sorted((k, v) for k, v in r.params.items() if k != "working_set_bytes"))
            curves.setdefault((r.benchmark, key), []).append(r)
    out, warnings = [], []
    for (bench, key), recs in sorted(curves.items(), key=lambda kv: str(kv[0])):
        recs.sort(key=lambda r: r.params["working_set_bytes"])
        sizes = [r.params["working_set_bytes"] for r in recs]
        plateaus = detect_plateaus(sizes, [r.value for r in recs])
        named, warns = name_plateaus(plateaus, sizes, cache_sizes)
        label = ", ".join(f"{k}={v}" for k, v in key)
        warnings.extend(f"latency ({label}): {w}" for w in warns)
        valid = all(r.validated for r in recs)
        for name, (a, b, value) in named.items():
            out.append(measurement(
                bench, {**dict(key), "level": name}, "latency", "ns",
                [r.value for r in recs[a:b + 1]], higher_is_better=False, value=value,
                validated=valid,
                info={"plateau_bytes": [sizes[a], sizes[b]],
                      "sysinfo_cache_bytes": cache_sizes.get(int(name[1:]))
                      if name != "DRAM" else None,
                      "boundary_warnings": [w for w in warns if w.startswith(name)]}))
    return Outcome(records=tuple(out), warnings=tuple(warnings))
