"""compile.c: every translation unit of the corpus compiled in the sandbox.

One sandboxed compiler run per unit, `jobs` of them at once, as a build
system (or a fleet of agents) would drive them. A sample is one full build
of the corpus; its throughput is units per second of wall time.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from suite import stats
from suite.errors import Skipped
from suite.model import ErrorRecord, Outcome, measurement
from suite.sampling import repeat_until_stable
from workloads.compile.corpus import generate
from suite.spec import profile_row, seed_of
from workloads.compile.specs import DEPTH
from workloads.compile.toolchain import find_compiler
from workloads.sandbox import for_agent_code

FLAGS = ("-O2", "-c")


def corpus_seed(job) -> int:
    return seed_of(job.options)
UNIT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class UnitResult:
    unit: str
    latency_s: float
    cpu_s: float | None
    ok: bool
    message: str  # why it failed; "" when ok


def _object_name(unit: str) -> str:
    return unit[:-2] + ".o"


def compile_unit(session, compiler_path: str, unit: str) -> UnitResult:
    obj = _object_name(unit)
    t0 = time.perf_counter()
    res = session.run([compiler_path, *FLAGS, unit, "-o", obj])
    latency = time.perf_counter() - t0
    path = os.path.join(session.path, obj)
    # Validation: exit status 0 and a non-empty object file.
    produced = os.path.isfile(path) and os.path.getsize(path) > 0
    if res.ok and produced:
        return UnitResult(unit, latency, res.cpu_s, True, "")
    if res.timed_out:
        why = "timed out"
    elif res.returncode != 0:
        lines = res.stderr.decode(errors="replace").strip().splitlines()
        why = f"exit {res.returncode}: {lines[0] if lines else ''}"
    else:
        why = "no object file produced"
    return UnitResult(unit, latency, res.cpu_s, False, why)


def build_all(session, compiler_path: str, units, jobs: int) -> tuple:
    """Compile every unit, `jobs` at a time. Returns (UnitResults, wall s)."""
    for unit in units:
        try:
            os.remove(os.path.join(session.path, _object_name(unit)))
        except FileNotFoundError:
            pass
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda u: compile_unit(session, compiler_path, u), units))
    return results, time.perf_counter() - start


def build_records(benchmark: str, params: dict, throughput, walls, valid: bool,
                  info: dict) -> list:
    """A build's units/s and wall-time records, for every compiler workload."""
    return [
        measurement(benchmark, params, "throughput", "units/s", throughput,
                    higher_is_better=True, validated=valid, info=info),
        measurement(benchmark, params, "wall", "s", walls, higher_is_better=False,
                    validated=valid, info=info),
    ]


def run_compile(job) -> Outcome:
    compiler = find_compiler()
    if compiler is None:
        raise Skipped("no C compiler found (tried cc, gcc, clang); install gcc")
    jobs = int(job.params["jobs"])
    corpus = generate(profile_row(DEPTH, job.profile).corpus_size, corpus_seed(job))
    sandbox = for_agent_code(job.options, timeout_s=UNIT_TIMEOUT_S)
    walls, cpus, latencies, failures = [], [], [], []
    with sandbox.session() as session:
        session.write(corpus.files)
        # Warm-up (untimed): page cache and dynamic loader state for cc1/as.
        compile_unit(session, compiler.path, corpus.units[0])

        def one_build() -> float:
            results, wall = build_all(session, compiler.path, corpus.units, jobs)
            walls.append(wall)
            latencies.extend(r.latency_s * 1e3 for r in results)
            unit_cpu = [r.cpu_s for r in results]
            cpus.append(sum(unit_cpu) if None not in unit_cpu else None)
            failures.extend(r for r in results if not r.ok)
            return len(results) / wall

        throughput = repeat_until_stable(one_build, job.profile, warmup=0,
                                         time_budget_s=profile_row(DEPTH, job.profile).build_budget_s)
    valid = not failures
    info = {
        "compiler": compiler.info(FLAGS), "backend": sandbox.backend, "sandbox_warning": sandbox.warning,
        "workdir_parent": sandbox.workdir_parent,
        "corpus": {"size": corpus.size, "seed": corpus.seed, "sha256": corpus.sha256,
                   "units": len(corpus.units)},
        "jobs": jobs,
    }
    params = dict(job.params)
    records = build_records(job.benchmark, params, throughput, walls, valid, info)
    for q in (50, 95, 99):
        records.append(measurement(job.benchmark, params, f"latency_p{q}", "ms", latencies,
                                   higher_is_better=False, value=stats.percentile(latencies, q),
                                   validated=valid, info=info))
    if None in cpus:
        # A counter that is not there is said so, never invented.
        for r in records:
            r.info["cpu"] = sandbox.run(["/bin/true"]).cpu_source
    else:
        records.append(measurement(job.benchmark, params, "cpu", "s", cpus, higher_is_better=False,
                                   validated=valid, info=info))
    errors = []
    if failures:
        first = failures[0]
        errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                  f"{len(failures)} unit compile(s) failed; first {first.unit}: {first.message}"))
    warnings = (sandbox.warning,) if sandbox.warning else ()
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=warnings)

