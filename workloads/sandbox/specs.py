"""The sandbox's benchmark specs; the measuring code is in lifecycle.py.

Planning probes nothing: which backends work here is found when the
benchmark runs, in its own child process.
"""
from __future__ import annotations

from suite.meaning import Plot
from dataclasses import dataclass

from suite.spec import BenchmarkSpec, Config, profile_row
from workloads.sandbox.backends import BACKENDS


@dataclass(frozen=True)
class SandboxDepth:
    calls_per_worker: int  # calls per thread in one measured batch (one rate sample)
    batch_budget_s: float  # seconds the repetitions of one level may take


DEPTH = {
    "smoke": SandboxDepth(calls_per_worker=1, batch_budget_s=0.0),
    "quick": SandboxDepth(calls_per_worker=2, batch_budget_s=0.3),
    "standard": SandboxDepth(calls_per_worker=10, batch_budget_s=5.0),
    "full": SandboxDepth(calls_per_worker=25, batch_budget_s=20.0),
}


def plan_lifecycle(ctx) -> list:
    # One child measures every backend: a child start-up costs more than the
    # measurement itself in the quick profile.
    return [Config(params={"backends": ",".join(BACKENDS)})]


def estimate_lifecycle(ctx, config: Config) -> float:
    """Every backend at every level: batches of calls_per_worker lifecycles
    per thread under the repetition policy."""
    from workloads import estimates as est
    from workloads.sandbox.concurrency import concurrency_levels

    depth = profile_row(DEPTH, ctx.profile)
    cpus = len(ctx.topology.logical_cpus)
    levels = ctx.profile.levels(concurrency_levels(cpus))
    backends = config.params["backends"].split(",")
    return est.CHILD_START_S + len(backends) * sum(est.rounds_seconds(
        ctx.profile, est.batch_seconds(depth.calls_per_worker, est.SANDBOX_LIFECYCLE_S, c, cpus),
        depth.batch_budget_s) for c in levels)


SPECS = [BenchmarkSpec(
    id="sandbox.lifecycle", category="sandbox",
    description="Create a sandbox, run /bin/true, tear down: latency percentiles and rate "
                "at concurrency 1, cores, 2 x cores, per backend (none = baseline)",
    entry="workloads.sandbox.lifecycle:run", plan=plan_lifecycle, timeout=120.0,
    estimate=estimate_lifecycle,
    profile_table=DEPTH,
    plots=(Plot("concurrency", ("rate", "latency_p99"), x="concurrency", family="sandbox"),),
)]
