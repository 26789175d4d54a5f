"""How long each memory-kernel configuration will take, before running it.

Pure functions of the plan (sizes, thread counts) and the profile's own
durations (repetitions, seconds per repetition, STREAM trials), so a
176-thread box can be costed from its sysinfo on a laptop. What only the
machine can tell (bandwidth, latency) is an assumption, stated in
ASSUMPTIONS and printed with every plan; an estimate is for budgeting, not
a prediction of a figure.
"""
from __future__ import annotations

from kernels import plans

# Per configuration: a fresh interpreter, Numba imported, kernels loaded
# from the on-disk cache (about 1.5 s on a 2-core VM).
CHILD_START_S = 1.5
# DRAM bandwidth one core draws and the most a socket gives; chase latency
# per level. Round figures of current servers (Grace, EPYC, Xeon).
GBS_PER_CORE = 10.0
GBS_PER_SOCKET = 400.0
NS_PER_LOAD = {1: 1.5, 2: 5.0, 3: 40.0}
DRAM_NS = 120.0
LOADED_DRAM_NS = 2 * DRAM_NS  # under load, the idle figure roughly doubles
# Linking a chase writes every slot once, in random order.
LINK_NS_PER_SLOT = DRAM_NS
ASSUMPTIONS = {
    "child_start_seconds": CHILD_START_S,
    "gbs_per_core": GBS_PER_CORE,
    "gbs_per_socket": GBS_PER_SOCKET,
    "chase_ns_per_load": {f"L{k}": v for k, v in NS_PER_LOAD.items()} | {"DRAM": DRAM_NS},
}


def bandwidth_gbs(topology, threads: int) -> float:
    return min(GBS_PER_CORE * min(threads, topology.physical_cores),
               GBS_PER_SOCKET * max(1, len(topology.packages)))


def ns_per_load(topology, working_set: int) -> float:
    """Assumed chase latency of a working set: the first cache level it fits."""
    for level in sorted(NS_PER_LOAD):
        size = (topology.llc_bytes() if level == topology.llc_level
                else topology.cache_size(level))
        if size and working_set <= size:
            return NS_PER_LOAD[level]
    return DRAM_NS


def chase_point_seconds(slots: int, reps: int, rep_s: float, ns: float) -> float:
    """Calibration, then `reps` repetitions that together cover every slot."""
    return rep_s + reps * max(rep_s, slots / reps * ns * 1e-9)


def stream_seconds(topology, threads: int, elements: int, ntimes: int) -> float:
    # Six kernels per trial; Copy/Scale/Dot move 16 B per element, the rest 24-32.
    bytes_per_trial = elements * (16 + 16 + 24 + 24 + 16 + 32)
    touch = plans.STREAM_ARRAYS * elements * plans.FLOAT64_BYTES
    return CHILD_START_S + (ntimes * bytes_per_trial + 2 * touch) / (
        bandwidth_gbs(topology, threads) * 1e9)


def latency_seconds(topology, sizes, stride: int, reps: int, rep_s: float) -> float:
    total = CHILD_START_S + max(sizes) // stride * LINK_NS_PER_SLOT * 1e-9
    for size in sizes:
        slots = size // stride
        total += chase_point_seconds(slots, reps, rep_s, ns_per_load(topology, size))
        total += slots * 1e-9  # filtering the master order for this size
    return total


def loaded_seconds(chase_bytes: int, points: int, reps: int, rep_s: float,
                   ramp_s: float) -> float:
    slots = chase_bytes // plans.DEFAULT_STRIDE
    link = slots * LINK_NS_PER_SLOT * 1e-9
    return CHILD_START_S + 2 * CHILD_START_S + link + points * (
        ramp_s + chase_point_seconds(slots, reps, rep_s, LOADED_DRAM_NS))


def native_seconds(topology, threads: int, elements: int, pairs: int,
                   chase_rep_s: float, l1_bytes: int) -> float:
    triad = 2 * pairs * elements * 32 / (bandwidth_gbs(topology, threads) * 1e9)
    dram_slots = elements * plans.FLOAT64_BYTES // plans.DEFAULT_STRIDE
    dram = dram_slots * LINK_NS_PER_SLOT * 1e-9 + chase_point_seconds(
        dram_slots, 2 * pairs, chase_rep_s, DRAM_NS)
    l1 = chase_point_seconds(l1_bytes // plans.DEFAULT_STRIDE, 2 * pairs, chase_rep_s,
                             NS_PER_LOAD[1])
    return CHILD_START_S + 1.0 + triad + dram + l1  # 1 s: building the C library once

