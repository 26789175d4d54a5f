"""Plans for the memory kernels: thread sweeps, pinning, array and working-set sizes.

Pure functions over `suite.topology.Topology`, importable without Numba, so a
352-CPU machine can be planned (and tested) from a fixture on a laptop.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

from kernels.profiles import DEPTH
from suite.spec import profile_row
from suite.topology import Topology

BIND_CHOICES = ("spread", "close")
DEFAULT_BIND = "spread"

FLOAT64_BYTES = 8
STREAM_ARRAYS = 3  # a, b, c
# STREAM's rule: each array at least 4x the last-level cache in use
# (McCalpin, stream.c, "Instructions" comment), and never under 1M elements.
STREAM_LLC_FACTOR = 4
STREAM_MIN_ELEMENTS = 1_000_000
# With no last-level cache known (no sysfs caches, no table entry), each
# array is at least 1 GiB: 4x an LLC of 256 MiB, past most single-socket
# LLCs (not 3D V-Cache EPYC or the largest Xeon 6); the result carries
# sysinfo's warning and each record says how its size was chosen.
UNKNOWN_LLC_ARRAY_BYTES = 1 << 30
# Chunks of threads on two NUMA nodes meet on a 2 MiB boundary (a huge page).
CHUNK_ALIGN_BYTES = 2 << 20
CHUNK_ALIGN_ELEMENTS = CHUNK_ALIGN_BYTES // FLOAT64_BYTES
LINE_ELEMENTS = 64 // FLOAT64_BYTES
# Refuse sizes whose arrays would take more than this share of the
# available memory: the rest of the system (and a co-running load) needs room.
MEMORY_SHARE_LIMIT = 0.5

LATENCY_MIN_BYTES = 4096
# Standard and full profiles reach at least 1 GiB so that DRAM is measured
# beyond any last-level cache and beyond the TLB reach of huge pages.
LATENCY_LARGE_BYTES = 1 << 30
LATENCY_STEPS_PER_OCTAVE = 2  # half-octave steps
DEFAULT_STRIDE = 128  # two lines: adjacent-line prefetch cannot help
STRIDE_CHOICES = (64, 128)


# Durations shared by the kernels and their estimates (those that grow with
# the profile are in kernels.profiles.DEPTH).
LOADED_RAMP_SECONDS = 0.05  # the load reaches steady state before the chase starts
NATIVE_CHASE_REP_SECONDS = 0.1
NATIVE_L1_CHASE_BYTES = 16 << 10  # fits every L1 data cache in use today


class SizingError(ValueError):
    """A size that cannot be run on this machine (message says why)."""


# -- thread sweep --------------------------------------------------------------
# Past this many cores the sweep adds a step every KNEE_STEP cores, so the
# saturation knee (64..88 on an 88-core Vera) is resolved, not guessed
# between two powers of two; at most KNEE_MAX_STEPS such steps (the step
# widens on bigger machines).
KNEE_START = 32
KNEE_STEP = 8
KNEE_MAX_STEPS = 24


def sweep_thread_counts(topology: Topology, explicit: Sequence[int] | None = None) -> list:
    """1, 2, 4, ... 32, then every 8 cores (wider past 224 cores) up to all
    physical cores, then all logical CPUs with SMT.

    The physical core count is always included even when not a power of two
    (72 on Grace), because the all-core figure is the headline.
    """
    logical = len(topology.logical_cpus)
    if explicit:
        bad = [n for n in explicit if not isinstance(n, int) or n < 1 or n > logical]
        if bad:
            raise SizingError(
                f"thread count(s) {bad} outside 1..{logical} (logical CPUs of this machine)")
        return sorted(set(explicit))
    cores = topology.physical_cores
    counts = []
    n = 1
    while n < min(cores, KNEE_START):
        counts.append(n)
        n *= 2
    if cores > KNEE_START:
        step = KNEE_STEP * max(1, math.ceil((cores - KNEE_START) / KNEE_STEP / KNEE_MAX_STEPS))
        counts.extend(range(KNEE_START, cores, step))
    counts.append(cores)
    if topology.smt and logical > cores:
        counts.append(logical)
    return counts


def thread_cpus(topology: Topology, threads: int, bind: str = DEFAULT_BIND) -> tuple:
    """The logical CPUs a run of `threads` threads is pinned to, one per core
    first (SMT siblings only beyond the physical core count). `spread`
    picks cores evenly over the NUMA nodes, then lists them node by node
    (thread k first-touches and streams chunk k of each array)."""
    if bind not in BIND_CHOICES:
        raise SizingError(f"bind {bind!r} not accepted; accepted: {', '.join(BIND_CHOICES)}")
    if bind == "spread":
        return topology.order_by_node(topology.spread_cpus(threads))
    return topology.close_cpus(threads)


def chunk_bounds(elements: int, threads: int, thread_nodes: Sequence[int] | None = None) -> list:
    """Start of each thread's chunk of an array, plus the end: equal shares
    on 64-byte lines, and every boundary between threads of two NUMA nodes
    (`thread_nodes`, node of each thread in order) on 2 MiB, so that no huge
    page of a 2 MiB-aligned array is streamed from two nodes. Inside a node
    a shared page is local to both threads, and exact shares keep the
    slowest thread (which sets STREAM's time) from getting more work."""
    if threads < 1:
        raise SizingError(f"need at least one thread, got {threads}")
    nodes = list(thread_nodes or [0] * threads)
    bounds = [0]
    for t in range(1, threads):
        align = CHUNK_ALIGN_ELEMENTS if nodes[t] != nodes[t - 1] else LINE_ELEMENTS
        at = min(elements, round(t * elements / threads / align) * align)
        bounds.append(max(at, bounds[-1]))
    return bounds + [elements]


class TouchShare(NamedTuple):
    """Elements [start, end) of every array, first-touched by a thread pinned
    to `cpu`, or to `fallback_cpu` (a CPU of the run on the same node) where
    `cpu` is not allowed to this process."""

    cpu: int
    fallback_cpu: int
    start: int
    end: int


def node_touch_shares(topology: Topology, cpus: Sequence[int], elements: int) -> tuple:
    """Who first-touches what when a run has fewer threads than its nodes
    have CPUs: the chunks of each node's threads (chunk_bounds), laid end to
    end, cut into one equal share per CPU of that node. A page only has to
    land on the node of the thread that streams it, and any CPU of that node
    puts it there; where the supply of fresh memory is CPU-bound (a VM's
    host mapping it on first use) the node's idle CPUs shorten the touch.
    Empty when every node's CPUs are the run's own threads (each then
    touches its own chunk)."""
    nodes = [topology.node_of(c) for c in cpus]
    bounds = chunk_bounds(elements, len(cpus), nodes)
    chunks: dict = {}  # node -> its threads' chunks, in thread order
    for node, lo, hi in zip(nodes, bounds, bounds[1:]):
        chunks.setdefault(node, []).append((lo, hi))
    if all(len(topology.numa_nodes[n]) <= nodes.count(n) for n in chunks):
        return ()
    shares = []
    for node, spans in chunks.items():
        touchers = topology.numa_nodes[node]
        fallback = cpus[nodes.index(node)]
        total = sum(hi - lo for lo, hi in spans)
        cuts = [min(total, round(k * total / len(touchers) / LINE_ELEMENTS) * LINE_ELEMENTS)
                for k in range(len(touchers))] + [total]
        offset = 0  # where the current span starts in the node's laid-out chunks
        for lo, hi in spans:
            for cpu, first, last in zip(touchers, cuts, cuts[1:]):
                start, end = max(first, offset), min(last, offset + hi - lo)
                if start < end:
                    shares.append(TouchShare(cpu, fallback, lo + start - offset,
                                             lo + end - offset))
            offset += hi - lo
    return tuple(shares)


def placement(topology: Topology, cpus: Sequence[int], elements: int,
              shares: Sequence[TouchShare] = ()) -> dict:
    """Where each thread's chunk lives and who first-touched it (`shares`:
    node_touch_shares, empty when each thread touched its own), for a
    record's info."""
    nodes = [topology.node_of(c) for c in cpus]
    bounds = chunk_bounds(elements, len(cpus), nodes)
    per_node: dict = {}
    for node, lo, hi in zip(nodes, bounds, bounds[1:]):
        entry = per_node.setdefault(str(node), {"threads": 0, "elements": 0})
        entry["threads"] += 1
        entry["elements"] += hi - lo
    where = {"thread_nodes": nodes, "node_boundary_align_bytes": CHUNK_ALIGN_BYTES,
             "chunk_align_bytes": LINE_ELEMENTS * FLOAT64_BYTES,
             "chunk_elements": [hi - lo for lo, hi in zip(bounds, bounds[1:])],
             "per_node": per_node,
             "first_touch": "each thread its own chunk, the same chunk it streams"}
    if shares:
        for share in shares:
            entry = per_node[str(topology.node_of(share.cpu))]
            entry.setdefault("touch_cpus", [])
            if share.cpu not in entry["touch_cpus"]:
                entry["touch_cpus"].append(share.cpu)
        where["first_touch"] = ("every CPU of a node an equal share of the chunks of that "
                                "node's threads (per_node.touch_cpus): fewer threads than "
                                "CPUs, and a page lands on the node of the CPU that touches it")
    return where


def active_cores(topology: Topology, cpus: Sequence[int]) -> int:
    """Distinct physical cores among `cpus` (the divisor of bandwidth per core)."""
    return topology.core_count(cpus)


def omp_env(cpus: Sequence[int], bind: str = DEFAULT_BIND) -> dict:
    """Environment that pins Numba's OpenMP threads one per listed CPU.

    An explicit place list (one place per CPU, in placement order) makes the
    mapping exact whatever the SMT layout; the child's affinity is the same set.
    """
    return {
        "NUMBA_NUM_THREADS": str(len(cpus)),
        "NUMBA_THREADING_LAYER": "omp",
        "OMP_PLACES": ",".join("{%d}" % c for c in cpus),
        "OMP_PROC_BIND": bind,
    }


# -- STREAM array sizing --------------------------------------------------------
def stream_array_elements(
    topology: Topology,
    cpus: Sequence[int] | None = None,
    array_mib: float | None = None,
) -> int:
    """Elements per STREAM array: max(4 x LLC of `cpus`, 1M), or --array-mib.

    Check the result with `check_memory` before allocating.
    """
    if array_mib is not None:
        if not (array_mib > 0):
            raise SizingError(f"array size {array_mib} MiB must be a positive number")
        elements = int(array_mib * (1 << 20)) // FLOAT64_BYTES
    else:
        elements = max(STREAM_LLC_FACTOR * llc_or_floor(topology, cpus) // FLOAT64_BYTES,
                       STREAM_MIN_ELEMENTS)
    return elements


def llc_or_floor(topology: Topology, cpus: Sequence[int] | None = None) -> int:
    """The LLC of `cpus` in bytes, or the floor UNKNOWN_LLC_ARRAY_BYTES / 4
    when no source knew it (so 4x it is a 1 GiB array)."""
    return topology.llc_bytes(cpus) or UNKNOWN_LLC_ARRAY_BYTES // STREAM_LLC_FACTOR


def sizing_note(topology: Topology, cpus: Sequence[int] | None = None) -> str:
    """How a size derived from the LLC was chosen, for the records' info."""
    llc = topology.llc_bytes(cpus)
    if not llc:
        return (f"last-level cache unknown: floor of {UNKNOWN_LLC_ARRAY_BYTES >> 20} MiB "
                f"per array")
    return f"{STREAM_LLC_FACTOR} x LLC of {llc / 2**20:.0f} MiB ({topology.llc_source})"


def load_array_elements(topology: Topology) -> int:
    """Elements per array of the loaded-latency bandwidth kernel: the three
    arrays together span 4x the LLC, so the load streams from DRAM."""
    llc = llc_or_floor(topology)
    return max(STREAM_LLC_FACTOR * llc // (STREAM_ARRAYS * FLOAT64_BYTES), STREAM_MIN_ELEMENTS)


def check_memory(topology: Topology, needed_bytes: int, what: str) -> None:
    available = topology.memory_available_bytes
    if available is None:
        return  # unknown: let the kernel try; an OOM becomes the run's error
    if needed_bytes > MEMORY_SHARE_LIMIT * available:
        raise SizingError(
            f"{what} need {needed_bytes / 2**30:.2f} GiB, more than half of the "
            f"{available / 2**30:.2f} GiB available memory; choose a smaller --array-mib")


# -- latency working sets -------------------------------------------------------
def latency_max_bytes(topology: Topology, profile_name: str) -> int:
    """Largest working set: 4x the LLC (so the DRAM plateau has a point
    past any caching), and at least 1 GiB where the profile says so."""
    row = profile_row(DEPTH, profile_name)
    if row.max_working_set_bytes:
        return row.max_working_set_bytes
    largest = dram_min_bytes(topology)
    if row.latency_to_gib:
        largest = max(largest, LATENCY_LARGE_BYTES)
    return max(largest, 16 * LATENCY_MIN_BYTES)


def capped_elements(elements: int, profile_name: str) -> int:
    """Array elements within the profile's cap (the smoke profile's)."""
    cap = profile_row(DEPTH, profile_name).max_array_elements
    return min(elements, cap) if cap else elements


def dram_min_bytes(topology: Topology) -> int:
    """Smallest working set whose chase latency counts as DRAM: 4x the LLC,
    where a random walk's hit rate in the LLC is at most a quarter."""
    return STREAM_LLC_FACTOR * llc_or_floor(topology)


def latency_sizes(max_bytes: int, stride: int = DEFAULT_STRIDE,
                  min_bytes: int = LATENCY_MIN_BYTES) -> list:
    """Working sets from `min_bytes` to at least `max_bytes` in half-octave
    steps, each a whole number of strides."""
    if stride not in STRIDE_CHOICES:
        raise SizingError(f"stride {stride} not accepted; accepted: {STRIDE_CHOICES}")
    last = -(-max_bytes // stride) * stride  # max_bytes rounded up to a stride
    steps = math.ceil(LATENCY_STEPS_PER_OCTAVE * math.log2(last / min_bytes))
    sizes = []
    for k in range(steps):
        size = int(round(min_bytes * 2 ** (k / LATENCY_STEPS_PER_OCTAVE) / stride)) * stride
        if not sizes or size > sizes[-1]:
            sizes.append(size)
    if not sizes or last > sizes[-1]:
        sizes.append(last)
    return sizes


def chase_cpu(topology: Topology) -> int:
    """The CPU that runs a pointer chase: the first physical core without
    CPU 0 (which takes housekeeping interrupts and timers), CPU 0 only on a
    one-core machine."""
    for core in topology.cores:
        if 0 not in core:
            return core[0]
    return topology.cores[0][0]


def loaded_cpus(topology: Topology) -> tuple:
    """(chase CPU, load CPUs): one chase core, every other core loads,
    one thread per physical core."""
    if topology.physical_cores < 2:
        raise SizingError("loaded latency needs at least two physical cores")
    chase = chase_cpu(topology)
    load = tuple(c for c in thread_cpus(topology, topology.physical_cores) if c != chase)
    return chase, load
