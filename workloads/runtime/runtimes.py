"""The JVM and Node.js on this machine: where, which version, which flags.

A machine without them skips the runtime benchmarks with the command that
installs them as the reason. Standard library and suite helpers only (the sandbox's limits
are imported where they are asked for).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from suite import atomicfile
from suite.errors import DiskFull, Skipped

INSTALL = "scripts/install-system-deps.sh run (apt-get install default-jdk-headless nodejs)"
# Every JVM the benchmarks start gets this heap cap, so runs compare.
JVM_HEAP = "256m"
JVM_OPTIONS = (f"-Xmx{JVM_HEAP}", "-XX:+ExitOnOutOfMemoryError")
# The JVM's garbage collector and heap settings a reader needs (from
# -XX:+PrintFlagsFinal, as the JVM chose them inside the sandbox).
JVM_FLAGS = ("UseSerialGC", "UseParallelGC", "UseG1GC", "UseZGC", "UseShenandoahGC",
             "MaxHeapSize", "InitialHeapSize", "ParallelGCThreads", "ConcGCThreads",
             "ActiveProcessorCount", "TieredCompilation", "CICompilerCount", "UseCompressedOops")
# javac: its JVM gets the same heap cap (the default, a quarter of the
# machine's memory, does not fit the sandbox's address-space limit); sources
# are UTF-8 whatever the locale; generated code needs no lint.
JAVAC_OPTIONS = (f"-J-Xmx{JVM_HEAP}", "-encoding", "UTF-8", "-nowarn")
# Under CPU emulation (qemu-user) the C2 compiler's and the parallel
# collector's threads cost a JVM minutes of translated code for a second's
# work. An emulated run, whose timings mean nothing, proves the code with C1
# alone, one compiler thread and the serial collector; its records name
# the options it used.
EMULATED_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1", "-XX:+UseSerialGC")
# A version query starts a JVM: seconds natively, a minute emulated on a busy machine.
VERSION_TIMEOUT_S = 300
# What this checkout keeps about its runtimes: compiled classes
# (workloads.runtime.buildcache) and the binaries' version lines.
CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         ".cache", "runtime")
VERSIONS_FILE = os.path.join(CACHE_DIR, "versions.json")


@dataclass(frozen=True)
class Runtime:
    name: str  # java | javac | node
    path: str  # the real binary, no symlink in between
    version: str  # first line of its version output

    def info(self) -> dict:
        return {"name": self.name, "path": self.path, "version": self.version}


def _version_line(argv: list) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=VERSION_TIMEOUT_S)
    lines = (r.stdout or r.stderr).strip().splitlines()
    return lines[0].strip() if r.returncode == 0 and lines else ""


def _identity(path: str) -> list:
    """What changes when the binary at `path` is replaced or upgraded."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _cached_version_line(path: str, flag: str) -> str:
    """_version_line of `path flag`, asked once per binary: every benchmark
    child would otherwise start a JVM (a minute under emulation) to read a
    line that changes only with the binary. Kept in VERSIONS_FILE, keyed by
    the binary's path and identity (inode, size, mtime)."""
    key = f"{path} {flag}"
    try:
        identity = _identity(path)
        with open(VERSIONS_FILE) as f:
            known = json.load(f)
        entry = known.get(key) if isinstance(known, dict) else None
        if isinstance(entry, dict) and entry.get("identity") == identity and entry.get("version"):
            return str(entry["version"])
    except (OSError, ValueError):
        known = {}
    line = _version_line([path, flag])
    if line:
        try:
            known = known if isinstance(known, dict) else {}
            known[key] = {"identity": _identity(path), "version": line}
            os.makedirs(os.path.dirname(VERSIONS_FILE), exist_ok=True)
            atomicfile.write_atomic(VERSIONS_FILE, json.dumps(known))
        except (OSError, DiskFull):
            pass  # a read-only checkout or a full disk: asked again next time
    return line


@lru_cache(maxsize=None)
def emulated() -> bool:
    """Whether this interpreter runs under CPU emulation (suite.sysinfo's test)."""
    from suite.sysinfo import collect_cpu_identity

    return collect_cpu_identity("/", live=True).get("emulation") is not None


def jvm_options() -> tuple:
    """JVM_OPTIONS, and EMULATED_JVM_OPTIONS under emulation."""
    return JVM_OPTIONS + (EMULATED_JVM_OPTIONS if emulated() else ())


def javac_options() -> tuple:
    """JAVAC_OPTIONS, and EMULATED_JVM_OPTIONS for javac's own JVM under emulation."""
    return JAVAC_OPTIONS + tuple(f"-J{o}" for o in (EMULATED_JVM_OPTIONS if emulated() else ()))


def sandbox_limits(timeout_s: float):
    """The sandbox's limits with a per-process CPU cap as long as the wall
    timeout: a JVM bills its JIT and GC threads' seconds to its one process
    (the 10 s default suits a Python snippet), and an emulated javac takes
    minutes. The wall timeout stays the guard."""
    from dataclasses import replace

    from workloads.sandbox import Limits

    return replace(Limits(), cpu_s=max(Limits().cpu_s, int(timeout_s)))


@lru_cache(maxsize=None)
def find(name: str) -> Runtime | None:
    """`name` (java, javac, node) on PATH with its version; None when absent."""
    path = shutil.which(name)
    if not path:
        return None
    flag = "--version" if name == "node" else "-version"
    real = os.path.realpath(path)
    try:
        line = _cached_version_line(real, flag)
    except (OSError, subprocess.SubprocessError):
        return None
    return Runtime(name, real, line) if line else None


def require(*names: str) -> dict:
    """{name: Runtime} for every name, or Skipped naming the install command."""
    found = {n: find(n) for n in names}
    missing = [n for n, r in found.items() if r is None]
    if missing:
        raise Skipped(f"{', '.join(missing)} not found; install with {INSTALL}")
    return found


def versions() -> dict:
    """{java, javac, node: version line or None}, for sysinfo and records."""
    return {n: (r.version if (r := find(n)) else None) for n in ("java", "javac", "node")}


_FLAG = re.compile(r"^\s*\S+\s+(\w+)\s+:?=\s+(\S+)", re.M)


def parse_jvm_flags(text: str) -> dict:
    """The JVM_FLAGS of -XX:+PrintFlagsFinal output ({} when it has none)."""
    found = {m.group(1): m.group(2) for m in _FLAG.finditer(text)}
    out = {}
    for name in JVM_FLAGS:
        if name in found:
            v = found[name]
            out[name] = v == "true" if v in ("true", "false") else int(v) if v.isdigit() else v
    return out


def jvm_flags(java: str, sandbox=None) -> dict:
    """GC and heap flags of `java` with jvm_options(), as ergonomics set them
    inside `sandbox` (its CPU and memory limits change the choice), or
    here when there is none."""
    argv = [java, *jvm_options(), "-XX:+PrintFlagsFinal", "-version"]
    if sandbox is not None:
        r = sandbox.run(argv)
        code, out = r.returncode, r.stdout
    else:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=VERSION_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as exc:
            return {"unavailable": f"java -XX:+PrintFlagsFinal: {exc}"}
        code, out = done.returncode, done.stdout
    if code != 0:
        return {"unavailable": f"java -XX:+PrintFlagsFinal exit {code}"}
    flags = parse_jvm_flags(out.decode(errors="replace"))
    gc = [g for g in ("Serial", "Parallel", "G1", "Z", "Shenandoah") if flags.get(f"Use{g}GC")]
    return {"options": list(jvm_options()), "gc": gc[0] if gc else None, **flags}
