"""Does `compare` tell noise from a real change, on real runs of this machine?

    .venv/bin/python tests/perf/compare_aa.py [--reuse A.json B.json] [--keep DIR]

Makes two quick-profile runs of a few benchmarks back to back (run A, then
run B), then prints:

1. A/A: B against A. Expect no row flagged on the stable rows (neither side's
   samples vary more than compare.UNSTABLE_CV) and an overall geometric mean
   near 1. Flags on unstable rows are listed apart: on a shared machine
   those are the noise compare already warns about.
2. Planted change, isolated: A against a copy of A whose STREAM Triad
   bandwidth records (value and samples) are scaled by 0.8. Every other
   row is identical, so this asks only whether a 20% drop is detected
   under this run's own noise. Expect exactly the Triad rows that have
   enough samples flagged WORSE.
3. Planted change, realistic: A against B scaled the same way, so the
   change rides on top of run-to-run noise.

`--reuse` skips the runs and reads two existing result files.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from suite import compare as c  # noqa: E402
from suite.results import load, parse  # noqa: E402

BENCHMARKS = ("stream", "latency.chase", "tools.noop", "db.point")
SCALE = 0.8  # the planted regression: Triad bandwidth down 20%
FLAGGED = (c.BETTER, c.WORSE)


def quick_run(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "suite", "run", *BENCHMARKS, "--profile", "quick",
                    "--out", str(out_dir), "--quiet", "--no-report"], check=True, cwd=ROOT)
    return sorted(out_dir.glob("*.json"))[-1]


def is_scaled(record: dict) -> bool:
    """A STREAM Triad bandwidth figure (per thread count or summary)."""
    return (record["benchmark"] == "stream.triad"
            and record["metric"].startswith("bandwidth"))


def scaled_copy(path: Path, factor: float):
    data = json.loads(path.read_text())
    data["run"]["id"] += "-scaled"
    for r in data["results"]:
        if is_scaled(r):
            r["value"] = None if r["value"] is None else r["value"] * factor
            r["samples"] = [s * factor for s in r["samples"]]
    return parse(data, f"{path.stem}-triad-x{factor}.json")


def verdict_counts(comp) -> str:
    counts: dict = {}
    for row in comp.rows:
        v = row.cells[1].verdict
        counts[v] = counts.get(v, 0) + 1
    return ", ".join(f"{v}: {n}" for v, n in sorted(counts.items()))


def cell_text(row) -> str:
    cell = row.cells[1]
    p = "" if cell.p_value is None else f" p={cell.p_value:.3g}"
    return (f"{row.label}: {cell.ratio:.3f}x {cell.verdict}{p} "
            f"(n={row.cells[0].n} vs {cell.n}{', unstable' if cell.unstable else ''})")


def report_aa(comp) -> None:
    flagged = [r for r in comp.rows if r.cells[1].verdict in FLAGGED]
    tested = [r for r in comp.rows if r.cells[1].p_value is not None]
    stable = [r for r in tested if not r.cells[1].unstable]
    on_stable = [r for r in flagged if not r.cells[1].unstable]
    print(f"A/A: {len(comp.rows)} rows ({verdict_counts(comp)})")
    print(f"  tested (U test run): {len(tested)}; of those stable (CV <= "
          f"{c.UNSTABLE_CV:.0%} both sides): {len(stable)}")
    print(f"  flagged on stable rows: {len(on_stable)} (expect 0); "
          f"on unstable rows: {len(flagged) - len(on_stable)}")
    for r in flagged:
        print(f"    {cell_text(r)}")
    ratios = [r.cells[1].ratio for r in stable]
    if ratios:
        print(f"  stable rows' ratios B/A: {min(ratios):.3f} .. {max(ratios):.3f}")
    cats = ", ".join(f"{cat} {g[1]:.3f}" for cat, g in comp.geomeans.items())
    print(f"  geometric mean B/A: overall {comp.overall[1]:.3f} over {comp.common_rows} rows "
          f"(expect near 1); per category: {cats}")


def load_notes(doc) -> list:
    """The run's own warnings about a busy machine: what moves an A/A pair."""
    return [w for w in doc.warnings if "busy" in w or "load" in w]


def report_planted(title: str, comp, base_comp=None) -> None:
    scaled = [r for r in comp.rows if is_scaled(
        {"benchmark": r.benchmark, "params": r.params, "metric": r.metric})]
    flagged = [r for r in comp.rows if r.cells[1].verdict in FLAGGED]
    hit = [r for r in scaled if r.cells[1].verdict == c.WORSE]
    testable = [r for r in scaled if r.cells[1].verdict != c.TOO_FEW]
    others = [r for r in flagged if r not in scaled]
    print(f"{title}: {len(scaled)} Triad bandwidth rows scaled by {SCALE}, "
          f"{len(testable)} with enough samples to test")
    print(f"  flagged WORSE: {len(hit)} of {len(testable)} testable Triad rows (expect all); "
          f"other rows flagged: {len(others)}"
          + (" (the A/A flags above)" if base_comp is not None and others else " (expect 0)"))
    for r in scaled:
        if r.cells[1].verdict != c.TOO_FEW:
            print(f"    {cell_text(r)}")
    for r in others:
        print(f"    other: {cell_text(r)}")
    print(f"  stream geometric mean: {comp.geomeans.get('stream', (None, float('nan')))[1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--keep", type=Path, help="write the two runs here (default: a temp dir)")
    args = parser.parse_args()
    if args.reuse:
        a_path, b_path = args.reuse
    else:
        where = args.keep or Path(tempfile.mkdtemp(prefix="compare-aa-"))
        a_path, b_path = quick_run(where / "a"), quick_run(where / "b")
    print(f"A: {a_path}\nB: {b_path}")
    a, b = load(a_path), load(b_path)
    for name, doc in (("A", a), ("B", b)):
        print(f"{name} machine load: {'; '.join(load_notes(doc)) or 'no busy-machine warning'}")
    aa = c.compare([a, b])
    report_aa(aa)
    report_planted("A vs A with Triad x0.8 (isolated)", c.compare([a, scaled_copy(a_path, SCALE)]))
    report_planted("A vs B with Triad x0.8 (over run-to-run noise)",
                   c.compare([a, scaled_copy(b_path, SCALE)]), base_comp=aa)


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    main()
