"""Child process that runs one benchmark configuration.

    python -m suite.worker JOB.json OUTCOME.json

The parent writes the Job, sets the environment (thread counts, OpenMP
binding) before this interpreter starts, and reads the Outcome back from a
file. The worker dies with the runner (die_with_parent), and the run's
guardian (suite.guardian) kills its whole process group if the runner
dies first. Affinity is applied here, before the benchmark module (and Numba) is
imported, so thread pools inherit it.
"""
from __future__ import annotations

import atexit
import importlib
import json
import os
import signal
import sys
import traceback

from suite.errors import Skipped
from suite.model import ErrorRecord, Outcome
from suite.spec import Job


def load_entry(entry: str):
    module_name, _, func_name = entry.partition(":")
    return getattr(importlib.import_module(module_name), func_name)


def _failed(ids, params, exc: Exception) -> Outcome:
    """The error of every id in `ids` when their entry raised `exc`."""
    if isinstance(exc, Skipped):  # cannot run here: said so, not a failure
        return Outcome(errors=tuple(ErrorRecord(i, dict(params), "skipped", str(exc)) for i in ids))
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Outcome(errors=tuple(ErrorRecord(i, dict(params), "error", last) for i in ids))


def _as_outcome(outcome) -> Outcome:
    return Outcome(records=tuple(outcome)) if isinstance(outcome, (list, tuple)) else outcome


def run_job(job: Job, entry: str) -> Outcome:
    if job.cpus is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, job.cpus)
    try:
        outcome = load_entry(entry)(job)
    except Exception as exc:  # the benchmark's failure, not the worker's
        return _failed(job.ids, job.params, exc)
    return _as_outcome(outcome)


def each_benchmark(job: Job, measure) -> Outcome:
    """`measure(benchmark) -> Outcome` for every id of the job, one after
    the other (one id, or the specs sharing this child), merged: an id that
    cannot run here or fails is that id's error, and the others still run."""
    records, errors, warnings = [], [], []
    for benchmark in job.ids:
        try:
            outcome = _as_outcome(measure(benchmark))
        except Exception as exc:  # noqa: BLE001 - that benchmark's failure
            outcome = _failed((benchmark,), job.params, exc)
        records.extend(outcome.records)
        errors.extend(outcome.errors)
        warnings.extend(w for w in outcome.warnings if w not in warnings)
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=tuple(warnings))


def write_json_atomic(path: str, payload: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """Have the kernel SIGKILL this worker when the runner dies, even by
    SIGKILL (PR_SET_PDEATHSIG). The runner may have died before this call:
    then the parent is no longer the runner, and the worker stops here."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: the guardian alone cleans up
    runner = os.environ.get("FACTORYBENCH_PARENT_PID")
    if runner and os.getppid() != int(runner):
        os._exit(1)


def main(argv: list) -> int:
    die_with_parent()
    job_path, outcome_path = argv
    with open(job_path) as f:
        spec = json.load(f)
    job = Job.from_dict(spec["job"])
    outcome = run_job(job, spec["entry"])
    write_json_atomic(outcome_path, outcome.to_dict())
    return 0


def exit_without_teardown(code: int) -> None:
    """End the process once its work is safely written, without the
    interpreter's teardown of its modules (0.1-0.4 s in a process that
    imported Numba, paid by every configuration of a run). What was
    registered to run at exit still runs (atexit: the sandbox's cgroups
    and warm shells, multiprocessing's children)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main(sys.argv[1:]))
