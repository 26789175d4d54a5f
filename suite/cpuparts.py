"""Names for CPUs: Arm MIDR implementer/part tables and archspec naming.

On Arm, /proc/cpuinfo carries no model name, only the MIDR fields
"CPU implementer" and "CPU part". archspec names the microarchitecture from
the part and the feature list, but knows only some parts; the small table
here names the server parts it may not (newer Neoverse cores, NVIDIA,
Ampere), following util-linux's lscpu-arm.c and Arm's Technical Reference
Manuals (MIDR_EL1.PartNum).

`microarchitecture()` runs archspec's own selection on cpuinfo fields that
were read from any root, so a fixture tree of a Grace box is named
neoverse_v2 on an x86 laptop.
"""
from __future__ import annotations

import re
from typing import Iterable

# MIDR_EL1.Implementer -> vendor, for the vendors of server-class parts.
IMPLEMENTERS = {
    0x41: "ARM",
    0x42: "Broadcom",
    0x43: "Cavium",
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x50: "APM",
    0x51: "Qualcomm",
    0x61: "Apple",
    0xC0: "Ampere",
}

# (implementer, part) -> core name.
PARTS = {
    # Arm Neoverse (data-centre cores) and the Cortex cores seen in Arm servers
    # and developer boards.
    (0x41, 0xD08): "Cortex-A72",
    (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1",  # AWS Graviton2, Ampere Altra
    (0x41, 0xD40): "Neoverse-V1",  # AWS Graviton3
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4A): "Neoverse-E1",
    (0x41, 0xD4F): "Neoverse-V2",  # NVIDIA Grace, AWS Graviton4, Google Axion
    (0x41, 0xD83): "Neoverse-V3AE",
    (0x41, 0xD84): "Neoverse-V3",
    (0x41, 0xD8E): "Neoverse-N3",
    # NVIDIA's own cores (Grace uses Arm's Neoverse-V2 above).
    (0x4E, 0x000): "Denver",
    (0x4E, 0x003): "Denver 2",
    (0x4E, 0x004): "Carmel",
    (0x4E, 0x010): "Olympus",  # Vera
    # Ampere's own cores (Altra uses Arm's Neoverse-N1 above).
    (0xC0, 0xAC3): "Ampere-1",
    (0xC0, 0xAC4): "Ampere-1a",
    # Others seen in servers.
    (0x43, 0x0AF): "ThunderX2 99xx",
    (0x46, 0x001): "A64FX",
    (0x48, 0xD01): "TaiShan v110",  # Kunpeng 920
    (0x50, 0x000): "X-Gene",
}


_MIB = 1 << 20
# (implementer, part) -> the largest last-level cache per socket of the
# server chips built on that core (datasheets). Used only when sysfs lists
# no last-level cache (some VMs and containers): the largest known size
# errs towards arrays that are too big, never towards cache-resident ones.
LLC_BYTES = {
    (0x41, 0xD0C): 32 * _MIB,  # Neoverse-N1: Ampere Altra, AWS Graviton2
    (0x41, 0xD40): 32 * _MIB,  # Neoverse-V1: AWS Graviton3
    (0x41, 0xD4F): 117 * _MIB,  # Neoverse-V2: NVIDIA Grace
    (0x4E, 0x010): 164 * _MIB,  # Olympus: NVIDIA Vera
    (0xC0, 0xAC3): 64 * _MIB,  # Ampere-1: AmpereOne
    (0xC0, 0xAC4): 64 * _MIB,  # Ampere-1a: AmpereOne
}


def llc_bytes(implementer: int | None, part: int | None) -> int | None:
    """Last-level cache per socket for an Arm part in LLC_BYTES, else None."""
    if implementer is None or part is None:
        return None
    return LLC_BYTES.get((implementer, part))


def parse_hex(value: str | None) -> int | None:
    """'0x41' -> 65; None or garbage -> None."""
    if value is None:
        return None
    try:
        return int(str(value).strip(), 16)
    except ValueError:
        return None


def implementer_name(implementer: int | None) -> str | None:
    if implementer is None:
        return None
    return IMPLEMENTERS.get(implementer, f"0x{implementer:02x}")


def part_name(implementer: int | None, part: int | None) -> str | None:
    """The core's name, or None when the pair is not in the table."""
    if implementer is None or part is None:
        return None
    return PARTS.get((implementer, part))


def _slug(name: str) -> str:
    # "Neoverse-V3AE" -> "neoverse_v3ae", archspec's naming style.
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _archspec_name(arch: str, vendor: str, features: set, cpu_part: str):
    """archspec's host() selection applied to given cpuinfo fields.

    Returns the archspec Microarchitecture, or None when archspec is not
    installed or has no checker for `arch`.
    """
    try:
        from archspec.cpu import TARGETS
        from archspec.cpu.detect import COMPATIBILITY_CHECKS, partial_uarch
    except ImportError:
        return None
    tester = COMPATIBILITY_CHECKS.get(arch)
    if tester is None or arch not in TARGETS:
        return None
    info = partial_uarch(vendor=vendor, features=features, cpu_part=cpu_part)
    candidates = [t for t in TARGETS.values() if tester(info, t)]
    if not candidates:
        return TARGETS[arch]

    def depth(t):
        return len(t.ancestors), len(t.features)

    generics = [c for c in candidates if c.vendor == "generic"]
    best_generic = max(generics, key=depth) if generics else TARGETS[arch]
    if cpu_part and any(c.cpu_part == cpu_part for c in candidates):
        candidates = [c for c in candidates if c.cpu_part == cpu_part]
    candidates = [c for c in candidates if c > best_generic]
    return max(candidates, key=depth) if candidates else best_generic


def microarchitecture(
    arch: str | None,
    *,
    vendor_id: str | None = None,
    features: Iterable[str] = (),
    implementer: int | None = None,
    part: int | None = None,
) -> dict:
    """{name, vendor, source} for the CPU described by cpuinfo fields.

    `vendor_id` is x86's "vendor_id"; Arm parts give `implementer`/`part`.
    archspec names it when it can (source "archspec"); an Arm part archspec
    only knows as a generic armv8/armv9 level but our table names is
    reported from the table (source "cpuparts"); otherwise the name is null.
    """
    result = {"name": None, "vendor": None, "source": None}
    if not arch:
        return result
    features = set(features)
    if arch == "aarch64":
        from_table = part_name(implementer, part)
        vendor = _archspec_arm_vendor(implementer)
        cpu_part = f"0x{part:03x}" if part is not None else ""
        target = _archspec_name(arch, vendor, features, cpu_part)
        if target is not None and target.vendor != "generic":
            return {"name": target.name, "vendor": target.vendor, "source": "archspec"}
        if from_table:
            return {"name": _slug(from_table), "vendor": implementer_name(implementer),
                    "source": "cpuparts"}
        if target is not None:
            return {"name": target.name, "vendor": target.vendor, "source": "archspec"}
        return result
    target = _archspec_name(arch, vendor_id or "generic", features, "")
    if target is not None:
        return {"name": target.name, "vendor": target.vendor, "source": "archspec"}
    return result


def _archspec_arm_vendor(implementer: int | None) -> str:
    # archspec matches targets on its own vendor spelling ("Nvidia", "ARM").
    if implementer is None:
        return "generic"
    code = f"0x{implementer:02x}"
    try:
        from archspec.cpu.schema import TARGETS_JSON

        return TARGETS_JSON["conversions"]["arm_vendors"].get(code, code)
    except (ImportError, KeyError):
        return code
