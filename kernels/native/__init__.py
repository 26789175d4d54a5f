"""Build and load the native C/OpenMP reference kernels (memory.c).

The shared library is compiled once per (source, compiler, flags) into
.cache/native/ and loaded with ctypes, so the C and Numba kernels run in the
same process on the same arrays and are timed by the same caller.
"""
from __future__ import annotations

import ctypes
import hashlib
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("memory.c")
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "native"
COMPILERS = ("gcc", "cc", "clang")


class NativeUnavailable(Exception):
    """No usable C compiler or OpenMP; the message says which and why."""


@dataclass(frozen=True)
class Compiler:
    path: str
    version: str
    flags: tuple


def arch_flags(machine: str | None = None) -> tuple:
    """-march=native on x86; Arm compilers spell it -mcpu=native."""
    machine = machine or platform.machine()
    if machine in ("aarch64", "arm64"):
        return ("-mcpu=native",)
    return ("-march=native",)


def native_compiler() -> Compiler:
    """The system C compiler (the compile workloads' find_compiler, so both
    name the same binary) with the reference's flags."""
    from workloads.compile.toolchain import find_compiler

    found = find_compiler(COMPILERS)
    if found is None:
        raise NativeUnavailable(f"no C compiler found (looked for {', '.join(COMPILERS)} on PATH)")
    return Compiler(found.path, found.version_line,
                    ("-O3", "-fopenmp", *arch_flags(), "-shared", "-fPIC"))


class NativeKernels:
    """ctypes view of the built library."""

    def __init__(self, library: Path, compiler: Compiler):
        self.library = library
        self.compiler = compiler
        lib = ctypes.CDLL(str(library))
        self._triad = lib.fb_triad
        self._triad.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_double, ctypes.c_int64]
        self._triad.restype = None
        self._chase = lib.fb_chase
        self._chase.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
        self._chase.restype = ctypes.c_int64
        self._threads = lib.fb_max_threads
        self._threads.restype = ctypes.c_int

    def triad(self, a, b, c, s: float) -> None:
        self._triad(a.ctypes.data, b.ctypes.data, c.ctypes.data, float(s), a.size)

    def chase(self, chain, start: int, steps: int) -> int:
        return int(self._chase(chain.ctypes.data, int(start), int(steps)))

    def max_threads(self) -> int:
        return int(self._threads())

    def describe(self) -> dict:
        return {"compiler": self.compiler.path, "compiler_version": self.compiler.version,
                "flags": " ".join(self.compiler.flags), "library": str(self.library)}


def build(cache_dir: Path = CACHE_DIR) -> NativeKernels:
    """Compile memory.c (unless cached) and load it."""
    compiler = native_compiler()
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, compiler.path.encode(), compiler.version.encode(),
                                     " ".join(compiler.flags).encode()])).hexdigest()[:16]
    library = cache_dir / f"memory-{key}.so"
    if not library.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = library.with_suffix(".so.tmp")
        out = subprocess.run([compiler.path, *compiler.flags, "-o", str(tmp), str(SOURCE)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise NativeUnavailable(f"{Path(compiler.path).name} {' '.join(compiler.flags)} "
                                    f"failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        tmp.replace(library)  # atomic: a concurrent run never loads half a file
    return NativeKernels(library, compiler)
