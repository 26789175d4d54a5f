"""Runs made under CPU emulation (qemu-user): their code works, their timings
mean nothing.

The emulated aarch64 run (tests/arm/run.sh) proves the suite on Arm, but a
figure it measured says how fast qemu translates Arm code on an x86 host,
not how fast an Arm server is. So no view compares, plots or tracks such a
figure; they show the run's system fields and say why its numbers are absent.
"""
from __future__ import annotations

# What a cell, a geometric mean or a plot says in place of an emulated figure.
NOT_COMPARED = "emulated, not compared"


def emulation_of(doc) -> str | None:
    """One phrase naming the emulation a run was made under, or None for a
    native run. The sysinfo field (`system.emulation`) is authoritative;
    the run's tags (`--tag emulation=qemu-user`, `--tag timings=meaningless`)
    mark it too, e.g. when the host's /proc/cpuinfo matched the guest."""
    system = doc.system or {}
    tags = (doc.run or {}).get("tags") or {}
    emu = system.get("emulation")
    if emu:
        kind = emu.get("kind") if isinstance(emu, dict) else str(emu)
        host = emu.get("host_arch") if isinstance(emu, dict) else None
        guest = system.get("arch") or "another architecture"
        return f"{kind or 'emulated'} emulation of {guest}" + (f" on a {host} host" if host else "")
    if tags.get("emulation"):
        return f"{tags['emulation']} emulation (tagged)"
    if str(tags.get("timings", "")).lower() == "meaningless":
        return "tagged timings=meaningless"
    return None

