"""The JVM and Node.js benchmarks: generated programs and corpora checked
by running them, the Java and JavaScript tools against the Python tools'
digests, and the pool's failures (a tool that throws, a JVM out of heap, a
worker killed mid-call, a wrong digest)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from suite.errors import Skipped
from suite.spec import PROFILES
from workloads.runtime import javacorpus, programs, runtimes
from workloads.tools import catalog, loadgen
from workloads.tools.calls import Call
from workloads.tools.records import load_records

HAVE_JAVA = runtimes.find("java") is not None and runtimes.find("javac") is not None
HAVE_NODE = runtimes.find("node") is not None
needs_java = pytest.mark.skipif(not HAVE_JAVA, reason="no java/javac; " + runtimes.INSTALL)
needs_node = pytest.mark.skipif(not HAVE_NODE, reason="no node; " + runtimes.INSTALL)
KINDS = [pytest.param("jvm", marks=needs_java), pytest.param("node", marks=needs_node)]
TOOLS = ("noop", "json_transform", "text_search", "table_query")
FLAGS_TEXT = """[Global flags]
     bool UseG1GC                                  = true                                 {product} {ergonomic}
     bool UseSerialGC                              = false                                {product} {default}
   size_t MaxHeapSize                              = 268435456                              {product} {command line}
     uint ParallelGCThreads                        = 2                                      {product} {default}
"""


def test_jvm_flags_are_read_from_print_flags_final():
    flags = runtimes.parse_jvm_flags(FLAGS_TEXT)
    assert flags == {"UseSerialGC": False, "UseG1GC": True, "MaxHeapSize": 268435456, "ParallelGCThreads": 2}


def test_a_machine_without_the_runtime_skips_with_the_install_command(monkeypatch):
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: None)
    runtimes.find.cache_clear()
    try:
        with pytest.raises(Skipped, match="install-system-deps.sh run"):
            runtimes.require("java", "node")
    finally:
        runtimes.find.cache_clear()


def test_emulated_jvms_run_c1_and_the_serial_collector_and_native_ones_do_not(monkeypatch):
    monkeypatch.setattr(runtimes, "emulated", lambda: False)
    assert runtimes.jvm_options() == runtimes.JVM_OPTIONS
    assert runtimes.javac_options() == runtimes.JAVAC_OPTIONS
    monkeypatch.setattr(runtimes, "emulated", lambda: True)
    assert runtimes.jvm_options()[-3:] == runtimes.EMULATED_JVM_OPTIONS
    assert "-J-XX:TieredStopAtLevel=1" in runtimes.javac_options()
    assert runtimes.javac_options()[:len(runtimes.JAVAC_OPTIONS)] == runtimes.JAVAC_OPTIONS


def test_a_jvm_in_the_sandbox_may_use_cpu_seconds_up_to_its_wall_timeout():
    from workloads.sandbox import Limits

    assert runtimes.sandbox_limits(600.0).cpu_s == 600
    assert runtimes.sandbox_limits(600.0).address_space_bytes == Limits().address_space_bytes
    assert runtimes.sandbox_limits(1.0).cpu_s == Limits().cpu_s  # never below the default


@needs_java
def test_the_emulated_options_start_this_jvm(monkeypatch):
    import subprocess

    java = runtimes.find("java").path
    out = subprocess.run([java, *runtimes.JVM_OPTIONS, *runtimes.EMULATED_JVM_OPTIONS, "-version"],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr[-300:]


def test_generated_sources_are_deterministic_from_the_seed():
    assert programs.generate(3) == programs.generate(3) != programs.generate(4)
    a, b = javacorpus.generate("small", 1), javacorpus.generate("small", 1)
    assert a.sha256 == b.sha256 != javacorpus.generate("small", 2).sha256
    # Hundreds of classes, one compile group per package.
    assert a.classes >= 200 and len(a.packages) * 10 + 1 == a.classes


@pytest.fixture(scope="module")
def sandbox():
    from workloads.sandbox import Sandbox

    return Sandbox(timeout_s=120.0)


@pytest.mark.parametrize("kind", KINDS)
def test_start_program_prints_what_the_mirror_predicts(kind, sandbox):
    from workloads.runtime.start import Launch

    program = programs.generate(5)
    launch = Launch(kind, sandbox, program)
    r = sandbox.run(launch.argv, files=launch.files)
    assert r.ok and r.stdout == program.expected_output(), r.stderr[-300:]
    if kind == "jvm":  # the GC and heap flags as the JVM chose them in the sandbox
        flags = runtimes.jvm_flags(launch.runtime.path, sandbox)
        assert flags["MaxHeapSize"] == 256 << 20 and flags["gc"]


@needs_java
@pytest.mark.slow
def test_compiled_java_corpus_main_prints_the_mirrors_checksum(sandbox):
    from workloads.runtime import compile_java

    corpus = javacorpus.generate("tiny", 7)
    with sandbox.session() as session:
        session.write(corpus.files)
        wall, failures, _ = compile_java.build(session, runtimes.find("javac").path, corpus, jobs=2)
        assert not failures
        assert compile_java.check(session, runtimes.find("java").path, corpus) is None
        # A corpus whose answer differs is caught.
        wrong = javacorpus.generate("tiny", 8)
        assert "expected" in compile_java.check(session, runtimes.find("java").path, wrong)


def _pool(kind, inputs, size=1, timeout_s=30.0):
    from workloads.runtime.tools import open_pool

    pool, _ = open_pool(kind, inputs, size, warmup_ms=0, timeout_s=timeout_s)
    return pool


def _call(pool, tool, index=0, call_id=0, timeout=60.0):
    pool.submit(Call(call_id, tool, index, time.perf_counter()))
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        done = pool.wait(0.05)
        if done:
            return done[0]
    raise AssertionError("no completion")


@pytest.mark.parametrize("kind", KINDS)
def test_runtime_tools_give_the_python_tools_digests(kind):
    from workloads.runtime.tools import catalog_inputs

    inputs = catalog_inputs(TOOLS, seed=11)
    pool = _pool(kind, inputs)
    try:
        for n, tool in enumerate(TOOLS):
            want = catalog.expected_digests(catalog.TOOLS[tool], inputs[tool])
            for k in range(catalog.INPUT_VARIANTS):
                c = _call(pool, tool, k, call_id=n * 10 + k)
                assert c.error is None and c.digest == want[k], (tool, k, c.message)
    finally:
        pool.close()


@pytest.mark.parametrize("kind", KINDS)
def test_pool_workers_run_in_the_sandbox_and_go_with_the_pool(kind):
    import psutil

    pool = _pool(kind, {"noop": [0]}, size=2)
    try:
        outers = [psutil.Process(pid) for pid in pool.pids]
        found = [p for o in outers for p in o.children(recursive=True) if p.name() in ("java", "node")]
        assert len(found) == 2, [(o.name(), o.children(recursive=True)) for o in outers]
        for p in found:  # namespaces of its own (no network, its own PIDs), not ours
            for ns in ("pid", "net", "mnt"):
                assert os.readlink(f"/proc/{p.pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
        if os.geteuid() == 0:  # a sandbox uid each, never root
            assert all(p.uids().real != 0 for p in found) and len({p.uids().real for p in found}) == 2
        assert _call(pool, "noop").error is None
    finally:
        pool.close()
    gone, alive = psutil.wait_procs(found, timeout=5)
    assert not alive


@pytest.mark.parametrize("kind", KINDS)
def test_a_tool_that_throws_fails_its_call_and_the_worker_serves_on(kind):
    pool = _pool(kind, {"fail": [0], "noop": [0]})
    try:
        c = _call(pool, "fail")
        assert c.error == "raised" and "failed on purpose" in c.message
        assert _call(pool, "noop", call_id=1).error is None and pool.replaced == 0
    finally:
        pool.close()


@needs_java
def test_a_jvm_that_exceeds_its_heap_is_an_error_record():
    from workloads.tools.loadgen import LoadResult

    pool = _pool("jvm", {"exhaust_heap": [0], "noop": [0]})
    try:
        c = _call(pool, "exhaust_heap")
        assert c.error == "worker_died" and "OutOfMemoryError" in c.message, c.message
        assert pool.replaced == 1
        assert _call(pool, "noop", call_id=1).error is None  # its replacement serves
    finally:
        pool.close()
    result = LoadResult(start=0.0, window_s=1.0, wall_s=1.0)
    result.errors.add(c.error, c.message)
    records, errors = load_records("runtime.jvm.tools", {"tool": "exhaust_heap"}, result, cpus=1, parts=1, info={})
    assert not records and errors[0].kind == "invalid" and "OutOfMemoryError" in errors[0].message


@needs_node
def test_a_node_worker_killed_mid_call_fails_that_call_and_is_replaced():
    pool = _pool("node", {"sleep": [5000], "noop": [0]})
    try:
        pool.submit(Call(0, "sleep", 0, time.perf_counter()))
        pool.wait(0.2)
        os.kill(pool.pids[0], signal.SIGKILL)
        deadline, done = time.perf_counter() + 10, []
        while not done and time.perf_counter() < deadline:
            done = pool.wait(0.05)
        assert done[0].error == "worker_died" and "-9" in done[0].message
        assert pool.replaced == 1 and pool.outstanding() == 0
        assert _call(pool, "noop", call_id=1).error is None
    finally:
        pool.close()


@needs_node
def test_a_wrong_digest_makes_the_load_test_invalid():
    pool = _pool("node", {"noop": [0]})
    try:
        result = loadgen.closed_loop(pool, lambda n: ("noop", 0), lambda c: "digest 0123 != expected 4567",
                                     concurrency=1, window_s=0.05, min_calls=1)
    finally:
        pool.close()
    records, errors = load_records("runtime.node.tools", {"tool": "noop"}, result, cpus=1, parts=1, info={})
    assert result.errors.counts.get("wrong_digest") and not records
    assert errors[0].kind == "invalid" and "wrong_digest" in errors[0].message


def test_every_profile_has_a_runtime_row():
    from workloads.runtime.specs import DEPTH

    assert set(PROFILES) <= set(DEPTH)


def test_report_puts_each_tools_python_java_and_node_figures_side_by_side():
    from suite.model import measurement
    from suite.report import side_by_side
    from suite.results import parse

    def rec(bench, params, value, tool=None):
        return measurement(bench, params, "throughput", "calls/s", [value], higher_is_better=True,
                           info={"tool": tool} if tool else {}).to_dict()

    results = [rec("tools.json_transform", {"model": "pool", "concurrency": 2}, 200.0, "json_transform"),
               rec("tools.json_transform", {"model": "fresh", "concurrency": 1}, 5.0, "json_transform"),
               rec("runtime.jvm.tools", {"tool": "json_transform", "concurrency": 1}, 300.0),
               rec("runtime.jvm.tools", {"tool": "json_transform", "concurrency": 2}, 600.0),
               rec("runtime.node.tools", {"tool": "json_transform", "concurrency": 2}, 900.0),
               rec("runtime.node.tools", {"tool": "text_search", "concurrency": 2}, 90.0)]
    doc = parse({"schema_version": 2, "suite": {"name": "factorybench", "version": "0"},
                 "run": {"id": "x", "status": "complete", "profile": "quick"}, "system": {},
                 "results": results, "errors": [], "warnings": []}, "x.json")
    table = side_by_side([("vm", doc)])
    header, *rows = table.split("<tr>")[1:]
    assert [c for c in header.split("<th>")[2:]] == ["Python</th>", "Java (JVM)</th>",
                                                      "JavaScript (Node.js)</th></tr>\n"]
    assert "200 calls/s (concurrency=2,model=pool)" in rows[0] and "600 calls/s" in rows[0]
    assert "900 calls/s" in rows[0] and "5 calls/s" not in rows[0]
    assert rows[1].startswith("<td>text_search throughput</td><td></td><td></td><td>90 calls/s")


def test_a_runtimes_version_is_asked_once_per_binary_and_again_when_it_changes(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text(f'#!/bin/sh\necho x >> {calls}\necho "openjdk version \\"21\\"" >&2\n')
    java.chmod(0o755)
    monkeypatch.setattr(runtimes, "VERSIONS_FILE", str(tmp_path / "cache" / "versions.json"))
    monkeypatch.setattr(runtimes.shutil, "which", lambda name: str(java) if name == "java" else None)
    runtimes.find.cache_clear()
    try:
        first = runtimes.find("java")
        runtimes.find.cache_clear()  # a new benchmark child
        assert runtimes.find("java") == first and first.version == 'openjdk version "21"'
        assert calls.read_text().count("x") == 1
        upgraded = tmp_path / "bin" / "java.new"  # a package upgrade renames its new file in
        upgraded.write_text(java.read_text().replace("21", "25"))
        upgraded.chmod(0o755)
        upgraded.rename(java)
        runtimes.find.cache_clear()
        assert runtimes.find("java").version == 'openjdk version "25"'
        assert calls.read_text().count("x") == 2
        (tmp_path / "cache" / "versions.json").write_text("{not json")  # damaged: asked again
        runtimes.find.cache_clear()
        assert runtimes.find("java").version == 'openjdk version "25"'
    finally:
        runtimes.find.cache_clear()


def test_compiled_classes_are_built_once_per_source_and_a_failed_build_leaves_nothing(tmp_path,
                                                                                      monkeypatch):
    from workloads.runtime import buildcache

    monkeypatch.setattr(buildcache, "CACHE", str(tmp_path))
    javac = runtimes.Runtime("javac", "/usr/bin/javac", "javac 21")
    builds = []

    def build(directory):
        builds.append(directory)
        (tmp_path / directory / "Main.class").write_bytes(b"\xca\xfe")

    first = buildcache.compiled("Main", b"class Main {}", javac, "Main.class", build)
    assert buildcache.compiled("Main", b"class Main {}", javac, "Main.class", build) == first
    assert len(builds) == 1
    other = buildcache.compiled("Main", b"class Main { }", javac, "Main.class", build)
    assert other != first and len(builds) == 2

    def broken(directory):
        raise RuntimeError("javac exit 1")

    with pytest.raises(RuntimeError):
        buildcache.compiled("Main", b"class Broken {}", javac, "Main.class", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([os.path.basename(first),
                                                                os.path.basename(other)])


def test_smoke_runs_the_jvm_and_node_in_one_child_per_benchmark_and_quick_in_one_each():
    from suite.runner import plan
    from suite.spec import PlanContext
    from workloads.runtime.specs import SPECS
    from tests.test_kernels_plans import machine

    system = machine(1, 2, 1, 1 << 20, 8 << 20)
    smoke, _ = plan(SPECS, PlanContext(PROFILES["smoke"], system, {}))
    assert [p.ids for p in smoke] == [("runtime.jvm.start", "runtime.node.start"), ("compile.java",),
                                      ("runtime.jvm.tools", "runtime.node.tools")]
    quick, _ = plan(SPECS, PlanContext(PROFILES["quick"], system, {}))
    assert all(len(p.ids) == 1 for p in quick) and len(quick) == 5


def test_a_shared_start_child_skips_only_the_runtime_that_is_missing(monkeypatch):
    from suite.spec import Job
    from workloads.runtime import start

    real = runtimes.find

    def without_java(name):
        return None if name in ("java", "javac") else real(name)

    monkeypatch.setattr(runtimes, "find", without_java)
    job = Job("runtime.jvm.start", {}, PROFILES["smoke"], {"logical_cpus": 1}, {}, 300.0,
              benchmarks=("runtime.jvm.start", "runtime.node.start"))
    out = start.run(job)
    assert [(e.benchmark, e.kind) for e in out.errors if e.benchmark == "runtime.jvm.start"] == \
        [("runtime.jvm.start", "skipped")]
    if HAVE_NODE:
        assert {r.benchmark for r in out.records} == {"runtime.node.start"}
        assert all(r.validated for r in out.records)
