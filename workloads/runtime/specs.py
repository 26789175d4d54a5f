"""Specs of the runtime benchmarks: the JVM and Node.js (light: no heavy
imports here)."""
from __future__ import annotations

from dataclasses import dataclass

from suite.meaning import HeadlineRow, Plot, Source
from suite.spec import BenchmarkSpec, Config, PlanContext, profile_row
from workloads.compile import specs as compile_specs
from workloads.tools import specs as tools_specs


@dataclass(frozen=True)
class RuntimeDepth:
    """How far the runtime benchmarks go in one profile."""

    starts_per_worker: int  # cold starts per thread in one measured batch
    start_budget_s: float  # seconds the repetitions of one level may take
    java_corpus: str  # the generated Java corpus (workloads.runtime.javacorpus)
    build_budget_s: float
    min_builds: int | None  # measured builds at least; None: the profile's min_runs
    compile_sweep: bool  # jobs 1, cores and 2 x cores; else jobs = cores only
    warmup_ms: int  # each pool worker calls its tools this long before it is ready
    tools_every_level: bool  # every tool at every tools.* level; else the quick matrix
    # The JVM's and Node.js's runtime.*.start (and runtime.*.tools) in one
    # child, one after the other (Config.share); else a child each.
    runtimes_share_child: bool = False


DEPTH = {
    # smoke: one javac build (jobs = cores) and the quick tool matrix: each
    # JVM started costs seconds, and the code paths are the same.
    "smoke": RuntimeDepth(starts_per_worker=1, start_budget_s=0.0, java_corpus="tiny",
                          build_budget_s=0.0, min_builds=1, compile_sweep=False,
                          warmup_ms=50, tools_every_level=False, runtimes_share_child=True),
    "quick": RuntimeDepth(starts_per_worker=1, start_budget_s=0.5, java_corpus="quick",
                          build_budget_s=1.0, min_builds=2, compile_sweep=False,
                          warmup_ms=1000, tools_every_level=False),
    "standard": RuntimeDepth(starts_per_worker=4, start_budget_s=5.0, java_corpus="medium",
                             build_budget_s=30.0, min_builds=None, compile_sweep=True,
                             warmup_ms=5000, tools_every_level=True),
    "full": RuntimeDepth(starts_per_worker=10, start_budget_s=20.0, java_corpus="large",
                         build_budget_s=120.0, min_builds=None, compile_sweep=True,
                         warmup_ms=10000, tools_every_level=True),
}


SHARED_CHILD = "runtime"  # Config.share of the JVM's and Node.js's, where the profile says
RUNTIMES = ("jvm", "node")


def _share(ctx: PlanContext) -> str | None:
    return SHARED_CHILD if profile_row(DEPTH, ctx.profile).runtimes_share_child else None


def plan_start(ctx: PlanContext) -> list:
    # One child sweeps every level: a child costs more than a quick level.
    return [Config(params={}, share=_share(ctx))]


def plan_compile(ctx: PlanContext) -> list:
    from workloads.sandbox.concurrency import concurrency_levels

    cpus = len(ctx.topology.logical_cpus)
    # A javac build starts JVMs that warm up for seconds: quick builds with
    # jobs = cores only, the others sweep.
    levels = ctx.profile.levels(concurrency_levels(cpus))
    if not profile_row(DEPTH, ctx.profile).compile_sweep:
        levels = [min(cpus, levels[-1])]  # within a profile's fixed levels
    return [Config(params={"jobs": j}) for j in levels]


# The Python tools these servers re-implement (workloads.tools.catalog
# names), with the no-op tool for the pool's dispatch cost.
TOOLS = ("json_transform", "text_search", "table_query", "noop")


def plan_tools(ctx: PlanContext) -> list:
    # One child and one pool for every tool: a warm JVM pool takes seconds to start.
    from workloads.tools.specs import concurrency_levels

    levels = concurrency_levels(ctx)
    if profile_row(DEPTH, ctx.profile).tools_every_level:
        matrix = {t: levels for t in TOOLS}
    else:  # the dispatch cost alone, every tool with one client per core
        cores = min(max(1, ctx.topology.physical_cores), levels[-1])
        matrix = {t: [1] if t == "noop" else [cores] for t in TOOLS}
    return [Config(params={"matrix": matrix}, share=_share(ctx))]


# -- estimates (workloads.estimates: the profile's durations, stated assumptions) --
def _runtime(spec_id: str) -> str:
    return "node" if ".node." in spec_id else "jvm"


def estimate_start(runtime: str):
    def estimate(ctx: PlanContext, config: Config) -> float:
        from workloads import estimates as est
        from workloads.sandbox.concurrency import concurrency_levels

        depth = profile_row(DEPTH, ctx.profile)
        cpus = len(ctx.topology.logical_cpus)
        return est.CHILD_START_S + sum(est.rounds_seconds(
            ctx.profile, est.batch_seconds(depth.starts_per_worker,
                                           est.RUNTIME_START_S[r] + est.SANDBOX_LIFECYCLE_S, c, cpus),
            depth.start_budget_s) for r in _sharing(runtime, config)
            for c in ctx.profile.levels(concurrency_levels(cpus)))
    return estimate


def _sharing(runtime: str, config: Config) -> tuple:
    """The runtimes a configuration's child measures."""
    return RUNTIMES if config.share else (runtime,)


def estimate_java_compile(ctx: PlanContext, config: Config) -> float:
    from workloads import estimates as est
    from workloads.runtime.javacorpus import SIZES

    depth = profile_row(DEPTH, ctx.profile)
    packages, classes, _ = SIZES[depth.java_corpus]
    build = est.JAVAC_START_S + est.per_cpu_wall(packages * classes * est.JAVA_CLASS_CPU_S,
                                                 config.params["jobs"],
                                                 len(ctx.topology.logical_cpus))
    builds = depth.min_builds if depth.min_builds is not None else ctx.profile.min_runs
    return est.CHILD_START_S + builds * build + depth.build_budget_s


def estimate_tools(runtime: str):
    def estimate(ctx: PlanContext, config: Config) -> float:
        from workloads import estimates as est

        depth = profile_row(DEPTH, ctx.profile)
        window = profile_row(tools_specs.DEPTH, ctx.profile).window_s
        tests = sum(len(levels) for levels in config.params["matrix"].values())
        return est.CHILD_START_S + sum(est.RUNTIME_START_S[r] + depth.warmup_ms / 1e3
                                       + tests * window for r in _sharing(runtime, config))
    return estimate


# The buyer's tool row, from the JSON tool (as tools.json_transform's).
TOOLS_ROW = HeadlineRow("runtime_tool_calls", "Tool calls/s",
                        (Source("throughput", require={"tool": "json_transform"}),),
                        per_benchmark=True, notes=(("latency_p99", "p99"),))
START_PLOT = Plot("concurrency", ("rate", "latency_p99"), x="concurrency", family="runtime")

SPECS = [
    BenchmarkSpec(
        id=f"runtime.{rt}.start", category="runtime",
        description=f"Cold {name} start in the sandbox running a small generated program to "
                    "completion, concurrency 1, cores, 2 x cores: latency percentiles and rate",
        entry="workloads.runtime.start:run", plan=plan_start, timeout=300.0,
        estimate=estimate_start(rt),
        profile_table=DEPTH, plots=(START_PLOT,),
    )
    for rt, name in (("jvm", "JVM (java -Xmx256m)"), ("node", "Node.js"))
] + [
    BenchmarkSpec(
        id="compile.java", category="runtime",
        description="javac over a generated Java corpus (~100 classes in quick, hundreds beyond) "
                    "in the sandbox, "
                    "jobs 1, cores, 2 x cores: units/s and wall, checked by running its main",
        entry="workloads.runtime.compile_java:run", plan=plan_compile, timeout=900.0,
        estimate=estimate_java_compile,
        profile_table=DEPTH,
        headline=(compile_specs.ROW,), work=(compile_specs.WORK,),
        plots=(Plot("concurrency", ("throughput", "wall"), x="jobs", family="compile"),),
    ),
]

SPECS += [
    BenchmarkSpec(
        id=f"runtime.{rt}.tools", category="runtime",
        description=f"The JSON transform, text search and table query tools in {lang} on a warm pool "
                    f"(one long-lived {name} per worker): calls/s, latency p50-p99, Python's digests",
        entry="workloads.runtime.tools:run", plan=plan_tools, timeout=900.0,
        estimate=estimate_tools(rt),
        profile_table=DEPTH, headline=(TOOLS_ROW,), work=(tools_specs.WORK,),
        plots=(Plot("concurrency", ("throughput", "latency_p99"), x="concurrency", family="tools"),
               Plot("side_by_side", ("throughput",), x="tool", family=f"{lang} ({name})")),
    )
    for rt, lang, name in (("jvm", "Java", "JVM"), ("node", "JavaScript", "Node.js"))
]
