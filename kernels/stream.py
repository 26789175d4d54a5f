"""STREAM (McCalpin) Copy, Scale, Add, Triad plus BabelStream's Dot and Nstream.

Kernels are Numba `prange` loops with no I/O and no timing; `run_benchmark`
(the worker entry) allocates, first-touches, times each kernel call, checks
the arrays against STREAM's scalar recurrence and builds the records.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
from numba import njit, prange

from kernels import plans
from suite.model import ErrorRecord, Outcome, measurement
from kernels.profiles import DEPTH
from suite.spec import Job, profile_row

SCALAR = 3.0  # STREAM's scalar
INIT_A, INIT_B, INIT_C = 1.0, 2.0, 0.0  # STREAM's initial values
# stream.c checkSTREAMresults: relative average error bound for float64.
STREAM_EPSILON = 1.0e-13
# BabelStream (src/main.cpp check_solution): Dot relative error bound, looser
# because a parallel sum reorders additions.
DOT_EPSILON = 1.0e-8


# Every kernel loops over the threads' chunks (`bounds`, from
# kernels.plans.chunk_bounds: one chunk per thread, 2 MiB aligned): with
# the static schedule, thread k first-touches and then streams chunk k, so
# each thread's traffic stays on its own NUMA node and no huge page is
# shared by two threads.
@njit(parallel=True, cache=True)
def first_touch(a, b, c, va, vb, vc, bounds):
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], bounds[t + 1]):
            a[i] = va
            b[i] = vb
            c[i] = vc


@njit(nogil=True, cache=True)
def touch_span(a, b, c, va, vb, vc, start, end):
    """First touch of elements [start, end) by the calling thread, without the GIL."""
    for i in range(start, end):
        a[i] = va
        b[i] = vb
        c[i] = vc


@njit(parallel=True, cache=True)
def copy(a, b, c, s, bounds):
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], bounds[t + 1]):
            c[i] = a[i]


@njit(parallel=True, cache=True)
def scale(a, b, c, s, bounds):
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], bounds[t + 1]):
            b[i] = s * c[i]


@njit(parallel=True, cache=True)
def add(a, b, c, s, bounds):
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], bounds[t + 1]):
            c[i] = a[i] + b[i]


@njit(parallel=True, cache=True)
def triad(a, b, c, s, bounds):
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], bounds[t + 1]):
            a[i] = b[i] + s * c[i]


@njit(parallel=True, cache=True)
def dot(a, b, c, s, bounds):
    total = 0.0
    for t in prange(bounds.size - 1):
        part = 0.0
        for i in range(bounds[t], bounds[t + 1]):
            part += a[i] * b[i]
        total += part
    return total


@njit(parallel=True, cache=True)
def nstream(a, b, c, s, bounds):
    for t in prange(bounds.size - 1):
        for i in range(bounds[t], bounds[t + 1]):
            a[i] += b[i] + s * c[i]


def thread_bounds(elements: int, thread_nodes=None) -> np.ndarray:
    """Chunk bounds for this process's Numba threads (kernels.plans.chunk_bounds);
    `thread_nodes`: NUMA node of each thread, when known."""
    threads = len(thread_nodes) if thread_nodes else numba.get_num_threads()
    return np.array(plans.chunk_bounds(elements, threads, thread_nodes), dtype=np.int64)


def thread_nodes(topo) -> list | None:
    """NUMA node of each Numba thread, from the OMP_PLACES list (one CPU per place)."""
    cpus = place_cpus()
    if not cpus or len(cpus) != numba.get_num_threads():
        return None
    return [topo.node_of(c) for c in cpus]


def aligned_empty(elements: int, align: int = plans.CHUNK_ALIGN_BYTES) -> np.ndarray:
    """An uninitialised float64 array starting on an `align` boundary, so
    2 MiB chunk bounds are huge-page bounds."""
    raw = np.empty(elements + align // plans.FLOAT64_BYTES)
    offset = (-raw.ctypes.data % align) // plans.FLOAT64_BYTES
    return raw[offset:offset + elements]


def untouched(elements: int, nodes=None) -> tuple:
    """Three aligned arrays, not yet touched, and the threads' chunk bounds:
    (a, b, c, bounds); `nodes`: NUMA node of each thread (see thread_bounds)."""
    return (*(aligned_empty(elements) for _ in range(3)), thread_bounds(elements, nodes))


def allocate(elements: int, va: float, vb: float, vc: float, nodes=None) -> tuple:
    """Three aligned arrays first-touched chunk by chunk: (a, b, c, bounds)."""
    a, b, c, bounds = untouched(elements, nodes)
    first_touch(a, b, c, va, vb, vc, bounds)
    return a, b, c, bounds


def touch_on_nodes(a, b, c, va, vb, vc, shares) -> tuple:
    """First-touch every share from a thread pinned to its CPU (its fallback
    CPU, of the same node, where the CPU is not allowed here); returns the
    shares with the CPU each was touched from. Linux applies
    sched_setaffinity(0, ...) to the calling thread only, and the threads
    end before any kernel runs."""
    done = list(shares)
    failed = []

    def touch(indices):
        first = shares[indices[0]]
        try:
            try:
                os.sched_setaffinity(0, {first.cpu})
                cpu = first.cpu
            except OSError:
                os.sched_setaffinity(0, {first.fallback_cpu})
                cpu = first.fallback_cpu
            for i in indices:
                touch_span(a, b, c, va, vb, vc, shares[i].start, shares[i].end)
                done[i] = shares[i]._replace(cpu=cpu)
        except BaseException as exc:  # re-raised below: no page is left to chance
            failed.append(exc)

    by_cpu: dict = {}
    for i, share in enumerate(shares):
        by_cpu.setdefault((share.cpu, share.fallback_cpu), []).append(i)
    workers = [threading.Thread(target=touch, args=(indices,), name=f"first-touch-{cpu}")
               for (cpu, _), indices in by_cpu.items()]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failed:
        raise failed[0]
    return tuple(done)


@njit(parallel=True, cache=True)
def abs_error_sum(x, expected):
    total = 0.0
    for i in prange(x.size):
        total += abs(x[i] - expected)
    return total


@dataclass(frozen=True)
class Kernel:
    name: str
    fn: Callable
    bytes_per_element: int  # STREAM counting: reads + writes, 8 B each
    write_allocate_bytes: int  # extra read of each stored line not already read


# STREAM order, then Dot and Nstream as BabelStream defines them.
KERNELS = (
    Kernel("copy", copy, 16, 8),
    Kernel("scale", scale, 16, 8),
    Kernel("add", add, 24, 8),
    Kernel("triad", triad, 24, 8),
    Kernel("dot", dot, 16, 0),
    Kernel("nstream", nstream, 32, 0),  # a is read before it is written
)


def expected_values(ntimes: int, elements: int) -> tuple:
    """Scalar recurrence of the kernels in order: final (a, b, c, dot)."""
    a, b, c = INIT_A, INIT_B, INIT_C
    d = 0.0
    for _ in range(ntimes):
        c = a
        b = SCALAR * c
        c = a + b
        a = b + SCALAR * c
        d = a * b * elements
        a += b + SCALAR * c
    return a, b, c, d


def check_results(arrays, dots, ntimes: int) -> list:
    """Problems found in the final arrays and Dot results (empty when valid)."""
    a, b, c = arrays
    n = a.size
    ea, eb, ec, ed = expected_values(ntimes, n)
    problems = []
    for name, x, e in (("a", a, ea), ("b", b, eb), ("c", c, ec)):
        rel = abs_error_sum(x, e) / n / abs(e) if e else abs_error_sum(x, e) / n
        if not rel <= STREAM_EPSILON:
            problems.append(f"array {name}: average relative error {rel:.3g} "
                            f"exceeds {STREAM_EPSILON:g}")
    for trial, d in enumerate(dots):
        _, _, _, want = expected_values(trial + 1, n)
        rel = abs(d - want) / abs(want)
        if not rel <= DOT_EPSILON:
            problems.append(f"dot trial {trial}: relative error {rel:.3g} exceeds {DOT_EPSILON:g}")
            break
    return problems


def thread_affinity() -> list:
    """CPU affinity of every thread of this process, as Linux applied it.

    After a parallel region the OpenMP workers exist, so this is the binding
    actually used (not only the one requested through OMP_PLACES).
    """
    out = []
    for tid in sorted(os.listdir("/proc/self/task"), key=int):
        try:
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out.append(line.split(":", 1)[1].strip())
        except OSError:
            continue  # the thread ended meanwhile
    return out


def place_cpus() -> list | None:
    """The CPUs of OMP_PLACES in thread order ("{3},{5}" -> [3, 5]), or None."""
    places = os.environ.get("OMP_PLACES") or ""
    try:
        return [int(p.strip("{} ")) for p in places.split(",")] if places else None
    except ValueError:
        return None  # a place of several CPUs: no one-to-one thread placement


def thread_placement(topo, elements: int, threads: int, shares=()) -> dict | None:
    """Node of each thread's chunk and who touched it (kernels.plans.placement),
    when threads are pinned one per place."""
    cpus = place_cpus()
    if not cpus or len(cpus) != threads:
        return None
    return plans.placement(topo, cpus, elements, shares)


def touch_shares(topo, elements: int, threads: int) -> tuple:
    """kernels.plans.node_touch_shares of this run's pinned threads; empty
    when they are not pinned one per place."""
    cpus = place_cpus()
    if not cpus or len(cpus) != threads:
        return ()
    return plans.node_touch_shares(topo, cpus, elements)


def kernel_library_calls() -> dict:
    """{kernel: [memcpy/memmove/memset calls the compiler put in its place]}
    (kernels.librarycalls), or {"unavailable": reason}."""
    from kernels import librarycalls

    tiny = np.ones(8)
    try:
        return librarycalls.library_calls(KERNELS, (tiny, tiny, tiny, SCALAR, thread_bounds(8)))
    except Exception as exc:  # introspection of a Numba internal: never sink the run
        return {"unavailable": f"{type(exc).__name__}: {exc}"}


def run_stream(elements: int, ntimes: int, kernels=KERNELS, nodes=None, shares=()) -> tuple:
    """Allocate, first-touch, run every kernel `ntimes` times in STREAM order.
    `shares` (kernels.plans.node_touch_shares): the touch by every CPU of
    each thread's node; without them each thread touches its own chunk.

    Returns (times {name: [seconds per trial]}, arrays, dot results,
    first-touch s, the shares as touched).
    """
    t0 = time.perf_counter()
    if shares:
        a, b, c, bounds = untouched(elements, nodes)
        shares = touch_on_nodes(a, b, c, INIT_A, INIT_B, INIT_C, shares)
    else:
        a, b, c, bounds = allocate(elements, INIT_A, INIT_B, INIT_C, nodes)
    touch_s = time.perf_counter() - t0
    times = {k.name: [] for k in kernels}
    dots = []
    for _ in range(ntimes):
        for k in kernels:
            t0 = time.perf_counter()
            r = k.fn(a, b, c, SCALAR, bounds)
            times[k.name].append(time.perf_counter() - t0)
            if k.name == "dot":
                dots.append(r)
    return times, (a, b, c), dots, touch_s, shares


def compile_kernels(kernels=KERNELS) -> float:
    """Compile (or load from the on-disk cache) every kernel; seconds spent."""
    t0 = time.perf_counter()
    tiny = [np.ones(8) for _ in range(3)]
    bounds = thread_bounds(8)
    first_touch(*tiny, 1.0, 1.0, 1.0, bounds)
    touch_span(*tiny, 1.0, 1.0, 1.0, 0, 8)
    for k in kernels:
        k.fn(*tiny, SCALAR, bounds)
    abs_error_sum(tiny[0], 1.0)
    return time.perf_counter() - t0


def run_benchmark(job: Job) -> Outcome:
    p = job.params
    threads = int(p["threads"])
    bind = p.get("bind", plans.DEFAULT_BIND)
    elements = int(job.settings["elements"])
    ntimes = max(profile_row(DEPTH, job.profile).stream_ntimes, 2)
    topo = job.topology
    try:
        plans.check_memory(topo, plans.STREAM_ARRAYS * elements * plans.FLOAT64_BYTES,
                           "STREAM arrays")
    except plans.SizingError as exc:
        return Outcome(errors=tuple(ErrorRecord(i, dict(p), "skipped", str(exc)) for i in job.ids))

    # Read before any parallel region: OpenMP then binds this thread to place 0.
    cpus = sorted(os.sched_getaffinity(0))
    compile_s = compile_kernels()
    calls = kernel_library_calls()
    times, arrays, dots, touch_s, shares = run_stream(
        elements, ntimes, KERNELS, thread_nodes(topo), touch_shares(topo, elements, threads))
    problems = check_results(arrays, dots, ntimes)
    del arrays

    cores = plans.active_cores(topo, cpus) if len(cpus) == threads else threads
    info = {
        "threading_layer": numba.threading_layer(),
        "numba_threads": numba.get_num_threads(),
        "omp_places": os.environ.get("OMP_PLACES"),
        "omp_proc_bind": os.environ.get("OMP_PROC_BIND"),
        "affinity_cpus": cpus,
        "thread_affinity": thread_affinity(),
        "active_cores": cores,
        "array_elements": elements,
        "array_bytes": elements * plans.FLOAT64_BYTES,
        "array_sizing": job.settings.get("sizing"),
        "library_calls": calls,
        "ntimes": ntimes,
        "first_trial_dropped": True,
        "compile_seconds": round(compile_s, 4),
        "first_touch_seconds": round(touch_s, 4),
        "placement": thread_placement(topo, elements, threads, shares),
        "gb": "1e9 bytes",
    }
    peak = job.options.peak_gbs
    if not peak:
        # DMI memory-device data does not say how DIMMs share channels, so a
        # peak derived from it could be off by 2x; only a given peak is used.
        info["efficiency_unavailable"] = "no --peak-gbs given"
    validated = not problems
    records = []
    for k in KERNELS:
        bench = f"stream.{k.name}"
        if bench not in job.ids:
            continue  # timed with the others (STREAM order), not selected
        t = times[k.name][1:]  # the first trial warms up, as in STREAM
        for metric, per_elem, extra in (
            ("bandwidth", k.bytes_per_element, {}),
            ("bandwidth_wa", k.bytes_per_element + k.write_allocate_bytes,
             {"counting": "modelled, not measured: STREAM's bytes plus one "
                          "write-allocate read of every stored line the kernel does not "
                          "read; cores that skip that read for full-line or non-temporal "
                          "stores (many Arm cores) move less than this",
              "modelled": True, "derived_from": "bandwidth"}),
        ):
            gbs = [per_elem * elements / s / 1e9 for s in t]
            records.append(measurement(
                bench, p, metric, "GB/s", gbs,
                higher_is_better=True, value=max(gbs), validated=validated,
                info={**info, "bytes_per_element": per_elem, **extra}))
        gbs = [k.bytes_per_element * elements / s / 1e9 for s in t]
        records.append(measurement(
            bench, p, "bandwidth_per_core", "GB/s/core",
            [g / cores for g in gbs], higher_is_better=True, value=max(gbs) / cores,
            validated=validated, info={**info, "derived_from": "bandwidth"}))
        if peak:
            records.append(measurement(
                bench, p, "efficiency", "fraction",
                [g / peak for g in gbs], higher_is_better=True, value=max(gbs) / peak,
                validated=validated, info={**info, "peak_gbs": peak, "derived_from": "bandwidth"}))
    errors = tuple(ErrorRecord(i, dict(p), "invalid", m) for i in job.ids for m in problems)
    return Outcome(records=tuple(records), errors=errors)
