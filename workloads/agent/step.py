"""The agent step and the capacity search, shared by agent.step (bench.py)
and the co-run agent driver.

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

from workloads.tools import bpe, catalog, json_transform

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
    from workloads.db.dataset import ensure_dataset

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
