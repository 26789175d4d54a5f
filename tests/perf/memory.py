"""Performance targets of the memory kernels, measured side by side in one run.

    .venv/bin/python tests/perf/memory.py [--pairs N] [--array-mib X] [--skip-run]

Prints: Numba Triad / native Triad (median of interleaved pairs, target
>= 0.97), DRAM and L1 chase latency Numba / native (targets <= 1.05 and
<= 1.10), the compile time a second run spends (target < 1 s), and the
wall and CPU time of the quick profile's memory part (target <= 50 s wall),
with its latency plateaus and loaded-latency curve.
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

MEMORY_IDS = ("stream", "latency.chase", "latency.loaded", "native.check")
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
    a, b, c, bounds = stream.allocate(elements, 0.0, check.INIT_B, check.INIT_C)
    print(f"{len(cpus)} threads on CPUs {cpus[:8]}{'...' if len(cpus) > 8 else ''}, "
          f"arrays {elements * 8 / 2**20:.0f} MiB, {pairs} interleaved pairs, "
          f"native: {native.compiler.version} {' '.join(native.compiler.flags)}")
    triad, ok = check.triad_pairs(native, a, b, c, pairs, bounds)
    r = stats.median([tc / tn for tn, tc in triad])
    print(f"Numba Triad / native Triad (bandwidth): {r:.3f}   target >= {TARGETS['triad']}"
          f"   pairs {[round(tc / tn, 3) for tn, tc in triad]}{'' if ok else '  INVALID'}")
    stride = plans.DEFAULT_STRIDE
    buffer = a.view(np.uint64)
    for label, size, target in (("DRAM", elements * 8 // stride * stride, TARGETS["dram"]),
                                ("L1", check.L1_CHASE_BYTES, TARGETS["l1"])):
        chain = latency.Chain(buffer, latency.master_order(size, stride, "global"), size, stride)
        rows, ok, footprint = check.chase_pairs(native, chain, pairs)
        r = stats.median([tn / tc for tn, tc in rows])
        print(f"{label} latency Numba / native: {r:.3f}   target <= {target}   "
              f"Numba {min(x for x, _ in rows):.2f} ns, native {min(x for _, x in rows):.2f} ns, "
              f"footprint {footprint >> 10} of {size >> 10} KiB"
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
    import glob
    import json
    import resource

    with tempfile.TemporaryDirectory() as out:
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "suite", "run", *MEMORY_IDS, "--profile", "quick",
                        "--out", out, "--quiet"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(glob.glob(os.path.join(out, "*.json"))[0]) as f:
            result = json.load(f)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"quick profile, memory part ({' '.join(MEMORY_IDS)}): {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU   target <= {TARGETS['quick_s']} s wall   (load average "
          f"{load:.1f} on {os.cpu_count()} CPUs at start)")
    for c in result["run"]["configs"]:
        print(f"    {c['benchmark']:<15} {json.dumps(c['params'])[:60]:<60} {c['seconds']:6.1f} s")
    recs = result["results"]
    levels = [r for r in recs if r["benchmark"] == "latency.chase" and "level" in r["params"]]
    print("  latency plateaus: " + ", ".join(
        f"{r['params']['level']} {r['value']:.1f} ns ({r['info']['plateau_bytes'][0] >> 10}-"
        f"{r['info']['plateau_bytes'][1] >> 10} KiB)" for r in levels))
    loaded = {r["params"]["delay"]: r for r in recs
              if r["benchmark"] == "latency.loaded" and r["metric"] == "bandwidth"}
    lat = {r["params"]["delay"]: r for r in recs
           if r["benchmark"] == "latency.loaded" and r["metric"] == "latency"}
    print("  loaded latency (delay: GB/s, ns; less delay must be more GB/s): " + ", ".join(
        f"{d}: {loaded[d]['value']:.2f}, {lat[d]['value']:.0f}" for d in loaded))


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
