"""Tools workload: catalog digests, execution models, load generator, faults."""
import os
import signal
import time

import pytest

from suite.spec import PROFILES, Job, PlanContext
from workloads.tools import bpe, catalog, loadgen
from workloads.tools.calls import Call
from workloads.tools.pool import WarmPool

SYSTEM = {"logical_cpus": 2,
          "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0},
                   {"cpu": 1, "core": 1, "package": 0, "node": 0}],
          "caches": [], "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30}}


def _inputs(*names):
    return {n: catalog.TOOLS[n].make_inputs(7) for n in names}


@pytest.mark.parametrize("name", sorted(catalog.TOOLS))
def test_tool_inputs_and_digests_are_deterministic(name):
    tool = catalog.TOOLS[name]
    first = catalog.expected_digests(tool, tool.make_inputs(3))
    assert first == catalog.expected_digests(tool, tool.make_inputs(3))
    if name != "noop":
        assert len(set(first)) == catalog.INPUT_VARIANTS  # inputs really differ


def test_tokenizer_round_trips_and_compresses():
    payload = bpe.make_input(1)
    ids = bpe.encode(payload["text"], payload["merges"])
    assert bpe.decode(ids, payload["merges"]) == payload["text"]
    assert len(ids) < len(payload["text"].encode()) * 0.8


def test_json_input_is_about_100_kb():
    from workloads.tools import json_transform

    assert 80_000 < len(json_transform.make_input(1)) < 140_000


def _check_for(inputs):
    expected = {n: catalog.expected_digests(catalog.TOOLS[n], v) for n, v in inputs.items()}
    return lambda c: None if c.digest == expected[c.call.tool][c.call.index] else "wrong digest"


def test_warm_pool_closed_loop_all_calls_checked():
    inputs = _inputs("noop", "json_transform")
    runners = {n: catalog.TOOLS[n].run for n in inputs}
    with WarmPool(runners, inputs, 2, timeout_s=10) as pool:
        r = loadgen.closed_loop(pool, lambda n: ("json_transform", n % 3), _check_for(inputs),
                                concurrency=4, window_s=0.3)
    assert r.ok >= 4 and r.errors.total == 0
    assert r.calls == r.ok  # every issued call answered and checked


def _faulty(payload):
    kind = payload
    if kind == "raise":
        raise ValueError("tool blew up")
    if kind == "hang":
        time.sleep(60)
    if kind == "die":
        os._exit(3)
    if kind == "wrong":
        return b"not the answer"
    return b""


def test_pool_counts_raise_hang_wrong_digest_and_dead_worker_and_goes_on():
    kinds = ["ok", "raise", "ok", "hang", "ok", "die", "ok", "wrong", "ok", "ok"]
    inputs = {"faulty": kinds}
    want = catalog.digest(b"")

    def check(c):
        return None if c.digest == want else "digest mismatch"

    with WarmPool({"faulty": _faulty}, inputs, 2, timeout_s=1.0) as pool:
        for i in range(len(kinds)):
            pool.submit(Call(i, "faulty", i, time.perf_counter()))
        done = []
        deadline = time.perf_counter() + 10
        while len(done) < len(kinds) and time.perf_counter() < deadline:
            done.extend(pool.wait(0.5))
        replaced = pool.replaced
    by_index = {c.call.index: c for c in done}
    assert len(by_index) == len(kinds)
    assert by_index[1].error == "raised" and "tool blew up" in by_index[1].message
    assert by_index[3].error == "timeout"
    assert by_index[5].error == "worker_died"
    assert by_index[7].error is None and check(by_index[7]) == "digest mismatch"
    assert all(by_index[i].error is None for i in (0, 2, 4, 6, 8, 9))
    assert replaced == 2  # the hung worker and the dead one


def test_loadgen_records_errors_with_first_messages():
    inputs = {"faulty": ["ok", "raise", "wrong"]}
    want = catalog.digest(b"")
    with WarmPool({"faulty": _faulty}, inputs, 2, timeout_s=5) as pool:
        r = loadgen.closed_loop(pool, lambda n: ("faulty", n % 3), lambda c: None if c.digest == want
                                else "digest mismatch", concurrency=2, window_s=0.2)
    assert r.errors.counts["raised"] > 0 and r.errors.counts["wrong_digest"] > 0
    assert r.ok > 0 and len(r.errors.first) <= r.errors.keep
    assert "tool blew up" in r.errors.summary()


def _slow(payload):
    time.sleep(0.02)
    return b""


def test_open_loop_latency_counts_queueing_from_scheduled_arrival():
    # One worker serving 20 ms calls at 100 calls/s is overloaded (2x): calls
    # queue, and latency from the scheduled arrival must grow far beyond 20 ms.
    inputs = {"slow": [0]}
    with WarmPool({"slow": _slow}, inputs, 1, timeout_s=10) as pool:
        r = loadgen.open_loop(pool, lambda n: ("slow", 0), lambda c: None, rate=100,
                              window_s=0.6, seed=1)
    lat = sorted(x[1] for x in r.latencies)
    assert r.calls > 30 and r.ok == r.calls
    assert lat[-1] > 0.15


def test_open_loop_answers_carry_the_workers_end_time_not_the_read_time():
    # The open loop reads answers in batches; a late read must not add latency.
    inputs = {"noop": [0]}
    with WarmPool({"noop": catalog.TOOLS["noop"].run}, inputs, 1, timeout_s=10) as pool:
        pool.submit(Call(0, "noop", 0, time.perf_counter()))
        time.sleep(0.2)  # the answer waits unread
        done = []
        deadline = time.perf_counter() + 30
        while not done and time.perf_counter() < deadline:
            done = pool.wait(0.5, prompt=False)
        read_at = time.perf_counter()
    assert done[0].error is None and read_at - done[0].end > 0.15


def test_killed_workers_are_replaced_and_their_calls_counted():
    import signal

    inputs = {"slow": [0], "noop": [0]}
    runners = {"slow": _slow, "noop": catalog.TOOLS["noop"].run}
    with WarmPool(runners, inputs, 1, timeout_s=10) as pool:
        os.kill(pool._workers[0].proc.pid, signal.SIGKILL)  # killed while idle
        # Dead before the call goes out: a worker still dying could take it
        # (that case is reported as lost, tested below).
        pool._workers[0].proc.join(10)
        pool.submit(Call(0, "noop", 0, time.perf_counter()))
        done = []
        deadline = time.perf_counter() + 30
        while len(done) < 1 and time.perf_counter() < deadline:
            done.extend(pool.wait(1.0))
        assert done and done[0].error is None and pool.replaced == 1
        pool.submit(Call(1, "slow", 0, time.perf_counter()))
        deadline = time.perf_counter() + 5
        while pool._slots[0] != 1 and time.perf_counter() < deadline:
            time.sleep(0.001)  # until the worker has taken the call
        os.kill(pool._workers[0].proc.pid, signal.SIGKILL)  # killed mid-call
        done = []
        deadline = time.perf_counter() + 30
        while not done and time.perf_counter() < deadline:
            done.extend(pool.wait(1.0))
        assert done and done[0].call.id == 1 and done[0].error == "worker_died"
        assert pool.replaced == 2 and pool.outstanding() == 0


def test_a_full_request_queue_holds_calls_without_blocking_the_generator():
    inputs = {"noop": [0]}
    with WarmPool({"noop": catalog.TOOLS["noop"].run}, inputs, 1, timeout_s=10) as pool:
        # The worker stopped while the calls go in: one that drains the
        # queue as fast as it fills would leave nothing held.
        pids = [w.proc.pid for w in pool._workers]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            for i in range(3000):
                pool.submit(Call(i, "noop", 0, time.perf_counter()))
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        assert pool._held  # more calls than the kernel queue takes: the rest wait here
        done = []
        deadline = time.perf_counter() + 30
        while pool.outstanding() and time.perf_counter() < deadline:
            done.extend(pool.wait(0.5))
    assert sorted(c.call.id for c in done) == list(range(3000))
    assert all(c.error is None for c in done)


class _Silent:
    """A model that accepts calls and never answers."""

    name, timeout_s, tool_cpu_s = "silent", 0.05, 0.0

    def __init__(self):
        self.calls = 0

    def submit(self, call):
        self.calls += 1

    def outstanding(self):
        return self.calls

    def wait(self, timeout, prompt=True):
        time.sleep(min(timeout, 0.01))
        return []


def test_calls_never_answered_count_as_failed(monkeypatch):
    monkeypatch.setattr(loadgen, "DRAIN_GRACE_S", 0.05)
    r = loadgen.closed_loop(_Silent(), lambda n: ("noop", 0), lambda c: None, concurrency=3,
                            window_s=0.05, drain_s=0.0)
    assert r.calls == 3 and r.ok == 0 and r.errors.counts == {"unanswered": 3}


def test_fresh_process_model_runs_a_tool():
    from workloads.tools.percall import FreshProcess

    inputs = _inputs("json_transform")
    with FreshProcess(inputs, 2, timeout_s=30) as model:
        r = loadgen.closed_loop(model, lambda n: ("json_transform", n % 3), _check_for(inputs),
                                concurrency=2, window_s=0.1, min_calls=2)
    assert r.ok >= 2 and r.errors.total == 0 and r.tool_cpu_s > 0


def _sandbox_or_skip():
    try:
        from workloads.sandbox import available_backends
    except ImportError:
        pytest.skip("workloads.sandbox not available")
    if not available_backends():
        pytest.skip("no sandbox backend on this machine (install bubblewrap)")


def test_sandboxed_model_runs_code_exec_and_checks_output():
    _sandbox_or_skip()
    from workloads.tools.bench import open_model

    tool = catalog.TOOLS["code_exec"]
    inputs = {"code_exec": tool.make_inputs(7)}
    model = open_model("sandbox", tool, inputs, 1, pool_size=1)
    try:
        r = loadgen.closed_loop(model, lambda n: ("code_exec", n % 3), _check_for(inputs),
                                concurrency=1, window_s=0.1, min_calls=2)
    finally:
        model.close()
    assert r.ok >= 2 and r.errors.total == 0, r.errors.summary()


def test_benchmark_entry_gives_validated_records_and_dispatch_overhead():
    from workloads.tools.bench import run_benchmark

    job = Job("tools.noop", {"matrix": {"pool": [1, 2]}}, PROFILES["quick"], SYSTEM, {}, 60)
    out = run_benchmark(job)
    assert not out.errors
    metrics = {(r.params["concurrency"], r.metric) for r in out.records}
    for c in (1, 2):
        for m in ("throughput", "latency_p50", "latency_p95", "latency_p99", "latency_max",
                  "cpu_utilization"):
            assert (c, m) in metrics
    assert (1, "dispatch_overhead") in metrics
    assert all(r.validated for r in out.records)


def test_table_query_is_not_offered_to_the_sandbox():
    from workloads.tools.bench import run_benchmark

    job = Job("tools.table_query", {"matrix": {"sandbox": [1]}}, PROFILES["quick"], SYSTEM, {}, 60)
    out = run_benchmark(job)
    assert not out.records and [e.kind for e in out.errors] == ["skipped"]


def test_quick_plan_covers_every_tool_model_and_level():
    from workloads.tools.specs import SPECS

    ctx = PlanContext(PROFILES["quick"], SYSTEM, {})
    models, tools = set(), set()
    calls = [s for s in SPECS if s.entry == "workloads.tools.bench:run_benchmark"]
    for spec in calls:
        (cfg,) = spec.plan(ctx)
        tools.add(spec.id)
        models |= set(cfg.params["matrix"])
        if spec.id == "tools.noop":
            assert cfg.params["matrix"]["pool"] == [1, 2, 4, 8]
    assert models == {"pool", "fresh", "sandbox"}
    assert len(tools) == 6
    standard = PlanContext(PROFILES["standard"], SYSTEM, {"rate": 50})
    cfgs = [c for s in calls for c in s.plan(standard)]
    assert sum("rate" in c.params for c in cfgs) == len(calls)  # open loop once per tool


def test_a_call_lost_with_a_dying_worker_is_reported_not_awaited_forever():
    # Simulate the window between a worker taking a call and marking its
    # slot: the call leaves the queue, and no worker ever holds it.
    inputs = {"noop": [0]}
    with WarmPool({"noop": catalog.TOOLS["noop"].run}, inputs, 1, timeout_s=10) as pool:
        call = Call(7, "noop", 0, time.perf_counter())
        pool._outstanding[call.id] = call  # issued, but never queued
        done = []
        deadline = time.perf_counter() + 10
        while not done and time.perf_counter() < deadline:
            done.extend(pool.wait(0.2))
        assert done and done[0].call.id == 7 and done[0].error == "worker_died"
        assert pool.outstanding() == 0


def test_pool_cpu_counts_dispatch_not_only_the_calls():
    from workloads.tools import pool as pool_module
    inputs = _inputs("noop")
    with WarmPool({"noop": catalog.TOOLS["noop"].run}, inputs, 1, timeout_s=10) as pool:
        before = pool.tool_cpu_s
        r = loadgen.closed_loop(pool, lambda n: ("noop", n % 3), _check_for(inputs),
                                concurrency=2, window_s=0.5)
        assert r.ok > 50 and r.errors.total == 0
        # Noop calls cost almost nothing inside; taking, unpickling and
        # answering them is what the worker spends.
        assert pool.tool_cpu_s - before > pool.call_cpu_s
        assert pool_module.process_cpu_s(os.getpid()) > 0


def test_a_saturated_generator_marks_its_records():
    from workloads.tools import records
    from workloads.tools.loadgen import LoadResult
    r = LoadResult(start=0.0, wall_s=1.0, window_s=1.0)
    r.latencies = [(0.5, 0.001, None), (1.0, 0.001, None)]
    r.generator_cpu_s = 0.95
    recs, _ = records.load_records("tools.noop", {"model": "pool"}, r, cpus=2, parts=2, info={})
    assert all("lower bound" in x.info["generator_bound"] for x in recs)
    r.generator_cpu_s = 0.2
    recs, _ = records.load_records("tools.noop", {"model": "pool"}, r, cpus=2, parts=2, info={})
    assert not any("generator_bound" in x.info for x in recs)


def test_smoke_runs_the_tools_with_the_same_tests_in_one_child_and_quick_one_each():
    from suite.runner import plan
    from workloads.tools.specs import SPECS

    smoke, _ = plan(SPECS, PlanContext(PROFILES["smoke"], SYSTEM, {}))
    children = [p.ids for p in smoke]
    assert ("tools.noop", "tools.json_transform", "tools.text_search",
            "tools.tokenize_python") in children
    assert ("tools.table_query",) in children and ("tools.tokenize",) in children
    assert sorted(i for ids in children for i in ids) == sorted(s.id for s in SPECS)
    quick, _ = plan(SPECS, PlanContext(PROFILES["quick"], SYSTEM, {}))
    assert all(len(p.ids) == 1 for p in quick)


def test_a_shared_child_runs_each_tool_under_its_own_id():
    from workloads.tools.bench import run_benchmark

    job = Job("tools.noop", {"matrix": {"pool": [1]}}, PROFILES["quick"], SYSTEM, {}, 60,
              benchmarks=("tools.noop", "tools.json_transform"))
    out = run_benchmark(job)
    assert not out.errors and all(r.validated for r in out.records)
    assert {r.benchmark for r in out.records} == {"tools.noop", "tools.json_transform"}
    assert {r.info["tool"] for r in out.records if r.benchmark == "tools.json_transform"} == \
        {"json_transform"}
    assert [r.benchmark for r in out.records if r.metric == "dispatch_overhead"] == ["tools.noop"]


def test_tool_inputs_are_made_once_and_again_when_the_source_or_file_changes(tmp_path):
    from workloads.tools.inputcache import cached_inputs

    made = []

    def make():
        made.append(1)
        return [{"text": "x" * len(made)}]

    first = cached_inputs("t", b"source", 3, make, cache_dir=tmp_path)
    assert cached_inputs("t", b"source", 3, make, cache_dir=tmp_path) == first and len(made) == 1
    assert cached_inputs("t", b"source v2", 3, make, cache_dir=tmp_path) != first
    for path in tmp_path.glob("t-3-*.pickle"):
        path.write_bytes(b"cut sh")  # a file cut short is made again
    assert cached_inputs("t", b"source", 3, make, cache_dir=tmp_path) == [{"text": "xxx"}]
    assert not list(tmp_path.glob(".*.tmp"))


def test_cached_tool_inputs_are_the_generated_ones():
    tool = catalog.TOOLS["tokenize_python"]
    mod = tool._mod()
    assert tool.make_inputs(7) == tool.make_inputs(7) == [
        mod.make_input(7000 + k) for k in range(catalog.INPUT_VARIANTS)]
