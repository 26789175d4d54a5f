"""The memory category's children as the default run starts them, side by
side with another commit.

    .venv/bin/python tests/perf/memory_children.py [--base REF] [--rounds N] [--idle S]

Each round runs `python -m suite run memory --profile quick` (STREAM's
sweep, native.check, latency.loaded, latency.chase; tests/perf/quickrun.py)
after S seconds with nothing of ours running (default 25): on a VM that
hands freed memory back to its host, memory touched first after that is
slow to come (2-3 s per GiB here, against 0.2 s for memory freed a moment
before), as at the start of a default run. Printed per run: the wall time,
the 1-minute load average before it, every configuration's seconds and the
single-thread STREAM child's first touch (info.first_touch_seconds); then
the median of each over the rounds and, with `--base`, this / base. Only
ratios of interleaved runs compare on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quickrun import QuickRun, timed_run, trees_to_compare  # noqa: E402


def figures(run: QuickRun) -> dict:
    """{name: seconds}: the wall time, each configuration's, the first touch."""
    out = {"wall": run.wall_s}
    for c in run.doc.get("run", {}).get("configs", []):
        threads = c["params"].get("threads")
        out[c["benchmark"] + (f" threads={threads}" if threads else "")] = c["seconds"]
    touch = [r["info"].get("first_touch_seconds") for r in run.doc.get("results", [])
             if r["benchmark"] == "stream.triad" and r["metric"] == "bandwidth"
             and r["params"].get("threads") == 1]
    if touch and touch[0] is not None:
        out["stream threads=1 first touch"] = touch[0]
    return out


def timed(tree: Path, label: str, idle_s: float) -> dict:
    time.sleep(idle_s)
    load = os.getloadavg()[0]
    run = timed_run("memory", root=tree)
    invalid = sorted({r["benchmark"] for r in run.doc.get("results", []) if not r["validated"]})
    got = figures(run)
    shown = "  ".join(f"{k} {v:.1f}" for k, v in got.items())
    print(f"{label:>5} at load {load:.2f}: {shown}"
          + (f"  exit {run.returncode}" if run.returncode else "")
          + (f"  unvalidated: {', '.join(invalid)}" if invalid else ""), flush=True)
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="a commit to run in alternation with this checkout")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--idle", type=float, default=25.0,
                        help="seconds before each run, so its memory comes fresh")
    args = parser.parse_args()
    with trees_to_compare(args.base, "memory-base-") as trees:
        for tree in trees.values():  # Numba caches of a fresh tree, not counted
            timed_run("memory", profile="smoke", root=tree)
        runs: dict = {label: [] for label in trees}
        for _ in range(args.rounds):
            for label, tree in trees.items():
                runs[label].append(timed(tree, label, args.idle))
    medians = {label: {k: statistics.median(r[k] for r in rs if k in r)
                       for k in rs[0]} for label, rs in runs.items()}
    for name in medians["this"]:
        line = f"{name:>30}: this {medians['this'][name]:6.1f} s"
        if args.base and name in medians["base"]:
            b = medians["base"][name]
            line += f"  base {b:6.1f} s  this / base {medians['this'][name] / b:.2f}"
        print(line)


if __name__ == "__main__":
    main()
