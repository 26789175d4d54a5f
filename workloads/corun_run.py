"""Co-run entry: an agent workload alone, the hog alone, and both together.

The hog is the loaded-latency bandwidth process (`kernels.loaded`): a
STREAM Triad on its own cores, started and stopped line by line. The worker
pins itself (and so every process the workload starts) to the workload's
cores. Each round measures three windows of equal length, in rotating order
so slow drift of a shared machine does not favour one side:

* the workload alone, the hog idle;
* the hog alone, the workload idle;
* both: the hog starts, ramps up, the workload's window runs, the hog stops.

Metrics: `slowdown` = alone throughput / co-run throughput, `p99_inflation`
= co-run p99 / alone p99 (latencies pooled over the rounds),
`hog_bandwidth_loss` = 1 - co-run hog GB/s / alone hog GB/s; per-round
ratios are the samples. The raw alone and co-run figures are records too.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement

ROUNDS = {"quick": 2, "standard": 4, "full": 8}
WINDOW_S = {"quick": 0.4, "standard": 2.0, "full": 5.0}
WARMUP_S = 0.3
HOG_RAMP_S = 0.05  # the hog reaches full bandwidth before the workload's window opens
HOG_FULL_SPEED = 0  # injected delay per element: none


@dataclass
class Window:
    """What the workload did in one window."""

    ops: int
    seconds: float
    latencies_ms: list = field(default_factory=list)
    failures: int = 0
    first_failure: str = ""

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


class Unavailable(Exception):
    """The workload cannot run on this machine (no compiler, no sandbox)."""


# -- workload drivers ---------------------------------------------------------
class ToolDriver:
    """Closed-loop calls of one tool on a warm pool, one client per core."""

    unit = "calls/s"

    def __init__(self, tool: str, cpus: list, seed: int):
        self.tool_name, self.cpus, self.seed = tool, cpus, seed

    def open(self) -> dict:
        from workloads.tools import bench, catalog

        tool = catalog.TOOLS[self.tool_name]
        inputs = {tool.name: tool.make_inputs(self.seed)}
        expected = catalog.expected_digests(tool, inputs[tool.name])
        self._pick = lambda n: (tool.name, n % catalog.INPUT_VARIANTS)
        self._check = (lambda c: None if c.digest == expected[c.call.index]
                       else "wrong output digest")
        self.model = bench.open_model("pool", tool, inputs, len(self.cpus),
                                      pool_size=len(self.cpus))
        return {"model": "pool", "concurrency": len(self.cpus), "seed": self.seed}

    def window(self, seconds: float) -> Window:
        from workloads.tools import loadgen

        r = loadgen.closed_loop(self.model, self._pick, self._check,
                                concurrency=len(self.cpus), window_s=seconds, min_calls=3)
        span = max((end for end, _, _ in r.latencies), default=0.0)
        return Window(r.ok, span, [lat * 1e3 for _, lat, _ in r.latencies],
                      r.errors.total, r.errors.summary() if r.errors.total else "")

    def close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            model.close()


class CompileDriver:
    """Sandboxed single-unit compiles, one compiler at a time per core."""

    unit = "units/s"

    def __init__(self, cpus: list, seed: int):
        self.cpus = cpus
        self._session_cm = None

    def open(self) -> dict:
        from workloads.compile.build import FLAGS, compile_unit
        from workloads.compile.corpus import generate
        from workloads.compile.toolchain import find_compiler
        from workloads.sandbox import Sandbox

        compiler = find_compiler()
        if compiler is None:
            raise Unavailable("no C compiler found (tried cc, gcc, clang); install gcc")
        self.compile_unit, self.compiler = compile_unit, compiler
        self.corpus = generate("small", 1)
        sandbox = Sandbox(timeout_s=120.0)
        self._session_cm = sandbox.session()
        self.session = self._session_cm.__enter__()
        self.session.write(self.corpus.files)
        self.compile_unit(self.session, compiler.path, self.corpus.units[0])  # warm-up
        return {"compiler": compiler.info(FLAGS), "backend": sandbox.backend,
                "jobs": len(self.cpus), "corpus_units": len(self.corpus.units)}

    def window(self, seconds: float) -> Window:
        units, jobs = self.corpus.units, len(self.cpus)
        deadline = time.perf_counter() + seconds

        # Job k compiles units k, k+jobs, ...: no two jobs touch one object file.
        def job(k: int) -> list:
            done, i = [], k
            while time.perf_counter() < deadline:
                done.append(self.compile_unit(self.session, self.compiler.path,
                                              units[i % len(units)]))
                i += jobs
            return done

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = [r for part in pool.map(job, range(jobs)) for r in part]
        wall = time.perf_counter() - t0
        bad = [r for r in results if not r.ok]
        return Window(len(results) - len(bad), wall,
                      [r.latency_s * 1e3 for r in results if r.ok], len(bad),
                      f"{bad[0].unit}: {bad[0].message}" if bad else "")

    def close(self) -> None:
        if self._session_cm is not None:
            self._session_cm.__exit__(None, None, None)


def make_driver(workload: str, cpus: list, seed: int):
    if workload == "compile.c":
        return CompileDriver(cpus, seed)
    if workload.startswith("tools."):
        return ToolDriver(workload.split(".", 1)[1], cpus, seed)
    raise ValueError(f"no co-run driver for workload {workload!r}; "
                     "accepted: compile.c, tools.<tool>")


# -- the hog --------------------------------------------------------------------
def hog_alone(hog, seconds: float) -> tuple:
    """(GB/s, ok) of the hog running `seconds` on its own."""
    hog.send(f"run {HOG_FULL_SPEED}")
    hog.expect("running")
    time.sleep(seconds)
    return _hog_result(hog)


def _hog_result(hog) -> tuple:
    from kernels.loaded import TRIAD_BYTES_PER_ELEMENT

    done, secs, ok = hog.stop()
    return done * TRIAD_BYTES_PER_ELEMENT / secs / 1e9, ok


def together(hog, driver, seconds: float) -> tuple:
    """(workload Window, hog GB/s, hog ok) over one shared window."""
    hog.send(f"run {HOG_FULL_SPEED}")
    hog.expect("running")
    time.sleep(HOG_RAMP_S)
    w = driver.window(seconds)
    gbs, ok = _hog_result(hog)
    return w, gbs, ok


# -- entry ------------------------------------------------------------------------
def _rounds(hog, driver, rounds: int, seconds: float) -> dict:
    out = {"alone": [], "corun": [], "hog_alone": [], "hog_corun": [], "hog_ok": True}
    for i in range(rounds):
        steps = ["alone", "hog", "both"]
        steps = steps[i % 3:] + steps[:i % 3]
        for step in steps:
            if step == "alone":
                out["alone"].append(driver.window(seconds))
            elif step == "hog":
                gbs, ok = hog_alone(hog, seconds)
                out["hog_alone"].append(gbs)
                out["hog_ok"] &= ok
            else:
                w, gbs, ok = together(hog, driver, seconds)
                out["corun"].append(w)
                out["hog_corun"].append(gbs)
                out["hog_ok"] &= ok
    return out


def _p99(windows: list) -> float | None:
    lat = [x for w in windows for x in w.latencies_ms]
    return stats.percentile(lat, 99) if lat else None


def run_benchmark(job) -> Outcome:
    from kernels.loaded import LoadProcess

    p = job.params
    profile = job.profile.name
    seed = int((job.options or {}).get("seed") or 1)
    hog = LoadProcess(p["hog_cpus"], int(p["elements"]))
    driver = make_driver(p["workload"], p["workload_cpus"], seed)
    try:
        # Everything the workload starts from here on inherits its cores.
        os.sched_setaffinity(0, p["workload_cpus"])
        try:
            driver_info = driver.open()
        except Unavailable as exc:
            return Outcome(errors=(ErrorRecord(job.benchmark, dict(p), "skipped", str(exc)),))
        hog.expect("ready")
        together(hog, driver, WARMUP_S)  # warm both sides; not recorded
        data = _rounds(hog, driver, ROUNDS.get(profile, 2), WINDOW_S.get(profile, 0.4))
    finally:
        driver.close()
        hog.close()
    return _outcome(job.benchmark, dict(p), data, driver.unit, driver_info)


def _outcome(bench: str, params: dict, data: dict, unit: str, driver_info: dict) -> Outcome:
    alone, corun = data["alone"], data["corun"]
    failures = sum(w.failures for w in alone + corun)
    problems = []
    if failures:
        first = next(w.first_failure for w in alone + corun if w.failures)
        problems.append(f"{failures} workload operation(s) failed; first: {first}")
    if any(w.ops == 0 for w in alone + corun):
        problems.append("a window completed no workload operation")
    if not data["hog_ok"]:
        problems.append("the STREAM Triad hog wrote wrong values")
    ok = not problems
    info = {**driver_info, "window_s": round(alone[0].seconds, 3) if alone else None,
            "rounds": len(alone), "hog_ramp_s": HOG_RAMP_S,
            "policy": "alone, hog alone and co-run windows of equal length, order rotating "
                      "per round; the hog runs from before to after the co-run window",
            "split": "workload on workload_cpus, STREAM Triad hog on hog_cpus"}
    tp_a = [w.throughput for w in alone]
    tp_c = [w.throughput for w in corun]
    hog_a, hog_c = data["hog_alone"], data["hog_corun"]
    recs = []

    def rec(metric, unit_, samples, value, hib):
        if value is not None:
            recs.append(measurement(bench, params, metric, unit_, samples, value=value,
                                    higher_is_better=hib, validated=ok, info=info))

    med = stats.median
    rec("throughput_alone", unit, tp_a, med(tp_a), True)
    rec("throughput_corun", unit, tp_c, med(tp_c), True)
    if all(tp_c):
        rec("slowdown", "x", [a / c for a, c in zip(tp_a, tp_c)], med(tp_a) / med(tp_c), False)
    p99_a, p99_c = _p99(alone), _p99(corun)
    rec("latency_p99_alone", "ms", [], p99_a, False)
    rec("latency_p99_corun", "ms", [], p99_c, False)
    if p99_a and p99_c:
        per_round = [_p99([c]) / _p99([a]) for a, c in zip(alone, corun)
                     if a.latencies_ms and c.latencies_ms]
        rec("p99_inflation", "x", per_round, p99_c / p99_a, False)
    rec("hog_bandwidth_alone", "GB/s", hog_a, med(hog_a), True)
    rec("hog_bandwidth_corun", "GB/s", hog_c, med(hog_c), True)
    if med(hog_a) > 0:
        rec("hog_bandwidth_loss", "fraction", [1 - c / a for a, c in zip(hog_a, hog_c)],
            1 - med(hog_c) / med(hog_a), False)
    errors = tuple(ErrorRecord(bench, params, "invalid", m) for m in problems)
    return Outcome(records=tuple(recs), errors=errors)
