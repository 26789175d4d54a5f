"""suite.sysinfo on fixture trees of published machines and on this host."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

from suite import cpuparts, sysinfo
from suite.topology import Topology
from tests.fixtures import trees

KIB, MIB = 1024, 1024 * 1024

SCHEMA_KEYS = {
    "hostname", "arch", "vendor", "model_name", "microarchitecture", "cpu_implementer",
    "cpu_part", "cpu_part_name", "physical_cores", "logical_cpus", "sockets", "smt",
    "threads_per_core", "cpus", "numa_nodes", "caches", "memory", "page_size_bytes", "thp",
    "isa", "frequency", "kernel", "os", "virtualization", "container", "software",
    "numba_target", "warnings",
}


@pytest.fixture(scope="module")
def machine():
    """collect() of each fixture machine, built once per module."""
    cache: dict = {}

    def get(name: str, **kwargs) -> dict:
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            if kwargs:
                root = trees.MACHINES[name](trees.scratch_dir(), **kwargs)
            else:
                root = trees.shared_root(name)
            cache[key] = sysinfo.collect(str(root))
        return cache[key]

    return get


def _cache(info: dict, level: int, ctype: str) -> list:
    return [c for c in info["caches"] if c["level"] == level and c["type"] == ctype]


def test_fixture_dict_has_every_schema_key_and_no_live_facts(machine):
    info = machine("grace")
    assert SCHEMA_KEYS <= set(info)
    # A fixture root does not describe the running interpreter.
    assert info["software"] is None and info["numba_target"] is None
    json.dumps(info)  # the results file must be able to hold it


def test_grace_is_aarch64_neoverse_v2_with_sve2(machine):
    info = machine("grace")
    assert info["arch"] == "aarch64"
    assert info["microarchitecture"] == {"name": "neoverse_v2", "vendor": "ARM", "source": "archspec"}
    assert (info["cpu_implementer"], info["cpu_part"]) == ("0x41", "0xd4f")
    assert info["cpu_part_name"] == "Neoverse-V2"
    assert info["vendor"] == "ARM" and info["model_name"] == "ARM Neoverse-V2"
    assert info["isa"]["sve"] and info["isa"]["sve2"] and info["isa"]["asimd"]
    assert not info["isa"]["avx2"] and not info["isa"]["avx512f"]
    assert info["isa"]["sve_vector_length_bytes"] == 16
    assert (info["logical_cpus"], info["physical_cores"], info["sockets"]) == (72, 72, 1)
    assert info["smt"] is False and info["threads_per_core"] == 1


def test_grace_caches_per_instance(machine):
    info = machine("grace")
    l1d, l2, l3 = _cache(info, 1, "Data"), _cache(info, 2, "Unified"), _cache(info, 3, "Unified")
    assert len(l1d) == 72 and {c["size_bytes"] for c in l1d} == {64 * KIB}
    assert len(l2) == 72 and {c["size_bytes"] for c in l2} == {1 * MIB}
    assert len(l3) == 1 and l3[0]["size_bytes"] == 117 * MIB and len(l3[0]["cpus"]) == 72
    assert all(c["line_size"] == 64 for c in info["caches"])


def test_grace_frequency_and_pages(machine):
    info = machine("grace")
    assert info["frequency"] == {"driver": "cppc_cpufreq", "governor": "performance",
                                 "min_mhz": 81.0, "max_mhz": 3438.0}
    assert info["page_size_bytes"] == 4 * KIB
    assert machine("grace", page_kib=64)["page_size_bytes"] == 64 * KIB
    assert info["warnings"] == []


def test_vera_like_smt_and_nvidia_part(machine):
    info = machine("vera_like")
    assert (info["logical_cpus"], info["physical_cores"], info["threads_per_core"]) == (176, 88, 2)
    assert info["smt"] is True
    assert info["cpu_implementer"] == "0x4e" and info["cpu_part_name"] == "Olympus"
    assert info["vendor"] == "NVIDIA"
    assert info["microarchitecture"]["name"] == "olympus"
    assert {c["size_bytes"] for c in _cache(info, 2, "Unified")} == {2 * MIB}
    l3 = _cache(info, 3, "Unified")
    assert len(l3) == 1 and l3[0]["size_bytes"] == 164 * MIB
    # SMT siblings share their core's L2.
    first_l2 = next(c for c in _cache(info, 2, "Unified") if 0 in c["cpus"])
    assert first_l2["cpus"] == [0, 88]


def test_two_vera_numa_and_sockets(machine):
    info = machine("two_vera")
    assert (info["logical_cpus"], info["physical_cores"], info["sockets"]) == (352, 176, 2)
    assert [n["node"] for n in info["numa_nodes"]] == [0, 1]
    assert all(len(n["cpus"]) == 176 for n in info["numa_nodes"])
    assert sum(n["memory_total_bytes"] for n in info["numa_nodes"]) == info["memory"]["total_bytes"]
    assert len(_cache(info, 3, "Unified")) == 2


def test_epyc_2s_x86_topology_and_warnings(machine):
    info = machine("epyc_2s")
    assert info["arch"] == "x86_64" and info["vendor"] == "AuthenticAMD"
    assert info["microarchitecture"]["name"] == "zen4"
    assert info["cpu_implementer"] is None and info["cpu_part_name"] is None
    assert (info["logical_cpus"], info["physical_cores"], info["sockets"]) == (256, 128, 2)
    assert info["isa"]["avx512f"] and info["isa"]["avx2"] and not info["isa"]["sve"]
    assert len(_cache(info, 3, "Unified")) == 16  # one 32 MiB L3 per 8-core CCD
    joined = " ".join(info["warnings"])
    assert "governor is 'schedutil'" in joined and "transparent hugepages 'always'" in joined
    assert info["thp"] == {"enabled": "always", "defrag": "madvise"}
    assert info["virtualization"] is None


def test_this_like_x86_is_a_vm(machine):
    info = machine("this_like_x86")
    assert info["virtualization"] == "vm"
    assert any("virtual machine" in w for w in info["warnings"])
    assert {c["size_bytes"] for c in _cache(info, 1, "Data")} == {48 * KIB}
    assert info["os"] == "Debian GNU/Linux 12 (bookworm)"
    assert info["frequency"]["governor"] is None  # no cpufreq in a VM: null, no warning


def test_topology_from_fixture_dicts(machine):
    grace = Topology.from_system(machine("grace"))
    assert grace.llc_bytes() == 117 * MIB and grace.cache_size(2) == 1 * MIB
    vera = Topology.from_system(machine("vera_like"))
    assert vera.physical_cores == 88 and vera.smt
    assert vera.llc_bytes() == 164 * MIB


def test_empty_root_gives_nulls_not_errors(tmp_path):
    info = sysinfo.collect(str(tmp_path))
    assert SCHEMA_KEYS <= set(info)
    assert info["arch"] is None and info["logical_cpus"] is None
    assert info["cpus"] == [] and info["caches"] == [] and info["numa_nodes"] == []
    assert info["memory"] == {"total_bytes": None, "available_bytes": None}
    assert info["microarchitecture"]["name"] is None
    Topology.from_system(info)  # planners still get a (1-CPU) topology


def test_partial_tree_missing_cache_files():
    tmp_path = trees.grace(trees.scratch_dir())
    for idx in tmp_path.glob("sys/devices/system/cpu/cpu*/cache/index3/size"):
        idx.unlink()
    (tmp_path / "proc/meminfo").unlink()
    info = sysinfo.collect(str(tmp_path))
    l3 = _cache(info, 3, "Unified")
    assert l3 and l3[0]["size_bytes"] is None
    assert info["memory"]["total_bytes"] is None
    Topology.from_system(info)  # a cache without size is left out, not a crash


def test_busy_and_low_memory_warnings(tmp_path):
    trees.build_tree(
        tmp_path, cpus=trees.smt_cpus(1, 4, 1),
        cpuinfo_block=trees._arm_block("fp asimd", "0x41", "0xd0c"),
        caches=[], memory_bytes=16 * 2**30, available_bytes=2**30, hostname="small",
        loadavg="3.50 1.0 0.5 2/100 7", thp="always madvise [never]",
    )
    info = sysinfo.collect(str(tmp_path))
    joined = " ".join(info["warnings"])
    assert "busy machine: 1-minute load average 3.50 on 4 CPUs" in joined
    assert "low free memory" in joined
    assert "transparent hugepages 'never'" in joined
    assert info["microarchitecture"]["name"] == "neoverse_n1"


def test_parsers():
    assert sysinfo.parse_cpulist("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert sysinfo.parse_cpulist("") == [] and sysinfo.parse_cpulist(None) == []
    assert sysinfo.parse_size("48K") == 48 * KIB
    assert sysinfo.parse_size("117M") == 117 * MIB
    assert sysinfo.parse_size("junk") is None
    assert sysinfo._bracketed("always [madvise] never") == "madvise"


@pytest.mark.skipif(platform.system() != "Linux", reason="reads Linux /proc and /sys")
def test_live_collect_is_fast_and_describes_this_host():
    import time

    t0 = time.perf_counter()
    info = sysinfo.collect()
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0  # budget 1 s; margin for a noisy shared machine
    assert info["logical_cpus"] == os.cpu_count()
    assert info["arch"] == platform.machine()
    assert info["software"]["python"] == platform.python_version()
    assert info["numba_target"]["cpu_name"]
    assert info["page_size_bytes"] == os.sysconf("SC_PAGE_SIZE")
    Topology.from_system(info)


def test_numba_target_records_override(monkeypatch):
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    target = sysinfo.collect_numba_target_live()
    assert target["cpu_name"] == "generic" and target["overridden"] is True
    assert target["host_cpu_name"]  # the host's own name is kept beside it


def test_emulation_detected_when_cpuinfo_describes_another_arch(tmp_path, monkeypatch):
    trees.this_like_x86(tmp_path)  # host's /proc/cpuinfo, as qemu-user < 8.2 shows it
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(sysinfo, "hwcap_features_live", lambda: ["fp", "asimd", "sve", "sve2"])
    monkeypatch.setattr(sysinfo, "sve_vector_length_live", lambda: 16)
    ident = sysinfo.collect_cpu_identity(str(tmp_path), live=True)
    assert ident["arch"] == "aarch64"
    assert ident["emulation"]["host_arch"] == "x86_64"
    assert ident["features_source"] == "hwcap" and "sve2" in ident["flags"]
    assert ident["vendor"] is None  # no MIDR under emulation: unknown, not invented


@pytest.mark.skipif(not Path("/sys/devices/system/cpu/cpu0/cache").is_dir(),
                    reason="no sysfs cache information on this host")
def test_live_caches_match_sysfs():
    info = sysinfo.collect()
    levels = {(c["level"], c["type"]) for c in info["caches"]}
    assert (1, "Data") in levels


def test_part_table_beyond_archspec():
    # Parts archspec has no target for are still named from the table.
    assert cpuparts.part_name(0x41, 0xD8E) == "Neoverse-N3"
    assert cpuparts.part_name(0x4E, 0x004) == "Carmel"
    assert cpuparts.part_name(0x41, 0xFFF) is None
    uarch = cpuparts.microarchitecture("aarch64", features={"fp", "asimd"},
                                       implementer=0x41, part=0xD8E)
    assert uarch == {"name": "neoverse_n3", "vendor": "ARM", "source": "cpuparts"}


def _cacheless(tmp_path, block):
    trees.build_tree(tmp_path, cpus=trees.smt_cpus(1, 4, 1), cpuinfo_block=block, caches=[],
                     memory_bytes=64 * 2**30, available_bytes=60 * 2**30, hostname="vm")
    return sysinfo.collect(str(tmp_path))


def test_no_caches_in_sysfs_takes_the_llc_from_the_part_table(tmp_path):
    from kernels import plans
    info = _cacheless(tmp_path, trees._arm_block(trees.VERA_FEATURES, "0x4e", "0x010"))
    (llc,) = info["caches"]
    assert llc["size_bytes"] == 164 * MIB and llc["source"].startswith("cpuparts")
    assert any("no last-level cache in sysfs: 164 MiB" in w for w in info["warnings"])
    topo = Topology.from_system(info)
    assert plans.stream_array_elements(topo) * 8 == 4 * 164 * MIB
    assert "cpuparts" in plans.sizing_note(topo)


def test_no_caches_and_unknown_part_use_a_one_gib_floor_and_say_so(tmp_path):
    from kernels import plans
    block = trees._x86_block("AMD EPYC", "AuthenticAMD", 25, 17, trees.ZEN4_FLAGS, 4, 4)
    info = _cacheless(tmp_path, block)
    assert info["caches"] == []
    assert any("last-level cache unknown" in w and "1 GiB floor" in w for w in info["warnings"])
    topo = Topology.from_system(info)
    # Before: an LLC of 0 gave 8 MB arrays and 64 KiB chase buffers.
    assert plans.stream_array_elements(topo) * 8 >= 1 << 30
    assert plans.latency_max_bytes(topo, "quick") >= 1 << 30
    assert "unknown" in plans.sizing_note(topo)


def test_intel_without_sysfs_caches_uses_cpuinfo_cache_size(tmp_path):
    def block(cpu, core, package):
        return (trees._x86_block("Intel(R) Xeon(R)", "GenuineIntel", 6, 143, "fpu sse2", 4, 4)
                (cpu, core, package) + "cache size\t: 107520 KB\n")
    info = _cacheless(tmp_path, block)
    (llc,) = info["caches"]
    assert llc["size_bytes"] == 105 * MIB and "cpuinfo" in llc["source"]
