"""Summary records derived from the memory kernels' per-configuration records.

Pure functions run in the parent after a spec's children finished; they
derive (single-core and all-core bandwidth, saturation point, cache-level
latency plateaus) and never re-measure. Importable without Numba.
"""
from __future__ import annotations

from typing import Sequence

from kernels import plans, plateaus
from suite import stats
from suite.model import Outcome, Record, measurement

# Saturation point: the fewest cores reaching this share of the sweep's
# maximum bandwidth; past it, more cores add less than a tenth of the peak.
SATURATION_FRACTION = 0.90


# -- STREAM --------------------------------------------------------------------
def summarize_stream(records: Sequence[Record], ctx) -> Outcome:
    topo = ctx.topology
    cores = topo.physical_cores
    curves: dict = {}
    for r in records:
        if r.metric == "bandwidth" and r.value is not None and "threads" in r.params:
            key = (r.benchmark, r.params.get("bind"))
            curves.setdefault(key, {})[int(r.params["threads"])] = r
    out = []
    for (bench, bind), by_threads in sorted(curves.items(), key=lambda kv: str(kv[0])):
        out.extend(_stream_curve_summary(bench, bind, by_threads, cores))
    return Outcome(records=tuple(out))


def _stream_curve_summary(bench, bind, by_threads: dict, cores: int) -> list:
    params = {"bind": bind, "summary": True}
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
    curve = {n: r.value for n, r in by_threads.items()}
    sat = saturation_point(curve)
    between = interpolated_saturation(curve)
    sat_info = {**info, "fraction_of_max": SATURATION_FRACTION, "max_bandwidth_gbs": best,
                "interpolated_cores": between}
    out.append(measurement(bench, params, "saturation_cores", "threads", [sat],
                           higher_is_better=False, value=sat, validated=valid, info=sat_info))
    out.append(measurement(bench, params, "saturation_cores_interpolated", "threads", [between],
                           higher_is_better=False, value=between, validated=valid,
                           info={**sat_info, "method": "linear between the last count below "
                                 f"{SATURATION_FRACTION:.0%} of the maximum and the first at "
                                 "or above it"}))
    return out


def saturation_point(bandwidth_by_threads: dict) -> int:
    """Fewest threads whose bandwidth reaches SATURATION_FRACTION of the max."""
    best = max(bandwidth_by_threads.values())
    return min(n for n, bw in bandwidth_by_threads.items() if bw >= SATURATION_FRACTION * best)


def interpolated_saturation(bandwidth_by_threads: dict) -> float:
    """Threads at which the curve crosses SATURATION_FRACTION of its max,
    interpolated linearly between the two measured counts around it."""
    best = max(bandwidth_by_threads.values())
    target = SATURATION_FRACTION * best
    counts = sorted(bandwidth_by_threads)
    first = saturation_point(bandwidth_by_threads)
    below = [n for n in counts if n < first and bandwidth_by_threads[n] < target]
    if not below:
        return float(first)
    lo = below[-1]
    bw_lo, bw_hi = bandwidth_by_threads[lo], bandwidth_by_threads[first]
    return round(lo + (target - bw_lo) / (bw_hi - bw_lo) * (first - lo), 1)


# -- latency plateaus ----------------------------------------------------------
def point_latency(r: Record) -> float:
    """A curve point's latency: the median of its repetitions, so one
    disturbed repetition does not move the point (the value for older
    records that carry no samples)."""
    return stats.median(r.samples) if r.samples else r.value


def summarize_latency(records: Sequence[Record], ctx) -> Outcome:
    topo = ctx.topology
    dram_min = plans.dram_min_bytes(topo)
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
        points = [point_latency(r) for r in recs]
        found, warns = plateaus.find_plateaus(sizes, points, cache_sizes)
        label = ", ".join(f"{k}={v}" for k, v in key)
        warnings.extend(f"latency ({label}): {w}" for w in warns)
        valid = all(r.validated for r in recs)
        for p in found:
            level = int(p.name[1:]) if p.name != "DRAM" else None
            segment = list(range(p.first, p.last + 1))
            info = {"plateau_bytes": [sizes[p.flat_first], sizes[p.flat_last]],
                    "segment_bytes": [sizes[p.first], sizes[p.last]],
                    "value": "median of the segment's points (each the median "
                             "of its repetitions)",
                    "sysinfo_cache_bytes": cache_sizes.get(level),
                    "boundary_warnings": [w for w in warns if w.startswith(p.name + " ")]}
            value = p.latency
            if level is None:
                segment, note = dram_points(sizes, segment, dram_min)
                if not segment:
                    warnings.append(f"latency ({label}): {note}")
                    continue
                value = stats.median([points[i] for i in segment])
                info.update({"value": "median of the points of working sets >= "
                                      f"{plans.STREAM_LLC_FACTOR} x LLC",
                             "dram_min_working_set_bytes": dram_min,
                             "dram_points_bytes": [sizes[i] for i in segment]})
            out.append(measurement(
                bench, {**dict(key), "level": p.name}, "latency", "ns",
                [points[i] for i in segment], higher_is_better=False, value=value,
                validated=valid, info=info))
    return Outcome(records=tuple(out), warnings=tuple(warnings))


def dram_points(sizes: Sequence[int], segment: Sequence[int], dram_min: int) -> tuple:
    """(indices of the DRAM segment whose working set is >= dram_min, note):
    smaller sets are partly cached on a big-LLC machine and would pull the
    DRAM figure down. Empty with the reason when the curve stops short."""
    kept = [i for i in segment if sizes[i] >= dram_min]
    note = "" if kept else (
        f"DRAM latency not measured: the largest working set, {sizes[-1] / 2**20:.0f} MiB, "
        f"is below {plans.STREAM_LLC_FACTOR} x LLC ({dram_min / 2**20:.0f} MiB)")
    return kept, note
