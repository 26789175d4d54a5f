"""agent.step: how many concurrent agents a CPU keeps fed within a latency SLO.

Each simulated agent loops: one step on the CPU (tokenize its prompt, fetch
its session state, call a tool, append the result), then a simulated
inference wait (the GPU's share), then the next step. Steps run on a warm
pool of worker processes, one per usable CPU; the step latency is timed from
the moment the agent was ready (end of its inference wait) to the step's
answer, so queueing for a worker counts.

Session state lives in the DB workload's SQLite agent store for the
profile's dataset scale; agent.step builds it when absent (it runs before
db.* in a default run), so the state fetch and the durable write-back are
always part of the step unless the store cannot be built, which the records
and a run warning say.

The capacity search raises the agent count while the p99 step latency stays
under the SLO and bisects once it is exceeded; the answer is the largest
passing count, also per physical core.
"""
from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import profile_row
from workloads.agent import DEFAULT_INFERENCE_MS, DEFAULT_SLO_MS, DEPTH
from workloads.tools import bpe, catalog, json_transform, loadgen
from workloads.tools.bench import CALL_TIMEOUT_S, DEFAULT_SEED, usable_cpus
from workloads.tools.pool import WarmPool
from workloads.tools.records import load_records

SESSIONS_USED = 500  # at most this many state rows the agents cycle through
# First guess after the probe: the agent count that would keep the CPUs this
# busy, from the probe's CPU time per step (an M/M/c queue at 70% load keeps
# the tail near a few service times).
TARGET_LOAD = 0.7

_store = None  # the worker process's connection to the agent store


def make_agent_inputs(seed: int, agents: int, session_ids=None) -> list:
    """One payload per agent slot: its prompt, merge table, tool input and the
    session whose state it fetches (cycling through `session_ids`, by default
    1..SESSIONS_USED)."""
    sessions = list(session_ids) if session_ids else list(range(1, SESSIONS_USED + 1))
    prompt = bpe.make_input(seed)
    tool_inputs = [json_transform.make_input(seed * 1000 + k) for k in range(catalog.INPUT_VARIANTS)]
    return [{"session": sessions[a % len(sessions)], "merges": prompt["merges"],
             "text": prompt["text"], "tool_input": tool_inputs[a % len(tool_inputs)]}
            for a in range(agents)]


def step(payload: dict, *, store=None, write: bool = True) -> bytes:
    """One agent step; returns what the digest covers (tokens, state seen, tool output)."""
    tokens = bpe.run({"merges": payload["merges"], "text": payload["text"]})
    seen = b""
    if store is not None:
        state = store.fetch(payload["session"])
        seen = json.dumps([state["agent"], len(state["messages"])]).encode()
    out = json_transform.run(payload["tool_input"])
    if store is not None and write:
        store.append(payload["session"], {"tool": "json_transform", "bytes": len(out),
                                          "digest": catalog.digest(out)[:16]})
    return tokens + seen + out


@dataclass(frozen=True)
class StateStore:
    """The SQLite agent store a run uses, or why it has none."""

    path: str | None
    session_ids: tuple  # the sessions the agents cycle through (empty without a store)
    note: str  # for the records' info: which store, or why the fetch was skipped


def open_state_store(options, profile_name: str) -> StateStore:
    """The agent store of the DB workload for this profile's dataset scale,
    built here when absent (agent.step runs before db.* in a default run)."""
    try:
        from workloads.db.dataset import ensure_dataset
    except ImportError as exc:
        return StateStore(None, (), f"skipped: agent store module unavailable ({exc})")
    try:
        data = ensure_dataset(options, profile_name)
        # Sessions actually in the store: the dataset's scale decides how many.
        with closing(sqlite3.connect(f"file:{data.store}?mode=ro", uri=True)) as con:
            ids = tuple(r[0] for r in con.execute("SELECT id FROM sessions ORDER BY id LIMIT ?",
                                                  (SESSIONS_USED,)))
            total = con.execute("SELECT count(*) FROM sessions").fetchone()[0]
    except Exception as exc:  # a bad db option or a full disk must not sink the agent test
        return StateStore(None, (), f"skipped: {exc}")
    if not ids:
        return StateStore(None, (), f"skipped: agent store {data.store} holds no sessions")
    how = "reused" if data.reused else "built for this run"
    return StateStore(str(data.store), ids,
                      f"SQLite agent store {data.store} ({data.scale} scale, {how}; "
                      f"agents cycle through {len(ids)} of its {total} sessions)")


def worker_step(store_path: str | None, writer: str = "agent.step"):
    """A warm-pool runner of `step`: each worker opens its own connection to
    the agent store (as `writer`) on its first step."""
    def run(payload):
        global _store
        if store_path and _store is None:
            from workloads.db.agent_state import AgentStateStore

            _store = AgentStateStore(store_path, writer=writer)
        return step(payload, store=_store)
    return run


def capacity_search(run_level, *, start: int, estimate, slo_ms: float, max_levels: int,
                    precision: float, max_agents: int) -> tuple:
    """Largest agent count whose p99 step latency stays under `slo_ms`.

    `run_level(n) -> (p99_ms, ok)` measures one level; `estimate(n)` gives
    the next count to try after a passing probe. Returns (best, trace).
    """
    trace, passed, failed = [], 0, None
    n = start
    for _ in range(max_levels):
        p99, ok = run_level(n)
        good = ok and p99 is not None and p99 <= slo_ms
        trace.append({"agents": n, "p99_ms": None if p99 is None else round(p99, 3), "pass": good})
        if good:
            passed = max(passed, n)
        else:
            failed = n if failed is None else min(failed, n)
        if failed is None:
            nxt = max(2 * n, estimate(n)) if len(trace) == 1 else 2 * n
            if nxt > max_agents:
                break
        else:
            if failed - passed <= max(1, math.floor(precision * passed)):
                break
            nxt = (passed + failed) // 2
        n = nxt
    return passed, trace


def search_lower_bound(trace: list) -> str | None:
    """Why the capacity is only a lower bound (no level failed the SLO: the
    search stopped at its level cap or the agent cap first), or None."""
    if any(not t["pass"] for t in trace):
        return None
    top = max((t["agents"] for t in trace), default=0)
    return (f"lower bound: every level up to {top} agents met the SLO; the search stopped "
            "before any level failed")


def run_benchmark(job) -> Outcome:
    profile = job.profile.name
    depth = profile_row(DEPTH, job.profile)
    slo = float(job.params.get("slo_ms", DEFAULT_SLO_MS))
    think_s = float(job.params.get("inference_ms", DEFAULT_INFERENCE_MS)) / 1e3
    seed = int(job.options.get("seed") or DEFAULT_SEED)
    cpus = usable_cpus()
    cores = max(1, job.topology.physical_cores)
    max_agents = 64 * cpus
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
    pool = WarmPool({"agent_step": worker_step(store.path)}, inputs, cpus, timeout_s=CALL_TIMEOUT_S)
    try:
        pool.start()

        def run_level(n):
            for a in range(n):
                expected(a)  # outside the timed window
            result = loadgen.closed_loop(pool, lambda k, n=n: ("agent_step", k % n), check,
                                         concurrency=n, window_s=depth.window_s,
                                         think_s=think_s, seed=seed)
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
        replaced = pool.replaced
    finally:
        pool.close()
        if reference is not None:
            reference.close()

    params = dict(job.params)
    info = {"seed": seed, "state_store": store.note,
            "state_sessions": len(store.session_ids), "search": trace, "cores": cores,
            "pool_size": cpus, "workers_replaced": replaced, "step_tool": "json_transform",
            "latency_from": "agent ready (end of its inference wait)"}
    records, errors = [], []
    shown = best if best else min(levels)
    r, e = load_records(job.benchmark, dict(params, agents=shown), levels[shown], cpus=cpus,
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
    if bound:
        capacity_info["lower_bound"] = bound
    records.append(measurement(job.benchmark, params, "agents", "agents", [best],
                               higher_is_better=True, validated=valid, info=capacity_info))
    records.append(measurement(job.benchmark, params, "agents_per_core", "agents/core",
                               [best / cores], higher_is_better=True, validated=valid,
                               info=dict(capacity_info, derived_from="agents")))
    warnings = () if store.path else (f"agent.step: state fetch {store.note}",)
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=warnings)
