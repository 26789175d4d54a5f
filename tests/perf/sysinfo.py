"""collect() cost: the CLI calls it at the start of every run, budget 1 s.

Prints the median wall time of live collect() on this machine and of
collect() on the 352-CPU two-socket Vera-like fixture tree, each as a
fraction of the budget, with a live collect() without the live-only
blocks beside it (interleaved runs, so machine noise hits all alike).

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python tests/perf/sysinfo.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from suite import sysinfo  # noqa: E402
from tests.fixtures import trees  # noqa: E402

BUDGET_S = 1.0
ROUNDS = 7


def main() -> None:
    root = tempfile.mkdtemp(prefix="fb-two-vera-")
    trees.two_vera(root)
    cases = {
        "live collect()": lambda: sysinfo.collect(),
        "live, no live-only blocks": lambda: sysinfo.collect("/", live=False),
        "352-CPU fixture tree": lambda: sysinfo.collect(root),
    }
    times = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, fn in cases.items():  # interleaved
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:28} median {med * 1000:7.1f} ms  = {med / BUDGET_S:5.2f} x budget "
              f"({'OK' if med < BUDGET_S else 'OVER'})")


if __name__ == "__main__":
    main()
