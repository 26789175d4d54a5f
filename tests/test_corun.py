import os
import time

import pytest

from suite.errors import Skipped
from suite.spec import PROFILES, Job, PlanContext
from workloads.corun import bench as corun_run
from workloads.corun import drivers
from workloads.corun import hogs as corun_hogs
from workloads.corun import specs as corun
from workloads.corun.drivers import Window

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def system(cores, available=4 << 30):
    return {"logical_cpus": cores,
            "cpus": [{"cpu": i, "core": i, "package": 0, "node": 0} for i in range(cores)],
            "caches": [{"level": 3, "type": "Unified", "size_bytes": 1 << 20,
                        "cpus": list(range(cores))}],
            "memory": {"total_bytes": 8 << 30, "available_bytes": available}}


def ctx(cores, profile="quick", available=4 << 30):
    return PlanContext(profile=PROFILES[profile], system=system(cores, available), options={})


def test_split_policy():
    assert corun.split_cores(ctx(2).topology) == ((0,), (1,))
    wl, hog = corun.split_cores(ctx(8).topology)
    assert len(wl) == 4 and len(hog) == 4 and not set(wl) & set(hog)
    with pytest.raises(Skipped, match="two physical cores"):
        corun.split_cores(ctx(1).topology)


def planned(profile, cores, words=()):
    from suite.runner import plan
    from suite.spec import select

    items, errors = plan(select(corun.SPECS, list(words), profile), ctx(cores, profile))
    assert errors == []
    return items


def test_quick_runs_the_triad_hog_and_one_representative_per_workload():
    (item,) = planned("quick", 2)  # one child runs every workload
    cfg = item.config
    assert cfg.params == {"hog": "triad"}  # nothing machine-specific
    assert item.ids == ("corun.compile.c", "corun.tools.json_transform", "corun.runtime.jvm.tools",
                        "corun.runtime.node.tools", "corun.db.point", "corun.db.analytic",
                        "corun.db.vector.exact", "corun.db.vector.hnsw",
                        "corun.agent.step")
    assert cfg.settings["workload_cpus"] == [0] and cfg.settings["hog_cpus"] == [1]
    assert cfg.cpus == (0, 1)


def test_standard_runs_every_workload_beside_both_hogs():
    items = planned("standard", 4)
    assert [i.config.params["hog"] for i in items] == ["triad", "chase"]
    assert items[0].ids == tuple(corun.corun_id(w) for w in corun.WORKLOADS)
    # The db classes build the agent store before agent.step reads it.
    names = list(items[0].ids)
    assert max(names.index(n) for n in names if n.startswith("corun.db.")) < \
        names.index("corun.agent.step")


def test_one_workload_selects_alone():
    (item,) = planned("quick", 2, ["corun.db.range"])
    assert item.ids == ("corun.db.range",) and item.label == "corun.db.range hog=triad"


def test_hog_buffers_too_big_for_memory_skip_the_plan():
    with pytest.raises(Skipped, match="hog's buffers"):
        corun.plan_corun(ctx(2, available=1 << 20))


def _data(alone_tp, corun_tp, hog_a, hog_c, failures=0, hog_ok=True):
    def w(tp, lat, f=0):
        return Window(ops=int(tp), seconds=1.0, latencies_ms=[lat] * 10, failures=f,
                      first_failure="boom" if f else "")
    return {"alone": [w(t, 2.0) for t in alone_tp],
            "corun": [w(t, 5.0, failures) for t in corun_tp],
            "hog_alone": hog_a, "hog_corun": hog_c, "hog_ok": hog_ok}


def test_metrics_beside_the_triad_hog():
    out = corun_run.outcome("corun", {}, _data([100, 100], [50, 50], [10.0, 10.0], [7.0, 7.0]),
                            "calls/s", {}, corun_hogs.TriadHog, 0.05)
    m = {r.metric: r for r in out.records}
    assert m["slowdown"].value == pytest.approx(2.0)
    assert m["slowdown"].higher_is_better is False
    assert m["p99_inflation"].value == pytest.approx(2.5)
    assert m["hog_bandwidth_loss"].value == pytest.approx(0.3)
    assert m["hog_bandwidth_alone"].unit == "GB/s"
    assert m["throughput_alone"].unit == "calls/s"
    assert all(r.validated for r in out.records) and not out.errors


def test_metrics_beside_the_chase_hog():
    out = corun_run.outcome("corun", {}, _data([100], [80], [100.0], [150.0]),
                            "queries/s", {}, corun_hogs.ChaseHog, 0.05)
    m = {r.metric: r for r in out.records}
    assert m["hog_latency_alone"].unit == "ns" and m["hog_latency_alone"].higher_is_better is False
    assert m["hog_latency_inflation"].value == pytest.approx(1.5)
    assert "hog_bandwidth_loss" not in m


def test_failures_invalidate_every_figure():
    out = corun_run.outcome("corun", {}, _data([100], [50], [10.0], [9.0], failures=2,
                                               hog_ok=False), "calls/s", {}, corun_hogs.TriadHog, 0.05)
    assert not any(r.validated for r in out.records)
    kinds = [e.kind for e in out.errors]
    assert kinds == ["invalid", "invalid"]
    assert "2 workload operation(s) failed" in out.errors[0].message
    assert "triad hog failed its own check" in out.errors[1].message


def test_unknown_workload_and_hog_are_refused():
    with pytest.raises(ValueError, match=r"accepted: compile.<name>, tools.<name>, db.<name>"):
        drivers.make_driver("gpu.infer", [0], 1)
    with pytest.raises(ValueError, match="accepted: triad, chase"):
        corun_hogs.make_hog("memcpy", [0], elements=1, working_set=1)


# -- end to end on tiny sizes --------------------------------------------------------
@pytest.fixture
def short_windows(monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(corun.DEPTH, "quick", replace(corun.DEPTH["quick"], rounds=1,
                                                      window_s=0.1, warmup_s=0.05,
                                                      rewarm_s=0.02))


def _run(workloads, hog, options=None):
    cpus = sorted(os.sched_getaffinity(0))[:2]
    settings = {"workload_cpus": [cpus[0]], "hog_cpus": [cpus[1]], "elements": 1 << 16,
                "chase_bytes": 4 << 20}
    ids = tuple(f"corun.{w}" for w in workloads)
    job = Job(ids[0], {"hog": hog}, PROFILES["quick"], system(2), options or {}, 60.0,
              settings=settings, benchmarks=ids)
    before = os.sched_getaffinity(0)
    try:
        return corun_run.run_benchmark(job)
    finally:
        os.sched_setaffinity(0, before)  # the entry pins its own process


class _Broken:
    unit = "ops/s"

    def open(self):
        raise drivers.Unavailable("no such thing here")

    def close(self):
        pass


@pytest.mark.skipif(not TWO_CPUS, reason="co-run needs two CPUs")
def test_triad_corun_end_to_end_and_a_failing_workload_does_not_sink_the_rest(
        short_windows, monkeypatch):
    real = drivers.make_driver
    monkeypatch.setattr(drivers, "make_driver",
                        lambda w, *a: _Broken() if w == "broken" else real(w, *a))
    out = _run(["broken", "tools.noop"], "triad")
    assert [(e.benchmark, e.kind) for e in out.errors] == [("corun.broken", "skipped")]
    m = {r.metric: r for r in out.records}
    assert {"slowdown", "p99_inflation", "hog_bandwidth_loss"} <= set(m)
    assert {r.benchmark for r in out.records} == {"corun.tools.noop"}
    # Only what identifies the measurement on any machine: compare matches on params.
    assert m["slowdown"].params == {"hog": "triad"}
    assert m["slowdown"].info["workload_cpus"] and m["slowdown"].info["hog_cpus"]
    assert m["slowdown"].value > 0 and m["hog_bandwidth_alone"].value > 0


@pytest.mark.skipif(not TWO_CPUS, reason="co-run needs two CPUs")
def test_chase_hog_checks_its_chains():
    hog = corun_hogs.ChaseHog([sorted(os.sched_getaffinity(0))[1]], 4 << 20)
    try:
        hog.wait_ready()
        for _ in range(2):
            hog.start()
            ns, ok = hog.stop()
            assert ok and ns > 0
    finally:
        hog.close()


def test_the_corun_child_imports_no_numba():
    """Only the hog processes need Numba; its import (0.3-0.7 s here) would
    sit in the co-run child's set-up, on the workload's CPU."""
    import subprocess
    import sys

    code = ("import sys; import workloads.corun.bench, workloads.corun.hogs, "
            "workloads.corun.drivers; sys.exit(1 if 'numba' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory):
    from workloads.db import dataset

    options = {"db_dir": str(tmp_path_factory.mktemp("corun-db")), "db_scale": "tiny", "seed": 3}
    dataset.ensure_dataset(options)
    return options


@pytest.mark.parametrize("workload", ["db.point", "db.analytic", "agent.step"])
def test_db_and_agent_drivers_check_every_answer(workload, tiny_db):
    driver = drivers.make_driver(workload, [0], 3, tiny_db, "quick")
    try:
        info = driver.open()
        w = driver.window(0.15)
    finally:
        driver.close()
    assert w.ops > 0 and w.failures == 0 and len(w.latencies_ms) >= w.ops
    if workload == "agent.step":
        assert info["agents"] >= 1 and info["state_store"].startswith("SQLite agent store")
    else:
        assert info["engine"] == "sqlite" and info["clients"] == 1


class _WindowHog:
    """Notes the window each stop is given."""

    def __init__(self):
        self.windows = []

    def start(self):
        self.started = time.monotonic()

    def stop(self, t_start=None, t_end=None):
        self.windows.append((self.started, t_start, t_end, time.monotonic()))
        return 1.0, True


def test_hog_figures_cover_the_workloads_window_not_the_ramp_or_drain():
    class Driver:
        def window(self, seconds):
            self.span = (time.monotonic(), None)
            time.sleep(seconds)
            self.span = (self.span[0], time.monotonic())
            return Window(1, seconds)

    hog, driver = _WindowHog(), Driver()
    ramp = corun.DEPTH["quick"].ramp_s
    corun_run.together(hog, driver, 0.05, ramp)
    started, t_start, t_end, stopped = hog.windows[-1]
    assert t_start - started >= ramp  # the ramp is outside
    assert t_start <= driver.span[0] and driver.span[1] <= t_end <= stopped
    corun_run.hog_alone(hog, 0.05, ramp)
    started, t_start, t_end, _ = hog.windows[-1]
    assert t_start - started >= ramp and t_end - t_start >= 0.05
