"""Performance targets of the memory kernels, measured side by side in one run.

    .venv/bin/python tests/perf/memory.py [--pairs N] [--array-mib X] [--skip-run]

Prints: Numba Triad / native Triad (median of interleaved pairs, target
>= 0.97), DRAM and L1 chase latency Numba / native (targets <= 1.05 and
<= 1.10), the DRAM latency of latency.chase's continuing walk against an
independent C program's continuing walk (its own buffer and cycle; target
within 5%), the compile time a second run spends (target < 1 s), and the
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


CHASE_C = r"""
/* An independent pointer chase: its own buffer, its own random cycle
 * (Sattolo), one walk continuing from repetition to repetition.
 * usage: chase BYTES STRIDE LOADS REPS SEED -> "wall-ns cpu-ns" per load, one line
 * per repetition (the thread's CPU clock leaves out time a busy machine
 * took the CPU away) */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 6) return 2;
    size_t bytes = strtoull(argv[1], 0, 10), stride = strtoull(argv[2], 0, 10);
    long loads = atol(argv[3]) / 8 * 8;
    int reps = atoi(argv[4]);
    size_t n = bytes / stride, step = stride / 8;
    uint64_t *buf, *next = malloc(n * sizeof *next);
    if (posix_memalign((void **)&buf, 2 << 20, n * stride) || !next) return 3;
    madvise(buf, n * stride, MADV_HUGEPAGE);
    srand48(atol(argv[5]));
    for (size_t i = 0; i < n; i++) next[i] = i;
    for (size_t i = n - 1; i > 0; i--) {  /* Sattolo: one cycle over every slot */
        size_t j = (size_t)(drand48() * i), t = next[i];
        next[i] = next[j]; next[j] = t;
    }
    for (size_t i = 0; i < n; i++) buf[i * step] = next[i] * step;
    free(next);
    uint64_t p = 0;
    for (size_t k = 0; k < n; k++) p = buf[p];  /* one lap: warm the TLB, evict the link */
    for (int r = 0; r < reps; r++) {
        struct timespec t0, t1, c0, c1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        for (long k = 0; k < loads / 8; k++) {
            p = buf[p]; p = buf[p]; p = buf[p]; p = buf[p];
            p = buf[p]; p = buf[p]; p = buf[p]; p = buf[p];
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%.4f %.4f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / loads,
               ((c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec)) / loads);
    }
    fprintf(stderr, "end %lu\n", (unsigned long)p);
    return 0;
}
"""


def build_independent_chase(workdir: str) -> str:
    """Compile the independent C chase; the path of the program."""
    src, exe = os.path.join(workdir, "chase.c"), os.path.join(workdir, "chase")
    with open(src, "w") as f:
        f.write(CHASE_C)
    subprocess.run(["cc", "-O2", "-o", exe, src], check=True)
    return exe


def independent_dram(pairs: int) -> None:
    """DRAM latency of the Numba chase (a continuing walk, as latency.chase
    runs it) against an independent C program's continuing walk, on the
    chase core at the curve's largest working set, interleaved."""
    from kernels import latency, plans
    from suite import stats
    from suite.sysinfo import collect
    from suite.topology import Topology

    topo = Topology.from_system(collect())
    cpu = plans.chase_cpu(topo)
    os.sched_setaffinity(0, {cpu})
    stride = plans.DEFAULT_STRIDE
    size = plans.latency_sizes(plans.latency_max_bytes(topo, "quick"), stride)[-1]
    reps = 4
    loads = -(-size // stride // reps)  # the repetitions cover every slot
    mm, buf = latency.chase_buffer(size, "on")
    chain = latency.Chain(buf, latency.master_order(size, stride, "global"), size, stride)
    chain.run(chain.slots)  # one lap, as the C side
    rows = {"wall": ([], [], []), "cpu": ([], [], [])}  # ratios, Numba ns, C ns

    def numba_rep() -> tuple:
        c0 = time.thread_time()
        seconds, _ = chain.run(loads)
        steps = latency.whole_steps(loads)
        return seconds / steps * 1e9, (time.thread_time() - c0) / steps * 1e9

    with tempfile.TemporaryDirectory() as tmp:
        exe = build_independent_chase(tmp)
        for i in range(pairs):
            out = subprocess.run([exe, str(size), str(stride), str(loads), str(reps), str(i + 1)],
                                 capture_output=True, text=True, check=True,
                                 preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
            c_reps = [tuple(map(float, line.split())) for line in out.stdout.splitlines()]
            n_reps = [numba_rep() for _ in range(reps)]
            for k, clock in enumerate(("wall", "cpu")):
                n = stats.median([r[k] for r in n_reps])
                c = stats.median([r[k] for r in c_reps])
                ratios, numba_ns, c_ns = rows[clock]
                ratios.append(n / c)
                numba_ns.append(n)
                c_ns.append(c)
    for clock, (ratios, numba_ns, c_ns) in rows.items():
        print(f"DRAM latency Numba (latency.chase's walk) / independent C chase, "
              f"{size >> 20} MiB on CPU {cpu}, {clock} clock: {stats.median(ratios):.3f}   "
              f"target within 5%   Numba {stats.median(numba_ns):.1f} ns, "
              f"C {stats.median(c_ns):.1f} ns, pairs {[round(r, 3) for r in ratios]}")
    del chain, buf
    mm.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--array-mib", type=float)
    ap.add_argument("--skip-run", action="store_true", help="skip the quick-profile wall time")
    ap.add_argument("--independent-only", action="store_true",
                    help="only latency.chase's DRAM walk against the independent C chase")
    args = ap.parse_args()
    if args.pairs < 5:
        ap.error("--pairs: at least 5 interleaved pairs")
    if args.independent_only:
        independent_dram(args.pairs)
        return
    compile_time()
    if not args.skip_run:
        quick_run()
    ratios(args.pairs, args.array_mib)  # it pins and loads Numba in this process
    independent_dram(args.pairs)


if __name__ == "__main__":
    main()
