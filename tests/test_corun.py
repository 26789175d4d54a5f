import os

import pytest

from suite.spec import PROFILES, Job, PlanContext
from workloads import corun, corun_run
from workloads.corun_run import Window


def system(cores):
    return {"logical_cpus": cores,
            "cpus": [{"cpu": i, "core": i, "package": 0, "node": 0} for i in range(cores)],
            "caches": [{"level": 3, "type": "Unified", "size_bytes": 1 << 20,
                        "cpus": list(range(cores))}],
            "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30}}


def ctx(cores):
    return PlanContext(profile=PROFILES["quick"], system=system(cores), options={})


def test_split_policy():
    assert corun.split_cores(ctx(2).topology) == ((0,), (1,))
    wl, hog = corun.split_cores(ctx(8).topology)
    assert len(wl) == 4 and len(hog) == 4 and not set(wl) & set(hog)
    with pytest.raises(LookupError, match="two physical cores"):
        corun.split_cores(ctx(1).topology)


def test_plan_names_both_sides():
    spec = next(s for s in corun.SPECS if s.id == "corun.tools.json_transform")
    (cfg,) = spec.plan(ctx(2))
    assert cfg.params["workload"] == "tools.json_transform"
    assert cfg.params["workload_cpus"] == [0] and cfg.params["hog_cpus"] == [1]
    assert cfg.cpus == (0, 1)


def _data(alone_tp, corun_tp, hog_a, hog_c, failures=0, hog_ok=True):
    def w(tp, lat, f=0):
        return Window(ops=int(tp), seconds=1.0, latencies_ms=[lat] * 10, failures=f,
                      first_failure="boom" if f else "")
    return {"alone": [w(t, 2.0) for t in alone_tp],
            "corun": [w(t, 5.0, failures) for t in corun_tp],
            "hog_alone": hog_a, "hog_corun": hog_c, "hog_ok": hog_ok}


def test_metrics_from_windows():
    out = corun_run._outcome("corun.x", {}, _data([100, 100], [50, 50], [10.0, 10.0], [7.0, 7.0]),
                             "calls/s", {})
    m = {r.metric: r for r in out.records}
    assert m["slowdown"].value == pytest.approx(2.0)
    assert m["slowdown"].higher_is_better is False
    assert m["p99_inflation"].value == pytest.approx(2.5)
    assert m["hog_bandwidth_loss"].value == pytest.approx(0.3)
    assert m["throughput_alone"].unit == "calls/s"
    assert all(r.validated for r in out.records) and not out.errors


def test_failures_invalidate_every_figure():
    out = corun_run._outcome("corun.x", {}, _data([100], [50], [10.0], [9.0], failures=2,
                                                  hog_ok=False), "calls/s", {})
    assert not any(r.validated for r in out.records)
    kinds = [e.kind for e in out.errors]
    assert kinds == ["invalid", "invalid"]
    assert "2 workload operation(s) failed" in out.errors[0].message


def test_unknown_workload_is_refused():
    with pytest.raises(ValueError, match="accepted: compile.c"):
        corun_run.make_driver("db.point", [0], 1)


def test_tools_corun_end_to_end(monkeypatch):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("co-run needs two CPUs")
    monkeypatch.setitem(corun_run.ROUNDS, "quick", 1)
    monkeypatch.setitem(corun_run.WINDOW_S, "quick", 0.15)
    monkeypatch.setattr(corun_run, "WARMUP_S", 0.05)
    cpus = sorted(os.sched_getaffinity(0))[:2]
    params = {"workload": "tools.noop", "hog": "stream_triad", "workload_cpus": [cpus[0]],
              "hog_cpus": [cpus[1]], "elements": 1 << 16}
    job = Job("corun.tools.noop", params, PROFILES["quick"], system(2), {}, 60.0)
    before = os.sched_getaffinity(0)
    try:
        out = corun_run.run_benchmark(job)
    finally:
        os.sched_setaffinity(0, before)  # the entry pins its own process
    m = {r.metric: r for r in out.records}
    assert not out.errors, out.errors
    assert {"slowdown", "p99_inflation", "hog_bandwidth_loss"} <= set(m)
    assert m["slowdown"].value > 0 and m["hog_bandwidth_alone"].value > 0
