"""The corun benchmark: agent workloads measured alone and beside a memory hog.

Light module: the heavy code is in workloads.corun.bench (and the hogs in
workloads.corun.hogs), imported only in the worker. One child per hog runs
every selected workload in turn beside that one hog process (starting a hog
costs seconds: a Numba import and first touch of arrays 4x the last-level
cache). Each workload is its own benchmark id, `corun.<workload>`; the
records name the hog in `params.hog`.

Core split policy: the workload gets the first half of the physical cores
(at least one), the hog every other physical core, one logical CPU per core
in spread order (on 2 cores: 1 + 1).

Hogs (workloads.corun.hogs): `triad`, a STREAM Triad over arrays 4x the
last-level cache, and `chase`, one dependent pointer chase per hog core over
a random cycle 4x the last-level cache. The quick profile runs the triad
hog and the cheapest representative workloads (db.point and db.analytic of
the five query classes); standard and full run every workload beside both
hogs.
"""
from __future__ import annotations

from dataclasses import dataclass

from kernels import plans
from suite.errors import Skipped
from suite.meaning import HeadlineRow, Plot, Source
from suite.spec import BenchmarkSpec, Config, FormerId, PlanContext, profile_row

SPLIT_POLICY = ("workload on the first half of the physical cores (at least one), "
                "hog on the others, one CPU per core, spread order")

@dataclass(frozen=True)
class CorunDepth:
    hogs: tuple  # in run order
    rounds: int  # rounds of three equal windows: alone, hog alone, both
    window_s: float
    every_workload: bool  # else the workloads marked quick
    # Windows alone and not recorded: after set-up, in the shadow of the
    # hog's own (imports, first-call costs), and again right before the
    # workload's rounds (its caches, after the previous workload ran).
    warmup_s: float = 0.3
    rewarm_s: float = 0.1
    # The hog runs this long before a window opens, to reach full speed.
    ramp_s: float = 0.05
    # Each JVM or Node.js pool worker calls its tools this long before it
    # serves a runtime.*.tools workload (its JIT warms up).
    runtime_warmup_ms: int = 500
    # corun.agent.step probes the CPU time of a step this long to size its
    # agent count (workloads.corun.drivers.AgentStepDriver).
    agent_probe_s: float = 0.2


DEPTH = {
    # smoke: every workload's code path once; its figures need not settle.
    # A window still holds dozens of the hog's 2 ms chunks, with room for the
    # hog to lose the CPU for a while on a loaded machine (a window without
    # two chunk ends has no hog figure), and every workload completes an
    # operation in it (drivers wait for one).
    "smoke": CorunDepth(hogs=("triad",), rounds=1, window_s=0.06, every_workload=True,
                        warmup_s=0.02, rewarm_s=0.0, ramp_s=0.02, runtime_warmup_ms=100,
                        agent_probe_s=0.05),
    "quick": CorunDepth(hogs=("triad",), rounds=2, window_s=0.3, every_workload=False),
    "standard": CorunDepth(hogs=("triad", "chase"), rounds=4, window_s=2.0, every_workload=True),
    "full": CorunDepth(hogs=("triad", "chase"), rounds=8, window_s=5.0, every_workload=True),
}


@dataclass(frozen=True)
class Workload:
    description: str
    quick: bool = True  # part of the quick profile's co-run set


# In run order. The db classes come before agent.step: they build the agent
# store the agent step reads.
WORKLOADS = {
    "compile.c": Workload("C units compiled in the sandbox, "
                          "one compiler per workload core"),
    "tools.json_transform": Workload("JSON tool calls on a warm pool, "
                                     "one closed-loop client per workload core"),
    "runtime.jvm.tools": Workload("JSON tool calls on a warm JVM pool, "
                                  "one closed-loop client per workload core"),
    "runtime.node.tools": Workload("JSON tool calls on a warm Node.js pool, "
                                   "one closed-loop client per workload core"),
    "db.point": Workload("SQLite state fetch by session key"),
    "db.range": Workload("SQLite recent messages of a session", quick=False),
    "db.write": Workload("SQLite durable appends", quick=False),
    "db.search": Workload("SQLite full-text top 10", quick=False),
    "db.analytic": Workload("SQLite join and group by"),
    "db.vector.exact": Workload("exact kNN scan of the embeddings (sqlite-vec), one client "
                                "per workload core: agent retrieval against the bandwidth hog"),
    "db.vector.hnsw": Workload("HNSW kNN over the embeddings (usearch), one client per "
                               "workload core"),
    "agent.step": Workload("simulated agents at 70% CPU load "
                           "(tokenize, state, tool, inference wait)"),
}
# Seconds per configuration: the full profile's rounds for every workload
# (8 rounds x 3 windows x 5 s each), plus set-up.
TIMEOUT_S = 1800.0
ID_PREFIX = "corun."
# The id every workload shared in result files of schema 1 (params.workload).
FORMER_ID = "corun"


def corun_id(workload: str) -> str:
    return ID_PREFIX + workload


def workload_of(benchmark: str) -> str:
    """The workload a co-run benchmark id measures."""
    return benchmark[len(ID_PREFIX):]


def split_cores(topology) -> tuple:
    """(workload CPUs, hog CPUs) under SPLIT_POLICY."""
    cores = topology.physical_cores
    if cores < 2:
        raise Skipped("co-run needs at least two physical cores (one for the hog)")
    order = topology.spread_cpus(cores)
    k = max(1, cores // 2)
    return tuple(order[:k]), tuple(order[k:])


def plan_corun(ctx: PlanContext) -> list:
    topo = ctx.topology
    wl, hog = split_cores(topo)
    # As loaded latency: 4x the LLC (within the profile's caps)
    elements = plans.capped_elements(plans.load_array_elements(topo), ctx.profile.name)
    chase_bytes = min(plans.latency_max_bytes(topo, "quick"),
                      plans.latency_max_bytes(topo, ctx.profile.name))
    hogs = profile_row(DEPTH, ctx.profile).hogs
    try:
        for h in hogs:
            need = plans.STREAM_ARRAYS * elements * plans.FLOAT64_BYTES if h == "triad" else chase_bytes
            plans.check_memory(topo, need, f"the {h} hog's buffers")
    except plans.SizingError as exc:
        raise Skipped(str(exc)) from None
    # Core lists and buffer sizes depend on the machine: settings, not params.
    return [Config(params={"hog": h},
                   settings={"workload_cpus": list(wl), "hog_cpus": list(hog),
                             "elements": elements, "chase_bytes": chase_bytes},
                   cpus=tuple(sorted(wl + hog)))
            for h in hogs]


# Opening one co-run workload's driver (a pool, clients, a compiler), and
# starting the hog (a Numba import; its first touch is counted from the
# arrays' size at an assumed 5 GB/s).
WORKLOAD_SETUP_S = 1.0
HOG_START_S = 1.5
FIRST_TOUCH_GBS = 5.0


def estimate_corun(ctx: PlanContext, config: Config) -> float:
    """Every co-run workload of the profile beside this hog: rounds of three
    windows (alone, hog alone, both) each, after its set-up."""
    from workloads import estimates as est

    depth = profile_row(DEPTH, ctx.profile)
    workloads = sum(1 for w in WORKLOADS.values() if w.quick or depth.every_workload)
    touch = plans.STREAM_ARRAYS * config.settings["elements"] * plans.FLOAT64_BYTES
    if config.params["hog"] == "chase":
        touch = config.settings["chase_bytes"]
    return (est.CHILD_START_S + HOG_START_S + touch / (FIRST_TOUCH_GBS * 1e9)
            + workloads * (WORKLOAD_SETUP_S + depth.warmup_s + depth.rewarm_s
                           + depth.rounds * 3 * depth.window_s))


# The buyer's row: slowdown beside the bandwidth hog (the chase hog's
# figures stay in the records).
ROW = HeadlineRow("corun_slowdown", "Co-run slowdown", (Source("slowdown", {"hog": "triad"}),),
                  per_benchmark=True, notes=(("p99_inflation", "p99 inflation"),))
PLOT = Plot("bars", ("slowdown",))
DERIVED = (("slowdown", "throughput_alone"), ("p99_inflation", "latency_p99_alone"),
           ("hog_bandwidth_loss", "hog_bandwidth_alone"),
           ("hog_latency_inflation", "hog_latency_alone"))


def corun_spec(workload: str, w: Workload) -> BenchmarkSpec:
    return BenchmarkSpec(
        id=corun_id(workload), category="corun",
        description=f"{workload} alone vs beside a memory hog on the other cores (STREAM "
                    "Triad; standard adds a pointer chase): slowdown, p99 inflation, hog loss",
        entry="workloads.corun.bench:run_benchmark", plan=plan_corun, timeout=TIMEOUT_S,
        estimate=estimate_corun,
        profiles=frozenset(name for name, row in DEPTH.items() if w.quick or row.every_workload),
        profile_table=DEPTH,
        group="corun", formerly=(FormerId(FORMER_ID, {"workload": workload}),),
        headline=(ROW,), plots=(PLOT,), derived=DERIVED,
    )


SPECS = [corun_spec(name, w) for name, w in WORKLOADS.items()]
