"""The system C compiler: which one, which version, resolved before timing."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from workloads.sandbox import resolve_binary

CANDIDATES = ("cc", "gcc", "clang")


@dataclass(frozen=True)
class Compiler:
    name: str  # gcc | clang | the binary's name
    version: str  # e.g. 12.2.0
    version_line: str  # first line of --version, as the vendor prints it
    path: str  # the real binary, no wrapper or symlink in between

    def info(self, flags) -> dict:
        return {"name": self.name, "version": self.version, "version_line": self.version_line,
                "path": self.path, "flags": list(flags)}


def _first_line(argv) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return (r.stdout or r.stderr).strip().splitlines()[0] if r.returncode == 0 else ""


def find_compiler(candidates=CANDIDATES) -> Compiler | None:
    """The first working C compiler of `candidates` (cc, gcc, clang); None when there is none."""
    for candidate in candidates:
        try:
            path = resolve_binary(candidate)
            line = _first_line([path, "--version"])
        except (OSError, subprocess.SubprocessError):
            continue
        if not line:
            continue
        name = "clang" if "clang" in line else "gcc" if ("gcc" in line or "GCC" in line) else os.path.basename(path)
        # gcc -dumpversion may print only the major number; -dumpfullversion is gcc >= 7.
        version = _first_line([path, "-dumpfullversion"]) if name == "gcc" else ""
        version = version or _first_line([path, "-dumpversion"])
        return Compiler(name=name, version=version, version_line=line, path=path)
    return None
