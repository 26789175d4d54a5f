"""agent.step entry: the most concurrent agents whose p99 step latency stays
under the SLO, on a warm pool of workers (workloads.agent.step)."""
from __future__ import annotations

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import profile_row, seed_of
from workloads.agent.specs import DEFAULT_INFERENCE_MS, DEFAULT_SLO_MS, DEPTH, MAX_AGENTS_PER_CPU
from workloads.agent.step import (TARGET_LOAD, capacity_search, make_agent_inputs,
                                  open_state_store, search_lower_bound, step,
                                  worker_step)
from workloads.tools import catalog, loadgen
from workloads.tools.bench import CALL_TIMEOUT_S, generator_info, layout_of
from workloads.tools.generator_procs import GeneratorProcesses, LoadOrder
from workloads.tools.pool import WarmPool
from workloads.tools.records import generator_bound, load_records


def _started(pool: WarmPool) -> WarmPool:
    pool.start()
    return pool


class _Levels:
    """Runs one agent count's closed loop: from this process on one warm
    pool, or through the planned generator processes, each with its share
    of the workers (workloads.tools.generator_procs)."""

    def __init__(self, layout, runner, inputs: dict, check, *, window_s: float,
                 think_s: float, seed: int):
        self.layout, self.window_s, self.think_s, self.seed = layout, window_s, think_s, seed
        self.check = check
        self.gens = self.pool = None

        def make_pool(workers: int) -> WarmPool:
            return _started(WarmPool({"agent_step": runner}, inputs, workers,
                                     timeout_s=CALL_TIMEOUT_S))

        if layout.processes > 1:
            self.gens = GeneratorProcesses(layout, make_pool, _agent_pick, check)
        else:
            self.pool = make_pool(len(layout.measured_cpus))
        self.replaced = 0

    @property
    def processes(self) -> int:
        return len(self.gens.workers) if self.gens else 1

    def run(self, n: int):
        if self.gens:
            result = self.gens.run(LoadOrder(window_s=self.window_s, concurrency=n,
                                             think_s=self.think_s, seed=self.seed, level=n))
            self.replaced = result.workers_replaced
            return result
        result = loadgen.closed_loop(self.pool, _agent_pick(n), self.check, concurrency=n,
                                     window_s=self.window_s, think_s=self.think_s, seed=self.seed)
        self.replaced = self.pool.replaced
        return result

    def close(self) -> None:
        if self.gens:
            self.gens.close()
        if self.pool:
            self.pool.close()


def _agent_pick(n: int):
    """Call k of a level of `n` agents steps agent k mod n."""
    return lambda k: ("agent_step", k % n)


def run_benchmark(job) -> Outcome:
    profile = job.profile.name
    depth = profile_row(DEPTH, job.profile)
    slo = float(job.params.get("slo_ms", DEFAULT_SLO_MS))
    think_s = float(job.params.get("inference_ms", DEFAULT_INFERENCE_MS)) / 1e3
    seed = seed_of(job.options)
    layout = layout_of(job)
    cpus = len(layout.measured_cpus)  # one pool worker per measured CPU
    cores = max(1, job.topology.physical_cores)
    max_agents = MAX_AGENTS_PER_CPU * cpus
    store = open_state_store(job.options, profile)

    inputs = {"agent_step": make_agent_inputs(seed, max_agents, store.session_ids)}
    reference = None
    if store.path:
        from workloads.db.agent_state import AgentStateStore

        reference = AgentStateStore(store.path, writer="agent.step-reference")
    # The expected answer of every agent slot, computed once here; agents
    # sharing a tool input and session share the digest.
    expected_by_key: dict = {}

    def expected(a):
        payload = inputs["agent_step"][a]
        key = (payload["session"] if reference else None, a % catalog.INPUT_VARIANTS)
        if key not in expected_by_key:
            expected_by_key[key] = catalog.digest(step(payload, store=reference, write=False))
        return expected_by_key[key]

    def check(c):
        want = expected(c.call.index)
        return None if c.digest == want else f"step digest {str(c.digest)[:12]} != expected {want[:12]}"

    levels = {}
    if layout.processes > 1:
        # Generator processes check against what they inherit: every slot's digest first.
        for a in range(max_agents):
            expected(a)
    runner = _Levels(layout, worker_step(store.path), inputs, check, window_s=depth.window_s,
                     think_s=think_s, seed=seed)
    try:
        def run_level(n):
            for a in range(n):
                expected(a)  # outside the timed window
            result = runner.run(n)
            levels[n] = result
            if not result.latencies:
                return None, False
            p99 = stats.percentile([lat for _, lat, _ in result.latencies], 99) * 1e3
            return p99, result.errors.total == 0

        def estimate(n):
            cpu = [c for _, _, c in levels[n].latencies if c]
            if not cpu:
                return 2 * n
            per_step = stats.mean(cpu)
            return int(TARGET_LOAD * cpus * (think_s + per_step) / per_step)

        best, trace = capacity_search(
            run_level, start=cpus, estimate=estimate, slo_ms=slo, max_levels=depth.max_levels,
            precision=depth.precision, max_agents=max_agents)
        replaced = runner.replaced
    finally:
        runner.close()
        if reference is not None:
            reference.close()

    params = dict(job.params)
    info = {"seed": seed, "state_store": store.note,
            "state_sessions": len(store.session_ids), "search": trace, "cores": cores,
            "pool_size": cpus, "workers_replaced": replaced, "step_tool": "json_transform",
            "latency_from": "agent ready (end of its inference wait)",
            **generator_info(layout, runner.processes)}
    records, errors = [], []
    shown = best if best else min(levels)
    r, e = load_records(job.benchmark, dict(params, agents=shown), levels[shown],
                        cpus=cpus + len(layout.generator_cpus),
                        parts=depth.parts, info=info, throughput_metric="steps_per_s",
                        throughput_unit="steps/s", latency_prefix="step_latency")
    records.extend(r)
    errors.extend(e)
    cpu_ms = [c * 1e3 for _, _, c in levels[shown].latencies if c is not None]
    for q in (50, 99):
        if cpu_ms:
            records.append(measurement(job.benchmark, dict(params, agents=shown), f"step_cpu_p{q}",
                                       "ms", [stats.percentile(cpu_ms, q)], higher_is_better=False,
                                       validated=not e, info=info))
    failed_levels = [n for n, res in levels.items() if res.errors.total]
    valid = not failed_levels
    if failed_levels and not e:
        errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                  f"failed steps at agent counts {sorted(failed_levels)}: "
                                  + levels[failed_levels[0]].errors.summary()))
    capacity_info = dict(info, meaning=f"most concurrent agents with p99 step latency <= {slo:g} ms")
    bound = search_lower_bound(trace)
    held_back = sorted(n for n, res in levels.items() if generator_bound(res))
    if held_back:
        bound = "; ".join(filter(None, (bound, (
            f"lower bound: the load generators limited the agent counts {held_back}, "
            "so a failing level may be theirs, not the system's"))))
    if bound:
        capacity_info["lower_bound"] = bound
    records.append(measurement(job.benchmark, params, "agents", "agents", [best],
                               higher_is_better=True, validated=valid, info=capacity_info))
    records.append(measurement(job.benchmark, params, "agents_per_core", "agents/core",
                               [best / cores], higher_is_better=True, validated=valid,
                               info=dict(capacity_info, derived_from="agents")))
    warnings = () if store.path else (f"agent.step: state fetch {store.note}",)
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=warnings)
