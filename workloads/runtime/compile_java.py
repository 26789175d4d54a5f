"""compile.java: javac over a generated Java corpus in the sandbox.

The corpus's packages compile apart from one another, so a build runs
`jobs` sandboxed javac processes at once, each over its share of the
packages (round robin), then javac over Main. A sample is one full build;
its throughput is source files per second of wall time. The last build is
checked by running Main in the sandbox: it must print the checksum the
generator's Python mirror predicts.
"""
from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from suite.model import ErrorRecord, Outcome, measurement
from suite.sampling import repeat_until_stable
from suite.spec import profile_row, seed_of
from workloads.compile.build import build_records
from workloads.runtime import javacorpus, runtimes
from workloads.runtime.specs import DEPTH
from workloads.sandbox import for_agent_code

OUT = "classes"
BUILD_TIMEOUT_S = 600.0


def _why(res) -> str:
    if res.timed_out:
        return "timed out"
    lines = res.stderr.decode(errors="replace").strip().splitlines()
    return f"exit {res.returncode}: {lines[0] if lines else ''}"


def build(session, javac: str, corpus: javacorpus.JavaCorpus, jobs: int) -> tuple:
    """One full build, `jobs` javac processes at once. Returns (wall s,
    failures, CPU s or None)."""
    shutil.rmtree(os.path.join(session.path, OUT), ignore_errors=True)
    groups = [corpus.packages[k::jobs] for k in range(min(jobs, len(corpus.packages)))]
    argv = [javac, *runtimes.javac_options(), "-d", OUT]

    def compile_group(packages) -> object:
        return session.run(argv + [s for p in packages for s in corpus.sources(p)])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        results = list(pool.map(compile_group, groups))
    results.append(session.run(argv + ["-cp", OUT, "Main.java"]))
    wall = time.perf_counter() - start
    failures = [_why(r) for r in results if not r.ok]
    cpu = [r.cpu_s for r in results]
    return wall, failures, (None if None in cpu else sum(cpu))


def class_files(root: str) -> int:
    return sum(name.endswith(".class") for _, _, names in os.walk(root) for name in names)


def check(session, java: str, corpus: javacorpus.JavaCorpus) -> str | None:
    """None when the build is whole and Main prints the expected checksum."""
    made = class_files(os.path.join(session.path, OUT))
    if made != corpus.classes:
        return f"{made} class files, expected {corpus.classes}"
    res = session.run([java, *runtimes.jvm_options(), "-cp", OUT, "Main", str(corpus.seed)])
    want = corpus.expected_output()
    if not res.ok or res.stdout != want:
        return f"Main printed {res.stdout[:60]!r} ({_why(res)}), expected {want!r}"
    return None


def run(job) -> Outcome:
    found = runtimes.require("java", "javac")
    jobs = int(job.params["jobs"])
    depth = profile_row(DEPTH, job.profile)
    corpus = javacorpus.generate(depth.java_corpus, seed_of(job.options))
    sandbox = for_agent_code(job.options, timeout_s=BUILD_TIMEOUT_S,
                             limits=runtimes.sandbox_limits(BUILD_TIMEOUT_S))
    walls, cpus, failures = [], [], []
    with sandbox.session() as session:
        session.write(corpus.files)

        def one_build() -> float:
            wall, failed, cpu = build(session, found["javac"].path, corpus, jobs)
            walls.append(wall)
            cpus.append(cpu)
            failures.extend(failed)
            return len(corpus.files) / wall

        throughput = repeat_until_stable(one_build, job.profile, warmup=0, min_runs=depth.min_builds,
                                         time_budget_s=depth.build_budget_s)
        problem = failures[0] if failures else check(session, found["java"].path, corpus)
    valid = problem is None
    info = {
        "javac": found["javac"].info(), "java": found["java"].info(), "javac_options": list(runtimes.javac_options()),
        "backend": sandbox.backend, "sandbox_warning": sandbox.warning, "jobs": jobs,
        "javac_processes": min(jobs, len(corpus.packages)) + 1,
        "corpus": {"size": corpus.size, "seed": corpus.seed, "sha256": corpus.sha256,
                   "units": len(corpus.files), "packages": len(corpus.packages), "classes": corpus.classes},
        "validation": "every class file built; Main run in the sandbox prints the predicted checksum",
    }
    params = dict(job.params)
    records = build_records(job.benchmark, params, throughput, walls, valid, info)
    if None in cpus:
        info["cpu"] = sandbox.run(["/bin/true"]).cpu_source
    else:
        records.append(measurement(job.benchmark, params, "cpu", "s", cpus, higher_is_better=False,
                                   validated=valid, info=info))
    errors = () if valid else (ErrorRecord(job.benchmark, params, "invalid",
                                           f"compile.java build not valid: {problem}"),)
    warnings = (sandbox.warning,) if sandbox.warning else ()
    return Outcome(records=tuple(records), errors=errors, warnings=warnings)
