"""agent.step: the capacity search and a short end-to-end run."""
import sqlite3
from contextlib import closing

import pytest

from suite.spec import PROFILES, Job, PlanContext
from workloads.agent import bench as agent_bench
from workloads.agent import specs as agent
from workloads.agent import step as agent_step
from tests.test_tools import SYSTEM


def _search(limit, **kw):
    args = dict(start=2, estimate=lambda n: 10, slo_ms=100.0, max_levels=20,
                precision=0.0, max_agents=1000)
    args.update(kw)
    return agent_step.capacity_search(lambda n: (50.0 if n <= limit else 500.0, True), **args)


@pytest.mark.parametrize("limit", [1, 7, 37, 200])
def test_capacity_search_finds_the_largest_passing_count(limit):
    best, trace = _search(limit)
    assert best == limit
    assert any(t["agents"] == limit and t["pass"] for t in trace)


def test_capacity_search_zero_when_even_one_agent_misses():
    best, _ = _search(0, start=1)
    assert best == 0


def test_capacity_search_counts_failed_calls_as_a_miss():
    best, _ = agent_step.capacity_search(lambda n: (1.0, n < 5), start=2, estimate=lambda n: 4,
                                         slo_ms=100.0, max_levels=20, precision=0.0, max_agents=100)
    assert best == 4


def test_plan_reads_slo_and_inference_options():
    (cfg,) = agent.plan_agent_step(PlanContext(PROFILES["quick"], SYSTEM, {"slo_ms": 100}))
    assert cfg.params == {"slo_ms": 100.0, "inference_ms": agent.DEFAULT_INFERENCE_MS}


def test_step_output_is_checked_and_deterministic():
    inputs = agent_step.make_agent_inputs(5, 4)
    a = agent_step.step(inputs[0])
    assert a == agent_step.step(inputs[0]) and a != agent_step.step(inputs[1])


def _short(monkeypatch):
    from dataclasses import replace

    from workloads.agent.specs import DEPTH
    monkeypatch.setitem(DEPTH, "quick", replace(DEPTH["quick"], window_s=0.3, max_levels=3))


def _job(options):
    return Job("agent.step", {"slo_ms": 250.0, "inference_ms": 50.0}, PROFILES["quick"], SYSTEM,
               options, 60)


def test_agent_step_end_to_end_builds_and_uses_the_state_store(monkeypatch, tmp_path):
    _short(monkeypatch)
    # The tiny dataset holds fewer sessions (250) than the agents may cycle
    # through (SESSIONS_USED): the count must come from the store.
    options = {"db_dir": str(tmp_path / "db"), "db_scale": "tiny"}
    out = agent_bench.run_benchmark(_job(options))
    assert not out.errors, out.errors
    assert not out.warnings, out.warnings
    by_metric = {r.metric: r for r in out.records}
    for m in ("agents", "agents_per_core", "steps_per_s", "step_latency_p99", "step_cpu_p50"):
        assert m in by_metric and by_metric[m].validated
    assert by_metric["agents_per_core"].value == by_metric["agents"].value / 2
    info = by_metric["agents"].info
    assert info["state_store"].startswith("SQLite agent store") and "built for this run" in info["state_store"]
    assert 0 < info["state_sessions"] <= 250
    assert len(info["search"]) <= 3
    store = tmp_path / "db" / "tiny" / "store.sqlite"
    with closing(sqlite3.connect(store)) as con:
        (written,) = con.execute("SELECT count(*) FROM tool_results WHERE writer = 'agent.step'").fetchone()
    assert written > 0  # every step wrote its result back


def test_agent_step_without_a_store_says_so_and_still_measures(monkeypatch, tmp_path):
    _short(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = agent_bench.run_benchmark(_job({"db_dir": str(blocker / "db"), "db_scale": "tiny"}))
    assert not out.errors, out.errors
    by_metric = {r.metric: r for r in out.records}
    assert by_metric["agents"].validated
    assert by_metric["agents"].info["state_store"].startswith("skipped:")
    assert by_metric["agents"].info["state_sessions"] == 0
    assert any("state fetch skipped" in w for w in out.warnings)


def test_agent_inputs_cycle_through_the_given_sessions():
    inputs = agent_step.make_agent_inputs(5, 7, session_ids=(10, 20, 30))
    assert [p["session"] for p in inputs] == [10, 20, 30, 10, 20, 30, 10]
    assert {p["session"] for p in agent_step.make_agent_inputs(5, 3)} == {1, 2, 3}


def test_a_search_that_never_failed_is_a_lower_bound():
    always = agent_step.capacity_search(lambda n: (1.0, True), start=2, estimate=lambda n: 4,
                                        slo_ms=250.0, max_levels=3, precision=0.1,
                                        max_agents=10_000)
    best, trace = always
    assert "lower bound" in agent_step.search_lower_bound(trace)
    _, trace = agent_step.capacity_search(lambda n: (1.0 if n < 6 else 900.0, True), start=2,
                                          estimate=lambda n: 4, slo_ms=250.0, max_levels=8,
                                          precision=0.1, max_agents=10_000)
    assert agent_step.search_lower_bound(trace) is None
