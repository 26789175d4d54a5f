"""Overhead of the utilization monitor on the benchmark it watches.

Runs the same CPU-bound child with and without a UtilizationMonitor,
interleaved so machine noise hits both sides alike, and prints the ratio of
the child's own timings (monitored / unmonitored), target <= 1.02 median,
and the sampler thread's own CPU share of the window, target <= 5%.

    .venv/bin/python tests/perf/monitor.py [pairs]
"""
from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from suite import stats  # noqa: E402
from suite.monitor import UtilizationMonitor  # noqa: E402

CHILD = """
import os, sys, time
os.sched_setaffinity(0, {%d})
t = time.perf_counter()
s = 0
for i in range(4_000_000):
    s += i * i
print(time.perf_counter() - t)
"""


def child_seconds(monitored: bool, cpu: int, own_share: list) -> float:
    proc = subprocess.Popen([sys.executable, "-c", CHILD % cpu], stdout=subprocess.PIPE, text=True)
    mon = UtilizationMonitor(pid=proc.pid, interval_s=0.1, exclude_cpus={cpu}) if monitored else None
    if mon:
        mon.start()
    out, _ = proc.communicate()
    if mon:
        summary = mon.stop()
        own_share.append(summary["monitor_cpu_seconds"] / summary["seconds"])
    return float(out)


def main(pairs: int) -> None:
    cpu = sorted(os.sched_getaffinity(0))[0]
    ratios, own_share = [], []
    for i in range(pairs):
        order = (True, False) if i % 2 else (False, True)
        t = {m: child_seconds(m, cpu, own_share) for m in order}
        ratios.append(t[True] / t[False])
    print(f"monitor overhead: monitored/unmonitored child time, median of {pairs} "
          f"interleaved pairs = {stats.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); target <= 1.02")
    print(f"sampler's own CPU time / window (one CPU, off the measured one) = "
          f"{stats.median(own_share):.2%} median; target <= 5%")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
