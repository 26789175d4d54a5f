"""Co-run entry: an agent workload alone, the hog alone, and both together.

The hog (workloads.corun_hogs: STREAM Triad or a pointer chase) runs in its
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
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import profile_row
from workloads.corun import DEPTH, workload_of

# Windows alone and not recorded: after set-up, in the shadow of the hog's
# own (imports, first-call costs), and again right before the workload's
# rounds (its caches, after the previous workload ran).
WARMUP_S = 0.3
REWARM_S = 0.1
HOG_RAMP_S = 0.05  # the hog reaches full speed before the workload's window opens


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
    """The workload cannot run on this machine (no compiler, no sandbox, no dataset)."""


# -- workload drivers: open() -> info, window(seconds) -> Window, close() --------------
class ToolDriver:
    """Closed-loop calls of one tool on a warm pool, one client per core."""

    family = "tools"
    unit = "calls/s"

    def __init__(self, workload: str, cpus: list, seed: int, options: dict, profile: str):
        self.tool_name, self.cpus, self.seed = workload.split(".", 1)[1], cpus, seed

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
        return _load_window(r)

    def close(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            model.close()


def _load_window(r) -> Window:
    """A Window from a tools load test (workloads.tools.loadgen.LoadResult)."""
    span = max((end for end, _, _ in r.latencies), default=0.0)
    return Window(r.ok, span, [lat * 1e3 for _, lat, _ in r.latencies],
                  r.errors.total, r.errors.summary() if r.errors.total else "")


class CompileDriver:
    """Sandboxed single-unit compiles, one compiler at a time per core."""

    family = "compile"
    unit = "units/s"

    def __init__(self, workload: str, cpus: list, seed: int, options: dict, profile: str):
        self.cpus, self.seed = cpus, seed
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
        self.corpus = generate("small", self.seed)
        sandbox = Sandbox(timeout_s=120.0)
        self._session_cm = sandbox.session()
        self.session = self._session_cm.__enter__()
        self.session.write(self.corpus.files)
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


class DbDriver:
    """One query class on the SQLite agent store, one client process per core,
    back to back (workloads.db.clients); every answer is checked."""

    family = "db"
    unit = "queries/s"

    def __init__(self, workload: str, cpus: list, seed: int, options: dict, profile: str):
        self.query_name = workload.split(".", 1)[1]
        self.cpus, self.options, self.profile = cpus, options, profile
        self.pool = None

    def open(self) -> dict:
        from workloads.db import dataset as datasets
        from workloads.db.clients import ClientPool
        from workloads.db.engines import SqliteEngine
        from workloads.db.queries import QUERY_CLASSES

        try:
            data = datasets.ensure_dataset(self.options, self.profile)
        except datasets.DatasetError as exc:
            raise Unavailable(str(exc)) from None
        engine = SqliteEngine(data.store)
        query = QUERY_CLASSES[self.query_name]
        tag = f"corun-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.pool = ClientPool(engine, query, data.answers(), len(self.cpus), data.seed, tag)
        return {**engine.info(), "clients": len(self.cpus), "query_class": query.description,
                "dataset_scale": data.scale, "dataset_hash": data.hash}

    def window(self, seconds: float) -> Window:
        r = self.pool.run_round(seconds)
        unchecked = r.queries - r.checked
        problem = r.first_problem or (f"{unchecked} answers not checked" if unchecked else "")
        return Window(r.queries - r.wrong - unchecked, r.wall_s,
                      [x * 1e3 for x in r.latencies_s], r.wrong + unchecked, problem)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class AgentStepDriver:
    """Simulated agents (workloads.agent_step) on a warm pool, one worker per
    core: each agent steps, waits its inference time, steps again. The agent
    count keeps the cores about as busy as agent_step.TARGET_LOAD says (from a
    probe of the CPU time per step), so the step latency shows queueing."""

    family = "agent"
    unit = "steps/s"
    PROBE_S = 0.2
    MAX_AGENTS_PER_CPU = 64  # as agent.step's search

    def __init__(self, workload: str, cpus: list, seed: int, options: dict, profile: str):
        self.cpus, self.seed, self.options, self.profile = cpus, seed, options, profile
        self.pool = self._reference = None

    def open(self) -> dict:
        from workloads import agent, agent_step
        from workloads.tools import catalog, loadgen
        from workloads.tools.bench import CALL_TIMEOUT_S
        from workloads.tools.pool import WarmPool

        self.think_s = float(self.options.get("inference_ms") or agent.DEFAULT_INFERENCE_MS) / 1e3
        store = agent_step.open_state_store(self.options, self.profile)
        store_path, store_note = store.path, store.note
        n_cpus = len(self.cpus)
        payloads = agent_step.make_agent_inputs(self.seed, self.MAX_AGENTS_PER_CPU * n_cpus,
                                                store.session_ids)
        if store_path:
            from workloads.db.agent_state import AgentStateStore

            self._reference = AgentStateStore(store_path, writer="corun.agent.step-reference")
        expected: dict = {}

        def expected_for(a: int) -> str:
            if a not in expected:
                out = agent_step.step(payloads[a], store=self._reference, write=False)
                expected[a] = catalog.digest(out)
            return expected[a]

        def check(c):
            ok = c.digest == expected_for(c.call.index)
            return None if ok else "step digest differs from the reference"

        self._check = check
        runner = agent_step.worker_step(store_path, writer="corun.agent.step")
        self.pool = WarmPool({"agent_step": runner},
                             {"agent_step": payloads}, n_cpus, timeout_s=CALL_TIMEOUT_S)
        self.pool.start()
        probe = loadgen.closed_loop(self.pool, lambda k: ("agent_step", k % n_cpus), check,
                                    concurrency=n_cpus, window_s=self.PROBE_S, min_calls=n_cpus)
        cpu = [c for _, _, c in probe.latencies if c]
        step_s = stats.mean(cpu) if cpu else self.think_s
        wanted = int(agent_step.TARGET_LOAD * n_cpus * (self.think_s + step_s) / step_s)
        self.agents = max(n_cpus, min(wanted, len(payloads)))
        for a in range(self.agents):  # every agent's reference answer, before any window
            expected_for(a)
        return {"agents": self.agents, "inference_ms": self.think_s * 1e3,
                "step_cpu_ms_probe": round(step_s * 1e3, 3), "pool_size": n_cpus,
                "target_load": agent_step.TARGET_LOAD, "state_store": store_note,
                "latency_from": "agent ready (end of its inference wait)"}

    def window(self, seconds: float) -> Window:
        from workloads.tools import loadgen

        n = self.agents
        r = loadgen.closed_loop(self.pool, lambda k: ("agent_step", k % n), self._check,
                                concurrency=n, window_s=seconds, think_s=self.think_s,
                                seed=self.seed)
        return _load_window(r)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self._reference is not None:
            self._reference.close()


DRIVERS = {d.family: d for d in (CompileDriver, ToolDriver, DbDriver, AgentStepDriver)}


def make_driver(workload: str, cpus: list, seed: int, options: dict | None = None,
                profile: str = "quick"):
    """The driver of the workload's family (its id's first component)."""
    driver = DRIVERS.get(workload.split(".", 1)[0])
    if driver is None or "." not in workload:
        raise ValueError(f"no co-run driver for workload {workload!r}; accepted: "
                         + ", ".join(f"{family}.<name>" for family in DRIVERS))
    return driver(workload, cpus, seed, options or {}, profile)


# -- rounds -------------------------------------------------------------------------
def together(hog, driver, seconds: float) -> tuple:
    """(workload Window, hog figure, hog ok) over one shared window: the hog's
    figure counts only its work inside the workload's window, not its ramp
    before it or its drain after."""
    hog.start()
    window = (None, None)
    try:
        time.sleep(HOG_RAMP_S)
        t_start = time.monotonic()
        w = driver.window(seconds)
        window = (t_start, time.monotonic())
    finally:
        # Stopped even when the window failed: the next workload needs it.
        figure, ok = hog.stop(*window)
    return w, figure, ok


def hog_alone(hog, seconds: float) -> tuple:
    """(hog figure, ok) of the hog running `seconds` on its own, past the
    same ramp as beside a workload."""
    hog.start()
    time.sleep(HOG_RAMP_S)
    t_start = time.monotonic()
    time.sleep(seconds)
    return hog.stop(t_start, time.monotonic())


def measure_rounds(hog, driver, rounds: int, seconds: float) -> dict:
    out = {"alone": [], "corun": [], "hog_alone": [], "hog_corun": [], "hog_ok": True}
    for i in range(rounds):
        steps = ["alone", "hog", "both"]
        steps = steps[i % 3:] + steps[:i % 3]
        for step in steps:
            if step == "alone":
                out["alone"].append(driver.window(seconds))
            elif step == "hog":
                figure, ok = hog_alone(hog, seconds)
                out["hog_alone"].append(figure)
                out["hog_ok"] &= ok
            else:
                w, figure, ok = together(hog, driver, seconds)
                out["corun"].append(w)
                out["hog_corun"].append(figure)
                out["hog_ok"] &= ok
    return out


# -- entry ------------------------------------------------------------------------
def run_benchmark(job) -> Outcome:
    from workloads.corun_hogs import make_hog

    p, where = job.params, job.settings
    profile = job.profile.name
    depth = profile_row(DEPTH, job.profile)
    options = dict(job.options or {})
    seed = int(options.get("seed") or 1)
    # Records carry only what identifies the measurement on any machine
    # (compare matches records by params); the cores are in `info`.
    placement = {"workload_cpus": list(where["workload_cpus"])}
    # The hog's process starts first, on every CPU of the configuration, and
    # pins itself; everything the worker starts after this (compilers, pool
    # workers, database clients) inherits the workload's cores.
    hog = make_hog(p["hog"], where["hog_cpus"], elements=int(where["elements"]),
                   working_set=int(where["chase_bytes"]))
    os.sched_setaffinity(0, where["workload_cpus"])
    records, errors, opened = [], [], []
    try:
        # Every workload is set up and warmed while the hog sets itself up
        # (seconds: its Numba import and first touch of its arrays).
        for bench in job.ids:
            params = {"hog": p["hog"]}
            driver = make_driver(workload_of(bench), where["workload_cpus"], seed, options,
                                 profile)
            try:
                info = driver.open()
                driver.window(WARMUP_S)  # not recorded
                opened.append((bench, params, driver, info))
            except Exception as exc:
                driver.close()
                errors.append(_failed(bench, params, exc))
        hog.wait_ready()
        for bench, params, driver, info in opened:
            try:
                driver.window(REWARM_S)  # not recorded
                data = measure_rounds(hog, driver, depth.rounds, depth.window_s)
            except Exception as exc:
                errors.append(_failed(bench, params, exc))
                continue
            out = outcome(bench, params, data, driver.unit,
                          {**_described(workload_of(bench)), **info, **placement, **hog.info()},
                          hog)
            records.extend(out.records)
            errors.extend(out.errors)
    finally:
        for _, _, driver, _ in opened:
            driver.close()
        hog.close()
    return Outcome(records=tuple(records), errors=tuple(errors))


def _failed(bench: str, params: dict, exc: Exception) -> ErrorRecord:
    """One workload that could not run; the others still do."""
    if isinstance(exc, Unavailable):
        return ErrorRecord(bench, params, "skipped", str(exc))
    return ErrorRecord(bench, params, "error", f"{type(exc).__name__}: {exc}")


def _described(workload: str) -> dict:
    from workloads.corun import WORKLOADS

    w = WORKLOADS.get(workload)
    return {"workload": w.description if w else workload}


def _p99(windows: list) -> float | None:
    lat = [x for w in windows for x in w.latencies_ms]
    return stats.percentile(lat, 99) if lat else None


def outcome(bench: str, params: dict, data: dict, unit: str, driver_info: dict, hog) -> Outcome:
    """Records of one workload's rounds. `hog` names the hog's figure
    (name, figure, unit, higher_is_better: a corun_hogs class will do)."""
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
            "rounds": len(alone), "hog_ramp_s": HOG_RAMP_S,
            "policy": "alone, hog alone and co-run windows of equal length, order rotating "
                      "per round; the hog runs from before to after the co-run window",
            "split": f"workload on workload_cpus, {hog.name} hog on hog_cpus"}
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
    figure, hib = f"hog_{hog.figure}", hog.higher_is_better
    rec(f"{figure}_alone", hog.unit, hog_a, med(hog_a), hib)
    rec(f"{figure}_corun", hog.unit, hog_c, med(hog_c), hib)
    if med(hog_a) > 0 and med(hog_c) > 0:
        if hib:  # a rate: the share the workload took from it
            rec(f"{figure}_loss", "fraction", [1 - c / a for a, c in zip(hog_a, hog_c)],
                1 - med(hog_c) / med(hog_a), False)
        else:  # a latency: how much longer it got
            rec(f"{figure}_inflation", "x", [c / a for a, c in zip(hog_a, hog_c)],
                med(hog_c) / med(hog_a), False)
    errors = tuple(ErrorRecord(bench, params, "invalid", m) for m in problems)
    return Outcome(records=tuple(recs), errors=errors)
