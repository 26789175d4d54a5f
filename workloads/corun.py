"""corun.* specs: agent workloads measured alone and beside a memory hog.

Light module: the heavy code is in workloads.corun_run, imported only in the
worker. One co-run benchmark per agent workload that has landed.

Core split policy: the workload gets the first half of the physical cores
(at least one), the STREAM Triad hog every other physical core, one logical
CPU per core in spread order (on 2 cores: 1 + 1). The hog streams from DRAM
(arrays 4x the last-level cache).
"""
from __future__ import annotations

import importlib.util

from kernels import plans
from suite.spec import BenchmarkSpec, Config, PlanContext

SPLIT_POLICY = ("workload on the first half of the physical cores (at least one), "
                "STREAM Triad hog on the others, one CPU per core, spread order")

# corun id suffix -> (module whose presence means the workload landed, description)
WORKLOADS = {
    "compile.c": ("workloads.compile.build",
                  "C units compiled in the sandbox, alone vs beside a STREAM Triad hog"),
    "tools.json_transform": ("workloads.tools.bench",
                             "JSON tool calls on a warm pool, alone vs beside a STREAM Triad hog"),
}


def split_cores(topology) -> tuple:
    """(workload CPUs, hog CPUs) under SPLIT_POLICY."""
    cores = topology.physical_cores
    if cores < 2:
        raise LookupError("co-run needs at least two physical cores (one for the hog)")
    order = topology.spread_cpus(cores)
    k = max(1, cores // 2)
    return tuple(order[:k]), tuple(order[k:])


def _planner(workload: str):
    def plan(ctx: PlanContext) -> list:
        wl, hog = split_cores(ctx.topology)
        return [Config(params={"workload": workload, "hog": "stream_triad",
                               "workload_cpus": list(wl), "hog_cpus": list(hog),
                               "elements": plans.load_array_elements(ctx.topology)},
                       cpus=tuple(sorted(wl + hog)))]
    plan.__name__ = f"plan_corun_{workload.replace('.', '_')}"
    return plan


def _landed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


SPECS = [
    BenchmarkSpec(
        id=f"corun.{name}", category="corun", description=desc,
        entry="workloads.corun_run:run_benchmark", plan=_planner(name), timeout=300.0,
    )
    for name, (module, desc) in WORKLOADS.items() if _landed(module)
]
