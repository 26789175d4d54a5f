"""Performance targets of the co-run benchmark, measured side by side.

    .venv/bin/python tests/perf/corun.py [--skip-suite]

Prints:
* the wall time of `python -m suite run corun --profile quick` against its
  budget (target <= 25 s on a 2-core machine, child start-up included);
* set-up time of each hog (Python + Numba import, first touch of its 4x LLC
  buffers), the cost that made one child per hog run every workload;
* an idle hog's effect on the "alone" windows: JSON tool-call throughput
  with no hog process vs. beside a started but idle hog, interleaved
  (target ratio 1.00 +- the machine's noise): the alone baseline is clean.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kernels import plans  # noqa: E402
from suite import stats, sysinfo  # noqa: E402
from suite.topology import Topology  # noqa: E402
from workloads.corun import drivers as corun_run  # noqa: E402
from workloads.corun import hogs as corun_hogs  # noqa: E402
from workloads.corun import specs as corun  # noqa: E402

QUICK_BUDGET_S = 25.0
PAIRS = 5  # interleaved (no hog, idle hog) window pairs
WINDOW_S = 0.3


def suite_quick_wall() -> float:
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "suite", "run", "corun", "--profile", "quick",
                        "--out", out, "--no-report", "--quiet"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - t


def hog_setup_s(kind: str, cpus: list, topo: Topology) -> float:
    t = time.perf_counter()
    hog = corun_hogs.make_hog(kind, cpus, elements=plans.load_array_elements(topo),
                              working_set=plans.latency_max_bytes(topo, "quick"))
    try:
        hog.wait_ready()
        return time.perf_counter() - t
    finally:
        hog.close()


def idle_hog_ratio(wl: list, hog_cpus: list, topo: Topology) -> tuple:
    """(median throughput without a hog process / beside an idle hog, pairs)."""
    driver = corun_run.make_driver("tools.json_transform", wl, 1)
    driver.open()
    ratios = []
    try:
        driver.window(WINDOW_S)
        for i in range(PAIRS):
            bare = driver.window(WINDOW_S).throughput if i % 2 == 0 else None
            hog = corun_hogs.make_hog("triad", hog_cpus,
                                      elements=plans.load_array_elements(topo), working_set=0)
            try:
                hog.wait_ready()
                idle = driver.window(WINDOW_S).throughput
            finally:
                hog.close()
            if bare is None:  # every other pair the other way round
                bare = driver.window(WINDOW_S).throughput
            ratios.append(bare / idle)
    finally:
        driver.close()
    return stats.median(ratios), ratios


def main() -> None:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    topo = Topology.from_system(sysinfo.collect())
    wl, hog = corun.split_cores(topo)
    if "--skip-suite" not in sys.argv:
        wall = suite_quick_wall()
        print(f"quick corun wall: {wall:.1f} s  budget {QUICK_BUDGET_S:.0f} s  "
              f"ratio {wall / QUICK_BUDGET_S:.2f} (target <= 1)")
    for kind in corun_hogs.HOGS:
        print(f"{kind} hog set-up: {hog_setup_s(kind, list(hog), topo):.2f} s")
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, wl)  # the workload side, as in the benchmark
    try:
        ratio, all_ratios = idle_hog_ratio(list(wl), list(hog), topo)
    finally:
        os.sched_setaffinity(0, affinity)
    print(f"tool calls/s no hog / idle hog: {ratio:.3f} (target 1.00; pairs "
          + ", ".join(f"{r:.2f}" for r in all_ratios) + ")")


if __name__ == "__main__":
    main()
