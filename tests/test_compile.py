"""The C corpus generator, compile.c and compile.test."""
from __future__ import annotations

import dataclasses
from dataclasses import replace
import os
import subprocess

import pytest

from suite.spec import DEFAULT_SEED, PROFILES, Job, PlanContext
from workloads.compile import build, cycle, specs
from workloads.compile.corpus import SIZES, generate
from workloads.compile.specs import DEPTH
from workloads.compile.toolchain import find_compiler
from workloads.sandbox import Sandbox

SYSTEM = {"logical_cpus": 2,
          "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0},
                   {"cpu": 1, "core": 1, "package": 0, "node": 0}],
          "caches": [], "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30}}
# The small corpus every machine compiles; a change here changes every
# compile.c figure, so it must be deliberate (and noted in the changelog).
SMALL_SEED_1_SHA256 = "8797e8c3143e9230ae7b1aa647d8f9def77441dc16d2289e3245f3e096cf1679"

COMPILER = find_compiler()
needs_cc = pytest.mark.skipif(COMPILER is None, reason="no C compiler (cc, gcc, clang); install gcc")


def _job(benchmark: str, params: dict, profile: str = "quick") -> Job:
    return Job(benchmark=benchmark, params=params, profile=PROFILES[profile], system=SYSTEM,
               options={}, timeout=120.0)


# -- corpus -----------------------------------------------------------------

def test_corpus_is_deterministic_and_seeded():
    a, b = generate("small", 1), generate("small", 1)
    assert a.files == b.files and a.sha256 == b.sha256
    assert generate("small", 2).sha256 != a.sha256
    assert a.sha256 == SMALL_SEED_1_SHA256
    n_modules, _ = SIZES["small"]
    assert len(a.units) == n_modules + 1 and "main.c" in a.units


def test_unknown_corpus_size_names_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: tiny, small, medium, large"):
        generate("huge")


@needs_cc
def test_compiled_program_prints_the_predicted_checksum(tmp_path):
    corpus = generate("tiny", 5)
    for name, data in corpus.files.items():
        (tmp_path / name).write_bytes(data)
    for case in (5, 123456):
        (tmp_path / "case.h").write_bytes(corpus.with_case(case)["case.h"])
        subprocess.run([COMPILER.path, "-O2", "-Wall", "-Werror", "-o", "prog", *corpus.units],
                       cwd=tmp_path, check=True)
        out = subprocess.run(["./prog"], cwd=tmp_path, capture_output=True, check=True).stdout
        assert out == corpus.expected_output(case)


# -- plans ------------------------------------------------------------------

def test_plans_sweep_1_cores_and_twice_cores():
    ctx = PlanContext(profile=PROFILES["quick"], system=SYSTEM, options={})
    assert [c.params["jobs"] for c in specs.plan_compile(ctx)] == [1, 2, 4]
    assert [c.params["concurrency"] for c in specs.plan_cycles(ctx)] == [4]
    one = PlanContext(profile=PROFILES["standard"], system={"logical_cpus": 1}, options={})
    assert [c.params["concurrency"] for c in specs.plan_cycles(one)] == [1, 2]


# -- compile.c --------------------------------------------------------------

@needs_cc
def test_a_compile_error_is_that_units_failure_not_a_crash():
    corpus = generate("tiny", 1)
    files = dict(corpus.files, **{"broken.c": b"int main(void) { return nope; }\n"})
    with Sandbox().session() as s:
        s.write(files)
        results, _ = build.build_all(s, COMPILER.path, sorted([*corpus.units, "broken.c"]), jobs=2)
    by_unit = {r.unit: r for r in results}
    assert not by_unit["broken.c"].ok and "exit" in by_unit["broken.c"].message
    assert all(r.ok for u, r in by_unit.items() if u != "broken.c")


@needs_cc
def test_compile_c_records_are_validated_and_say_what_was_measured(monkeypatch):
    monkeypatch.setitem(DEPTH, "quick", replace(DEPTH["quick"], corpus_size="tiny"))
    out = build.run_compile(_job("compile.c", {"jobs": 2}))
    assert not out.errors
    metrics = {r.metric: r for r in out.records}
    assert {"throughput", "wall", "latency_p50", "latency_p95", "latency_p99"} <= set(metrics)
    assert all(r.validated and r.value > 0 for r in out.records)
    info = metrics["throughput"].info
    assert info["compiler"]["name"] == COMPILER.name and info["compiler"]["version"]
    assert info["compiler"]["flags"] == ["-O2", "-c"]
    assert info["backend"] == Sandbox().backend
    assert info["corpus"]["sha256"] == generate("tiny", DEFAULT_SEED).sha256  # no --seed given
    assert ("cpu" in metrics) != ("cpu" in info)  # measured, or said why not


@needs_cc
def test_seed_option_picks_the_corpus(monkeypatch):
    monkeypatch.setitem(DEPTH, "quick", replace(DEPTH["quick"], corpus_size="tiny"))
    job = dataclasses.replace(_job("compile.c", {"jobs": 1}), options={"seed": 9})
    out = build.run_compile(job)
    assert out.records[0].info["corpus"]["sha256"] == generate("tiny", 9).sha256


def test_no_compiler_is_a_clear_skip(monkeypatch):
    monkeypatch.setattr(build, "find_compiler", lambda: None)
    monkeypatch.setattr(cycle, "find_compiler", lambda: None)
    from suite.worker import run_job

    for entry, params in (("workloads.compile.build:run_compile", {"jobs": 1}),
                          ("workloads.compile.cycle:run_cycles", {"concurrency": 1})):
        out = run_job(_job("compile.x", params), entry)  # as the worker runs it
        assert not out.records and out.errors[0].kind == "skipped"
        assert "no C compiler" in out.errors[0].message


# -- compile.test -----------------------------------------------------------

@needs_cc
def test_compile_test_cycles_are_checked_against_the_generator():
    out = cycle.run_cycles(_job("compile.test", {"concurrency": 2}))
    assert not out.errors
    rate = next(r for r in out.records if r.metric == "rate")
    assert rate.validated and rate.value > 0 and rate.info["cycles"] >= 2
    assert rate.info["compiler"]["name"] == COMPILER.name
    assert {r.metric for r in out.records} == {"rate", "latency_p50", "latency_p95", "latency_p99"}


@needs_cc
def test_a_wrong_checksum_marks_the_run_invalid(monkeypatch):
    def off_by_one(size, seed):
        real = generate(size, seed)
        return dataclasses.replace(real, checksum=lambda case: real.checksum(case) ^ 1)

    monkeypatch.setattr(cycle, "generate", off_by_one)
    out = cycle.run_cycles(_job("compile.test", {"concurrency": 1}))
    assert out.errors and out.errors[0].kind == "invalid" and "expected" in out.errors[0].message
    assert not any(r.validated for r in out.records)


def test_spec_module_registers_both_benchmarks():
    assert [s.id for s in specs.SPECS] == ["compile.c", "compile.test", "compile.source", "compile.linux"]
    ctx = PlanContext(profile=PROFILES["full"], system=SYSTEM, options={})
    assert specs.plan_source(ctx) == []  # only with --source


@needs_cc
def test_compile_source_builds_a_named_tree(tmp_path):
    from workloads.compile import source

    if not source.shutil.which("make"):
        pytest.skip("make not installed")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.c").write_text("int f(void) { return 1; }\n")
    (tree / "Makefile").write_text("all:\n\tcc -O2 -c a.c -o a.o\nclean:\n\trm -f a.o\n")
    job = dataclasses.replace(_job("compile.source", {"jobs": 2}),
                              options={"source": str(tree), "build": "make -j{jobs}"})
    out = source.run_source(job)
    assert not out.errors and out.records[0].validated
    assert out.records[0].info["build"] == "make -j2"


# -- compile.linux ----------------------------------------------------------

FAKE_KERNEL_MAKEFILE = """\
VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 99
EXTRAVERSION = -fake
all: .config
\techo built > vmlinux
defconfig:
\techo CONFIG_FAKE=y > .config
clean:
\trm -f vmlinux
"""


def _fake_linux_tarball(tmp_path, makefile: str = FAKE_KERNEL_MAKEFILE) -> str:
    import tarfile

    top = tmp_path / "src" / "linux-source-6.1"
    top.mkdir(parents=True)
    (top / "Makefile").write_text(makefile)
    (top / "Kconfig").write_text("# fake\n")
    tarball = tmp_path / "linux-source-6.1.tar.xz"
    with tarfile.open(tarball, "w:xz") as tar:
        tar.add(top, arcname="linux-source-6.1")
    return str(tarball)


@pytest.fixture
def fake_linux(tmp_path, monkeypatch):
    from workloads.compile import linux

    tarball = _fake_linux_tarball(tmp_path)
    monkeypatch.setattr(linux, "SOURCE_GLOB", str(tmp_path / "linux-source-*.tar.xz"))
    monkeypatch.setattr(linux, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(linux, "missing_build_deps", lambda: [])
    return tarball


def test_linux_build_is_planned_in_the_full_profile_only():
    for profile, jobs in (("quick", []), ("standard", []), ("full", [2])):
        ctx = PlanContext(profile=PROFILES[profile], system=SYSTEM, options={})
        assert [c.params["jobs"] for c in specs.plan_linux(ctx)] == jobs
    spec = next(s for s in specs.SPECS if s.id == "compile.linux")
    assert spec.profiles == frozenset({"smoke", "full"})
    # Smoke checks the prerequisites only.
    (smoke,) = specs.plan_linux(PlanContext(profile=PROFILES["smoke"], system=SYSTEM, options={}))
    assert smoke.settings == {"build": False}


def test_linux_in_the_smoke_profile_checks_prerequisites_and_builds_nothing(fake_linux, tmp_path):
    from workloads.compile import linux

    out = linux.run_linux(replace(_job("compile.linux", {"jobs": 2}, "smoke"), settings={"build": False}))
    assert not out.records
    (skip,) = out.errors
    assert skip.kind == "skipped" and "full profile only" in skip.message
    assert not (tmp_path / "cache").exists()  # not even extracted


def test_linux_without_the_package_is_one_skip_naming_the_install_command(tmp_path, monkeypatch):
    from workloads.compile import linux

    monkeypatch.setattr(linux, "SOURCE_GLOB", str(tmp_path / "none-*.tar.xz"))
    out = linux.run_linux(_job("compile.linux", {"jobs": 2}, "full"))
    assert not out.records and len(out.errors) == 1
    assert out.errors[0].kind == "skipped" and "apt-get install linux-source-6.1" in out.errors[0].message


def test_linux_tree_is_extracted_once_and_keyed_by_the_tarball(fake_linux, tmp_path):
    from workloads.compile import linux

    tree = linux.extracted_tree(fake_linux, tmp_path / "cache")
    assert tree.name == "linux-source-6.1" and linux.kernel_version(tree) == "6.1.99-fake"
    (tree / "marker").write_text("kept")
    assert linux.extracted_tree(fake_linux, tmp_path / "cache") == tree
    assert (tree / "marker").exists()  # not extracted again
    os.utime(fake_linux, ns=(0, 10**18))  # a reinstalled package: new mtime
    fresh = linux.extracted_tree(fake_linux, tmp_path / "cache")
    assert fresh != tree and not (fresh / "marker").exists()
    assert not list((tmp_path / "cache").glob(".extract-*"))  # no scratch left


@needs_cc
def test_linux_build_records_version_compiler_and_jobs(fake_linux):
    from workloads.compile import linux

    if not linux.shutil.which("make"):
        pytest.skip("make not installed")
    out = linux.run_linux(_job("compile.linux", {"jobs": 2}, "full"))
    assert not out.errors, out.errors
    (record,) = out.records
    assert record.validated and record.metric == "wall" and len(record.samples) == linux.RUNS
    assert record.info["kernel_version"] == "6.1.99-fake" and record.info["jobs"] == 2
    assert record.info["build"] == "make -j2" and record.info["compiler"]["name"] == "gcc"


@needs_cc
def test_linux_build_without_vmlinux_is_invalid(tmp_path, monkeypatch):
    from workloads.compile import linux

    if not linux.shutil.which("make"):
        pytest.skip("make not installed")
    _fake_linux_tarball(tmp_path, FAKE_KERNEL_MAKEFILE.replace("echo built > vmlinux", "true"))
    monkeypatch.setattr(linux, "SOURCE_GLOB", str(tmp_path / "linux-source-*.tar.xz"))
    monkeypatch.setattr(linux, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(linux, "missing_build_deps", lambda: [])
    out = linux.run_linux(_job("compile.linux", {"jobs": 1}, "full"))
    assert out.errors[0].kind == "invalid" and "no vmlinux" in out.errors[0].message
    assert not out.records[0].validated


def test_linux_missing_build_tools_are_a_skip_naming_the_packages(fake_linux, monkeypatch):
    from workloads.compile import linux

    monkeypatch.setattr(linux, "missing_build_deps", lambda: ["flex", "bison"])
    out = linux.run_linux(_job("compile.linux", {"jobs": 2}, "full"))
    assert out.errors[0].kind == "skipped" and "apt-get install flex bison" in out.errors[0].message
