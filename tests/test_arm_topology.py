"""Large topologies without the hardware: Topology and the memory-kernel
plans on sysinfo dicts collected from fixture trees of a 72-core Grace, a
2 x 88-core Vera-like box with SMT (352 logical CPUs) and a 2-socket
128-core EPYC-like x86."""
from __future__ import annotations

import pytest

from suite import sysinfo
from suite.topology import Topology
from tests.fixtures import trees

MIB, GIB = 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def topo():
    cache: dict = {}

    def get(name: str) -> Topology:
        if name not in cache:
            cache[name] = Topology.from_system(sysinfo.collect(str(trees.shared_root(name))))
        return cache[name]

    return get


def _plans():
    return pytest.importorskip("kernels.plans", reason="kernels.plans not present")


# -- Topology on the trees ---------------------------------------------------------
def test_grace_shape(topo):
    t = topo("grace")
    assert (t.physical_cores, t.smt, len(t.packages), len(t.numa_nodes)) == (72, False, 1, 1)
    assert t.llc_bytes() == 117 * MIB and t.llc_bytes([0]) == 117 * MIB
    assert t.cache_size(1) == 64 << 10 and t.cache_size(2) == 1 * MIB
    assert t.spread_cpus(72) == tuple(range(72)) == t.close_cpus(72)
    assert t.max_frequency_hz == pytest.approx(3.438e9)


def test_two_vera_smt_placement(topo):
    t = topo("two_vera")
    assert (len(t.logical_cpus), t.physical_cores, t.threads_per_core) == (352, 176, 2)
    assert len(t.packages) == 2 and len(t.numa_nodes) == 2
    # Spread alternates sockets one core at a time; no SMT sibling before
    # every core has a thread.
    assert t.spread_cpus(4) == (0, 88, 1, 89)
    assert set(t.spread_cpus(176)) == set(range(176))
    assert t.spread_cpus(178)[-2:] == (176, 264)
    # Close fills socket 0's cores first.
    assert t.close_cpus(88) == tuple(range(88))
    assert t.close_cpus(177)[-1] == 176
    # Each core's two threads are one core.
    assert t.cores[0] == (0, 176) and t.cores[88] == (88, 264)
    # LLC in use: one socket's 164 MiB, or both.
    assert t.llc_bytes(t.close_cpus(88)) == 164 * MIB
    assert t.llc_bytes(t.spread_cpus(2)) == 2 * 164 * MIB
    assert t.llc_bytes() == 2 * 164 * MIB


def test_epyc_2s_ccd_l3(topo):
    t = topo("epyc_2s")
    assert (len(t.logical_cpus), t.physical_cores, t.smt) == (256, 128, True)
    assert t.cache_size(3) == 32 * MIB
    assert t.llc_bytes() == 16 * 32 * MIB
    # Eight cores on one CCD share one L3; one thread per CCD-core pair.
    assert t.llc_bytes(t.close_cpus(8)) == 32 * MIB
    assert t.llc_bytes(t.close_cpus(9)) == 2 * 32 * MIB
    assert t.spread_cpus(2) == (0, 64)


# -- the memory-kernel plans on the trees -----------------------------------------
@pytest.mark.parametrize("name, cores, logical", [
    ("grace", 72, 72), ("vera_like", 88, 176), ("two_vera", 176, 352), ("epyc_2s", 128, 256),
])
def test_thread_sweep_ends_at_all_cores_then_all_threads(topo, name, cores, logical):
    plans = _plans()
    counts = plans.sweep_thread_counts(topo(name))
    assert counts[0] == 1 and cores in counts
    assert counts[-1] == logical
    assert counts == sorted(set(counts))
    with pytest.raises(plans.SizingError):
        plans.sweep_thread_counts(topo(name), [logical + 1])


def test_pinning_one_thread_per_core_before_siblings(topo):
    plans = _plans()
    t = topo("two_vera")
    cpus = plans.thread_cpus(t, 176, "spread")
    assert plans.active_cores(t, cpus) == 176
    cpus = plans.thread_cpus(t, 352, "close")
    assert plans.active_cores(t, cpus) == 176 and len(set(cpus)) == 352
    env = plans.omp_env(plans.thread_cpus(t, 4, "spread"))
    # Spread picks cores over both sockets, listed node by node (chunk k, thread k).
    assert env["OMP_PLACES"] == "{0},{1},{88},{89}" and env["NUMBA_NUM_THREADS"] == "4"


def test_first_touch_spreads_over_both_numa_nodes(topo):
    # First touch puts pages where the touching thread runs: a spread
    # placement must cover every node once there are as many threads.
    plans = _plans()
    for name in ("two_vera", "epyc_2s"):
        t = topo(name)
        node_of = {cpu: i for i, node in enumerate(t.numa_nodes) for cpu in node}
        cpus = plans.thread_cpus(t, len(t.numa_nodes), "spread")
        assert {node_of[c] for c in cpus} == set(range(len(t.numa_nodes)))


@pytest.mark.parametrize("name", ["grace", "two_vera", "epyc_2s"])
def test_stream_arrays_are_four_times_the_llc_in_use(topo, name):
    plans = _plans()
    t = topo(name)
    all_cpus = t.spread_cpus(t.physical_cores)
    elements = plans.stream_array_elements(t, all_cpus)
    assert elements * plans.FLOAT64_BYTES == plans.STREAM_LLC_FACTOR * t.llc_bytes(all_cpus)
    one = plans.stream_array_elements(t, t.spread_cpus(1))
    assert one * plans.FLOAT64_BYTES >= plans.STREAM_LLC_FACTOR * t.llc_bytes(t.spread_cpus(1))


def test_stream_sizing_refuses_more_than_half_the_memory(tmp_path):
    plans = _plans()
    trees.build_tree(
        tmp_path, cpus=trees.smt_cpus(1, 4, 1),
        cpuinfo_block=trees._arm_block(trees.GRACE_FEATURES, "0x41", "0xd4f"),
        caches=[(3, "Unified", 117 * MIB, lambda c: c[2])],
        memory_bytes=2 * GIB, available_bytes=1 * GIB, hostname="tiny")
    t = Topology.from_system(sysinfo.collect(str(tmp_path)))
    elements = plans.stream_array_elements(t)
    with pytest.raises(plans.SizingError):  # 3 x 468 MiB > half of 1 GiB
        plans.check_memory(t, plans.STREAM_ARRAYS * elements * plans.FLOAT64_BYTES, "arrays")


def test_latency_working_sets_cover_the_llc(topo):
    plans = _plans()
    for name in ("grace", "two_vera", "epyc_2s"):
        t = topo(name)
        biggest = plans.latency_max_bytes(t, "quick")
        assert biggest >= plans.STREAM_LLC_FACTOR * t.llc_bytes()
        sizes = plans.latency_sizes(biggest)
        assert sizes[0] == plans.LATENCY_MIN_BYTES and sizes[-1] >= biggest
        chase, load = plans.loaded_cpus(t)
        assert chase not in load and len(load) == t.physical_cores - 1
