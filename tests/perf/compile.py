"""Performance targets of the sandbox and compile workloads, measured side by side.

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python tests/perf/compile.py

Prints ratios of interleaved measurements taken in this one run (absolute
times on a shared machine mean little):

* bwrap sandbox per call vs bare `unshare` of the same namespaces
  (target <= 2x),
* compile.c throughput at jobs = cores vs jobs = 1 (target >= 1.8x),
* wall time of the quick profile's compile part (sandbox.lifecycle,
  compile.c, compile.test; target <= 30 s), child start-up included.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from workloads.compile import build  # noqa: E402
from workloads.compile.corpus import generate  # noqa: E402
from workloads.compile.toolchain import find_compiler  # noqa: E402
from workloads.sandbox import Sandbox, available_backends  # noqa: E402

ROUNDS = 40
BARE_UNSHARE = ["unshare", "--net", "--pid", "--ipc", "--uts", "--mount", "--fork", "--kill-child"]


def _time_call(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sandbox_overhead() -> None:
    if "bwrap" not in available_backends():
        print("bwrap overhead: skipped (bwrap unavailable)")
        return
    import tempfile

    from workloads.sandbox import _bwrap_prefix

    bwrap_sb, unshare_sb = Sandbox(backend="bwrap"), Sandbox(backend="unshare")
    with tempfile.TemporaryDirectory() as wd:
        variants = {
            "bare unshare": lambda: subprocess.run(BARE_UNSHARE + ["/bin/true"], check=True),
            "bwrap, the sandbox's arguments": lambda: subprocess.run(_bwrap_prefix(wd) + ["/bin/true"], check=True),
            "Sandbox(bwrap).run": lambda: bwrap_sb.run(["/bin/true"]),
            "Sandbox(unshare).run": lambda: unshare_sb.run(["/bin/true"]),
        }
        times = {k: [] for k in variants}
        for _ in range(ROUNDS):  # interleaved, so load changes hit every variant alike
            for name, call in variants.items():
                times[name].append(_time_call(call))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["bare unshare"]
    for name, t in med.items():
        print(f"  {name:32s} {t * 1e3:7.2f} ms  {t / base:5.2f}x bare unshare")
    print(f"bwrap sandbox per call vs bare unshare: {med['bwrap, the sandbox' + chr(39) + 's arguments'] / base:.2f}x "
          f"(target <= 2x); whole Sandbox.run with bwrap vs with unshare: "
          f"{med['Sandbox(bwrap).run'] / med['Sandbox(unshare).run']:.2f}x")


def compile_scaling() -> None:
    compiler = find_compiler()
    if compiler is None:
        print("compile.c scaling: skipped (no C compiler)")
        return
    cores = len(os.sched_getaffinity(0))
    corpus = generate("small", build.CORPUS_SEED)
    ratios = []
    with Sandbox().session() as s:
        s.write(corpus.files)
        build.build_all(s, compiler.path, corpus.units, 1)  # warm-up
        for _ in range(3):
            _, one = build.build_all(s, compiler.path, corpus.units, 1)
            _, many = build.build_all(s, compiler.path, corpus.units, cores)
            ratios.append(one / many)
    print(f"compile.c throughput jobs={cores} vs jobs=1: {statistics.median(ratios):.2f}x "
          f"(runs {', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.8x)")


def quick_compile_part() -> None:
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(ROOT, ".cache", "numba"))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "suite", "run", "sandbox.lifecycle", "compile.c",
                        "compile.test", "--profile", "quick", "--out", "/tmp/fb-perf-compile", "--no-report", "--quiet"],
                       cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    status = "ok" if r.returncode == 0 else f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
    print(f"quick profile compile part: {wall:.1f} s wall (target <= 30 s; {status})")


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sandbox_overhead()
    compile_scaling()
    quick_compile_part()
