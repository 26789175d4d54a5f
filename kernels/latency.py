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
from kernels.profiles import DEPTH
from suite.spec import DEFAULT_SEED, Job, profile_row, seed_of

# One slot index per pointer, unsigned: Numba then skips the negative-index
# wraparound test that would sit in the dependent chain of loads.
INDEX_BYTES = 8
HUGE_PAGE_BYTES = 2 << 20
# Pages per TLB group: 64, the L1 DTLB entries of typical x86 and Neoverse
# cores (lmbench/MLC-style "random within a page group"). A group spans 64
# pages of the size in use: 256 KiB of 4 KiB pages, 4 MiB of 64 KiB pages,
# 128 MiB of 2 MiB huge pages.
TLB_GROUP_PAGES = 64
SHUFFLES = ("global", "tlb")
THP_CHOICES = ("on", "off")
SEED = DEFAULT_SEED  # the visiting order when no --seed reaches the caller
UNROLL = 8  # loads per loop trip in `chase`; steps are whole multiples



# A Fisher-Yates shuffle of a block far past the caches misses on nearly
# every swap (1.3 s for the 16M slots of a 2 GiB working set). Past this
# many slots a block is first dealt into buckets of about this size, each
# slot to a random one, and each bucket is shuffled where it fits in cache
# (0.7 s): the method of Rao (1961) and Sandelius (1962), whose order is
# just as uniformly random.
SHUFFLE_BUCKET_SLOTS = 1 << 16  # 512 KiB of slot numbers


@njit(cache=True)
def fisher_yates(order, lo, hi):
    """Shuffle order[lo:hi] in place."""
    for i in range(hi - 1, lo, -1):
        j = np.random.randint(lo, i + 1)
        order[i], order[j] = order[j], order[i]


@njit(cache=True)
def shuffled_block(order, k, first, size):
    """order[k:k+size] = slots first..first+size-1 in a uniformly random order."""
    buckets = (size + SHUFFLE_BUCKET_SLOTS - 1) // SHUFFLE_BUCKET_SLOTS
    if buckets < 2:
        for i in range(size):
            order[k + i] = first + i
        fisher_yates(order, k, k + size)
        return
    which = np.empty(size, dtype=np.int32)
    starts = np.zeros(buckets + 1, dtype=np.int64)
    for i in range(size):
        b = np.random.randint(0, buckets)
        which[i] = b
        starts[b + 1] += 1
    for b in range(buckets):
        starts[b + 1] += starts[b]
    fill = starts[:-1].copy()
    for i in range(size):
        b = which[i]
        order[k + fill[b]] = first + i
        fill[b] += 1
    for b in range(buckets):
        fisher_yates(order, k + starts[b], k + starts[b + 1])


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
        shuffled_block(order, k, lo, size)
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
    """A pointer chase laid out in a buffer, walked as one continuing cycle.

    Every run starts where the last one ended, so repetitions cover new
    slots instead of re-walking the first `steps` ones: with a start slot
    fixed, a 1 GiB working set timed for 16 MiB of loads would measure a
    164 MB last-level cache, not DRAM.
    """

    def __init__(self, buffer, order, working_set: int, stride: int):
        self.step = stride // INDEX_BYTES
        self.stride = stride
        self.slots = working_set // stride
        # The slots below the working set, kept in the master order: still a
        # uniformly random order (and TLB groups stay grouped), at the cost
        # of a sequential scan instead of a new shuffle per size.
        self.order = order if order.size == self.slots else order[order < self.slots]
        self.chain = buffer
        link(self.chain, self.order, self.step)
        self.start = int(self.order[0]) * self.step
        self.position = 0  # index into `order` of the slot the next run starts at

    def slot(self, k: int) -> int:
        """Chain index of the k-th slot of the cycle (k taken modulo its length)."""
        return int(self.order[k % self.slots]) * self.step

    def run(self, steps: int, kernel=None) -> tuple:
        """(seconds, ok) for `steps` loads continuing the walk; `kernel`
        (chain, start, steps) -> end defaults to the Numba chase."""
        steps = whole_steps(steps)
        start, want = self.slot(self.position), self.slot(self.position + steps)
        kernel = kernel or chase
        t0 = time.perf_counter()
        end = kernel(self.chain, start, steps)
        seconds = time.perf_counter() - t0
        self.position = (self.position + steps) % self.slots
        return seconds, end == want

    def footprint_bytes(self, steps: int) -> int:
        """Distinct bytes `steps` consecutive loads of the cycle cover: one
        stride per distinct slot visited."""
        return min(steps, self.slots) * self.stride


def whole_steps(steps: int) -> int:
    """`steps` rounded down to whole unrolled loop trips (at least one)."""
    return max(UNROLL, steps // UNROLL * UNROLL)


def tlb_group_bytes(page_bytes: int) -> int:
    """Bytes of one TLB group: TLB_GROUP_PAGES pages of the size in use."""
    return TLB_GROUP_PAGES * page_bytes


def master_order(max_bytes: int, stride: int, shuffle: str, seed: int = SEED,
                 page_bytes: int = mmap.PAGESIZE):
    """Visiting order of every slot of the largest working set; `page_bytes`
    (the page size backing the buffer) sizes the TLB groups."""
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle {shuffle!r} not accepted; accepted: {', '.join(SHUFFLES)}")
    slots = max_bytes // stride
    group = slots if shuffle == "global" else max(tlb_group_bytes(page_bytes) // stride, 2)
    return visit_order(slots, group, seed)


def huge_page_bytes() -> int:
    """The transparent huge page size (PMD size): 2 MiB on 4 KiB-page kernels,
    512 MiB on 64 KiB-page Arm kernels."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return HUGE_PAGE_BYTES


def page_bytes_in_use(thp: str, huge_bytes_allocated: int | None) -> int:
    """Page size behind a chase buffer: the huge page size when THP was
    requested and backed it, else the base page size."""
    if thp == "on" and huge_bytes_allocated:
        return huge_page_bytes()
    return mmap.PAGESIZE


def calibrate(chain: Chain, rep_seconds: float, kernel=None) -> int:
    """Steps that take about `rep_seconds`, found by growing a run until it
    is long enough to time; the runs also warm the slots the walk visits next."""
    steps = 1 << 12
    seconds, ok = chain.run(steps, kernel)
    while seconds < rep_seconds / 8:
        steps *= 4
        seconds, _ = chain.run(steps, kernel)
    return whole_steps(int(steps * rep_seconds / seconds))


def covering_steps(chain: Chain, repetitions: int, rep_steps: int) -> int:
    """Steps per repetition so that the repetitions together visit every
    slot of the working set (a working set past the LLC then measures DRAM)."""
    return whole_steps(max(rep_steps, -(-chain.slots // repetitions) + UNROLL - 1))


def measure_point(chain: Chain, repetitions: int, rep_seconds: float,
                  buffer=None) -> tuple:
    """(ns per load of each repetition, all checks passed, footprint bytes,
    placements): the footprint is the distinct bytes of one placement's
    working set the timed loads touched. When a repetition walks the whole
    working set (a cache-sized one) and `buffer` (the one the chain is laid
    out at the start of) has room, the repetitions walk the chain laid out
    in several regions of it (placement_chains), each warmed by one pass
    first."""
    steps = covering_steps(chain, repetitions, calibrate(chain, rep_seconds))
    walks = [chain]
    if buffer is not None and steps >= chain.slots:
        walks += placement_chains(buffer, chain, repetitions)
    samples, ok = [], True
    for k in range(repetitions):
        walk = walks[k % len(walks)]
        if k and len(walks) > 1:
            # Into the caches: the walk before was another placement's
            # (calibrate left the first's there for k = 0). One placement
            # continues its walk unwarmed: a pass of a DRAM-sized set costs
            # seconds.
            walk.run(walk.slots)
        seconds, ok2 = walk.run(steps)
        ok = ok and ok2
        samples.append(seconds / steps * 1e9)
    return samples, ok, chain.footprint_bytes(steps * repetitions), len(walks)


def placement_chains(buffer, chain: Chain, repetitions: int) -> list:
    """`chain` laid out again in further regions of `buffer`, one per
    repetition after the first, as many as fit: other physical pages. Which
    lines of a working set between two cache levels conflict depends on the
    pages a process got (a guest's pages on the host's, too), so one
    placement measured one process's luck: 6.5 to 14 ns at 1.4 MiB between
    default runs on a VM, each steady within its run. Over several the
    median is steadier, and their spread shows."""
    working_set = chain.slots * chain.stride
    span = -(-working_set // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES // INDEX_BYTES
    regions = min(repetitions, buffer.size // span)
    return [Chain(buffer[k * span:], chain.order, working_set, chain.stride)
            for k in range(1, regions)]


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
    reps, rep_s = profile_row(DEPTH, job.profile).latency_repetitions
    try:
        plans.check_memory(topo, max(sizes), "the latency working set")
    except plans.SizingError as exc:
        return Outcome(errors=(ErrorRecord(job.benchmark, dict(p), "skipped", str(exc)),))

    compile_s = compile_kernels()
    huge_before = anon_huge_bytes()
    mm, buffer = chase_buffer(max(sizes), thp)
    huge_after = anon_huge_bytes()
    huge_bytes = (None if huge_after is None or huge_before is None
                  else huge_after - huge_before)
    page_bytes = page_bytes_in_use(thp, huge_bytes)
    freq = topo.max_frequency_hz
    base_info = {
        "compile_seconds": round(compile_s, 4),
        "stride_bytes": stride,
        "shuffle": shuffle,
        "tlb_group_bytes": tlb_group_bytes(page_bytes) if shuffle == "tlb" else None,
        "page_bytes": page_bytes,
        "thp_requested": thp,
        "anon_huge_bytes": huge_bytes,
        "repetitions": reps,
        "seconds_per_repetition": rep_s,
        "value": "median of the repetitions",
        "footprint": "distinct slots the timed loads visited x stride, in one "
                     "placement; with one placement the walk continues from one "
                     "repetition to the next",
        "placement": "a working set each repetition walks whole is laid out in "
                     "`placements` regions of the buffer (other physical pages), "
                     "repetition k walking region k: its value is the median over "
                     "them",
    }
    if freq:
        base_info["frequency_mhz"] = freq / 1e6
    else:
        base_info["cycles_unavailable"] = "CPU maximum frequency unknown (no cpufreq data)"
    records, errors = [], []
    order = master_order(max(sizes), stride, shuffle, seed_of(job.options),
                         page_bytes=page_bytes)
    for size in sorted(sizes, reverse=True):
        chain = Chain(buffer, order, size, stride)
        order = chain.order  # each smaller set filters the last one
        samples, ok, footprint, placements = measure_point(chain, reps, rep_s, buffer)
        params = {**p, "working_set_bytes": size}
        info = {**base_info, "footprint_bytes": footprint, "placements": placements}
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
