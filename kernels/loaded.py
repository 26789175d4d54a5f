"""Loaded latency (the Intel MLC idea): chase latency while other cores load memory.

The chase runs in the worker, pinned to one core. The load runs in a second
process (`python -m kernels.loaded`) on the other cores: a triad with an
injected delay after every cache line, so each delay level gives one point
of the (bandwidth, latency) curve. Two processes because Numba cannot run
two parallel regions at once in one process.

The load's bandwidth is measured over the chase's own window: the load
process notes the CLOCK_MONOTONIC time after every chunk, the chase side
sends the window it timed, and only the chunks finished inside it count
(both processes read the same system-wide clock).

The load process speaks kernels.lineprotocol ("run <delay>", "stop <t_start>
<t_end>" -> "<elements> <seconds> <ok>"); it says "ready" once the arrays are
first-touched and the kernels compiled.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from numba import njit, prange

from kernels import latency, plans
from kernels.lineprotocol import (TRIAD_BYTES_PER_ELEMENT, LoadProcess, read_stop, serve,
                                  stop_requested, window_rate)
from kernels.stream import allocate  # STREAM's chunks and first touch: NUMA placement
from suite.model import ErrorRecord, Outcome, measurement
from kernels.profiles import DEPTH
from suite.spec import Job, profile_row, seed_of

SCALAR = 3.0
INIT_B, INIT_C = 2.0, 1.0
EXPECTED_A = INIT_B + SCALAR * INIT_C
# Memory traffic as Intel MLC reports it: STREAM's bytes plus the
# write-allocate read of a (x86 and most Arm cores read a line before a
# partial write; full-line streaming stores that skip it would make this
# an over-count, which the record states).
TRIAD_TRAFFIC_BYTES_PER_ELEMENT = 32
LINE_ELEMENTS = 8  # float64 per 64-byte cache line: the delay is injected per line
# Chunks are sized to take about this long, so a stop is noticed promptly and
# the per-call overhead (select, parallel-region launch) stays under 1%.
CHUNK_SECONDS = 0.002
MIN_CHUNK_ELEMENTS = 8192
RAMP_SECONDS = plans.LOADED_RAMP_SECONDS


# Each load thread streams only its own chunk of the arrays (the chunk it
# first-touched, kernels.plans.chunk_bounds), `length` elements from
# `offset` into it per call: the whole load stays on each thread's node.
@njit(parallel=True, cache=True)
def triad_slices(a, b, c, s, bounds, offset, length):
    for t in prange(bounds.size - 1):
        lo = bounds[t] + offset
        hi = min(lo + length, bounds[t + 1])
        for i in range(lo, hi):
            a[i] = b[i] + s * c[i]


@njit(parallel=True, cache=True)
def delayed_triad_slices(a, b, c, s, bounds, offset, length, delay):
    for t in prange(bounds.size - 1):
        lo = bounds[t] + offset
        hi = min(lo + length, bounds[t + 1])
        for first in range(lo, hi, LINE_ELEMENTS):
            last = min(first + LINE_ELEMENTS, hi)
            # A dependent multiply-add chain seeded from the data, so the
            # compiler can neither fold it (0.5 is its fixed point, which a
            # constant seed would let constant propagation find) nor drop
            # it; the seed is exactly 0.5, so the stored value stays exact.
            d = c[first] * 0.0 + 0.5
            for _ in range(delay):
                d = d * 0.5 + 0.25
            for i in range(first, last):
                a[i] = b[i] + s * c[i] + (d - 0.5)


@njit(parallel=True, cache=True)
def count_wrong(a, bounds, covered, expected):
    """Wrong values in the first `covered` elements of every thread's chunk."""
    bad = 0
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], min(bounds[t] + covered, bounds[t + 1])):
            if a[i] != expected:
                bad += 1
    return bad


def slice_work(bounds, offset: int, length: int) -> int:
    """Elements one call of the slice kernels processes."""
    return int(sum(max(0, min(lo + offset + length, hi) - (lo + offset))
                   for lo, hi in zip(bounds[:-1], bounds[1:])))


# -- the load process ----------------------------------------------------------
def next_chunk(chunk: int, seconds: float, n: int) -> int:
    """Grow or shrink the per-thread chunk toward CHUNK_SECONDS per call."""
    if seconds < CHUNK_SECONDS / 2:
        return min(n, chunk * 2)
    if seconds > CHUNK_SECONDS * 2:
        return max(MIN_CHUNK_ELEMENTS, chunk // 2)
    return chunk


def run_load(a, b, c, bounds, delay: int) -> tuple:
    """Every thread runs the triad round and round its own chunk until
    stdin has a line; returns (marks, elements done, furthest offset)."""
    widest = int(max(hi - lo for lo, hi in zip(bounds[:-1], bounds[1:])))
    chunk = min(widest, MIN_CHUNK_ELEMENTS)
    done, offset, furthest = 0, 0, 0
    marks = [(time.monotonic(), 0)]
    while not stop_requested():
        if delay:
            delayed_triad_slices(a, b, c, SCALAR, bounds, offset, chunk, delay)
        else:
            triad_slices(a, b, c, SCALAR, bounds, offset, chunk)
        now = time.monotonic()
        done += slice_work(bounds, offset, chunk)
        marks.append((now, done))
        offset += chunk
        furthest = max(furthest, min(offset, widest))
        offset = 0 if offset >= widest else offset
        chunk = next_chunk(chunk, now - marks[-2][0], widest)
    return marks, done, furthest


def load_main(args: dict) -> None:
    os.sched_setaffinity(0, args["cpus"])
    n = int(args["elements"])
    a, b, c, bounds = allocate(n, -1.0, INIT_B, INIT_C, args.get("nodes"))
    triad_slices(a, b, c, SCALAR, bounds, 0, 1)
    delayed_triad_slices(a, b, c, SCALAR, bounds, 0, 1, 1)
    count_wrong(a, bounds, 1, EXPECTED_A)
    covered = 1

    def run(delay: int) -> tuple:
        nonlocal covered
        marks, done, furthest = run_load(a, b, c, bounds, delay)
        elements, seconds = window_rate(marks, *read_stop())
        covered = max(covered, furthest)
        return elements, seconds, count_wrong(a, bounds, covered, EXPECTED_A) == 0

    serve(run)


# -- the chase side (worker entry) ---------------------------------------------
def run_benchmark(job: Job) -> Outcome:
    p = job.params
    reps, rep_s = profile_row(DEPTH, job.profile).loaded_chase
    topo = job.topology
    load = LoadProcess(p["load_cpus"], int(job.settings["elements"]),
                       [topo.node_of(c) for c in p["load_cpus"]])
    try:
        size = int(job.settings["chase_bytes"])
        stride = plans.DEFAULT_STRIDE
        _mm, buffer = latency.chase_buffer(size, "on")
        latency.compile_kernels()
        order = latency.master_order(size, stride, "global", seed_of(job.options))
        chain = latency.Chain(buffer, order, size, stride)
        placement = plans.placement(topo, p["load_cpus"], int(job.settings["elements"]))
        load.expect("ready")
        points = [("idle", None)] + [(d, d) for d in p["delays"]]
        records, errors = [], []
        base = {**{k: v for k, v in p.items() if k != "delays"}}
        for label, delay in points:
            if delay is not None:
                load.send(f"run {delay}")
                load.expect("running")
                time.sleep(RAMP_SECONDS)
            t_start = time.monotonic()
            samples, ok, footprint, _ = latency.measure_point(chain, reps, rep_s)
            t_end = time.monotonic()
            gbs, load_ok, info, problems = 0.0, True, {}, []
            if delay is not None:
                done, seconds, load_ok = load.stop(t_start, t_end)
                if seconds > 0:
                    gbs = done * TRIAD_TRAFFIC_BYTES_PER_ELEMENT / seconds / 1e9
                else:
                    problems.append("the load finished fewer than two chunks inside "
                                    "the chase's window")
                info = {"load_seconds": round(seconds, 4),
                        "stream_counted_gbs": (done * TRIAD_BYTES_PER_ELEMENT / seconds / 1e9
                                               if seconds > 0 else None),
                        "chase_window_seconds": round(t_end - t_start, 4)}
            if not ok:
                problems.append("pointer chase ended on the wrong slot")
            if not load_ok:
                problems.append("load kernel wrote wrong values")
            params = {**base, "delay": label}
            valid = not problems
            info.update({"chase_cpu": p["chase_cpu"], "load_cpus": p["load_cpus"],
                         "working_set_bytes": size, "footprint_bytes": footprint,
                         "delay_unit": "dependent multiply-adds after each 64-byte line",
                         "load_window": "chunks the load finished inside the chase's window",
                         "stride_bytes": stride, "thp_requested": "on",
                         "counting": "memory traffic as Intel MLC reports it: 32 B per triad "
                                     "element (reads of b and c, the write-allocate read of "
                                     "a, the write of a); STREAM's 24 B count is in "
                                     "stream_counted_gbs",
                         "load_placement": placement,
                         "load_threads": "each streams its own first-touched chunk"})
            records.append(measurement(job.benchmark, params, "latency", "ns", samples,
                                       higher_is_better=False, validated=valid, info=info))
            records.append(measurement(job.benchmark, params, "bandwidth", "GB/s", [gbs],
                                       higher_is_better=True, value=gbs, validated=valid,
                                       info=info))
            errors.extend(ErrorRecord(job.benchmark, params, "invalid", m) for m in problems)
        return Outcome(records=tuple(records), errors=tuple(errors))
    finally:
        load.close()


if __name__ == "__main__":
    load_main(json.loads(sys.argv[1]))
