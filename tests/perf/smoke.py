"""The smoke profile's wall time, alone or side by side with another commit.

    .venv/bin/python tests/perf/smoke.py [--base REF] [--rounds N]

Issue 21's target: `./run.sh run --profile smoke` takes <= 30 s natively on
this 2-core VM and covers every benchmark id. Each round times one whole
smoke run from outside (`python -m suite run --profile smoke --no-report
--quiet`, as tests/perf/quickrun.py does) and prints the 1-minute load
average before it: on a shared VM the same run takes up to 2x longer at
load 2 than at load 0.5, so only figures of interleaved runs compare.

With `--base REF` (a branch or commit, e.g. main), REF is checked out in a
temporary worktree and the two trees run in alternation, after one
unrecorded warm-up run each (runtime builds, datasets and Numba caches of a
fresh tree); the line to read is the ratio of their medians. Every run
must cover every id of this checkout's registry (records or a skip) with
no record left unvalidated; a run that does not is named.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quickrun import QuickRun, timed_run, trees_to_compare  # noqa: E402
from suite.spec import registry  # noqa: E402

TARGET_S = 30.0
SLOWEST = 8  # configurations listed


def problems(run: QuickRun, ids: list) -> list:
    """Why a run does not count: its exit status, ids it left uncovered,
    records it left unvalidated."""
    if run.returncode != 0 or not run.doc:
        return [f"exit status {run.returncode}: {run.stderr.strip()[-200:]}"]
    covered = {r["benchmark"] for r in run.doc["results"]} | {
        e["benchmark"] for e in run.doc["errors"]}
    out = [f"no record or skip of {', '.join(i for i in ids if i not in covered)}"] \
        if set(ids) - covered else []
    invalid = sorted({r["benchmark"] for r in run.doc["results"] if not r["validated"]})
    if invalid:
        out.append(f"unvalidated records of {', '.join(invalid)}")
    return out


def config_seconds(runs: list) -> list:
    """(median seconds, configuration) over the runs, slowest first."""
    by: dict = {}
    for run in runs:
        for c in run.doc.get("run", {}).get("configs", []):
            by.setdefault(f"{c['benchmark']} {c['params']}", []).append(c["seconds"])
    return sorted(((statistics.median(s), name) for name, s in by.items()), reverse=True)


def timed(tree: Path, label: str, ids: list) -> QuickRun:
    load = os.getloadavg()[0]
    run = timed_run(profile="smoke", root=tree)
    bad = problems(run, ids)
    print(f"{label:>12}: {run.wall_s:5.1f} s ({run.cpu_s:5.1f} CPU s) at load {load:.2f}"
          + (f"  NOT COUNTED: {'; '.join(bad)}" if bad else ""), flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="a commit to run in alternation with this checkout")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ids = [s.id for s in registry()]
    with trees_to_compare(args.base, "smoke-base-") as trees:
        for label, tree in trees.items():
            timed(tree, f"{label} warm-up", ids)
        runs: dict = {label: [] for label in trees}
        for _ in range(args.rounds):
            for label, tree in trees.items():
                runs[label].append(timed(tree, label, ids))
    medians = {label: statistics.median(r.wall_s for r in rs if not problems(r, ids))
               if any(not problems(r, ids) for r in rs) else float("nan")
               for label, rs in runs.items()}
    cpu = {label: statistics.median(r.cpu_s for r in rs) for label, rs in runs.items()}
    for label, m in medians.items():
        print(f"smoke profile wall time ({label}): median {m:.1f} s of {args.rounds} "
              f"(target <= {TARGET_S:.0f} s); CPU time {cpu[label]:.1f} s")
    if args.base:
        print(f"this / base: wall {medians['this'] / medians['base']:.2f}, "
              f"CPU {cpu['this'] / cpu['base']:.2f}")
    print("slowest configurations (this checkout, median s):")
    for seconds, name in config_seconds(runs["this"])[:SLOWEST]:
        print(f"  {seconds:5.2f}  {name}")


if __name__ == "__main__":
    main()
