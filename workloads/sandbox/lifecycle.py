"""The sandbox.lifecycle benchmark: create a sandbox, run /bin/true, tear
it down; latency percentiles and rate per backend and concurrency."""
from __future__ import annotations

from dataclasses import asdict

from suite import stats
from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import profile_row
from suite.sampling import repeat_until_stable
from workloads.sandbox.backends import backend_problem, available_backends
from workloads.sandbox.concurrency import concurrency_levels, run_concurrently
from workloads.sandbox.core import Sandbox
from workloads.sandbox.specs import DEPTH



def _records(job, backend: str) -> tuple:
    sandbox = Sandbox(backend=backend, timeout_s=10.0)
    depth = profile_row(DEPTH, job.profile)
    per_worker = depth.calls_per_worker
    records, errors = [], []
    for concurrency in job.profile.levels(concurrency_levels(len(job.topology.logical_cpus))):
        params = {"backend": backend, "concurrency": concurrency}
        latencies: list = []
        failed: list = []

        def batch() -> float:
            lat, results, wall = run_concurrently(
                lambda: sandbox.run(["/bin/true"]), concurrency, per_worker)
            latencies.extend(lat)
            failed.extend(r for r in results if not r.ok)
            return len(lat) / wall

        rates = repeat_until_stable(batch, job.profile,
                                    time_budget_s=depth.batch_budget_s)
        # Validation: every /bin/true exited 0 within its timeout.
        valid = not failed
        if failed:
            errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                      f"{len(failed)} of {len(latencies)} sandboxed /bin/true runs failed "
                                      f"(first: exit {failed[0].returncode}, {failed[0].stderr[-200:]!r})"))
        # A weaker backend measured on purpose is not a run warning; the
        # record still says what it lacks.
        info = {"backend": backend, "backend_note": sandbox.warning, "limits": asdict(sandbox.limits),
                "workdir_parent": sandbox.workdir_parent,
                "cgroup_per_run": sandbox.use_cgroup,
                # The run's first process is a shell placed in its cgroups and
                # limited before the call (workloads.sandbox.warm).
                "first_process": "held shell, confined before the call",
                "calls": len(latencies), "calls_per_batch": concurrency * per_worker}
        records.append(measurement(job.benchmark, params, "rate", "sandboxes/s", rates,
                                   higher_is_better=True, validated=valid, info=info))
        lat_ms = [x * 1e3 for x in latencies]
        for q in (50, 95, 99):
            records.append(measurement(
                job.benchmark, params, f"latency_p{q}", "ms", lat_ms, higher_is_better=False,
                value=stats.percentile(lat_ms, q), validated=valid, info=info))
    return records, errors


def run(job) -> Outcome:
    """Create a sandbox, run /bin/true, tear it down: latency and rate,
    for every backend named in the params that works on this machine."""
    records, errors, warnings = [], [], []
    working = available_backends() + ["none"]
    if "bwrap" not in working:
        warnings.append(f"sandbox.lifecycle: no bwrap figures ({backend_problem('bwrap')})")
    for backend in job.params["backends"].split(","):
        if backend not in working:
            errors.append(ErrorRecord(job.benchmark, {"backend": backend}, "skipped",
                                      f"sandbox backend {backend} unavailable: {backend_problem(backend)}"))
            continue
        r, e = _records(job, backend)
        records += r
        errors += e
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=tuple(warnings))
