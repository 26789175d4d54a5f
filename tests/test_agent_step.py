"""agent.step: the capacity search and a short end-to-end run."""
import pytest

from suite.spec import PROFILES, Job, PlanContext
from workloads import agent, agent_step
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


def test_agent_step_end_to_end(monkeypatch):
    monkeypatch.setitem(agent_step.WINDOW_S, "quick", 0.3)
    monkeypatch.setitem(agent_step.MAX_LEVELS, "quick", 3)
    job = Job("agent.step", {"slo_ms": 250.0, "inference_ms": 50.0}, PROFILES["quick"], SYSTEM,
              {"db_dir": "/nonexistent"}, 60)
    out = agent_step.run_benchmark(job)
    assert not out.errors, out.errors
    by_metric = {r.metric: r for r in out.records}
    for m in ("agents", "agents_per_core", "steps_per_s", "step_latency_p99", "step_cpu_p50"):
        assert m in by_metric and by_metric[m].validated
    assert by_metric["agents_per_core"].value == by_metric["agents"].value / 2
    assert "state_store" in by_metric["agents"].info
    assert len(by_metric["agents"].info["search"]) <= 3
