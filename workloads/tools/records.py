"""Turn one load test (a LoadResult) into schema-1 records.

Throughput and latency percentiles are computed over every successful call
of the test; the per-record `samples` are the same figure over equal
sub-windows of the test, so a reader sees how steady it was.
"""
from __future__ import annotations

from suite import stats
from suite.model import ErrorRecord, measurement
from workloads.tools.loadgen import LoadResult

LATENCY_PERCENTILES = (50, 95, 99)
# A load generator is one Python thread in its own process: when one was
# busy this share of its core or more, it (not the system under test) set
# the pace, and the throughput is a lower bound.
GENERATOR_BOUND_SHARE = 0.9


def generator_share(result: LoadResult) -> float:
    """The busiest generator's CPU time as a share of the test's wall time."""
    each = result.generator_cpu_each or [result.generator_cpu_s]
    return max(each) / result.wall_s if result.wall_s > 0 else 0.0


def generator_bound(result: LoadResult) -> str | None:
    """Why the generator limited the test, or None."""
    share = generator_share(result)
    if share < GENERATOR_BOUND_SHARE:
        return None
    one = "the load generator" if len(result.generator_cpu_each) <= 1 else "a load generator"
    return (f"{one} used {share:.0%} of its core: it, not the system, "
            "limited the rate; throughput is a lower bound")


def _subwindows(result: LoadResult, parts: int) -> list:
    span = max(end for end, _, _ in result.latencies)
    width = span / parts if span > 0 else 1.0
    groups = [[] for _ in range(parts)]
    for end, lat, _ in result.latencies:
        groups[min(parts - 1, int(end / width))].append(lat)
    return [(g, width) for g in groups]


def load_records(benchmark: str, params: dict, result: LoadResult, *, cpus: int,
                 parts: int, info: dict, throughput_metric: str = "throughput",
                 throughput_unit: str = "calls/s", latency_prefix: str = "latency") -> tuple:
    """(records, errors) for one load test."""
    info = dict(info)
    info.update(
        calls=result.calls, ok_calls=result.ok, window_s=round(result.window_s, 3),
        loadgen_cpu_percent=round(100.0 * result.generator_cpu_s / result.wall_s, 2),
        loadgen_busiest_percent=round(100.0 * generator_share(result), 2),
        loadgen_processes=max(1, len(result.generator_cpu_each)),
        tool_cpu="worker processes' CPU time from the kernel, dispatch and IPC included",
    )
    bound = generator_bound(result)
    if bound:
        info["generator_bound"] = bound
    errors = []
    if result.errors.total:
        info["failed_calls"] = dict(result.errors.counts)
        info["first_errors"] = list(result.errors.first)
        errors.append(ErrorRecord(benchmark, params, "invalid", result.errors.summary()))
    if not result.latencies:
        if not errors:
            errors.append(ErrorRecord(benchmark, params, "invalid", "no call completed"))
        return (), tuple(errors)
    ok = not errors
    groups = _subwindows(result, parts)
    span = max(end for end, _, _ in result.latencies)
    lat_ms = [lat * 1e3 for _, lat, _ in result.latencies]
    records = [measurement(
        benchmark, params, throughput_metric, throughput_unit,
        [len(g) / w for g, w in groups], value=result.ok / span if span > 0 else None,
        higher_is_better=True, validated=ok, info=info)]
    for q in LATENCY_PERCENTILES:
        records.append(measurement(
            benchmark, params, f"{latency_prefix}_p{q}", "ms",
            [stats.percentile(g, q) * 1e3 for g, _ in groups if g],
            value=stats.percentile(lat_ms, q), higher_is_better=False, validated=ok, info=info))
    records.append(measurement(
        benchmark, params, f"{latency_prefix}_max", "ms",
        [max(g) * 1e3 for g, _ in groups if g], value=max(lat_ms),
        higher_is_better=False, validated=ok, info=info))
    used = result.generator_cpu_s + result.tool_cpu_s
    records.append(measurement(
        benchmark, params, "cpu_utilization", "%", [100.0 * used / (result.wall_s * cpus)],
        higher_is_better=False, validated=ok,
        info=dict(info, cpu_utilization_of=f"{cpus} CPUs: load generator + tool processes")))
    return tuple(records), tuple(errors)
