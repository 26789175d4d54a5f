"""Co-run workload drivers: each runs one agent workload on the workload's
cores, one window at a time (`open() -> info`, `window(seconds) -> Window`,
`close()`), checking every operation. A driver serves a family of workload
ids (DRIVERS): compile.*, tools.*, db.*, agent.*, runtime.*.
"""
from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

from suite import stats
from suite.options import BenchmarkOptions

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

    def __init__(self, workload: str, cpus: list, seed: int, options: BenchmarkOptions, profile: str):
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


class RuntimeToolDriver(ToolDriver):
    """The JSON tool on a warm pool of long-lived JVMs or Node.js processes
    (workloads.runtime), one closed-loop client per core."""

    family = "runtime"
    TOOL = "json_transform"  # the one tools.json_transform runs: the same digests

    def __init__(self, workload: str, cpus: list, seed: int, options: BenchmarkOptions, profile: str):
        from suite.spec import profile_row
        from workloads.corun.specs import DEPTH

        super().__init__(f"tools.{self.TOOL}", cpus, seed, options, profile)
        self.kind = workload.split(".")[1]  # runtime.<jvm|node>.tools
        self.options = options
        self.warmup_ms = profile_row(DEPTH, profile).runtime_warmup_ms

    def open(self) -> dict:
        from suite.errors import Skipped
        from workloads.runtime import tools as runtime_tools
        from workloads.tools import catalog

        inputs = runtime_tools.catalog_inputs([self.TOOL], self.seed)
        expected = catalog.expected_digests(catalog.TOOLS[self.TOOL], inputs[self.TOOL])
        self._pick = lambda n: (self.TOOL, n % catalog.INPUT_VARIANTS)
        self._check = (lambda c: None if c.digest == expected[c.call.index] else "wrong output digest")
        try:
            self.model, info = runtime_tools.open_pool(self.kind, inputs, len(self.cpus), self.warmup_ms,
                                                       options=self.options)
        except Skipped as exc:
            raise Unavailable(str(exc)) from None
        return {**info, "model": self.model.name, "tool": self.TOOL, "concurrency": len(self.cpus),
                "seed": self.seed, "warmup_ms": self.warmup_ms}


def _load_window(r) -> Window:
    """A Window from a tools load test (workloads.tools.loadgen.LoadResult)."""
    span = max((end for end, _, _ in r.latencies), default=0.0)
    return Window(r.ok, span, [lat * 1e3 for _, lat, _ in r.latencies],
                  r.errors.total, r.errors.summary() if r.errors.total else "")


class CompileDriver:
    """Sandboxed single-unit compiles, one compiler at a time per core."""

    family = "compile"
    unit = "units/s"

    def __init__(self, workload: str, cpus: list, seed: int, options: BenchmarkOptions, profile: str):
        self.cpus, self.seed = cpus, seed
        self._resources = ExitStack()

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
        self.session = self._resources.enter_context(sandbox.session())
        self.session.write(self.corpus.files)
        return {"compiler": compiler.info(FLAGS), "backend": sandbox.backend,
                "jobs": len(self.cpus), "corpus_units": len(self.corpus.units)}

    def window(self, seconds: float) -> Window:
        units, jobs = self.corpus.units, len(self.cpus)
        deadline = time.perf_counter() + seconds

        # Job k compiles units k, k+jobs, ...: no two jobs touch one object file.
        # Each compiles one unit at least, however late its thread starts.
        def job(k: int) -> list:
            done, i = [], k
            while not done or time.perf_counter() < deadline:
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
        self._resources.close()


class DbDriver:
    """One query class on the SQLite agent store, one client process per core,
    back to back (workloads.db.clients); every answer is checked."""

    family = "db"
    unit = "queries/s"

    def __init__(self, workload: str, cpus: list, seed: int, options: BenchmarkOptions, profile: str):
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
    """Simulated agents (workloads.agent.step) on a warm pool, one worker per
    core: each agent steps, waits its inference time, steps again. The agent
    count keeps the cores about as busy as workloads.agent.step.TARGET_LOAD says (from a
    probe of the CPU time per step), so the step latency shows queueing."""

    family = "agent"
    unit = "steps/s"
    MAX_AGENTS_PER_CPU = 64  # as agent.step's search

    def __init__(self, workload: str, cpus: list, seed: int, options: BenchmarkOptions, profile: str):
        from suite.spec import profile_row
        from workloads.corun.specs import DEPTH

        self.cpus, self.seed, self.options, self.profile = cpus, seed, options, profile
        self.probe_s = profile_row(DEPTH, profile).agent_probe_s
        self.pool = self._reference = None

    def open(self) -> dict:
        from workloads.agent import specs as agent
        from workloads.agent import step as agent_step
        from workloads.tools import catalog, loadgen
        from workloads.tools.bench import CALL_TIMEOUT_S
        from workloads.tools.pool import WarmPool

        self.think_s = float(self.options.inference_ms) / 1e3
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
                                    concurrency=n_cpus, window_s=self.probe_s, min_calls=n_cpus)
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
        # Agents start at random points of their first inference wait: a
        # window shorter than that waits (up to 5x) for one finished step.
        r = loadgen.closed_loop(self.pool, lambda k: ("agent_step", k % n), self._check,
                                concurrency=n, window_s=seconds, think_s=self.think_s,
                                seed=self.seed, min_calls=1)
        return _load_window(r)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self._reference is not None:
            self._reference.close()


class VectorDriver(DbDriver):
    """kNN queries of db.vector (db.vector.exact: sqlite-vec scan; db.vector.hnsw:
    usearch), one client process per core, every answer checked."""

    family = "db.vector"

    def open(self) -> dict:
        import psutil

        from workloads.db.clients import ClientPool
        from workloads.vector import bench as vector
        from workloads.vector.engines import VectorSearch

        index = self.query_name.split(".", 1)[-1]
        engine_name = vector.INDEX_ENGINES.get(index)
        if engine_name is None:
            raise ValueError(f"no db.vector index {index!r}; accepted: "
                             + ", ".join(vector.INDEX_ENGINES))
        try:
            engine, answers, data, extra = vector.open_engine(
                engine_name, self.options, self.profile, psutil.virtual_memory().total)
        except Exception as exc:  # noqa: BLE001 - a missing library, a refused size: unavailable
            raise Unavailable(str(exc)) from None
        tag = f"corun-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.pool = ClientPool(engine, VectorSearch(), answers, len(self.cpus),
                               data.manifest["settings"]["seed"], tag)
        return {**engine.info(), **extra, "clients": len(self.cpus),
                "vectors": data.manifest["settings"]["count"]}


DRIVERS = {d.family: d for d in (CompileDriver, ToolDriver, DbDriver, VectorDriver,
                                 AgentStepDriver, RuntimeToolDriver)}


def make_driver(workload: str, cpus: list, seed: int, options: BenchmarkOptions | None = None,
                profile: str = "quick"):
    """The driver of the workload's family: the longest family its id starts with."""
    family = next((f for f in sorted(DRIVERS, key=len, reverse=True)
                   if workload.startswith(f + ".")), None)
    driver = DRIVERS.get(family)
    if driver is None:
        raise ValueError(f"no co-run driver for workload {workload!r}; accepted: "
                         + ", ".join(f"{family}.<name>" for family in DRIVERS))
    return driver(workload, cpus, seed, BenchmarkOptions.of(options), profile)


