"""runtime.jvm.start and runtime.node.start: a cold runtime in the sandbox
running a small generated program to completion; latency percentiles and
rate at concurrency 1, cores and 2 x cores."""
from __future__ import annotations

import os
import shutil

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.sampling import repeat_until_stable
from suite.spec import profile_row, seed_of
from suite.worker import each_benchmark
from workloads.runtime import buildcache, programs, runtimes
from workloads.runtime.specs import DEPTH
from workloads.sandbox import SandboxError, concurrency_levels, for_agent_code, run_concurrently

RUN_TIMEOUT_S = 300.0  # javac of the program, emulated on a busy machine, takes a minute


class Launch:
    """How one runtime runs the generated program: the files a fresh work
    dir gets and the command line."""

    def __init__(self, kind: str, sandbox, program: programs.Program) -> None:
        self.kind = kind
        if kind == "jvm":
            found = runtimes.require("java", "javac")
            self.runtime = found["java"]
            self.files = {f"{programs.CLASS}.class": _compile_class(sandbox, found["javac"], program)}
            self.argv = [self.runtime.path, *runtimes.jvm_options(), "-cp", ".", programs.CLASS]
        else:
            self.runtime = runtimes.require("node")["node"]
            self.files = {"main.js": program.js_source()}
            self.argv = [self.runtime.path, "main.js"]

    def info(self, sandbox) -> dict:
        info = {"runtime": self.runtime.info(), "argv": self.argv[1:]}
        if self.kind == "jvm":
            info["jvm_flags"] = runtimes.jvm_flags(self.runtime.path, sandbox)
        return info


def _compile_class(sandbox, javac: runtimes.Runtime, program: programs.Program) -> bytes:
    """The program's class file, compiled in the sandbox before any timing,
    once per program and javac (workloads.runtime.buildcache)."""
    source = f"{programs.CLASS}.java"
    class_file = f"{programs.CLASS}.class"

    def build(directory: str) -> None:
        with sandbox.session() as session:
            r = session.run([javac.path, *runtimes.javac_options(), source],
                            files={source: program.java_source()})
            if not r.ok:
                raise SandboxError(f"javac exit {r.returncode}: {r.stderr.decode(errors='replace')[-300:]}")
            shutil.copyfile(os.path.join(session.path, class_file), os.path.join(directory, class_file))

    directory = buildcache.compiled(f"start-{programs.CLASS}", program.java_source(), javac, class_file, build)
    with open(os.path.join(directory, class_file), "rb") as f:
        return f.read()


def run(job) -> Outcome:
    """Every runtime of job.ids: one, or both where they share this child
    (specs.RuntimeDepth.runtimes_share_child)."""
    return each_benchmark(job, lambda benchmark: _run_runtime(job, benchmark))


def _run_runtime(job, benchmark: str) -> Outcome:
    kind = benchmark.split(".")[1]
    program = programs.generate(seed_of(job.options))
    expected = program.expected_output()
    sandbox = for_agent_code(job.options, timeout_s=RUN_TIMEOUT_S,
                             limits=runtimes.sandbox_limits(RUN_TIMEOUT_S))
    launch = Launch(kind, sandbox, program)
    base_info = {**launch.info(sandbox), "backend": sandbox.backend, "sandbox_warning": sandbox.warning,
                 "program": {"seed": program.seed, "expected": expected.decode().strip()}}
    depth = profile_row(DEPTH, job.profile)
    records, errors = [], []
    for concurrency in job.profile.levels(concurrency_levels(len(job.topology.logical_cpus))):
        params = {"concurrency": concurrency}
        latencies: list = []
        failed: list = []

        def batch() -> float:
            lat, results, wall = run_concurrently(
                lambda: sandbox.run(launch.argv, files=launch.files), concurrency, depth.starts_per_worker)
            latencies.extend(lat)
            # Validation: exit 0 and the checksum the Python mirror predicts.
            failed.extend(r for r in results if not (r.ok and r.stdout == expected))
            return len(lat) / wall

        rates = repeat_until_stable(batch, job.profile, time_budget_s=depth.start_budget_s)
        valid = not failed
        if failed:
            first = failed[0]
            errors.append(ErrorRecord(benchmark, params, "invalid",
                                      f"{len(failed)} of {len(latencies)} cold starts failed (first: exit "
                                      f"{first.returncode}, stdout {first.stdout[:80]!r}, "
                                      f"stderr {first.stderr[-200:]!r})"))
        info = dict(base_info, concurrency=concurrency, starts=len(latencies))
        records.append(measurement(benchmark, params, "rate", "starts/s", rates,
                                   higher_is_better=True, validated=valid, info=info))
        lat_ms = [x * 1e3 for x in latencies]
        for q in (50, 95, 99):
            records.append(measurement(benchmark, params, f"latency_p{q}", "ms", lat_ms,
                                       higher_is_better=False, value=stats.percentile(lat_ms, q),
                                       validated=valid, info=info))
    warnings = (sandbox.warning,) if sandbox.warning else ()
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=warnings)
