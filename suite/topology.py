"""CPU topology as the planners see it, built from a sysinfo dict.

Plans (thread sweeps, pinning, first-touch, array sizing) take a Topology
rather than reading the machine, so a 352-CPU Vera-like box can be planned
from a fixture on a 2-core laptop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Cache:
    level: int
    type: str  # Data | Instruction | Unified
    size_bytes: int
    cpus: tuple  # logical CPUs sharing this instance
    source: str = "sysfs"  # or the table sysinfo took it from (no caches in sysfs)


@dataclass(frozen=True)
class Topology:
    logical_cpus: tuple  # online logical CPU ids, ascending
    # One tuple of logical CPUs per physical core, ordered by (package, core).
    cores: tuple
    packages: tuple  # logical CPUs per socket
    numa_nodes: tuple  # logical CPUs per NUMA node
    caches: tuple  # Cache instances (each counted once)
    memory_total_bytes: int | None = None
    memory_available_bytes: int | None = None
    max_frequency_hz: float | None = None

    # -- construction -------------------------------------------------------
    @classmethod
    def from_system(cls, system: Mapping[str, Any]) -> "Topology":
        cpus = system.get("cpus") or []
        if not cpus:
            n = int(system.get("logical_cpus") or 1)
            cpus = [{"cpu": i, "core": i, "package": 0, "node": 0} for i in range(n)]
        by_core: dict = {}
        by_pkg: dict = {}
        by_node: dict = {}
        for c in cpus:
            pkg = c.get("package") or 0
            by_core.setdefault((pkg, c.get("core", c["cpu"])), []).append(c["cpu"])
            by_pkg.setdefault(pkg, []).append(c["cpu"])
            by_node.setdefault(c.get("node") or 0, []).append(c["cpu"])
        # Order cores by their first CPU so core k's primary thread is the
        # k-th CPU Linux enumerated (the usual "one per core first" layout).
        cores = sorted((tuple(sorted(v)) for v in by_core.values()), key=lambda t: t[0])
        caches = tuple(
            Cache(int(c["level"]), str(c.get("type", "Unified")), int(c["size_bytes"]),
                  tuple(c.get("cpus") or ()), str(c.get("source") or "sysfs"))
            for c in system.get("caches") or ()
            if c.get("size_bytes")
        )
        mem = system.get("memory") or {}
        freq = system.get("frequency") or {}
        return cls(
            logical_cpus=tuple(sorted(c["cpu"] for c in cpus)),
            cores=tuple(cores),
            packages=tuple(tuple(sorted(v)) for _, v in sorted(by_pkg.items())),
            numa_nodes=tuple(tuple(sorted(v)) for _, v in sorted(by_node.items())),
            caches=caches,
            memory_total_bytes=mem.get("total_bytes"),
            memory_available_bytes=mem.get("available_bytes"),
            max_frequency_hz=(freq["max_mhz"] * 1e6) if freq.get("max_mhz") else None,
        )

    # -- shape --------------------------------------------------------------
    @property
    def physical_cores(self) -> int:
        return len(self.cores)

    @property
    def threads_per_core(self) -> int:
        return max((len(c) for c in self.cores), default=1)

    @property
    def smt(self) -> bool:
        return self.threads_per_core > 1

    def primary_cpus(self) -> tuple:
        """First logical CPU of every physical core."""
        return tuple(c[0] for c in self.cores)

    def spread_cpus(self, n: int) -> tuple:
        """n logical CPUs, one per core, spread round-robin across NUMA nodes.

        Beyond the physical core count, SMT siblings are added in the same
        order. This is the OMP_PROC_BIND=spread placement over cores.
        """
        if n <= 0:
            raise ValueError("need at least one CPU")
        node_of = {cpu: i for i, node in enumerate(self.numa_nodes) for cpu in node}
        queues: dict = {}
        for core in self.cores:
            queues.setdefault(node_of.get(core[0], 0), []).append(core)
        order: list = []
        for depth in range(self.threads_per_core):
            lanes = [[c[depth] for c in q if len(c) > depth] for _, q in sorted(queues.items())]
            for i in range(max((len(l) for l in lanes), default=0)):
                order.extend(l[i] for l in lanes if i < len(l))
        if n > len(order):
            raise ValueError(f"{n} CPUs requested, {len(order)} available")
        return tuple(order[:n])

    def core_count(self, cpus: Iterable[int]) -> int:
        """Distinct physical cores among `cpus`."""
        core_of = {cpu: i for i, core in enumerate(self.cores) for cpu in core}
        return len({core_of.get(c, ("cpu", c)) for c in cpus})

    def node_of(self, cpu: int) -> int:
        """Index of the NUMA node holding `cpu` (0 when unknown)."""
        for i, node in enumerate(self.numa_nodes):
            if cpu in node:
                return i
        return 0

    def order_by_node(self, cpus: Iterable[int]) -> tuple:
        """`cpus` grouped by NUMA node, keeping their order within a node:
        thread k of a static schedule works on chunk k, so neighbouring
        chunks (and a huge page on a chunk boundary) stay on one node."""
        node_of = {cpu: i for i, node in enumerate(self.numa_nodes) for cpu in node}
        return tuple(sorted(cpus, key=lambda c: node_of.get(c, 0)))

    def close_cpus(self, n: int) -> tuple:
        """n logical CPUs, one per core, filling cores in enumeration order
        (OMP_PROC_BIND=close); SMT siblings after all primaries."""
        order = [c[d] for d in range(self.threads_per_core) for c in self.cores if len(c) > d]
        if n <= 0 or n > len(order):
            raise ValueError(f"{n} CPUs requested, {len(order)} available")
        return tuple(order[:n])

    # -- caches -------------------------------------------------------------
    def _data_caches(self, level: int) -> list:
        return [c for c in self.caches if c.level == level and c.type != "Instruction"]

    @property
    def llc_level(self) -> int | None:
        levels = [c.level for c in self.caches if c.type != "Instruction"]
        return max(levels) if levels else None

    def cache_size(self, level: int) -> int | None:
        """Size of one instance of a data/unified cache level (bytes)."""
        sizes = [c.size_bytes for c in self._data_caches(level)]
        return max(sizes) if sizes else None

    def cache_bytes(self, level: int, cpus: Iterable[int] | None = None) -> int:
        """Total bytes of the distinct instances of `level` that `cpus` use
        (all CPUs when None)."""
        wanted = set(self.logical_cpus if cpus is None else cpus)
        total = 0
        for c in self._data_caches(level):
            if not c.cpus or wanted & set(c.cpus):
                total += c.size_bytes
        return total

    @property
    def llc_source(self) -> str | None:
        """Where the last-level cache size came from (None when unknown)."""
        level = self.llc_level
        found = [c.source for c in self._data_caches(level)] if level is not None else []
        return found[0] if found else None

    def llc_bytes(self, cpus: Iterable[int] | None = None) -> int:
        """Total last-level cache of the CPUs in use (0 when unknown)."""
        level = self.llc_level
        return 0 if level is None else self.cache_bytes(level, cpus)
