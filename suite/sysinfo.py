"""What machine is this? The `system` block of every result file.

`collect(root="/")` reads everything about the hardware and kernel from
files below `root` (proc/cpuinfo, proc/meminfo, sys/devices/system/...), so
tests run the same code on fixture trees of machines we do not have. A file
that is missing or unreadable gives null, never an exception.

Facts about the running interpreter (software versions, compilers, the
LLVM target Numba compiles for, the kernel's view of this process under
emulation) come from the live machine; they are collected only when
`live` is true (the default for root "/"), in the `collect_*_live`
functions.

Small `collect_*` functions, one per block, in the manner of pyperf's
`pyperf._collect_metadata`.
"""
from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any, Iterable

from suite import cpuparts

# -- warning thresholds --------------------------------------------------
# 1-minute load average per logical CPU above which the machine is "busy":
# a quarter of the CPUs already occupied by someone else shifts all-core
# results by about that much. pyperf's `system tune` likewise refuses to
# trust a loaded machine; its threshold is not published as a number.
BUSY_LOAD_PER_CPU = 0.25
# MemAvailable below this fraction of MemTotal: large STREAM arrays would
# push the machine into reclaim (the kernel's own low watermarks sit far
# lower, so this is a margin for the benchmark, not a kernel limit).
LOW_MEMORY_FRACTION = 0.10

# How long a compiler gets to print its version.
COMPILER_VERSION_TIMEOUT_S = 5.0


# -- reading below a root ------------------------------------------------
def _path(root: str, rel: str) -> str:
    return os.path.join(root, rel.lstrip("/"))


def read_text(root: str, rel: str) -> str | None:
    """Stripped contents of root/rel, or None when it cannot be read."""
    try:
        with open(_path(root, rel), encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except (OSError, ValueError):
        return None


def read_int(root: str, rel: str) -> int | None:
    text = read_text(root, rel)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def parse_cpulist(text: str | None) -> list:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11]; None/'' -> []."""
    cpus: list = []
    for part in (text or "").strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            cpus.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            return []
    return cpus


def parse_size(text: str | None) -> int | None:
    """sysfs cache sizes ('48K', '1024K', '117M') -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", text or "", re.IGNORECASE)
    if not m:
        return None
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    return int(m.group(1)) * scale


# -- /proc/cpuinfo -------------------------------------------------------
def parse_cpuinfo(text: str | None) -> list:
    """One dict per processor block of /proc/cpuinfo (keys as written)."""
    blocks: list = []
    current: dict = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if current:
                blocks.append(current)
                current = {}
            continue
        current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    # Trailing machine-wide lines (older Arm kernels print "Hardware" after
    # the processor blocks) belong to no processor.
    return [b for b in blocks if "processor" in b] or blocks


def cpuinfo_arch(blocks: list) -> str | None:
    """The architecture /proc/cpuinfo describes, from its field names."""
    first = blocks[0] if blocks else {}
    if "CPU implementer" in first or "Features" in first:
        return "aarch64"
    if "vendor_id" in first or "flags" in first:
        return "x86_64"
    return None


def collect_cpu_identity(root: str, live: bool) -> dict:
    """arch, vendor, model name, flags and Arm MIDR fields; plus
    `emulation` when the running interpreter's architecture is not the
    one /proc/cpuinfo describes (qemu-user)."""
    blocks = parse_cpuinfo(read_text(root, "proc/cpuinfo"))
    first = blocks[0] if blocks else {}
    described = cpuinfo_arch(blocks)
    running = _normalize_arch(platform.machine()) if live else None
    arch = running or described
    emulation = None
    if running and described and running != described:
        # qemu-user before 8.2 passes the host's /proc/cpuinfo through: the
        # file describes the host, the process runs emulated code.
        emulation = {"kind": os.environ.get("FACTORYBENCH_EMULATED") or "qemu-user",
                     "host_arch": described}
        first = {}
    flags = (first.get("flags") or first.get("Features") or "").split()
    implementer = cpuparts.parse_hex(first.get("CPU implementer"))
    part = cpuparts.parse_hex(first.get("CPU part"))
    features_source = "cpuinfo" if flags else None
    if arch == "aarch64" and not flags and live:
        flags = hwcap_features_live()
        features_source = "hwcap" if flags else None
    if arch == "aarch64":
        vendor = cpuparts.implementer_name(implementer)
        pname = cpuparts.part_name(implementer, part)
        model = first.get("model name") or (f"{vendor} {pname}" if vendor and pname else None)
    else:
        vendor = first.get("vendor_id")
        pname = None
        model = first.get("model name")
    return {
        "arch": arch,
        "vendor": vendor,
        "model_name": model,
        "cpu_implementer": f"0x{implementer:02x}" if implementer is not None else None,
        "cpu_part": f"0x{part:03x}" if part is not None else None,
        "cpu_part_name": pname,
        "flags": sorted(set(flags)),
        "features_source": features_source,
        "emulation": emulation,
        "cpuinfo_blocks": blocks,
    }


def _normalize_arch(machine: str) -> str:
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(machine.lower(), machine.lower())


# Linux arm64 HWCAP / HWCAP2 bit -> /proc/cpuinfo feature name
# (arch/arm64/include/uapi/asm/hwcap.h).
_HWCAP_NAMES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
    "asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm "
    "dit uscat ilrcpc flagm ssbs sb paca pacg"
).split()
_HWCAP2_NAMES = (
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint "
    "svei8mm svef32mm svef64mm svebf16 i8mm bf16 dgh rng bti mte"
).split()
_AT_HWCAP, _AT_HWCAP2 = 16, 26


def hwcap_features_live() -> list:
    """aarch64 feature names from this process's auxiliary vector.

    Used when /proc/cpuinfo has no Features line (qemu-user shows the
    host's file); the auxv is what the emulated CPU really offers.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.getauxval.restype = ctypes.c_ulong
        libc.getauxval.argtypes = (ctypes.c_ulong,)
        hwcap, hwcap2 = libc.getauxval(_AT_HWCAP), libc.getauxval(_AT_HWCAP2)
    except (OSError, AttributeError):
        return []
    names = [n for i, n in enumerate(_HWCAP_NAMES) if hwcap >> i & 1]
    names += [n for i, n in enumerate(_HWCAP2_NAMES) if hwcap2 >> i & 1]
    return names


# -- topology ------------------------------------------------------------
_CPU_DIR = "sys/devices/system/cpu"


def online_cpus(root: str, cpuinfo_blocks: list) -> list:
    cpus = parse_cpulist(read_text(root, f"{_CPU_DIR}/online"))
    if cpus:
        return cpus
    found = sorted(
        int(m.group(1))
        for p in glob.glob(_path(root, f"{_CPU_DIR}/cpu[0-9]*"))
        if (m := re.search(r"cpu(\d+)$", p))
    )
    if found:
        return found
    return sorted(int(b["processor"]) for b in cpuinfo_blocks if b.get("processor", "").isdigit())


def _node_of_cpus(root: str) -> dict:
    nodes: dict = {}
    for p in glob.glob(_path(root, "sys/devices/system/node/node[0-9]*")):
        node = int(re.search(r"node(\d+)$", p).group(1))
        for cpu in parse_cpulist(read_text(p, "cpulist")):
            nodes[cpu] = node
    return nodes


def collect_cpus(root: str, cpuinfo_blocks: list) -> list:
    """[{cpu, core, package, node}] per online logical CPU."""
    node_of = _node_of_cpus(root)
    by_processor = {b.get("processor"): b for b in cpuinfo_blocks}
    cpus = []
    for cpu in online_cpus(root, cpuinfo_blocks):
        topo = f"{_CPU_DIR}/cpu{cpu}/topology"
        core = read_int(root, f"{topo}/core_id")
        package = read_int(root, f"{topo}/physical_package_id")
        block = by_processor.get(str(cpu), {})
        if core is None and block.get("core id", "").isdigit():
            core = int(block["core id"])
        if package is None and block.get("physical id", "").isdigit():
            package = int(block["physical id"])
        # Some Arm firmware reports package -1 (no socket information).
        package = 0 if package is None or package < 0 else package
        cpus.append({
            "cpu": cpu,
            "core": cpu if core is None or core < 0 else core,
            "package": package,
            "node": node_of.get(cpu, 0),
        })
    return cpus


def summarize_cpus(cpus: list) -> dict:
    cores = {(c["package"], c["core"]) for c in cpus}
    per_core: dict = {}
    for c in cpus:
        per_core[(c["package"], c["core"])] = per_core.get((c["package"], c["core"]), 0) + 1
    threads = max(per_core.values(), default=1)
    return {
        "physical_cores": len(cores) or None,
        "logical_cpus": len(cpus) or None,
        "sockets": len({c["package"] for c in cpus}) or None,
        "smt": threads > 1,
        "threads_per_core": threads,
    }


def collect_numa_nodes(root: str) -> list:
    nodes = []
    paths = glob.glob(_path(root, "sys/devices/system/node/node[0-9]*"))
    for p in sorted(paths, key=lambda p: int(re.search(r"(\d+)$", p).group(1))):
        node = int(re.search(r"node(\d+)$", p).group(1))
        total = None
        for line in (read_text(p, "meminfo") or "").splitlines():
            # "Node 0 MemTotal:       24731708 kB"
            m = re.match(r"Node\s+\d+\s+MemTotal:\s+(\d+)\s*kB", line)
            if m:
                total = int(m.group(1)) * 1024
        nodes.append({"node": node, "cpus": parse_cpulist(read_text(p, "cpulist")),
                      "memory_total_bytes": total})
    return nodes


def collect_caches(root: str, cpus: Iterable[int]) -> list:
    """One entry per cache instance, from sysfs cache/index*."""
    seen: dict = {}
    for cpu in cpus:
        for idx in sorted(glob.glob(_path(root, f"{_CPU_DIR}/cpu{cpu}/cache/index[0-9]*"))):
            level = read_int(idx, "level")
            ctype = read_text(idx, "type")
            if level is None or ctype is None:
                continue
            shared = parse_cpulist(read_text(idx, "shared_cpu_list")) or [cpu]
            key = (level, ctype, tuple(shared))
            if key in seen:
                continue
            seen[key] = {
                "level": level,
                "type": ctype,
                "size_bytes": parse_size(read_text(idx, "size")),
                "line_size": read_int(idx, "coherency_line_size"),
                "cpus": shared,
            }
    order = {"Data": 0, "Instruction": 1, "Unified": 2}
    return sorted(seen.values(), key=lambda c: (c["level"], order.get(c["type"], 3), c["cpus"]))


def llc_fallback(caches: list, ident: dict, first_block: dict, cpus: list) -> tuple:
    """(cache entries, warnings) for a machine whose sysfs lists no sized
    cache past L2: one last-level entry per socket from the Arm part table
    or, on Intel, cpuinfo's "cache size" (the LLC per package there; on AMD
    it is the L2). Without either, no entry and a warning: planners then
    use a 1 GiB floor (kernels.plans.UNKNOWN_LLC_ARRAY_BYTES)."""
    listed = [c for c in caches if c.get("size_bytes") and c.get("type") != "Instruction"]
    if any(c["level"] >= 3 for c in listed):
        return [], []
    largest = max((c["size_bytes"] for c in listed), default=0)
    size = cpuparts.llc_bytes(cpuparts.parse_hex(ident.get("cpu_implementer")),
                              cpuparts.parse_hex(ident.get("cpu_part")))
    source = f"cpuparts table ({ident.get('cpu_part_name')})"
    if size is None and ident.get("vendor") == "GenuineIntel":
        size, source = parse_size((first_block.get("cache size") or "").replace(" ", "")), \
            "/proc/cpuinfo cache size"
    if not size or size <= largest:
        if listed:
            return [], []  # L1/L2 known; the last one listed is the LLC
        return [], ["no cache sizes in sysfs, nor a known part: last-level cache unknown; "
                    "STREAM arrays and latency working sets use a 1 GiB floor"]
    by_pkg: dict = {}
    for c in cpus:
        by_pkg.setdefault(c.get("package") or 0, []).append(c["cpu"])
    entries = [{"level": 3, "type": "Unified", "size_bytes": size, "line_size": None,
                "cpus": sorted(members), "source": source}
               for _, members in sorted(by_pkg.items())]
    return entries, [f"no last-level cache in sysfs: {size / 2**20:.0f} MiB per socket "
                     f"taken from the {source}"]


# -- memory, pages, THP ---------------------------------------------------
def collect_memory(root: str) -> dict:
    fields: dict = {}
    for line in (read_text(root, "proc/meminfo") or "").splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            fields[m.group(1)] = int(m.group(2)) * 1024
    return {"total_bytes": fields.get("MemTotal"), "available_bytes": fields.get("MemAvailable")}


def collect_page_size(root: str, live: bool) -> int | None:
    """Base page size: 4 KiB on x86, 4 or 64 KiB on Arm servers (64K
    kernels raise TLB reach and move the latency curve's knees)."""
    try:
        with open(_path(root, "proc/self/smaps"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("KernelPageSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if live:
        try:
            return os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            return None
    return None


def _bracketed(text: str | None) -> str | None:
    """'always [madvise] never' -> 'madvise'."""
    m = re.search(r"\[([^\]]+)\]", text or "")
    return m.group(1) if m else (text or None)


def collect_thp(root: str) -> dict:
    base = "sys/kernel/mm/transparent_hugepage"
    return {"enabled": _bracketed(read_text(root, f"{base}/enabled")),
            "defrag": _bracketed(read_text(root, f"{base}/defrag"))}


# -- ISA -------------------------------------------------------------------
def collect_isa(root: str, flags: list, live: bool) -> dict:
    have = set(flags)
    sve = "sve" in have
    vector_length = None
    if sve:
        vector_length = sve_vector_length_live() if live else None
        if vector_length is None:
            vector_length = read_int(root, "proc/sys/abi/sve_default_vector_length")
        if vector_length is not None and vector_length <= 0:
            vector_length = None
    return {
        "flags": sorted(have),
        "asimd": "asimd" in have,
        "sve": sve,
        "sve2": "sve2" in have,
        "sve_vector_length_bytes": vector_length,
        "avx2": "avx2" in have,
        "avx512f": "avx512f" in have,
    }


_PR_SVE_GET_VL = 51
_PR_SVE_VL_LEN_MASK = 0xFFFF


def sve_vector_length_live() -> int | None:
    """This process's SVE vector length in bytes (prctl), or None."""
    if _normalize_arch(platform.machine()) != "aarch64":
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        value = libc.prctl(_PR_SVE_GET_VL, 0, 0, 0, 0)
    except (OSError, AttributeError):
        return None
    return value & _PR_SVE_VL_LEN_MASK if value > 0 else None


# -- frequency, kernel, OS, virtualization --------------------------------
def collect_frequency(root: str, cpus: list) -> dict:
    cpu = cpus[0] if cpus else 0
    base = f"{_CPU_DIR}/cpu{cpu}/cpufreq"
    khz_min = read_int(root, f"{base}/cpuinfo_min_freq")
    khz_max = read_int(root, f"{base}/cpuinfo_max_freq")
    return {
        "driver": read_text(root, f"{base}/scaling_driver"),
        "governor": read_text(root, f"{base}/scaling_governor"),
        "min_mhz": khz_min / 1000.0 if khz_min else None,
        "max_mhz": khz_max / 1000.0 if khz_max else None,
    }


def collect_os(root: str) -> str | None:
    text = read_text(root, "etc/os-release") or read_text(root, "usr/lib/os-release")
    for line in (text or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return None


# DMI sys_vendor/product_name fragments -> hypervisor.
_DMI_HYPERVISORS = (
    ("KVM", "kvm"), ("QEMU", "qemu"), ("VMware", "vmware"), ("VirtualBox", "virtualbox"),
    ("Xen", "xen"), ("Microsoft Corporation", "hyperv"), ("Amazon EC2", "kvm"),
    ("Google Compute Engine", "kvm"), ("OpenStack", "kvm"), ("Parallels", "parallels"),
    ("Bochs", "bochs"), ("BHYVE", "bhyve"),
)


def collect_virtualization(root: str, host_flags: list) -> str | None:
    """Hypervisor name, 'vm' when one is present but unnamed, None when no
    sign of one is found. `host_flags` are the flags of /proc/cpuinfo (x86
    guests see the 'hypervisor' flag)."""
    vendor = read_text(root, "sys/class/dmi/id/sys_vendor") or ""
    product = read_text(root, "sys/class/dmi/id/product_name") or ""
    if product.endswith(".metal"):
        return None  # a cloud vendor's bare-metal instance keeps its DMI vendor
    dmi = f"{vendor} {product}".lower()
    for fragment, name in _DMI_HYPERVISORS:
        if fragment.lower() in dmi:
            return name
    hv_type = read_text(root, "sys/hypervisor/type")
    if hv_type:
        return hv_type
    if "hypervisor" in host_flags:
        return "vm"
    return None


def collect_container(root: str) -> str | None:
    if os.path.exists(_path(root, ".dockerenv")):
        return "docker"
    if os.path.exists(_path(root, "run/.containerenv")):
        return "podman"
    environ = read_text(root, "proc/1/environ") or ""
    m = re.search(r"(?:^|\x00)container=([^\x00]+)", environ)
    if m:
        return m.group(1)
    cgroup = read_text(root, "proc/1/cgroup") or ""
    for marker, name in (("kubepods", "kubernetes"), ("docker", "docker"),
                         ("containerd", "containerd"), ("lxc", "lxc")):
        if marker in cgroup:
            return name
    return None


def collect_load(root: str) -> float | None:
    text = read_text(root, "proc/loadavg")
    try:
        return float(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


# -- live-only: software and the Numba JIT target -------------------------
def collect_software_live() -> dict:
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "numba": version("numba"),
        "llvmlite": version("llvmlite"),
        "numpy": version("numpy"),
        "archspec": version("archspec"),
        "compilers": collect_compilers_live(),
        "runtimes": collect_runtimes_live(),
    }


def collect_compilers_live(names: Iterable[str] = ("gcc", "clang", "cc")) -> list:
    """[{name, path, version}] for each C compiler on PATH."""
    return _versions_live(names, "--version")


def collect_runtimes_live() -> list:
    """[{name, path, version}] for the JVM and Node.js on PATH."""
    return _versions_live(("java",), "-version") + _versions_live(("node",), "--version")


def _versions_live(names: Iterable[str], flag: str) -> list:
    """[{name, path, version}] for each of `names` on PATH: the first line
    `name flag` prints (on stdout, or stderr as java does)."""
    found = []
    for name in names:
        path = shutil.which(name)
        if not path:
            continue
        version = None
        try:
            out = subprocess.run([path, flag], capture_output=True, text=True,
                                 timeout=COMPILER_VERSION_TIMEOUT_S)
            lines = (out.stdout or out.stderr).splitlines()
            version = lines[0].strip() if lines else None
        except (OSError, subprocess.SubprocessError):
            pass
        found.append({"name": name, "path": os.path.realpath(path), "version": version})
    return found


def collect_numba_target_live() -> dict:
    """The LLVM CPU name and features Numba's JIT generates code for.

    NUMBA_CPU_NAME / NUMBA_CPU_FEATURES override the host's (numba's
    config reads exactly these variables), and change the machine code, so
    both the host's values and any override are recorded.
    """
    override_name = os.environ.get("NUMBA_CPU_NAME") or None
    override_features = os.environ.get("NUMBA_CPU_FEATURES") or None
    host_name = host_features = None
    try:
        import llvmlite.binding as llvm

        host_name = llvm.get_host_cpu_name()
        host_features = llvm.get_host_cpu_features().flatten()
    except Exception:  # noqa: BLE001 - llvmlite missing or unable to ask the host
        pass
    enabled = sorted(f[1:] for f in (host_features or "").split(",") if f.startswith("+"))
    return {
        "cpu_name": override_name or host_name,
        "features": override_features or ",".join("+" + f for f in enabled) or None,
        "host_cpu_name": host_name,
        "overridden": bool(override_name or override_features),
    }


# -- warnings --------------------------------------------------------------
def system_warnings(info: dict, load: float | None) -> list:
    out = []
    emulation = info.get("emulation")
    if emulation:
        out.append(f"running under {emulation['kind']} emulation of {info.get('arch')} on a "
                   f"{emulation['host_arch']} host: timings are meaningless")
    governor = (info.get("frequency") or {}).get("governor")
    if governor and governor != "performance":
        out.append(f"CPU frequency governor is {governor!r}, not 'performance': "
                   "clock ramps add variance")
    if info.get("virtualization"):
        out.append(f"virtual machine ({info['virtualization']}): noisy neighbours and "
                   "virtualized memory paging can shift results")
    cpus = info.get("logical_cpus") or 0
    if load is not None and cpus and load / cpus > BUSY_LOAD_PER_CPU:
        out.append(f"busy machine: 1-minute load average {load:.2f} on {cpus} CPUs")
    thp = (info.get("thp") or {}).get("enabled")
    if thp and thp != "madvise":
        # numpy madvise()s large arrays for huge pages; 'never' denies them,
        # 'always' gives them to every process.
        out.append(f"transparent hugepages {thp!r} (common default 'madvise'): page size "
                   "behind large arrays differs, compare with runs of the same setting")
    mem = info.get("memory") or {}
    if mem.get("total_bytes") and mem.get("available_bytes") is not None:
        if mem["available_bytes"] < LOW_MEMORY_FRACTION * mem["total_bytes"]:
            out.append(f"low free memory: {mem['available_bytes'] / 2**30:.1f} GiB available of "
                       f"{mem['total_bytes'] / 2**30:.1f} GiB")
    return out


# -- everything ------------------------------------------------------------
def collect(root: str = "/", live: bool | None = None) -> dict:
    """The system dict (docs/architecture.md, "The system dict").

    `live` (default: root is "/") adds what only the running machine can
    tell: software versions, compilers, Numba's target CPU, SVE vector
    length via prctl, emulation. With a fixture root those are null.
    """
    live = (os.path.abspath(root) == "/") if live is None else live
    ident = collect_cpu_identity(root, live)
    blocks = ident.pop("cpuinfo_blocks")
    flags = ident.pop("flags")
    features_source = ident.pop("features_source")
    cpus = collect_cpus(root, blocks)
    caches = collect_caches(root, [c["cpu"] for c in cpus])
    llc_entries, llc_warnings = llc_fallback(caches, ident, blocks[0] if blocks else {}, cpus)
    caches += llc_entries
    info: dict = {
        "hostname": read_text(root, "proc/sys/kernel/hostname") or (platform.node() if live else None),
        **{k: ident[k] for k in ("arch", "vendor", "model_name")},
        "microarchitecture": cpuparts.microarchitecture(
            ident["arch"], vendor_id=ident["vendor"], features=flags,
            implementer=cpuparts.parse_hex(ident["cpu_implementer"]),
            part=cpuparts.parse_hex(ident["cpu_part"])),
        **{k: ident[k] for k in ("cpu_implementer", "cpu_part", "cpu_part_name")},
        **summarize_cpus(cpus),
        "cpus": cpus,
        "numa_nodes": collect_numa_nodes(root),
        "caches": caches,
        "memory": collect_memory(root),
        "page_size_bytes": collect_page_size(root, live),
        "thp": collect_thp(root),
        "isa": {**collect_isa(root, flags, live), "source": features_source},
        "frequency": collect_frequency(root, [c["cpu"] for c in cpus]),
        "kernel": read_text(root, "proc/sys/kernel/osrelease"),
        "os": collect_os(root),
        "virtualization": collect_virtualization(root, (blocks[0] if blocks else {}).get("flags", "").split()),
        "container": collect_container(root),
        "emulation": ident["emulation"],
        "software": collect_software_live() if live else None,
        "numba_target": collect_numba_target_live() if live else None,
    }
    info["warnings"] = system_warnings(info, collect_load(root)) + llc_warnings
    return info


def main() -> None:  # python -m suite.sysinfo [ROOT]: a quick look
    import json

    print(json.dumps(collect(sys.argv[1] if len(sys.argv) > 1 else "/"), indent=2))


if __name__ == "__main__":
    main()
