"""Numba against native C: the triad and the pointer chase, interleaved.

Both sides run in this process on the same arrays with the same OpenMP
threads (Numba's omp layer and the C library share libgomp), and are timed
by the same code, alternating which side goes first in each pair.
"""
from __future__ import annotations

import time

import numpy as np

from kernels import latency, plans, stream
from kernels.native import NativeUnavailable, build
from kernels.profiles import DEPTH
from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import Job, profile_row, seed_of

NUMBA_SCALAR, NATIVE_SCALAR = 3.0, 5.0  # different, so each check sees its own side's result
INIT_B, INIT_C = 2.0, 1.0
CHASE_REP_SECONDS = plans.NATIVE_CHASE_REP_SECONDS
L1_CHASE_BYTES = plans.NATIVE_L1_CHASE_BYTES


def triad_pairs(native, a, b, c, pairs: int, bounds=None) -> tuple:
    """([(numba s, native s)], every result checked). `bounds`: the Numba
    side's per-thread chunks (kernels.stream.thread_bounds)."""
    bounds = stream.thread_bounds(a.size) if bounds is None else bounds
    out, ok = [], True
    for i in range(pairs):
        sides = [("numba", lambda: stream.triad(a, b, c, NUMBA_SCALAR, bounds), NUMBA_SCALAR),
                 ("native", lambda: native.triad(a, b, c, NATIVE_SCALAR), NATIVE_SCALAR)]
        if i % 2:
            sides.reverse()
        t = {}
        for name, run, s in sides:
            t0 = time.perf_counter()
            run()
            t[name] = time.perf_counter() - t0
            ok = ok and stream.abs_error_sum(a, INIT_B + s * INIT_C) == 0.0
        out.append((t["numba"], t["native"]))
    return out, ok


def chase_pairs(native, chain: latency.Chain, pairs: int, rep_s: float = CHASE_REP_SECONDS):
    """([(numba ns, native ns)] per load, every end slot checked, footprint bytes).

    Both sides continue one walk, each run starting where the last ended,
    and the runs together visit every slot (the footprint is of both sides'
    timed loads): every load's reuse distance is then the whole working set,
    while a DRAM point re-walking the same slots would time the last-level
    cache on a big-L3 machine.
    """
    runs = 2 * pairs
    steps = latency.covering_steps(chain, runs, latency.calibrate(chain, rep_s))
    kernels = {"numba": latency.chase, "native": native_chase(native)}
    out, ok = [], True
    for i in range(pairs):
        order = ["numba", "native"] if i % 2 == 0 else ["native", "numba"]
        t = {}
        for name in order:
            seconds, good = chain.run(steps, kernels[name])
            t[name] = seconds / steps * 1e9
            ok = ok and good
        out.append((t["numba"], t["native"]))
    return out, ok, chain.footprint_bytes(steps * runs)


def native_chase(native):
    """The C chase with the Numba chase's signature (chain, start, steps) -> end."""
    return lambda chain, start, steps: native.chase(chain, start, steps)


def run_benchmark(job: Job) -> Outcome:
    p = job.params
    try:
        native = build()
    except NativeUnavailable as exc:
        return Outcome(errors=(ErrorRecord(job.benchmark, dict(p), "skipped", str(exc)),))
    pairs = profile_row(DEPTH, job.profile).native_pairs
    elements = int(job.settings["elements"])
    stream.compile_kernels()
    latency.compile_kernels()
    a, b, c, bounds = stream.allocate(elements, 0.0, INIT_B, INIT_C)
    triad, triad_ok = triad_pairs(native, a, b, c, pairs, bounds)

    # The chase reuses array a (4x the LLC, first-touched) as its DRAM buffer.
    stride = plans.DEFAULT_STRIDE
    dram_bytes = elements * plans.FLOAT64_BYTES // stride * stride
    buffer = a.view(np.uint64)
    seed = seed_of(job.options)
    dram = latency.Chain(buffer, latency.master_order(dram_bytes, stride, "global", seed),
                         dram_bytes, stride)
    dram_pairs, dram_ok, dram_footprint = chase_pairs(native, dram, pairs)
    l1 = latency.Chain(buffer, latency.master_order(L1_CHASE_BYTES, stride, "global", seed),
                       L1_CHASE_BYTES, stride)
    l1_pairs, l1_ok, l1_footprint = chase_pairs(native, l1, pairs)

    info = {**native.describe(), "pairs": pairs, "native_omp_threads": native.max_threads(),
            "array_elements": elements, "order": "alternating which side runs first"}
    records, errors = [], []
    triad_bytes = stream.KERNELS[3].bytes_per_element * elements
    for metric, rows, ok, higher, extra in (
        ("triad_ratio", [(tn, tc) for tn, tc in triad], triad_ok, True,
         {"ratio": "Numba GB/s / native GB/s",
          "numba_gbs": triad_bytes / min(t for t, _ in triad) / 1e9,
          "native_gbs": triad_bytes / min(t for _, t in triad) / 1e9}),
        ("chase_dram_ratio", dram_pairs, dram_ok, False,
         {"ratio": "Numba ns / native ns", "working_set_bytes": dram_bytes,
          "footprint_bytes": dram_footprint,
          "numba_ns": min(x for x, _ in dram_pairs), "native_ns": min(x for _, x in dram_pairs)}),
        ("chase_l1_ratio", l1_pairs, l1_ok, False,
         {"ratio": "Numba ns / native ns", "working_set_bytes": L1_CHASE_BYTES,
          "footprint_bytes": l1_footprint,
          "numba_ns": min(x for x, _ in l1_pairs), "native_ns": min(x for _, x in l1_pairs)}),
    ):
        # A triad ratio is of bandwidths (time native / time Numba); a chase
        # ratio is of latencies (Numba / native); both are 1.0 at parity.
        ratios = [tc / tn for tn, tc in rows] if metric == "triad_ratio" else \
            [tn / tc for tn, tc in rows]
        records.append(measurement(job.benchmark, {**p, "kernel": metric.rsplit("_", 1)[0]},
                                   metric, "ratio", ratios, higher_is_better=higher,
                                   value=stats.median(ratios), validated=ok,
                                   info={**info, **extra}))
        if not ok:
            errors.append(ErrorRecord(job.benchmark, dict(p), "invalid",
                                      f"{metric}: a kernel produced a wrong result"))
    return Outcome(records=tuple(records), errors=tuple(errors))
