"""Co-run entry: an agent workload alone, the hog alone, and both together.

The hog (workloads.corun.hogs: STREAM Triad or a pointer chase) runs in its
own process on its own cores, started and stopped line by line. The worker
pins itself (and so every process the workload starts) to the workload's
cores. Per workload, each round measures three windows of equal length, in
rotating order so slow drift of a shared machine does not favour one side:

* the workload alone, the hog idle;
* the hog alone, the workload idle;
* both: the hog starts, ramps up, the workload's window runs, the hog stops.

Metrics: `slowdown` = alone throughput / co-run throughput, `p99_inflation`
= co-run p99 / alone p99 (latencies pooled over the rounds), and the hog's
loss: `hog_bandwidth_loss` = 1 - co-run / alone GB/s (triad) or
`hog_latency_inflation` = co-run / alone ns per load (chase); per-round
ratios are the samples. The raw alone and co-run figures are records too.

A child runs every selected workload in turn beside one hog process; each
workload's records carry its own id, `corun.<workload>`.
"""
from __future__ import annotations

import os
import time

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import profile_row, seed_of
from workloads.corun import drivers
from workloads.corun.drivers import Unavailable
from workloads.corun.specs import DEPTH, WORKLOADS, workload_of

# -- rounds -------------------------------------------------------------------------
def together(hog, driver, seconds: float, ramp_s: float) -> tuple:
    """(workload Window, hog figure, hog ok) over one shared window: the hog's
    figure counts only its work inside the workload's window, not its ramp
    (`ramp_s`) before it or its drain after."""
    hog.start()
    window = (None, None)
    try:
        time.sleep(ramp_s)
        t_start = time.monotonic()
        w = driver.window(seconds)
        window = (t_start, time.monotonic())
    finally:
        # Stopped even when the window failed: the next workload needs it.
        figure, ok = hog.stop(*window)
    return w, figure, ok


def hog_alone(hog, seconds: float, ramp_s: float) -> tuple:
    """(hog figure, ok) of the hog running `seconds` on its own, past the
    same ramp as beside a workload."""
    hog.start()
    time.sleep(ramp_s)
    t_start = time.monotonic()
    time.sleep(seconds)
    return hog.stop(t_start, time.monotonic())


def measure_rounds(hog, driver, rounds: int, seconds: float, ramp_s: float) -> dict:
    out = {"alone": [], "corun": [], "hog_alone": [], "hog_corun": [], "hog_ok": True}
    for i in range(rounds):
        steps = ["alone", "hog", "both"]
        steps = steps[i % 3:] + steps[:i % 3]
        for step in steps:
            if step == "alone":
                out["alone"].append(driver.window(seconds))
            elif step == "hog":
                figure, ok = hog_alone(hog, seconds, ramp_s)
                out["hog_alone"].append(figure)
                out["hog_ok"] &= ok
            else:
                w, figure, ok = together(hog, driver, seconds, ramp_s)
                out["corun"].append(w)
                out["hog_corun"].append(figure)
                out["hog_ok"] &= ok
    return out


# -- entry ------------------------------------------------------------------------
def run_benchmark(job) -> Outcome:
    from workloads.corun.hogs import make_hog

    settings = job.settings
    profile = job.profile.name
    depth = profile_row(DEPTH, job.profile)
    options = job.options
    seed = seed_of(options)
    # Records carry only what identifies the measurement on any machine
    # (compare matches records by params); the cores are in `info`.
    placement = {"workload_cpus": list(settings["workload_cpus"])}
    # The hog's process starts first, on every CPU of the configuration, and
    # pins itself; everything the worker starts after this (compilers, pool
    # workers, database clients) inherits the workload's cores.
    hog = make_hog(job.params["hog"], settings["hog_cpus"], elements=int(settings["elements"]),
                   working_set=int(settings["chase_bytes"]))
    os.sched_setaffinity(0, settings["workload_cpus"])
    records, errors, opened = [], [], []
    try:
        # Every workload is set up and warmed while the hog sets itself up
        # (seconds: its Numba import and first touch of its arrays).
        for bench in job.ids:
            params = {"hog": job.params["hog"]}
            driver = drivers.make_driver(workload_of(bench), settings["workload_cpus"], seed, options,
                                 profile)
            try:
                info = driver.open()
                driver.window(depth.warmup_s)  # not recorded (CorunDepth)
                opened.append((bench, params, driver, info))
            except Exception as exc:
                driver.close()
                errors.append(_failed(bench, params, exc))
        hog.wait_ready()
        for bench, params, driver, info in opened:
            try:
                if depth.rewarm_s:
                    driver.window(depth.rewarm_s)  # not recorded
                data = measure_rounds(hog, driver, depth.rounds, depth.window_s, depth.ramp_s)
            except Exception as exc:
                errors.append(_failed(bench, params, exc))
                continue
            out = outcome(bench, params, data, driver.unit,
                          {**_described(workload_of(bench)), **info, **placement, **hog.info()},
                          hog, depth.ramp_s)
            records.extend(out.records)
            errors.extend(out.errors)
    finally:
        # Last opened, first closed: a driver's forked clients hold copies of
        # the pipes of the pools opened before it (a runtime worker sees EOF
        # on its stdin only once they are gone).
        for _, _, driver, _ in reversed(opened):
            driver.close()
        hog.close()
    return Outcome(records=tuple(records), errors=tuple(errors))


def _failed(bench: str, params: dict, exc: Exception) -> ErrorRecord:
    """One workload that could not run; the others still do."""
    if isinstance(exc, Unavailable):
        return ErrorRecord(bench, params, "skipped", str(exc))
    return ErrorRecord(bench, params, "error", f"{type(exc).__name__}: {exc}")


def _described(workload: str) -> dict:
    w = WORKLOADS.get(workload)
    return {"workload": w.description if w else workload}


def _p99(windows: list) -> float | None:
    lat = [x for w in windows for x in w.latencies_ms]
    return stats.percentile(lat, 99) if lat else None


def outcome(bench: str, params: dict, data: dict, unit: str, driver_info: dict, hog,
            ramp_s: float) -> Outcome:
    """Records of one workload's rounds. `hog` names the hog's figure
    (name, figure, unit, higher_is_better: a workloads.corun.hogs class will do)."""
    alone, corun = data["alone"], data["corun"]
    failures = sum(w.failures for w in alone + corun)
    problems = []
    if failures:
        first = next(w.first_failure for w in alone + corun if w.failures)
        problems.append(f"{failures} workload operation(s) failed; first: {first}")
    if any(w.ops == 0 for w in alone + corun):
        problems.append("a window completed no workload operation")
    if not data["hog_ok"]:
        problems.append(f"the {hog.name} hog failed its own check (wrong values or chain ends)")
    ok = not problems
    info = {**driver_info, "window_s": round(alone[0].seconds, 3) if alone else None,
            "rounds": len(alone), "hog_ramp_s": ramp_s,
            "policy": "alone, hog alone and co-run windows of equal length, order rotating "
                      "per round; the hog runs from before to after the co-run window",
            "split": f"workload on workload_cpus, {hog.name} hog on hog_cpus"}
    alone_tp = [w.throughput for w in alone]
    corun_tp = [w.throughput for w in corun]
    hog_a, hog_c = data["hog_alone"], data["hog_corun"]
    recs = []

    def rec(metric, unit_, samples, value, higher_is_better):
        if value is not None:
            recs.append(measurement(bench, params, metric, unit_, samples, value=value,
                                    higher_is_better=higher_is_better, validated=ok, info=info))

    med = stats.median
    rec("throughput_alone", unit, alone_tp, med(alone_tp), True)
    rec("throughput_corun", unit, corun_tp, med(corun_tp), True)
    if all(corun_tp):
        rec("slowdown", "x", [a / c for a, c in zip(alone_tp, corun_tp)], med(alone_tp) / med(corun_tp), False)
    p99_a, p99_c = _p99(alone), _p99(corun)
    rec("latency_p99_alone", "ms", [], p99_a, False)
    rec("latency_p99_corun", "ms", [], p99_c, False)
    if p99_a and p99_c:
        per_round = [_p99([c]) / _p99([a]) for a, c in zip(alone, corun)
                     if a.latencies_ms and c.latencies_ms]
        rec("p99_inflation", "x", per_round, p99_c / p99_a, False)
    figure, higher = f"hog_{hog.figure}", hog.higher_is_better
    rec(f"{figure}_alone", hog.unit, hog_a, med(hog_a), higher)
    rec(f"{figure}_corun", hog.unit, hog_c, med(hog_c), higher)
    if med(hog_a) > 0 and med(hog_c) > 0:
        if higher:  # a rate: the share the workload took from it
            rec(f"{figure}_loss", "fraction", [1 - c / a for a, c in zip(hog_a, hog_c)],
                1 - med(hog_c) / med(hog_a), False)
        else:  # a latency: how much longer it got
            rec(f"{figure}_inflation", "x", [c / a for a, c in zip(hog_a, hog_c)],
                med(hog_c) / med(hog_a), False)
    errors = tuple(ErrorRecord(bench, params, "invalid", m) for m in problems)
    return Outcome(records=tuple(recs), errors=errors)
