"""The runner: isolation, failures as records, atomic writes, Ctrl-C."""
import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from suite.results import load
from suite.runner import RunOptions, execute
from suite.spec import PROFILES, select
from tests.conftest import ROOT, cli_argv
from tests.fixtures import dummy_bench

SYSTEM = {"logical_cpus": 2, "hostname": "test"}


def _run(tmp_path, ids, **kw):
    specs = select(dummy_bench.SPECS, ids, "quick")
    opts = RunOptions(profile=PROFILES["quick"], out_path=tmp_path / "r.json", **kw)
    return execute(specs, opts, SYSTEM)


def test_each_config_in_its_own_process_with_env_and_affinity(tmp_path):
    doc = _run(tmp_path, ["fake.ok"])
    per_config = [r for r in doc.results if r.params]
    assert [r.info["env"] for r in per_config] == ["one", "two"]
    assert per_config[0].info["affinity"] == [0]
    summary = [r for r in doc.results if r.metric == "total"]
    assert summary and summary[0].value == 4.0  # the spec's summarize hook ran
    assert doc.run["status"] == "complete"
    assert load(tmp_path / "r.json").to_dict() == doc.to_dict()


def test_failures_become_errors_and_the_run_goes_on(tmp_path):
    doc = _run(tmp_path, ["fake.raises", "fake.crashes", "fake.hangs", "fake.invalid", "fake.ok"])
    kinds = {e.benchmark: e.kind for e in doc.errors}
    assert kinds == {"fake.raises": "error", "fake.crashes": "crash",
                     "fake.hangs": "timeout", "fake.invalid": "invalid"}
    assert "deliberate failure" in next(e.message for e in doc.errors if e.kind == "error")
    assert any(r.benchmark == "fake.ok" for r in doc.results)
    invalid = [r for r in doc.results if r.benchmark == "fake.invalid"]
    assert invalid and not invalid[0].validated


def test_timeout_kills_the_whole_process_group(tmp_path):
    before = {p.pid for p in psutil.process_iter()}
    _run(tmp_path, ["fake.hangs"], timeout=0.5)
    time.sleep(0.2)
    # Workers run in this checkout; other checkouts on the machine have their own.
    left = [p for p in psutil.process_iter(["cmdline", "cwd", "status"])
            if p.pid not in before and "suite.worker" in " ".join(p.info["cmdline"] or [])
            and p.info["cwd"] == str(ROOT) and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert not left


def test_a_worker_ends_without_teardown_but_runs_what_was_registered_at_exit(tmp_path):
    from suite.options import BenchmarkOptions

    doc = _run(tmp_path, ["fake.atexit"], benchmark=BenchmarkOptions(out_dir=str(tmp_path)))
    assert [r.benchmark for r in doc.results] == ["fake.atexit"] and not doc.errors
    assert (tmp_path / "cleaned").exists()


def test_sigint_between_benchmarks_leaves_a_valid_partial_file(tmp_path, fake_specs_env):
    out = tmp_path / "out"
    proc = subprocess.Popen(cli_argv("run", "fake.sleepy", "--out", str(out), "--quiet"),
                            cwd=ROOT, env=fake_specs_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list(out.glob("*.json")) if out.exists() else []
        if files:
            try:
                if len(json.loads(files[0].read_text())["results"]) >= 2:
                    break
            except (ValueError, OSError):
                pass
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("run produced no records in time")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = load(files[0])
    assert doc.run["status"] == "partial"
    done = [r for r in doc.results if r.benchmark == "fake.sleepy"]
    assert 2 <= len(done) < 8
    assert all(r.validated for r in done)


def test_configurations_of_one_share_key_and_params_share_a_child_only_with_one_entry():
    from suite.runner import plan
    from suite.spec import BenchmarkSpec, Config, PlanContext

    def planner(share, params=None):
        return lambda ctx: [Config(params=params or {"n": 1}, share=share),
                            Config(params={"n": 2}, share=share)]

    specs = [BenchmarkSpec("x.a", "x", "a", "m:run", planner("x"), timeout=100.0),
             BenchmarkSpec("x.b", "x", "b", "m:run", planner("x"), timeout={"smoke": 20.0}),
             BenchmarkSpec("x.c", "x", "c", "other:run", planner("x")),
             BenchmarkSpec("x.d", "x", "d", "m:run", planner(None))]
    planned, _ = plan(specs, PlanContext(PROFILES["smoke"], SYSTEM, {}))
    assert [(p.name, p.ids, p.config.params["n"]) for p in planned] == [
        ("x", ("x.a", "x.b"), 1), ("x", ("x.a", "x.b"), 2),
        ("x.c", ("x.c",), 1), ("x.c", ("x.c",), 2),
        ("x.d", ("x.d",), 1), ("x.d", ("x.d",), 2)]
    # Each spec sharing the child brings its own time; a group is one child by design.
    assert planned[0].timeout("smoke") == 120.0
    grouped = [BenchmarkSpec(f"g.{n}", "g", n, "m:run", planner(None), timeout=100.0, group="g")
               for n in "ab"]
    (first, _), _ = plan(grouped, PlanContext(PROFILES["smoke"], SYSTEM, {}))
    assert first.ids == ("g.a", "g.b") and first.timeout("smoke") == 100.0


def test_each_benchmark_of_a_shared_child_fails_or_skips_alone():
    from suite.errors import Skipped
    from suite.model import Outcome, measurement
    from suite.spec import Job
    from suite.worker import each_benchmark

    def measure(benchmark):
        if benchmark == "x.skip":
            raise Skipped("no x here")
        if benchmark == "x.bad":
            raise ValueError("broken")
        return Outcome(records=(measurement(benchmark, {}, "rate", "1/s", [1.0],
                                            higher_is_better=True),), warnings=("shared",))

    job = Job("x.ok", {"n": 1}, PROFILES["smoke"], SYSTEM, {}, 10.0,
              benchmarks=("x.ok", "x.skip", "x.bad", "x.ok2"))
    out = each_benchmark(job, measure)
    assert [r.benchmark for r in out.records] == ["x.ok", "x.ok2"]
    assert [(e.benchmark, e.kind, e.params) for e in out.errors] == [
        ("x.skip", "skipped", {"n": 1}), ("x.bad", "error", {"n": 1})]
    assert "broken" in out.errors[1].message and out.warnings == ("shared",)


def test_children_keep_bytecode_in_the_project_cache_unless_told_where(monkeypatch):
    from suite.runner import PROJECT_ROOT, _child_env
    from suite.spec import Config

    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = _child_env(Config(params={}))
    assert env["PYTHONPYCACHEPREFIX"] == str(PROJECT_ROOT / ".cache" / "pycache")
    assert "PYTHONDONTWRITEBYTECODE" not in env
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", "/elsewhere")
    env = _child_env(Config(params={}))
    assert env["PYTHONPYCACHEPREFIX"] == "/elsewhere" and env["PYTHONDONTWRITEBYTECODE"] == "1"
