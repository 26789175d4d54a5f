"""Specs of the compile workloads (light: no heavy imports here)."""
from __future__ import annotations

from suite.meaning import HeadlineRow, Plot, Source, Work
from dataclasses import dataclass

from suite.spec import BenchmarkSpec, Config, profile_row
from workloads.sandbox import concurrency_levels


@dataclass(frozen=True)
class CompileDepth:
    """How far the compile benchmarks go in one profile."""

    corpus_size: str  # the generated C corpus (workloads.compile.corpus)
    build_budget_s: float  # stop adding builds once samples ran this long; min_runs holds
    cycles_per_agent: int  # edit-compile-test cycles per agent per batch
    cycle_budget_s: float
    cycle_sweep: bool  # every concurrency level; else only "many at once" (2 x cores)
    linux: bool  # build the Linux kernel (hours)
    # Without --source, build a generated tree (compile.source's copy,
    # sandboxed build and make clean proven without one), and check the
    # kernel build's prerequisites without building.
    generated_tree: bool = False


DEPTH = {
    # smoke: compile.c sweeps; the cycles and the generated tree run once,
    # many at once (a child per level costs more than its build).
    "smoke": CompileDepth(corpus_size="tiny", build_budget_s=0.0, cycles_per_agent=1,
                          cycle_budget_s=0.0, cycle_sweep=False, linux=False, generated_tree=True),
    "quick": CompileDepth(corpus_size="small", build_budget_s=2.0, cycles_per_agent=1,
                          cycle_budget_s=2.0, cycle_sweep=False, linux=False),
    "standard": CompileDepth(corpus_size="medium", build_budget_s=30.0, cycles_per_agent=4,
                             cycle_budget_s=20.0, cycle_sweep=True, linux=False),
    "full": CompileDepth(corpus_size="large", build_budget_s=120.0, cycles_per_agent=8,
                         cycle_budget_s=60.0, cycle_sweep=True, linux=True),
}


def _cpus(ctx) -> int:
    return len(ctx.topology.logical_cpus)


def plan_compile(ctx) -> list:
    return [Config(params={"jobs": j}) for j in ctx.profile.levels(concurrency_levels(_cpus(ctx)))]


def plan_cycles(ctx) -> list:
    # "Many at once": 2 x cores in the quick profile, the whole sweep otherwise.
    levels = ctx.profile.levels(concurrency_levels(_cpus(ctx)))
    if not profile_row(DEPTH, ctx.profile).cycle_sweep:
        levels = levels[-1:]
    return [Config(params={"concurrency": c}) for c in levels]


def plan_source(ctx) -> list:
    # When the user names a tree with --source (or the profile builds its own).
    if ctx.options.source:
        return plan_compile(ctx)
    if profile_row(DEPTH, ctx.profile).generated_tree:
        # Its copy, sandboxed build and make clean, proven once at the top level.
        return [Config(params={"jobs": c.params["jobs"], "tree": "generated"})
                for c in plan_compile(ctx)[-1:]]
    return []


def plan_linux(ctx) -> list:
    # Hours of building: the full profile only, even when named explicitly.
    # One configuration, jobs = cores, as Phoronix's build-linux-kernel runs
    # it; without the linux-source package the worker reports the skip.
    # The smoke profile checks the prerequisites and reports the build skipped.
    row = profile_row(DEPTH, ctx.profile)
    if row.linux:
        return [Config(params={"jobs": _cpus(ctx)})]
    if row.generated_tree:
        return [Config(params={"jobs": _cpus(ctx)}, settings={"build": False})]
    return []


# -- estimates (workloads.estimates: the profile's durations, stated assumptions) --
def _corpus_units(size: str) -> int:
    from workloads.compile.corpus import SIZES

    return SIZES[size][0] + 1  # a unit per module and the main program


def estimate_compile(ctx, config: Config) -> float:
    from workloads import estimates as est

    depth = profile_row(DEPTH, ctx.profile)
    build = est.per_cpu_wall(_corpus_units(depth.corpus_size) * est.C_UNIT_CPU_S,
                             config.params["jobs"], _cpus(ctx))
    return est.CHILD_START_S + est.rounds_seconds(ctx.profile, build, depth.build_budget_s,
                                                  warmup=0)


def estimate_cycles(ctx, config: Config) -> float:
    from workloads import estimates as est

    depth = profile_row(DEPTH, ctx.profile)
    batch = est.batch_seconds(depth.cycles_per_agent, est.CYCLE_CPU_S,
                              config.params["concurrency"], _cpus(ctx))
    return est.CHILD_START_S + est.rounds_seconds(ctx.profile, batch, depth.cycle_budget_s)


def estimate_source(ctx, config: Config) -> float:
    """Up to min_runs builds: of the generated tree (the smoke corpus), or of
    the user's tree at an assumed SOURCE_BUILD_S."""
    from workloads import estimates as est

    if config.params.get("tree") == "generated":
        build = est.per_cpu_wall(_corpus_units("small") * est.C_UNIT_CPU_S,
                                 config.params["jobs"], _cpus(ctx))
    else:
        build = est.SOURCE_BUILD_S
    return est.CHILD_START_S + ctx.profile.min_runs * build


def estimate_linux(ctx, config: Config) -> float:
    from workloads import estimates as est
    from workloads.compile.linux import RUNS

    if config.settings.get("build") is False:  # prerequisites only
        return est.CHILD_START_S + 1.0
    return est.CHILD_START_S + est.LINUX_PREPARE_S + RUNS * est.per_cpu_wall(
        est.LINUX_BUILD_CPU_S, config.params["jobs"], _cpus(ctx))


ROW = HeadlineRow("compile_throughput", "Compile throughput", (Source("throughput"),),
                  per_benchmark=True)
WORK = Work("throughput", "compiles_per_kj", "compiles/kJ", "Compiles per kJ",
            "cost_per_thousand_compiles", 1e3, "thousand compiles", per_joule_scale=1000.0)

def compile_spec(id: str, description: str, entry: str, plan, estimate, timeout: float,
                 **meaning) -> BenchmarkSpec:
    return BenchmarkSpec(id=id, category="compile", description=description,
                         entry=f"workloads.compile.{entry}", plan=plan, estimate=estimate,
                         timeout=timeout, profile_table=DEPTH, **meaning)


SPECS = [
    compile_spec("compile.c", "Every unit of a generated C corpus compiled (-O2 -c) in the "
                 "sandbox, jobs 1, cores, 2 x cores: units/s, wall, per-unit latency, CPU s",
                 "build:run_compile", plan_compile, estimate_compile, 600.0, headline=(ROW,), work=(WORK,),
                 plots=(Plot("concurrency", ("throughput", "latency_p99"), x="jobs",
                             family="compile"),)),
    compile_spec("compile.test", "Agent edit-compile-test cycles (edit, compile and link, run "
                 "the tests, each in the sandbox), many at once: cycles/s and latency",
                 "cycle:run_cycles", plan_cycles, estimate_cycles, 600.0,
                 plots=(Plot("concurrency", ("rate", "latency_p99"), x="concurrency",
                             family="compile"),)),
    compile_spec("compile.source", "A real source tree (--source DIR --build CMD) built in the "
                 "sandbox, jobs 1, cores, 2 x cores: wall s (make clean between runs)",
                 "source:run_source", plan_source, estimate_source, 7200.0),
    # Extraction, a copy and three builds: hours on a small machine.
    compile_spec("compile.linux", "Linux kernel from Debian's linux-source package: untimed "
                 "make defconfig, timed make -j{cores}, make clean between runs: wall s "
                 "(full profile)", "linux:run_linux", plan_linux, estimate_linux, 6 * 3600.0,
                 profiles=frozenset({"smoke", "full"})),
]
