"""How long a workload configuration will take, before running it.

The arithmetic the workload specs' `estimate` functions share: the
profile's own durations (load-test windows, timed rounds, repetitions,
budgets) plus stated assumptions for what only the machine can tell (a
compile, a sandbox, a cold runtime start). The figures in ASSUMPTIONS are
round values from the 2-core development VM; `factorybench plan` prints
them with every plan. An estimate is for budgeting a run, not a
prediction of any figure: the time a repetition policy may add while its
samples vary is counted whole, so an estimate errs long.
"""
from __future__ import annotations

# A fresh worker interpreter importing the harness and the workload (no Numba).
CHILD_START_S = 0.5
# Forking a warm pool and warming its workers up; a pool of JVMs or Node.js
# processes adds the runtime's own start to its warm-up time.
POOL_START_S = 0.3
RUNTIME_START_S = {"jvm": 0.3, "node": 0.1}
# One call that starts a process (fresh interpreter, sandboxed interpreter).
PROCESS_CALL_S = {"fresh": 0.04, "sandbox": 0.06}
# Create a sandbox, run /bin/true, tear it down.
SANDBOX_LIFECYCLE_S = 0.01
# CPU seconds: one generated C unit at -O2, one edit-compile-test cycle, one
# generated Java class through javac, a Linux defconfig build.
C_UNIT_CPU_S = 0.15
CYCLE_CPU_S = 0.15
JAVA_CLASS_CPU_S = 0.03
JAVAC_START_S = 1.0
LINUX_BUILD_CPU_S = 4000.0
LINUX_PREPARE_S = 120.0  # extracting the source and make defconfig
# A build of a user's --source tree, which nothing here can size.
SOURCE_BUILD_S = 60.0
# Opening a database engine on a cached dataset, forking its clients.
ENGINE_OPEN_S = 0.3
CLIENTS_START_S = 0.1
# A throwaway local PostgreSQL server: initdb, start, load the dataset.
POSTGRES_LOCAL_S = 15.0
# Loading the cached tokenizer and encoding the reference prompts.
TOKENIZER_LOAD_S = 1.0

ASSUMPTIONS = {
    "workload_child_start_seconds": CHILD_START_S,
    "pool_start_seconds": POOL_START_S,
    "runtime_start_seconds": RUNTIME_START_S,
    "process_call_seconds": PROCESS_CALL_S,
    "sandbox_lifecycle_seconds": SANDBOX_LIFECYCLE_S,
    "cpu_seconds": {"c_unit": C_UNIT_CPU_S, "compile_test_cycle": CYCLE_CPU_S,
                    "java_class": JAVA_CLASS_CPU_S, "linux_defconfig": LINUX_BUILD_CPU_S},
    "source_build_seconds": SOURCE_BUILD_S,
    "postgres_local_server_seconds": POSTGRES_LOCAL_S,
    "cached_datasets": "datasets, corpora and tokenizers are cached from an earlier run",
}


def rounds_seconds(profile, round_s: float, budget_s: float = 0.0, *,
                   warmup_s: float | None = None, min_rounds: int | None = None,
                   warmup: int = 1) -> float:
    """Repetitions under suite.sampling.repeat_until_stable: the warm-up,
    the minimum, and the whole extra budget."""
    runs = profile.min_runs if min_rounds is None else min_rounds
    warm = (round_s if warmup_s is None else warmup_s) * warmup
    return warm + runs * round_s + budget_s


def per_cpu_wall(cpu_s: float, jobs: int, cpus: int) -> float:
    """Wall seconds of `cpu_s` of work spread over `jobs` at once on `cpus` CPUs."""
    return cpu_s / max(1, min(jobs, cpus))


def batch_seconds(calls_per_worker: int, call_s: float, concurrency: int, cpus: int) -> float:
    """One batch of `calls_per_worker` calls on each of `concurrency`
    threads: they queue for the CPUs beyond one per CPU."""
    return calls_per_worker * call_s * max(1.0, concurrency / max(1, cpus))
