"""Cost of the views on a run, measured side by side.

    .venv/bin/python tests/perf/compare_report.py [RESULT.json ...]

`./run.sh` writes the HTML report after every run, inside the quick
profile's 3-minute budget, and a nightly job compares and adds to the
history. This prints, interleaved over several rounds (medians):

* `report` (a fresh interpreter: imports + plots) as a fraction of the
  quick profile's 180 s budget (target <= 3%, i.e. about 5 s),
* `compare` of two runs in a fresh interpreter relative to bare
  `python -c 'import suite.cli'` start-up (target <= 3x),
* `history add` of one run and `history check` over 30 nights in an
  SQLite store (target: check <= 1 s).

Without arguments the test fixtures are used (tests/fixtures/results).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from suite import history  # noqa: E402
from suite.results import load, parse  # noqa: E402

ROUNDS = 5
QUICK_BUDGET_S = 180.0


def timed(argv) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t0


def main() -> None:
    files = [Path(p) for p in sys.argv[1:]] or [
        ROOT / "tests/fixtures/results/x86-a.json", ROOT / "tests/fixtures/results/arm.json"]
    py = [sys.executable]
    pair = (files * 2)[:2]  # one file given: compared with itself (an A/A check)
    tmp = Path(tempfile.mkdtemp())
    start, comp, rep = [], [], []
    for _ in range(ROUNDS):  # interleaved so machine noise hits all three alike
        start.append(timed(py + ["-c", "import suite.cli"]))
        comp.append(timed(py + ["-m", "suite", "compare", *map(str, pair)]))
        rep.append(timed(py + ["-m", "suite", "report", *map(str, files), "-o", str(tmp / "r.html")]))
    s, c, r = (statistics.median(x) for x in (start, comp, rep))
    print(f"report:  {r:.2f} s = {100 * r / QUICK_BUDGET_S:.1f}% of the quick budget (target <= 3%)")
    print(f"compare: {c:.2f} s = {c / s:.2f}x bare CLI start-up {s:.2f} s (target <= 3x)")

    base = json.loads(files[0].read_text())
    store = tmp / "h.sqlite"
    adds = []
    with history.open_store(str(store), create=True) as st:
        for i in range(30):
            night = dict(base, run=dict(base["run"], id=f"n{i}", started_at=f"2025-03-{i + 1:02d}"))
            t0 = time.perf_counter()
            history.add(st, parse(night))
            adds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = history.check(st)
        chk = time.perf_counter() - t0
    print(f"history: add {1000 * statistics.median(adds):.1f} ms per run "
          f"({len(load(files[0]).results)} records); check over 30 nights "
          f"{chk:.3f} s for {report.checked} series (target <= 1 s)")


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    main()
