"""How often do `compare` and `history check` cry wolf, and how often do they
catch a real change? Prints false-alarm rates and detection power.

    .venv/bin/python tests/perf/verdicts.py [--trials N]
                                            [--real [--full-default]]
                                            [--reuse A.json B.json] [--keep DIR]

Simulated (always; every series is modelled on the records of a real default
(quick) run of every category, tests/fixtures/results/real-vm-default.json,
made with tests/fixtures/results/trim_run.py):

1. A/A compare, standard profile: each side measures every figure in 3
   worker processes; each process is off by N(0, 2%) (run-to-run drift) and
   its 5 samples scatter by N(0, 1%) (noise within a run). Target: at most
   1% of rows flagged. The same with one process a side (quick profile,
   "indicative" verdicts against the category noise floors) is printed too.
2. Planted changes in that standard-profile compare: STREAM Triad bandwidth
   down 10%, and one tool's p99 latency up 25%. Target: flagged.
3. History A/A: 30 nights of every primary series of the quick run, each
   series with its own CV drawn from 1-5% and a slow 2% drift over the 30
   nights; `check` after every night from the fifth on. Target: at most one
   night of the 30 raises any alarm (regression or improvement). The same
   without drift is printed too: the drift should add no alarm. The same
   over nights 31-60 of a 60-night history, where a series is judged on a
   full window (as in 4): the same target.
4. History step: one series of that quick run's check (it shares the
   check's false-alarm budget with the other primary series), a full
   window of history (MAX_POINTS = 60 nights, what a nightly tracker holds
   after two months and from then on) at a CV drawn from 1-3%, then a 10%
   drop. Target: flagged on the first or second night after it in >= 95%
   of trials (printed with a 95% confidence interval; 25 x --trials
   trials). Printed too, without a target: the same after 20, 30 and 40
   nights, and within 3 nights after 20. Beside each, the bound no test
   of a series' own history reaches: an ideal t test told where the step
   is, at the same false-alarm budget (about 88% after 20 nights: a short
   history knows its noise too poorly to tell a 10% step at CV 3% from
   noise at 6e-5 a series).
5. Speed: `compare` of two default runs <= 1 s; `history check` over 100
   nights of a quick run <= 2 s (both as CLI commands, start-up included).

Real (--real, or --reuse two existing result files): two back-to-back runs
on this machine, compared. Target: no row "better"/"worse" (indicative or
not) unless disturbed. --real runs a reduced selection (memory kernels,
tools.noop, db.point) in quick; --full-default runs the whole default
profile twice (about 6 minutes on a 2-core VM).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from suite import compare as c  # noqa: E402
from suite import history  # noqa: E402
from suite.results import load, parse  # noqa: E402

TEMPLATE = ROOT / "tests" / "fixtures" / "results" / "real-vm-default.json"
REDUCED = ("stream", "latency", "tools.noop", "db.point")
# The step target's history: a full window of what check looks at.
TARGET_NIGHTS = history.MAX_POINTS


def template() -> dict:
    return json.loads(TEMPLATE.read_text())


def is_triad(r: dict) -> bool:
    return (r["params"].get("kernel") == "triad" or r["benchmark"].endswith("triad")) \
        and r["metric"].startswith("bandwidth")


def is_tool_p99(r: dict) -> bool:
    return r["benchmark"].startswith("tools.") and r["metric"].endswith("p99")


def simulated_run(rng: random.Random, processes: int, run_id: str, drift=0.02, noise=0.01,
                  change=None) -> dict:
    """The template run re-measured: every figure from `processes` worker
    processes, each off by N(0, drift), each with 5 samples at N(0, noise).
    `change(record) -> factor` plants a change on some records."""
    data = template()
    data["run"]["id"] = run_id
    for r in data["results"]:
        if r["value"] is None or r["value"] <= 0:
            continue
        factor = change(r) if change else 1.0
        truth = r["value"] * factor
        values, samples = [], []
        for _ in range(processes):
            level = truth * (1 + rng.gauss(0, drift))
            mine = [level * (1 + rng.gauss(0, noise)) for _ in range(5)]
            samples += mine
            values.append(sorted(mine)[2])
        r["samples"], r["value"] = samples, sorted(values)[len(values) // 2]
        r["info"] = {k: v for k, v in r["info"].items()
                     if k not in ("disturbed", "interference")}
        r["info"]["processes"] = processes
        if processes > 1:
            r["info"]["process_values"] = values
        if r["info"].get("derived") or "plateau_bytes" in r["info"]:
            r["samples"] = [r["value"]]
    return data


def flagged_cells(comp) -> list:
    return [(row, row.cells[1]) for row in comp.rows if row.cells[1].flagged]


def compare_study(trials: int) -> None:
    print("== compare, simulated (2% run-to-run drift, 1% within-run noise) ==")
    for processes, label in ((3, "standard profile, 3 processes a side"),
                             (1, "quick profile, 1 process a side (indicative)")):
        flagged = rows = 0
        for t in range(trials):
            rng = random.Random(t)
            a = parse(simulated_run(rng, processes, "a"), "a.json")
            b = parse(simulated_run(rng, processes, "b"), "b.json")
            comp = c.compare([a, b])
            primary = [r for r in comp.rows if r.primary]
            rows += len(primary)
            flagged += len(flagged_cells(comp))
        rate = flagged / rows
        print(f"A/A, {label}: {flagged} of {rows} primary rows flagged over {trials} trials "
              f"= {rate:.2%} (target <= 1%: {'met' if rate <= 0.01 else 'NOT met'})")
    for name, pick, factor in (("STREAM Triad bandwidth -10%", is_triad, 0.9),
                               ("one tool's p99 latency +25%", is_tool_p99, 1.25)):
        caught = any_caught = others = 0
        planted_total = 0
        for t in range(trials):
            rng = random.Random(1000 + t)
            a = parse(simulated_run(rng, 3, "a"), "a.json")
            b = parse(simulated_run(rng, 3, "b", change=lambda r: factor if pick(r) else 1.0),
                      "b.json")
            comp = c.compare([a, b])
            planted = [row for row in comp.rows if row.primary and pick(
                {"benchmark": row.benchmark, "params": row.params, "metric": row.metric})]
            hit = [row for row in planted if row.cells[1].flagged]
            planted_total += len(planted)
            caught += len(hit)
            any_caught += bool(hit)
            others += len(flagged_cells(comp)) - len(hit)
        print(f"planted {name}, standard profile: flagged in {any_caught} of {trials} trials; "
              f"{caught} of {planted_total} planted rows flagged; "
              f"{others} other rows flagged in all trials")


def primary_series() -> list:
    """(benchmark, params, metric, higher_is_better, value) of the template's
    primary figures: the series a nightly check judges."""
    return [(r.benchmark, r.params, r.metric, r.higher_is_better, r.value)
            for r in parse(template(), TEMPLATE.name).results
            if r.value and r.value > 0 and c.is_primary(r)]


def history_aa(trials: int, nights: int = 30, drift: float = 0.02, first: int = 0) -> None:
    """Alarm nights among the last 30 of `nights` A/A nights; checks from
    night `first` (default: the first judged, MIN_POINTS)."""
    first = first or history.MIN_POINTS
    series = primary_series()
    any_nights, regression_nights = [], []
    for t in range(trials):
        rng = random.Random(t)
        cvs = [rng.uniform(0.01, 0.05) for _ in series]
        values = [[v * (1 + drift * n / (nights - 1)) * (1 + rng.gauss(0, cv))
                   for n in range(nights)] for (_, _, _, _, v), cv in zip(series, cvs)]
        within = [cv / math.sqrt(5) / 2 for cv in cvs]
        flagged = regressed = 0
        for n in range(first, nights + 1):
            changes = [step.change for (_, _, _, hib, _), vs, w in zip(series, values, within)
                       if (step := history.judge_series(vs[:n], hib, within=w,
                                                        series=len(series))) is not None
                       and abs(step.change) * 100 > history.DEFAULT_THRESHOLD_PCT]
            flagged += bool(changes)
            regressed += any(ch < 0 for ch in changes)
        any_nights.append(flagged)
        regression_nights.append(regressed)
    print(f"history A/A: {len(series)} primary series x {nights} nights (CV 1-5%, "
          f"{drift:.0%} linear drift), check after every night from the {first}th, "
          f"{trials} trials:")
    pairs = (("any flag (regression or improvement)", any_nights),
             ("a regression (exit 1)", regression_nights))
    span = nights if first == history.MIN_POINTS else nights - first + 1
    for label, counts in pairs if drift else pairs[:1]:
        mean = sum(counts) / trials
        spread = math.sqrt(sum((b - mean) ** 2 for b in counts) / max(1, trials - 1))
        half = 1.96 * spread / math.sqrt(trials)
        print(f"  nights with {label}: mean {mean:.2f} of {span} (95% CI "
              f"{max(0.0, mean - half):.2f}-{mean + half:.2f}), worst {max(counts)}, "
              f"trials with <= 1 such night {sum(1 for b in counts if b <= 1)} of {trials} "
              f"(target <= 1 night: {'met' if mean <= 1 else 'NOT met'} on average)")


def wilson(hits: int, n: int, z: float = 1.96) -> tuple:
    """95% confidence interval of a proportion (Wilson score)."""
    p, d = hits / n, 1 + z * z / n
    center = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return center - half, center + half


def ideal_t_test(values: list, nights: int, family: int) -> bool:
    """The nights after `nights` against all nights before them, told
    where the step is: the most a test on a series' own history can catch
    at the check's false-alarm budget."""
    from suite.significance import t_quantile

    logs = [math.log(v) for v in values]
    ref, new = logs[:nights], logs[nights:]
    before, after = sum(ref) / len(ref), sum(new) / len(new)
    df = len(logs) - 2
    spread = sum((y - before) ** 2 for y in ref) + sum((y - after) ** 2 for y in new)
    t = (before - after) / (math.sqrt(spread / df) * math.sqrt(1 / len(new) + 1 / len(ref)))
    return t >= t_quantile(1 - history.REGRESSION_ALPHA / family, df)


def history_power(trials: int, nights: int = TARGET_NIGHTS, within: int = 2) -> None:
    """One series of a quick run's check (it shares the check's false-alarm
    budget with the run's other primary series), `nights` nights of history,
    then a 10% drop; caught if flagged on one of the `within` nights after."""
    family = len(primary_series())
    for label, cv_range in (("CV 1-3%", (0.01, 0.03)), ("CV 3% exactly", (0.03, 0.03))):
        targeted = (nights, within, label) == (TARGET_NIGHTS, 2, "CV 1-3%")
        caught = ideal = 0
        for t in range(trials):
            rng = random.Random(50_000 + t)
            cv = rng.uniform(*cv_range)
            vs = [100 * (1 + rng.gauss(0, cv)) for _ in range(nights)]
            vs += [90 * (1 + rng.gauss(0, cv)) for _ in range(within)]
            w = cv / math.sqrt(5) / 2
            hit = any((s := history.judge_series(vs[:k], True, within=w, series=family))
                      is not None
                      and s.change * 100 < -history.DEFAULT_THRESHOLD_PCT
                      for k in range(nights + 1, nights + within + 1))
            caught += hit
            ideal += ideal_t_test(vs, nights, family)
        verdict = 'met' if caught / trials >= 0.95 else 'NOT met'
        low, high = wilson(caught, trials)
        print(f"history step -10% after {nights} nights, {label}, one of {family} series: "
              f"flagged within {within} nights in {caught} of {trials} trials = "
              f"{caught / trials:.1%} (95% CI {low:.1%}-{high:.1%}) "
              + (f"(target >= 95%: {verdict})" if targeted else
                 f"(no target: the target is CV 1-3%, within 2 nights after {TARGET_NIGHTS})"))
        print(f"  an ideal t test of the {within} nights against all {nights} before, told "
              f"where the step is, at the same false-alarm budget: {ideal / trials:.1%}")


def cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "suite", *args], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def speed(tmp: Path, a_path: Path | None = None, b_path: Path | None = None) -> None:
    rng = random.Random(5)
    if a_path is None:
        a_path, b_path = tmp / "a.json", tmp / "b.json"
        a_path.write_text(json.dumps(simulated_run(rng, 1, "a")))
        b_path.write_text(json.dumps(simulated_run(rng, 1, "b")))
    took = min(cli("compare", str(a_path), str(b_path)) for _ in range(3))
    print(f"compare of two default runs: {took:.2f} s (target <= 1 s)")
    store = tmp / "h.sqlite"
    with history.open_store(str(store), create=True) as st:
        for n in range(100):
            data = simulated_run(rng, 1, f"night-{n}")
            data["run"]["started_at"] = f"2026-{1 + n // 28:02d}-{1 + n % 28:02d}T00:00:00Z"
            history.add(st, parse(data))
    took = min(cli("history", "check", "--store", str(store)) for _ in range(3))
    print(f"history check over 100 nights of a quick run: {took:.2f} s (target <= 2 s)")


def run_pair(where: Path, selection: tuple) -> tuple:
    paths = []
    for side in ("a", "b"):
        out = where / side
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "suite", "run", *selection, "--out", str(out),
                        "--quiet", "--no-report"], check=True, cwd=ROOT)
        paths.append(sorted(out.glob("*.json"))[-1])
    return tuple(paths)


def real_aa(a_path: Path, b_path: Path) -> None:
    comp = c.compare([load(a_path), load(b_path)])
    counts: dict = {}
    for row in comp.rows:
        counts[row.cells[1].verdict] = counts.get(row.cells[1].verdict, 0) + 1
    flagged = flagged_cells(comp)
    print(f"== compare, real A/A: {a_path.name} vs {b_path.name} ==")
    print("verdicts: " + ", ".join(f"{v}: {n}" for v, n in sorted(counts.items())))
    print(f"rows flagged better/worse (undisturbed): {len(flagged)} (target 0)")
    for row, cell in flagged:
        print(f"  {row.label}: {cell.ratio:.3f}x {cell.verdict}"
              + (f" (floor {cell.floor:.0%} {cell.floor_from})" if cell.floor else ""))
    ci, overall = comp.overall_ci[1], comp.overall[1]
    print(f"overall geomean " + (f"{overall:.3f}" if overall else "n/a")
          + f" over {comp.common_rows} primary, undisturbed rows, 95% CI "
          + (f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"))
    for name, pick, factor in (("STREAM Triad bandwidth -10%", is_triad, 0.9),
                               ("tool p99 latency +25%", is_tool_p99, 1.25)):
        data = json.loads(b_path.read_text())
        for r in data["results"]:
            if pick(r) and r["value"]:
                r["value"] *= factor
                r["samples"] = [x * factor for x in r["samples"]]
                if "process_values" in r["info"]:
                    r["info"]["process_values"] = [x * factor for x in r["info"]["process_values"]]
        planted = c.compare([load(a_path), parse(data, "b-planted.json")])
        rows = [row for row in planted.rows if row.primary and pick(
            {"benchmark": row.benchmark, "params": row.params, "metric": row.metric})]
        hit = [row for row in rows if row.cells[1].flagged]
        print(f"real A vs B with {name}: {len(hit)} of {len(rows)} planted primary rows "
              "flagged (a quick run is indicative: flagged only beyond its noise floor)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--real", action="store_true", help="two back-to-back runs, compared")
    parser.add_argument("--full-default", action="store_true",
                        help="with --real: the whole default profile, not a reduced selection")
    parser.add_argument("--steady", action="store_true",
                        help="(the A/A over nights 31-60 of a 60-night history now always "
                        "runs; kept for older command lines)")
    parser.add_argument("--reuse", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--keep", type=Path, help="with --real: write the two runs here")
    args = parser.parse_args()
    compare_study(args.trials)
    print("== history check, simulated ==")
    history_aa(args.trials)
    history_aa(args.trials, drift=0.0)  # the drift's own share of the alarms
    # A full window, as the step target: longer references, a drift's lag.
    history_aa(args.trials, nights=history.MAX_POINTS, first=31)
    # 25 x: enough trials that 95% and 93% have disjoint confidence intervals.
    history_power(max(200, args.trials * 25))
    # Shorter histories know the noise less well; a third night after the
    # step tells it from noise sooner.
    for nights in (20, 30, 40):
        history_power(max(200, args.trials * 25), nights=nights)
    history_power(max(200, args.trials * 25), nights=20, within=3)
    print("== speed ==")
    with tempfile.TemporaryDirectory(prefix="verdicts-") as tmp:
        pair = args.reuse
        if args.real and not pair:
            pair = run_pair(args.keep or Path(tmp), () if args.full_default else REDUCED)
        speed(Path(tmp), *(pair or ()))
        if pair:
            real_aa(*pair)


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    main()
