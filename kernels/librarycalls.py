"""Which Numba kernels the compiler turned into C library calls.

LLVM recognises a plain copy or fill loop and replaces it with a call to
memcpy/memmove/memset: the figure then measures the C library, not the
compiled loop. Numba's on-disk cache keeps no IR to inspect, so each kernel
is compiled once more without the cache, its LLVM IR and machine code (the
parfor body lives in a linked library) searched for those calls, and the
answer kept in .cache/ per (Numba, llvmlite, kernel source, target CPU).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from pathlib import Path

CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "library-calls"
LIBRARY_FUNCTIONS = ("memcpy", "memmove", "memset")
_IR_CALL = re.compile(r"call [^\n]*@(?:llvm\.)?(memcpy|memmove|memset)\.?[\w.]*\(([^\n]*)")
_ASM_CALL = re.compile(r"\b(?:call|callq|jmp|bl|b)\s+\*?[^\n]*?\b(memcpy|memmove|memset)\b")


def calls_in(ir: str, asm: str) -> set:
    """Library functions called with a length that is not a constant: a
    fixed-size memset of a small struct (Numba zeroes its own records) is
    not a loop that became a call."""
    found = {name for name, args in _IR_CALL.findall(ir)
             if not re.search(r",\s*i64\s+\d+\s*,", args)}
    return found | set(_ASM_CALL.findall(asm))


def _libraries(library, seen=None):
    seen = set() if seen is None else seen
    if id(library) in seen:
        return
    seen.add(id(library))
    yield library
    for linked in getattr(library, "_linking_libraries", ()):
        yield from _libraries(linked, seen)


def inspect_kernel(py_func, args) -> list:
    """Library functions an uncached parallel compile of `py_func` calls."""
    import numba

    fn = numba.njit(parallel=True, cache=False)(py_func)
    fn(*args)
    found: set = set()
    for lib in _libraries(fn.overloads[fn.signatures[0]].library):
        found |= calls_in(lib.get_llvm_str(), lib.get_asm_str())
    return sorted(found)


def _key(kernels) -> str:
    import llvmlite
    import numba
    from llvmlite import binding

    parts = [numba.__version__, llvmlite.__version__, binding.get_host_cpu_name()]
    parts += [inspect.getsource(k.fn.py_func) for k in kernels]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def library_calls(kernels, args, cache_dir: Path = CACHE_DIR) -> dict:
    """{kernel name: [library functions it calls]} for kernels.stream's
    Kernel tuples, from the cache when this build was inspected before."""
    path = cache_dir / f"{_key(kernels)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    found = {k.name: inspect_kernel(k.fn.py_func, args) for k in kernels}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(found))
        tmp.replace(path)  # atomic: a concurrent run never reads half a file
    except OSError:
        pass  # a read-only checkout: inspect again next time
    return found
