"""Specs of the compile workloads (light: no heavy imports here)."""
from __future__ import annotations

from suite.meaning import HeadlineRow, Plot, Source, Work
from suite.spec import BenchmarkSpec, Config
from workloads.sandbox import concurrency_levels


def _cpus(ctx) -> int:
    return len(ctx.topology.logical_cpus)


def plan_compile(ctx) -> list:
    return [Config(params={"jobs": j}) for j in concurrency_levels(_cpus(ctx))]


def plan_cycles(ctx) -> list:
    # "Many at once": 2 x cores in the quick profile, the whole sweep otherwise.
    levels = concurrency_levels(_cpus(ctx))
    if ctx.profile.name == "quick":
        levels = levels[-1:]
    return [Config(params={"concurrency": c}) for c in levels]


def plan_source(ctx) -> list:
    # Only when the user names a tree with --source.
    if not (ctx.options or {}).get("source"):
        return []
    return plan_compile(ctx)


def plan_linux(ctx) -> list:
    # Hours of building: the full profile only, even when named explicitly.
    # One configuration, jobs = cores, as Phoronix's build-linux-kernel runs
    # it; without the linux-source package the worker reports the skip.
    if ctx.profile.name != "full":
        return []
    return [Config(params={"jobs": _cpus(ctx)})]


ROW = HeadlineRow("compile_throughput", "Compile throughput", (Source("throughput"),),
                  per_benchmark=True)
WORK = Work("throughput", "compiles_per_kj", "compiles/kJ", "Compiles per kJ",
            "cost_per_thousand_compiles", 1e3, "thousand compiles", per_joule_scale=1000.0)

SPECS = [
    BenchmarkSpec(
        id="compile.c", category="compile",
        description="Every unit of a generated C corpus compiled (-O2 -c) in the sandbox, "
                    "jobs 1, cores, 2 x cores: units/s, wall, per-unit latency, CPU s",
        entry="workloads.compile.build:run_compile", plan=plan_compile, timeout=600.0,
        headline=(ROW,), work=(WORK,),
        plots=(Plot("concurrency", ("throughput", "latency_p99"), x="jobs",
                    family="compile"),),
    ),
    BenchmarkSpec(
        id="compile.test", category="compile",
        description="Agent edit-compile-test cycles (edit, compile and link, run the tests, "
                    "each in the sandbox), many at once: cycles/s and latency",
        entry="workloads.compile.cycle:run_cycles", plan=plan_cycles, timeout=600.0,
        plots=(Plot("concurrency", ("rate", "latency_p99"), x="concurrency",
                    family="compile"),),
    ),
    BenchmarkSpec(
        id="compile.source", category="compile",
        description="A real source tree (--source DIR --build CMD) built in the sandbox, "
                    "jobs 1, cores, 2 x cores: wall s (make clean between runs)",
        entry="workloads.compile.source:run_source", plan=plan_source, timeout=7200.0,
    ),
    BenchmarkSpec(
        id="compile.linux", category="compile",
        description="Linux kernel from Debian's linux-source package: untimed make defconfig, "
                    "timed make -j{cores}, make clean between runs: wall s (full profile)",
        # Extraction, a copy and three builds: hours on a small machine.
        entry="workloads.compile.linux:run_linux", plan=plan_linux, timeout=6 * 3600.0,
        profiles=frozenset({"full"}),
    ),
]
