"""Performance targets of the memory kernels, measured side by side in one run.

    .venv/bin/python tests/perf/memory.py [--pairs N] [--array-mib X] [--skip-run]

Prints: Numba Triad / native Triad (median of interleaved pairs, target
>= 0.97), DRAM and L1 chase latency Numba / native (targets <= 1.05 and
<= 1.10), the compile time a second run spends (target < 1 s), and the
wall time of the quick profile's memory part (target <= 50 s).
Not collected by pytest: it measures, it does not assert.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))

MEMORY_IDS = ("stream.sweep", "latency.curve", "loaded_latency", "native.check")
TARGETS = {"triad": 0.97, "dram": 1.05, "l1": 1.10, "compile_s": 1.0, "quick_s": 50.0}


def pin_all_cores() -> tuple:
    """Pin OpenMP threads one per core, as a run does; before Numba loads."""
    from kernels import plans
    from suite.sysinfo import collect
    from suite.topology import Topology

    system = collect()
    topo = Topology.from_system(system)
    cpus = plans.thread_cpus(topo, topo.physical_cores, "spread")
    os.environ.update(plans.omp_env(cpus, "spread"))
    os.sched_setaffinity(0, cpus)
    return system, topo, cpus


def ratios(pairs: int, array_mib: float | None) -> None:
    system, topo, cpus = pin_all_cores()
    import numpy as np

    from kernels import latency, plans, stream
    from kernels.native import build
    from kernels.native import check
    from suite import stats

    native = build()
    elements = plans.stream_array_elements(topo, topo.logical_cpus, array_mib)
    plans.check_memory(topo, 3 * elements * 8, "triad arrays")
    stream.compile_kernels()
    latency.compile_kernels()
    a, b, c = np.empty(elements), np.empty(elements), np.empty(elements)
    stream.first_touch(a, b, c, 0.0, check.INIT_B, check.INIT_C)
    print(f"{len(cpus)} threads on CPUs {cpus[:8]}{'...' if len(cpus) > 8 else ''}, "
          f"arrays {elements * 8 / 2**20:.0f} MiB, {pairs} interleaved pairs, "
          f"native: {native.compiler.version} {' '.join(native.compiler.flags)}")
    triad, ok = check.triad_pairs(native, a, b, c, pairs)
    r = stats.median([tc / tn for tn, tc in triad])
    print(f"Numba Triad / native Triad (bandwidth): {r:.3f}   target >= {TARGETS['triad']}"
          f"   pairs {[round(tc / tn, 3) for tn, tc in triad]}{'' if ok else '  INVALID'}")
    stride = plans.DEFAULT_STRIDE
    buffer = a.view(np.uint64)
    for label, size, target in (("DRAM", elements * 8 // stride * stride, TARGETS["dram"]),
                                ("L1", check.L1_CHASE_BYTES, TARGETS["l1"])):
        chain = latency.Chain(buffer, latency.master_order(size, stride, "global"), size, stride)
        rows, ok = check.chase_pairs(native, chain, pairs)
        r = stats.median([tn / tc for tn, tc in rows])
        print(f"{label} latency Numba / native: {r:.3f}   target <= {target}   "
              f"Numba {min(x for x, _ in rows):.2f} ns, native {min(x for _, x in rows):.2f} ns"
              f"{'' if ok else '  INVALID'}")


def compile_time() -> None:
    code = ("import time; t = time.perf_counter(); "
            "from kernels import stream, latency, loaded; "
            "s = stream.compile_kernels() + latency.compile_kernels(); "
            "print(s)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=ROOT, check=True)
        times.append(float(out.stdout.strip()))
    print(f"kernel compile time, first run {times[0]:.2f} s, second run {times[1]:.2f} s   "
          f"target < {TARGETS['compile_s']} s")


def quick_run() -> None:
    with tempfile.TemporaryDirectory() as out:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "suite", "run", *MEMORY_IDS, "--profile", "quick",
                        "--out", out, "--quiet"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    print(f"quick profile, memory part ({' '.join(MEMORY_IDS)}): {wall:.1f} s   "
          f"target <= {TARGETS['quick_s']} s   (load average {load:.1f} on "
          f"{os.cpu_count()} CPUs at start)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--array-mib", type=float)
    ap.add_argument("--skip-run", action="store_true", help="skip the quick-profile wall time")
    args = ap.parse_args()
    if args.pairs < 5:
        ap.error("--pairs: at least 5 interleaved pairs")
    compile_time()
    if not args.skip_run:
        quick_run()
    ratios(args.pairs, args.array_mib)  # last: it pins and loads Numba in this process


if __name__ == "__main__":
    main()
