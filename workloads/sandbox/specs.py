"""The sandbox's benchmark specs; the measuring code is in lifecycle.py.

Planning probes nothing: which backends work here is found when the
benchmark runs, in its own child process.
"""
from __future__ import annotations

from suite.meaning import Plot
from suite.spec import BenchmarkSpec, Config
from workloads.sandbox.backends import BACKENDS


def plan_lifecycle(ctx) -> list:
    # One child measures every backend: a child start-up costs more than the
    # measurement itself in the quick profile.
    return [Config(params={"backends": ",".join(BACKENDS)})]


SPECS = [BenchmarkSpec(
    id="sandbox.lifecycle", category="sandbox",
    description="Create a sandbox, run /bin/true, tear down: latency percentiles and rate "
                "at concurrency 1, cores, 2 x cores, per backend (none = baseline)",
    entry="workloads.sandbox.lifecycle:run", plan=plan_lifecycle, timeout=120.0,
    plots=(Plot("concurrency", ("rate", "latency_p99"), x="concurrency", family="sandbox"),),
)]
