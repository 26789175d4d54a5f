"""Planner topology from a sysinfo dict, on shapes this machine does not have."""
import pytest

from suite.topology import Topology


def system(sockets, cores_per_socket, smt, l3_per_socket, nodes_per_socket=1):
    cpus, caches, n_cores = [], [], sockets * cores_per_socket
    for t in range(smt):
        for core in range(n_cores):
            pkg = core // cores_per_socket
            node = pkg * nodes_per_socket + (core % cores_per_socket) * nodes_per_socket // cores_per_socket
            cpus.append({"cpu": t * n_cores + core, "core": core % cores_per_socket,
                         "package": pkg, "node": node})
    for core in range(n_cores):
        sib = [t * n_cores + core for t in range(smt)]
        caches.append({"level": 1, "type": "Data", "size_bytes": 64 << 10, "cpus": sib})
        caches.append({"level": 2, "type": "Unified", "size_bytes": 1 << 20, "cpus": sib})
    for pkg in range(sockets):
        members = [c["cpu"] for c in cpus if c["package"] == pkg]
        caches.append({"level": 3, "type": "Unified", "size_bytes": l3_per_socket, "cpus": members})
    return {"cpus": cpus, "caches": caches, "logical_cpus": len(cpus)}


def test_grace_like():
    t = Topology.from_system(system(1, 72, 1, 117 << 20))
    assert t.physical_cores == 72 and not t.smt
    assert t.llc_bytes() == 117 << 20
    assert t.cache_size(2) == 1 << 20
    assert t.spread_cpus(4) == (0, 1, 2, 3)


def test_two_socket_vera_like_smt_spreads_across_sockets_then_siblings():
    t = Topology.from_system(system(2, 88, 2, 164_000_000))
    assert len(t.logical_cpus) == 352 and t.physical_cores == 176 and t.smt
    first = t.spread_cpus(2)
    assert {t.cores[[c[0] for c in t.cores].index(x)][0] for x in first} == set(first)
    pk = {c: i for i, p in enumerate(t.packages) for c in p}
    assert pk[first[0]] != pk[first[1]]  # spread: one per socket first
    assert len(set(t.spread_cpus(176))) == 176 and max(t.spread_cpus(176)) < 176  # no sibling yet
    assert t.spread_cpus(352)[-1] >= 176  # siblings come last
    assert t.llc_bytes(t.packages[0]) == 164_000_000
    assert t.llc_bytes() == 2 * 164_000_000


def test_close_fills_cores_in_order():
    t = Topology.from_system(system(2, 64, 1, 256 << 20))
    assert t.close_cpus(3) == (0, 1, 2)
    with pytest.raises(ValueError):
        t.close_cpus(129)


def test_missing_topology_falls_back_to_cpu_count():
    t = Topology.from_system({"logical_cpus": 2})
    assert t.physical_cores == 2 and t.llc_bytes() == 0
