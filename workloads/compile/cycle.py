"""compile.test: the coding agent's edit-compile-test cycle, many agents at once.

Each agent owns a sandbox session holding a small generated C program,
its library units compiled once up front. A cycle edits the test case (as
make would, only the edited unit is recompiled), compiles and links the
test program, and runs it, each step sandboxed; the binary must print the
checksum the generator predicts for that case.
"""
from __future__ import annotations

from contextlib import ExitStack

import hashlib
import itertools
import threading

from suite import stats
from suite.errors import Skipped
from suite.model import ErrorRecord, Outcome, measurement
from suite.sampling import repeat_until_stable
from workloads.compile.build import corpus_seed
from workloads.compile.corpus import generate
from suite.spec import profile_row
from workloads.compile.specs import DEPTH
from workloads.compile.toolchain import find_compiler
from workloads.sandbox import Sandbox, for_agent_code, run_concurrently

PROGRAM_SIZE = "tiny"
EDITED_UNIT = "main.c"  # includes case.h, the file each cycle edits
LINK_FLAGS = ("-O2",)
STEP_TIMEOUT_S = 60.0


class Agent:
    """One agent's work dir and program; `cycle()` does one edit-compile-test."""

    def __init__(self, sandbox: Sandbox, compiler_path: str, seed: int) -> None:
        self.program = generate(PROGRAM_SIZE, seed)
        self.compiler_path = compiler_path
        self._resources = ExitStack()
        self.session = self._resources.enter_context(sandbox.session())
        self.session.write(self.program.files)
        self.objects = []
        for unit in self.program.units:
            if unit != EDITED_UNIT:
                obj = unit[:-2] + ".o"
                res = self.session.run([compiler_path, *LINK_FLAGS, "-c", unit, "-o", obj])
                if not res.ok:
                    raise RuntimeError(f"cannot build {unit}: {res.stderr.decode(errors='replace')[:300]}")
                self.objects.append(obj)
        self._cases = itertools.count(seed * 1000)

    def close(self) -> None:
        self._resources.close()

    def cycle(self) -> tuple:
        """Returns (ok, why-not, CPU s or None)."""
        case = next(self._cases)
        self.session.write(self.program.with_case(case))  # the edit
        build = self.session.run([self.compiler_path, *LINK_FLAGS, "-o", "test_prog",
                                  EDITED_UNIT, *self.objects])
        if not build.ok:
            lines = build.stderr.decode(errors="replace").strip().splitlines()
            return False, f"compile failed (exit {build.returncode}): {lines[0] if lines else ''}", None
        test = self.session.run(["./test_prog"])
        cpu = None if build.cpu_s is None or test.cpu_s is None else build.cpu_s + test.cpu_s
        # Validation: the test binary exits 0 and prints the predicted checksum.
        if not test.ok:
            return False, f"test binary exit {test.returncode}", cpu
        expected = self.program.expected_output(case)
        if test.stdout != expected:
            return False, f"case {case}: printed {test.stdout!r}, expected {expected!r}", cpu
        return True, "", cpu


def run_cycles(job) -> Outcome:
    compiler = find_compiler()
    if compiler is None:
        raise Skipped("no C compiler found (tried cc, gcc, clang); install gcc")
    concurrency = int(job.params["concurrency"])
    sandbox = for_agent_code(job.options, timeout_s=STEP_TIMEOUT_S)
    # Every agent has its own program: seeds run seed, run seed + 1, ...
    agents = [Agent(sandbox, compiler.path, seed=corpus_seed(job) + i) for i in range(concurrency)]
    free = list(agents)
    lock = threading.Lock()
    latencies_ms, cpus, failures = [], [], []

    def one_cycle():
        with lock:
            agent = free.pop()  # each thread drives one agent at a time
        try:
            return agent.cycle()
        finally:
            with lock:
                free.append(agent)

    def batch() -> float:
        lat, results, wall = run_concurrently(one_cycle, concurrency,
                                              profile_row(DEPTH, job.profile).cycles_per_agent)
        latencies_ms.extend(x * 1e3 for x in lat)
        cpus.extend(r[2] for r in results)
        failures.extend(r[1] for r in results if not r[0])
        return len(lat) / wall

    try:
        rates = repeat_until_stable(batch, job.profile,
                                    time_budget_s=profile_row(DEPTH, job.profile).cycle_budget_s)
    finally:
        for a in agents:
            a.close()
    valid = not failures
    program = agents[0].program
    info = {"compiler": compiler.info(LINK_FLAGS), "backend": sandbox.backend,
            "workdir_parent": sandbox.workdir_parent, "sandbox_warning": sandbox.warning, "concurrency": concurrency,
            "program": {"size": PROGRAM_SIZE, "units": len(program.units), "first_seed": corpus_seed(job),
                        # sha256 over the agents' program hashes, in agent order
                        "sha256": hashlib.sha256("".join(a.program.sha256 for a in agents).encode()).hexdigest()},
            "cycles": len(latencies_ms)}
    if None in cpus:
        info["cpu"] = "unavailable: " + sandbox.run(["/bin/true"]).cpu_source
    else:
        info["cpu_s_per_cycle"] = stats.median(cpus)
    params = dict(job.params)
    records = [measurement(job.benchmark, params, "rate", "cycles/s", rates,
                           higher_is_better=True, validated=valid, info=info)]
    for q in (50, 95, 99):
        records.append(measurement(job.benchmark, params, f"latency_p{q}", "ms", latencies_ms,
                                   higher_is_better=False, value=stats.percentile(latencies_ms, q),
                                   validated=valid, info=info))
    errors = ()
    if failures:
        errors = (ErrorRecord(job.benchmark, params, "invalid",
                              f"{len(failures)} of {len(latencies_ms)} cycles failed; first: {failures[0]}"),)
    warnings = (sandbox.warning,) if sandbox.warning else ()
    return Outcome(records=tuple(records), errors=errors, warnings=warnings)
