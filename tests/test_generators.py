"""Load generators of tools.* and agent.step: how many, on which CPUs
(fixture machines), several generator processes merged, generator_bound."""
import pytest

from suite.commands import plan
from suite.spec import PROFILES, Job
from suite.sysinfo import collect
from suite.topology import Topology
from tests.fixtures import trees
from tests.test_tools import SYSTEM
from workloads.tools import generator_plan as gp
from workloads.tools.calls import ErrorTally
from workloads.tools.generator_procs import merge, split
from workloads.tools.loadgen import LoadResult
from workloads.tools.records import generator_bound


def _system(name):
    return collect(str(trees.shared_root(name)), live=False)


def _plan(name, *words, profile="full", **options):
    return plan.build_plan(words, profile, _system(name),
                           {"stride": 128, "bind": "spread", **options})


def _config(doc, benchmark, model="pool"):
    return next(c for c in doc["configurations"] if c["benchmark"] == benchmark
                and model in c["params"].get("matrix", {model: 0}))


def _check_layout(settings, system):
    topo = Topology.from_system(system)
    measured, generators = set(settings["measured_cpus"]), set(settings["generator_cpus"])
    assert generators and not measured & generators  # generators off the measured CPUs
    assert measured | generators == set(topo.logical_cpus)
    assert 0 in measured
    # Whole cores: no generator shares a core with a measured worker.
    for core in topo.cores:
        assert set(core) <= generators or not set(core) & generators
    assert len(generators) <= len(topo.logical_cpus) // gp.SPARE_SHARE
    return measured, generators


def test_vera_like_agent_step_has_enough_generators_off_the_measured_cpus():
    system = _system("vera_like")
    settings = _config(_plan("vera_like", "agent.step"), "agent.step")["settings"]
    measured, generators = _check_layout(settings, system)
    # 64 agents per worker at 100 ms inference: about 109k steps/s offered,
    # 24 us of generator CPU each at most half busy: 6 processes, one per CPU.
    rate = settings["offered_rate"]
    assert rate == pytest.approx(64 * len(measured) / (0.1 + gp.CALL_FLOOR_S), rel=1e-3)
    assert 100_000 < rate < 120_000
    assert settings["generators"] == 6 == len(generators)
    capacity = settings["generators"] * gp.GENERATOR_BUSY_LIMIT / gp.GENERATOR_CPU_S_PER_CALL
    assert capacity >= rate  # one generator (41k calls/s at most) would not do
    assert "off the 170 measured CPUs" in settings["generator_note"]


def test_epyc_2s_noop_pool_sets_the_spare_share_aside_and_says_it_may_bind():
    system = _system("epyc_2s")
    settings = _config(_plan("epyc_2s", "tools.noop"), "tools.noop")["settings"]
    measured, generators = _check_layout(settings, system)
    # 16 of 128 cores (both SMT threads): 32 generator processes, one per CPU.
    assert len(generators) == 32 and settings["generators"] == 32 and len(measured) == 224
    # No-op calls on 224 workers want far more than 32 generators: said so.
    assert gp.generators_needed(settings["offered_rate"]) > 32
    assert "may set the pace" in settings["generator_note"]


def test_open_loop_rate_sizes_the_generators():
    doc = _plan("grace", "tools.json_transform", rate=100_000.0)
    settings = _config(doc, "tools.json_transform")["settings"]
    assert settings["generators"] * gp.GENERATOR_BUSY_LIMIT / gp.GENERATOR_CPU_S_PER_CALL >= \
        min(settings["offered_rate"], 100_000.0)
    # Per-call models start a process per call: one generator beside them.
    fresh = _config(doc, "tools.json_transform", model="fresh")["settings"]
    assert fresh["generators"] == 1 and fresh["generator_cpus"] == []


def test_small_machine_runs_one_generator_and_says_none_is_spare():
    settings = _config(_plan("this_like_x86", "agent.step", profile="quick"),
                       "agent.step")["settings"]
    assert settings["generators"] == 1 and settings["generator_cpus"] == []
    assert settings["measured_cpus"] == [0, 1]
    assert "none spare" in settings["generator_note"] and "2 cores" in settings["generator_note"]


def test_split_shares():
    assert split(7, 3) == [3, 2, 2]
    assert split(2, 6) == [1, 1]  # never an empty share
    assert sum(split(154, 22)) == 154


def _result(start, ends, cpu, wall):
    r = LoadResult(start=start, window_s=1.0, errors=ErrorTally())
    r.latencies = [(e, 0.01, None) for e in ends]
    r.calls, r.wall_s, r.generator_cpu_s, r.generator_cpu_each = len(ends), wall, cpu, [cpu]
    return r


def test_merge_keeps_every_call_and_each_generators_cpu():
    merged = merge([_result(10.0, [0.5, 0.9], 0.2, 1.0), _result(10.1, [0.4], 1.0, 1.0)])
    assert merged.calls == 3 and merged.ok == 3
    assert [round(e, 3) for e, _, _ in merged.latencies] == [0.5, 0.5, 0.9]  # from the first start
    assert merged.generator_cpu_each == [0.2, 1.0] and merged.wall_s == pytest.approx(1.1)
    # The busiest generator decides, not the average of the two.
    assert "a load generator used" in generator_bound(merged)
    assert generator_bound(merge([_result(10.0, [0.5], 0.2, 1.0)] * 2)) is None


def test_tools_entry_through_two_generator_processes():
    from workloads.tools.bench import run_benchmark

    settings = {"measured_cpus": [0, 1], "generator_cpus": [], "generators": 2,
                "generator_note": "two generator processes (test)", "offered_rate": 0.0}
    job = Job("tools.json_transform", {"matrix": {"pool": [2]}}, PROFILES["quick"], SYSTEM,
              {}, 60, settings=settings)
    out = run_benchmark(job)
    assert not out.errors, out.errors
    (tp,) = [r for r in out.records if r.metric == "throughput"]
    assert tp.validated and tp.value > 0
    assert tp.info["loadgen_processes"] == 2 and tp.info["generator_processes"] == 2
    assert tp.info["calls"] == tp.info["ok_calls"] > 0


def test_agent_step_through_two_generator_processes(monkeypatch, tmp_path):
    from dataclasses import replace

    from workloads.agent import bench as agent_bench
    from workloads.agent.specs import DEPTH

    monkeypatch.setitem(DEPTH, "quick", replace(DEPTH["quick"], window_s=0.3, max_levels=2))
    settings = {"measured_cpus": [0, 1], "generator_cpus": [], "generators": 2,
                "generator_note": "two generator processes (test)", "offered_rate": 0.0}
    job = Job("agent.step", {"slo_ms": 250.0, "inference_ms": 50.0}, PROFILES["quick"], SYSTEM,
              {"db_dir": str(tmp_path / "db"), "db_scale": "tiny"}, 60, settings=settings)
    out = agent_bench.run_benchmark(job)
    assert not out.errors, out.errors
    by_metric = {r.metric: r for r in out.records}
    assert by_metric["agents"].validated and by_metric["steps_per_s"].value > 0
    assert by_metric["agents"].info["generator_processes"] == 2
    # Two levels that both passed: the search never failed, a lower bound.
    if all(t["pass"] for t in by_metric["agents"].info["search"]):
        assert "lower bound" in by_metric["agents"].info["lower_bound"]
