"""Fleet overhead: a fleet run's wall time minus the benchmarks' own time.

    .venv/bin/python tests/perf/fleet.py [--rounds 3] [SEL ...]

Starts three sshd "hosts" on loopback (root, openssh-server; as
tests/test_fleet.py does), each reusing this interpreter's environment
(`factorybench_python`: the venv already on the hosts), and runs
`fleet run` of a small selection (default `tools.noop --profile smoke`)
over them `--rounds` times. Prints per round the wall time, the longest
host's own run and the overhead between them, then the median overhead as
a fraction of the target (<= 30 s for 3 hosts). The machine's load average
is printed beside: on a busy 2-core machine every step is slower.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fixtures.sshd import LoopbackFleet, available  # noqa: E402

TARGET_S = 30.0
_SUMMARY = re.compile(r"delivered in ([\d.]+) s wall; benchmarks ([\d.]+) s .*overhead ([\d.]+) s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("selection", nargs="*", default=["tools.noop", "--profile", "smoke"])
    args = ap.parse_args()
    why = available()
    if why:
        sys.exit(f"fleet perf: {why}")
    overheads = []
    with tempfile.TemporaryDirectory(prefix="fb-fleet-perf-") as tmp:
        root = Path(tmp)
        with LoopbackFleet(root) as fleet:
            inv = fleet.inventory(root / "inventory.ini", factorybench_python=sys.executable)
            for i in range(args.rounds):
                proc = subprocess.run(
                    [sys.executable, "-m", "suite", "fleet", "run", *args.selection,
                     "--inventory", str(inv), "--out", str(root / "out"), "--quiet"],
                    cwd=ROOT, capture_output=True, text=True)
                m = _SUMMARY.search(proc.stdout)
                if proc.returncode != 0 or not m:
                    sys.exit(f"round {i + 1}: exit {proc.returncode}\n{proc.stdout[-2000:]}"
                             f"{proc.stderr[-2000:]}")
                wall, bench, overhead = map(float, m.groups())
                overheads.append(overhead)
                print(f"round {i + 1}: wall {wall:5.1f} s  benchmarks {bench:5.1f} s  "
                      f"overhead {overhead:5.1f} s  (load average {os.getloadavg()[0]:.1f})")
    med = statistics.median(overheads)
    print(f"fleet overhead, 3 hosts: median {med:.1f} s = {med / TARGET_S:.2f} x the "
          f"{TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
