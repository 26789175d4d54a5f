"""Memory latency curve: a dependent-load pointer chase over a random cycle.

One pointer per `stride` bytes; the visiting order is one random cycle over
every slot (Sattolo), either globally or within TLB-sized groups visited in
random order (the second variant keeps TLB misses out of cache latencies).
Buffers are anonymous mmaps with transparent huge pages switched on or off
by madvise, so the page size is a parameter of the run.
"""
from __future__ import annotations

import mmap
import time

import numpy as np
from numba import njit

from kernels import plans
from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import Job

# One slot index per pointer, unsigned: Numba then skips the negative-index
# wraparound test that would sit in the dependent chain of loads.
INDEX_BYTES = 8
HUGE_PAGE_BYTES = 2 << 20
# Slots per TLB group: 64 base pages of 4 KiB, the L1 DTLB reach of typical
# x86 and Neoverse cores (lmbench/MLC-style "random within a page group").
TLB_GROUP_BYTES = 64 * 4096
SHUFFLES = ("global", "tlb")
THP_CHOICES = ("on", "off")
SEED = 12345
UNROLL = 8  # loads per loop trip in `chase`; steps are whole multiples

# Per profile: (repetitions per point, seconds per repetition); every point
# takes >= 100 ms in total. A point's value is the median of its repetitions,
# which one disturbed repetition cannot move on a shared machine; four or
# more per point also let `compare`'s rank test reach p < 0.05 (4 vs 4
# samples: smallest two-sided p = 2/70).
REPETITIONS = {"quick": (4, 0.025), "standard": (5, 0.06), "full": (7, 0.1)}


@njit(cache=True)
def visit_order(n, group, seed):
    """Slots 0..n-1 in the order the chase visits them (it then wraps around).

    group >= n: a uniformly random order over all slots. Linked cyclically,
    that is a uniformly random single-cycle permutation, the distribution
    Sattolo's algorithm samples. group < n: a random order inside each group
    of `group` consecutive slots, the groups taken in random order.
    """
    np.random.seed(seed)
    order = np.empty(n, dtype=np.int64)
    ngroups = (n + group - 1) // group
    k = 0
    for g in np.random.permutation(ngroups):
        lo = g * group
        size = min(group, n - lo)
        for i in range(size):
            order[k + i] = lo + i
        for i in range(size - 1, 0, -1):  # Fisher-Yates on the block
            j = np.random.randint(0, i + 1)
            order[k + i], order[k + j] = order[k + j], order[k + i]
        k += size
    return order


@njit(cache=True)
def link(chain, order, step):
    """Write the cycle into `chain`: the slot at order[k] points to order[k+1]."""
    n = order.size
    for k in range(n):
        chain[order[k] * step] = order[(k + 1) % n] * step


@njit(cache=True)
def chase(chain, start, steps):
    """Follow `steps` dependent loads from `start`; returns where it ended."""
    p = np.uint64(start)
    for _ in range(steps // 8):
        p = chain[p]
        p = chain[p]
        p = chain[p]
        p = chain[p]
        p = chain[p]
        p = chain[p]
        p = chain[p]
        p = chain[p]
    return p


def chase_buffer(nbytes: int, thp: str) -> tuple:
    """(mmap, uint64 array view) of `nbytes`, 2 MiB aligned, THP per `thp`.

    The mmap must stay referenced while the array is used.
    """
    if thp not in THP_CHOICES:
        raise ValueError(f"thp {thp!r} not accepted; accepted: {', '.join(THP_CHOICES)}")
    # Private anonymous memory: a shared mapping would be shmem, whose huge
    # pages follow a different switch (shmem_enabled).
    mm = mmap.mmap(-1, nbytes + HUGE_PAGE_BYTES,
                   flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    whole = np.frombuffer(mm, dtype=np.uint8)
    offset = (-whole.ctypes.data) % HUGE_PAGE_BYTES
    # Advise before the first touch, on the huge-page aligned span we use.
    start = offset - offset % mmap.PAGESIZE
    mm.madvise(mmap.MADV_HUGEPAGE if thp == "on" else mmap.MADV_NOHUGEPAGE,
               start, nbytes + offset - start)
    view = whole[offset:offset + nbytes].view(np.uint64)
    # First touch, single thread: the chase runs on this core. One write per
    # base page faults every page in (the kernel zeroes them); `link` writes
    # the slots themselves.
    view[::mmap.PAGESIZE // INDEX_BYTES] = 0
    return mm, view


class Chain:
    """A pointer chase laid out in a buffer, with its expected end points."""

    def __init__(self, buffer, order, working_set: int, stride: int):
        self.step = stride // INDEX_BYTES
        self.slots = working_set // stride
        # The slots below the working set, kept in the master order: still a
        # uniformly random order (and TLB groups stay grouped), at the cost
        # of a sequential scan instead of a new shuffle per size.
        self.order = order if order.size == self.slots else order[order < self.slots]
        self.chain = buffer
        link(self.chain, self.order, self.step)
        self.start = int(self.order[0]) * self.step

    def expected_end(self, steps: int) -> int:
        return int(self.order[(steps // UNROLL * UNROLL) % self.slots]) * self.step

    def run(self, steps: int) -> tuple:
        """(seconds, ok) for `steps` loads from the start slot."""
        steps = max(UNROLL, steps // UNROLL * UNROLL)
        t0 = time.perf_counter()
        end = chase(self.chain, self.start, steps)
        seconds = time.perf_counter() - t0
        return seconds, end == self.expected_end(steps)


def master_order(max_bytes: int, stride: int, shuffle: str, seed: int = SEED):
    """Visiting order of every slot of the largest working set."""
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle {shuffle!r} not accepted; accepted: {', '.join(SHUFFLES)}")
    slots = max_bytes // stride
    group = slots if shuffle == "global" else max(TLB_GROUP_BYTES // stride, 2)
    return visit_order(slots, group, seed)


def measure_point(chain: Chain, repetitions: int, rep_seconds: float) -> tuple:
    """(ns per load of each repetition, all checks passed)."""
    # Calibrate: grow the run until it is long enough to time. The runs start
    # where the repetitions start, so they also warm the slots those visit.
    steps = 1 << 12
    seconds, ok = chain.run(steps)
    while seconds < rep_seconds / 8:
        steps *= 4
        seconds, ok2 = chain.run(steps)
        ok = ok and ok2
    steps = max(UNROLL, int(steps * rep_seconds / seconds))
    samples = []
    for _ in range(repetitions):
        seconds, ok2 = chain.run(steps)
        ok = ok and ok2
        samples.append(seconds / (steps // UNROLL * UNROLL) * 1e9)
    return samples, ok


def anon_huge_bytes() -> int | None:
    """AnonHugePages of this process (how much memory THP actually backs)."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def compile_kernels() -> float:
    t0 = time.perf_counter()
    order = visit_order(64, 16, SEED)
    buf = np.zeros(64 * 2, dtype=np.uint64)
    link(buf, order, 2)
    chase(buf, 0, 8)
    return time.perf_counter() - t0


def run_benchmark(job: Job) -> Outcome:
    p = job.params
    stride = int(p.get("stride", plans.DEFAULT_STRIDE))
    shuffle = p.get("shuffle", "global")
    thp = p.get("thp", "on")
    topo = job.topology
    sizes = p.get("sizes") or plans.latency_sizes(
        plans.latency_max_bytes(topo, job.profile.name), stride)
    reps, rep_s = REPETITIONS.get(job.profile.name, REPETITIONS["standard"])
    try:
        plans.check_memory(topo, max(sizes), "the latency working set")
    except plans.SizingError as exc:
        return Outcome(errors=(ErrorRecord(job.benchmark, dict(p), "skipped", str(exc)),))

    compile_s = compile_kernels()
    huge_before = anon_huge_bytes()
    mm, buffer = chase_buffer(max(sizes), thp)
    huge_after = anon_huge_bytes()
    freq = topo.max_frequency_hz
    base_info = {
        "compile_seconds": round(compile_s, 4),
        "stride_bytes": stride,
        "shuffle": shuffle,
        "tlb_group_bytes": TLB_GROUP_BYTES if shuffle == "tlb" else None,
        "thp_requested": thp,
        "anon_huge_bytes": (None if huge_after is None or huge_before is None
                            else huge_after - huge_before),
        "repetitions": reps,
        "seconds_per_repetition": rep_s,
        "value": "median of the repetitions",
    }
    if freq:
        base_info["frequency_mhz"] = freq / 1e6
    else:
        base_info["cycles_unavailable"] = "CPU maximum frequency unknown (no cpufreq data)"
    records, errors = [], []
    order = master_order(max(sizes), stride, shuffle)
    for size in sorted(sizes, reverse=True):
        chain = Chain(buffer, order, size, stride)
        order = chain.order  # each smaller set filters the last one
        samples, ok = measure_point(chain, reps, rep_s)
        params = {**p, "working_set_bytes": size}
        info = dict(base_info)
        if freq:
            info["cycles"] = round(stats.median(samples) * freq / 1e9, 2)
        records.append(measurement(job.benchmark, params, "latency", "ns", samples,
                                   higher_is_better=False, validated=ok, info=info))
        if not ok:
            errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                      "pointer chase ended on the wrong slot"))
    warnings = ()
    if thp == "on" and base_info["anon_huge_bytes"] == 0:
        warnings = ("latency: transparent huge pages requested but none were "
                    "allocated (THP disabled in /sys/kernel/mm/transparent_hugepage?)",)
    del mm  # the chains keep the buffer alive until they go
    records.sort(key=lambda r: r.params["working_set_bytes"])
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=warnings)
