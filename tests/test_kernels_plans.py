"""Memory-kernel plans on machines we do not have: sweeps, pinning, sizing."""
import pytest

from kernels import plans, specs
from suite.errors import Skipped
from suite.spec import PROFILES, PlanContext
from suite.sysinfo import collect
from suite.topology import Topology
from tests.fixtures import trees


def machine(sockets, cores_per_socket, smt, l2, l3_per_socket, nodes_per_socket=1):
    """A sysinfo dict of the published shape of a machine (the same shapes as
    tests/fixtures/trees.py, built in memory: writing those trees takes seconds)."""
    cpus, caches, n_cores = [], [], sockets * cores_per_socket
    for t in range(smt):
        for core in range(n_cores):
            pkg = core // cores_per_socket
            node = pkg * nodes_per_socket + (core % cores_per_socket) * nodes_per_socket \
                // cores_per_socket
            cpus.append({"cpu": t * n_cores + core, "core": core % cores_per_socket,
                         "package": pkg, "node": node})
    for core in range(n_cores):
        sib = [t * n_cores + core for t in range(smt)]
        caches.append({"level": 1, "type": "Data", "size_bytes": 64 << 10, "cpus": sib})
        caches.append({"level": 2, "type": "Unified", "size_bytes": l2, "cpus": sib})
    for pkg in range(sockets):
        members = [c["cpu"] for c in cpus if c["package"] == pkg]
        caches.append({"level": 3, "type": "Unified", "size_bytes": l3_per_socket,
                       "cpus": members})
    return {"cpus": cpus, "caches": caches, "logical_cpus": len(cpus),
            "memory": {"total_bytes": 480 << 30, "available_bytes": 470 << 30}}


@pytest.fixture(scope="module")
def systems(tmp_path_factory):
    root = tmp_path_factory.mktemp("this_like_x86")
    trees.build("this_like_x86", root)
    return {
        "this_like_x86": collect(str(root), live=False),
        "grace": machine(1, 72, 1, 1 << 20, 117 << 20),
        "vera_like": machine(1, 88, 2, 2 << 20, 164 << 20),
        "two_vera": machine(2, 88, 2, 2 << 20, 164 << 20),
        "epyc_2s": machine(2, 64, 2, 1 << 20, 256 << 20),
    }


def ctx(system, profile="quick", **options):
    return PlanContext(PROFILES[profile], system, options)


@pytest.mark.parametrize("name, counts", [
    ("this_like_x86", [1, 2]),
    ("grace", [1, 2, 4, 8, 16, 32, 40, 48, 56, 64, 72]),
    # Steps of 8 past 32 cores: the knee between 64 and 88 is measured.
    ("vera_like", [1, 2, 4, 8, 16, 32, 40, 48, 56, 64, 72, 80, 88, 176]),
    ("two_vera", [1, 2, 4, 8, 16, *range(32, 176, 8), 176, 352]),
    ("epyc_2s", [1, 2, 4, 8, 16, *range(32, 128, 8), 128, 256]),
])
def test_sweep_counts_reach_all_cores_then_all_logical_cpus(systems, name, counts):
    assert plans.sweep_thread_counts(Topology.from_system(systems[name])) == counts


def test_knee_steps_widen_on_very_large_machines():
    topo = Topology.from_system(machine(2, 192, 1, 1 << 20, 256 << 20))
    counts = plans.sweep_thread_counts(topo)
    assert counts[-1] == 384 and len(counts) <= 5 + plans.KNEE_MAX_STEPS + 1
    assert all(b - a <= 16 for a, b in zip(counts, counts[1:]) if a >= 32)


def test_explicit_thread_list_is_checked(systems):
    topo = Topology.from_system(systems["grace"])
    assert plans.sweep_thread_counts(topo, (72, 1, 8)) == [1, 8, 72]
    with pytest.raises(plans.SizingError, match="outside 1..72"):
        plans.sweep_thread_counts(topo, (1, 73))


@pytest.mark.parametrize("name", ["grace", "vera_like", "two_vera", "epyc_2s"])
def test_stream_plan_pins_one_thread_per_core_before_siblings(systems, name):
    system = systems[name]
    topo = Topology.from_system(system)
    configs = specs.plan_stream(ctx(system))
    elements = {c.settings["elements"] for c in configs}
    assert not any("elements" in c.params for c in configs)  # machine-derived: not identity
    assert len(elements) == 1  # one array size across the sweep
    for c in configs:
        n = c.params["threads"]
        assert len(c.cpus) == n == int(c.env["NUMBA_NUM_THREADS"])
        assert c.env["NUMBA_THREADING_LAYER"] == "omp" and c.env["OMP_PROC_BIND"] == "spread"
        assert c.env["OMP_PLACES"] == ",".join("{%d}" % x for x in c.cpus)
        expected_cores = min(n, topo.physical_cores)
        assert plans.active_cores(topo, c.cpus) == expected_cores


def test_spread_alternates_sockets_close_fills_one(systems):
    topo = Topology.from_system(systems["two_vera"])
    pkg = {c: i for i, p in enumerate(topo.packages) for c in p}
    spread = plans.thread_cpus(topo, 4, "spread")
    close = plans.thread_cpus(topo, 4, "close")
    assert {pkg[c] for c in spread} == {0, 1}
    assert {pkg[c] for c in close} == {0}
    with pytest.raises(plans.SizingError, match="accepted: spread, close"):
        plans.thread_cpus(topo, 4, "scatter")


@pytest.mark.parametrize("name", ["two_vera", "epyc_2s"])
def test_spread_lists_cpus_node_by_node_with_aligned_chunks(systems, name):
    topo = Topology.from_system(systems[name])
    for n in (2, 8, 64, topo.physical_cores, len(topo.logical_cpus)):
        cpus = plans.thread_cpus(topo, n, "spread")
        nodes = [topo.node_of(c) for c in cpus]
        assert nodes == sorted(nodes)  # one run per node: chunk k's neighbours share its node
        assert len(set(nodes)) == 2  # still spread over both sockets
    cpus = plans.thread_cpus(topo, topo.physical_cores, "spread")
    elements = plans.stream_array_elements(topo, topo.logical_cpus)
    where = plans.placement(topo, cpus, elements)
    assert where["node_boundary_align_bytes"] == 2 << 20
    assert set(where["per_node"]) == {"0", "1"}
    assert where["per_node"]["0"]["threads"] == where["per_node"]["1"]["threads"]
    nodes = where["thread_nodes"]
    bounds = plans.chunk_bounds(elements, len(cpus), nodes)
    # Where node 0's chunks end and node 1's begin: a huge-page boundary.
    (cut,) = [bounds[t] for t in range(1, len(cpus)) if nodes[t] != nodes[t - 1]]
    assert cut % plans.CHUNK_ALIGN_ELEMENTS == 0
    assert all(b % plans.LINE_ELEMENTS == 0 for b in bounds[:-1])
    sizes = [hi - lo for lo, hi in zip(bounds, bounds[1:])]
    assert max(sizes) <= 1.02 * elements / len(cpus)  # no thread carries much more


def check_touch_shares(topo, cpus, elements, every_cpu=True):
    """Every element of every chunk first-touched exactly once, from a CPU of
    the node of the thread that streams that chunk, with every CPU of that
    node taking a share (`every_cpu`: the array has lines enough for them
    all); returns the shares."""
    nodes = [topo.node_of(c) for c in cpus]
    bounds = plans.chunk_bounds(elements, len(cpus), nodes)
    shares = plans.node_touch_shares(topo, cpus, elements)
    assert shares, "fewer threads than CPUs: the node's CPUs touch"
    spans = sorted((s.start, s.end) for s in shares)
    assert spans[0][0] == 0 and spans[-1][1] == elements
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # no gap, no overlap
    for share in shares:
        t = max(k for k in range(len(cpus)) if bounds[k] <= share.start)  # the chunk's thread
        assert share.end <= bounds[t + 1], "a share crosses into another thread's chunk"
        assert topo.node_of(share.cpu) == nodes[t], f"chunk {t} touched from another node"
        assert topo.node_of(share.fallback_cpu) == nodes[t] and share.fallback_cpu in cpus
    for node in set(nodes) if every_cpu else ():
        assert {s.cpu for s in shares if topo.node_of(s.cpu) == node} == \
            set(topo.numa_nodes[node])
    assert not {topo.node_of(s.cpu) for s in shares} - set(nodes)  # no node without threads
    return shares


@pytest.mark.parametrize("name", ["this_like_x86", "grace", "vera_like", "two_vera", "epyc_2s",
                                  "epyc_2s_nps4"])
@pytest.mark.parametrize("bind", plans.BIND_CHOICES)
def test_first_touch_shares_stay_on_the_node_of_each_chunks_thread(systems, name, bind):
    system = systems.get(name) or machine(2, 64, 2, 1 << 20, 256 << 20, nodes_per_socket=4)
    topo = Topology.from_system(system)
    elements = plans.stream_array_elements(topo, topo.logical_cpus)
    for n in plans.sweep_thread_counts(topo):
        cpus = plans.thread_cpus(topo, n, bind)
        if n == len(topo.logical_cpus):  # every CPU is a thread: each touches its own chunk
            assert plans.node_touch_shares(topo, cpus, elements) == ()
            continue
        shares = check_touch_shares(topo, cpus, elements)
        where = plans.placement(topo, cpus, elements, shares)
        assert "every CPU of a node" in where["first_touch"]
        for node, entry in where["per_node"].items():
            assert sorted(entry["touch_cpus"]) == sorted(topo.numa_nodes[int(node)])
    # A tiny array still places every element, on lines, without empty shares.
    shares = check_touch_shares(topo, plans.thread_cpus(topo, 1, bind), 100, every_cpu=False)
    assert all(s.start < s.end for s in shares)


def test_first_touch_shares_follow_the_nodes_of_a_single_thread(systems):
    topo = Topology.from_system(systems["two_vera"])
    (cpu,) = plans.thread_cpus(topo, 1)
    shares = plans.node_touch_shares(topo, (cpu,), 1 << 20)
    # One thread on node 0: all 176 CPUs of node 0 touch, none of node 1.
    assert {topo.node_of(s.cpu) for s in shares} == {topo.node_of(cpu)}
    assert len(shares) == len(topo.numa_nodes[topo.node_of(cpu)]) == 176
    assert plans.placement(topo, (cpu,), 1 << 20)["first_touch"].startswith("each thread")


def test_close_bind_option_reaches_the_environment(systems):
    configs = specs.plan_stream(ctx(systems["grace"], bind="close"))
    assert all(c.env["OMP_PROC_BIND"] == "close" for c in configs)
    assert configs[2].cpus == (0, 1, 2, 3)


def test_array_is_four_times_llc_and_at_least_1m_elements(systems):
    topo = Topology.from_system(systems["grace"])
    assert plans.stream_array_elements(topo) == 4 * (117 << 20) // 8
    tiny = Topology.from_system({"logical_cpus": 1, "caches": [
        {"level": 2, "type": "Unified", "size_bytes": 256 << 10, "cpus": [0]}]})
    assert plans.stream_array_elements(tiny) == plans.STREAM_MIN_ELEMENTS
    assert plans.stream_array_elements(topo, array_mib=8) == (8 << 20) // 8


def test_arrays_over_half_the_available_memory_are_refused(systems):
    system = dict(systems["this_like_x86"])
    system["memory"] = {"total_bytes": 4 << 30, "available_bytes": 2 << 30}
    with pytest.raises(plans.SizingError, match="more than half"):
        specs.plan_stream(ctx(system))  # 3 x 1.2 GiB of arrays
    assert specs.plan_stream(ctx(system, array_mib=64))  # fits
    with pytest.raises(plans.SizingError, match="positive"):
        plans.stream_array_elements(Topology.from_system(system), array_mib=-1)


def test_latency_sizes_half_octaves_up_to_four_llc_or_1gib(systems):
    topo = Topology.from_system(systems["this_like_x86"])
    quick = plans.latency_sizes(plans.latency_max_bytes(topo, "quick"))
    assert quick[0] == 4096 and quick[-1] >= 4 * (300 << 20)
    # half an octave, up to rounding each size to a whole stride
    assert all(b / a <= 2 ** 0.5 * (1 + 128 / a) for a, b in zip(quick, quick[1:]))
    assert all(s % 128 == 0 for s in quick)
    grace = Topology.from_system(systems["grace"])
    assert plans.latency_sizes(plans.latency_max_bytes(grace, "standard"))[-1] >= 1 << 30
    with pytest.raises(plans.SizingError, match="stride"):
        plans.latency_sizes(1 << 20, stride=96)


def test_latency_plan_runs_single_threaded_on_a_core_other_than_cpu0(systems):
    configs = specs.plan_latency(ctx(systems["vera_like"], "standard"))
    assert {(c.params["shuffle"], c.params["thp"]) for c in configs} == {
        ("global", "on"), ("global", "off"), ("tlb", "on"), ("tlb", "off")}
    # CPU 0 takes housekeeping interrupts; nor its SMT sibling (CPU 88).
    assert all(c.cpus == (1,) and c.env["NUMBA_NUM_THREADS"] == "1" for c in configs)


@pytest.mark.parametrize("name", ["this_like_x86", "grace", "vera_like", "two_vera", "epyc_2s"])
def test_chase_core_is_not_cpu0_when_there_is_another(systems, name):
    topo = Topology.from_system(systems[name])
    cpu = plans.chase_cpu(topo)
    assert cpu != 0 and not any(0 in core and cpu in core for core in topo.cores)
    chase, load = plans.loaded_cpus(topo)
    assert chase == cpu and 0 in load
    single = Topology.from_system({"logical_cpus": 1})
    assert plans.chase_cpu(single) == 0


def test_loaded_latency_splits_chase_core_from_load_cores(systems):
    (c,) = specs.plan_loaded(ctx(systems["vera_like"]))
    assert c.cpus == (c.params["chase_cpu"],)
    load = c.params["load_cpus"]
    assert len(load) == 87 and c.params["chase_cpu"] not in load
    assert c.params["delays"][0] == 0
    with pytest.raises(Skipped):
        specs.plan_loaded(ctx({"logical_cpus": 1}))


def test_native_plan_uses_all_physical_cores(systems):
    (c,) = specs.plan_native(ctx(systems["two_vera"]))
    assert c.params["threads"] == 176 and len(c.cpus) == 176


def test_plans_import_without_numba():
    import subprocess
    import sys
    code = ("import sys; import kernels.specs, kernels.plans, kernels.summaries; "
            "sys.exit(1 if 'numba' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
