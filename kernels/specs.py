"""Registry entries of the memory kernels: the STREAM kernels, latency curve,
loaded latency and the native cross-check. Light: no Numba import here."""
from __future__ import annotations

from kernels import estimates, plans
from kernels.profiles import DEPTH
from suite.errors import Skipped, UserError
from suite.meaning import CrossCheck, HeadlineRow, Plot, Source, Work
from suite.spec import BenchmarkSpec, Config, FormerId, PlanContext, profile_row



def _bind(ctx: PlanContext) -> str:
    return ctx.options.bind or plans.DEFAULT_BIND


def _stream_elements(ctx: PlanContext) -> int:
    topo = ctx.topology
    array_mib = ctx.options.array_mib
    try:
        elements = plans.stream_array_elements(topo, topo.logical_cpus, array_mib)
        if array_mib is None:
            elements = plans.capped_elements(elements, ctx.profile.name)
        plans.check_memory(topo, plans.STREAM_ARRAYS * elements * plans.FLOAT64_BYTES,
                           "STREAM arrays")
    except plans.SizingError as exc:
        if array_mib is None:
            raise  # the machine's own sizing: this benchmark's recorded error
        raise UserError(f"--array-mib {array_mib:g}: {exc}") from None
    return elements


def _sizing(ctx: PlanContext) -> str:
    """How the arrays were sized, for the records' info."""
    if ctx.options.array_mib is not None:
        return "--array-mib"
    return plans.sizing_note(ctx.topology, ctx.topology.logical_cpus)


def _size_param(ctx: PlanContext) -> dict:
    """Array sizes derived from the machine's caches stay out of params (so
    runs of two machines match); a size the user chose is part of identity."""
    array_mib = ctx.options.array_mib
    return {} if array_mib is None else {"array_mib": array_mib}


def plan_stream(ctx: PlanContext) -> list:
    """One child per thread count, threads pinned one per core."""
    topo = ctx.topology
    bind = _bind(ctx)
    elements = _stream_elements(ctx)
    configs = []
    # Explicit --threads first, else the profile's fixed levels this machine has.
    fixed = [n for n in ctx.profile.concurrency or () if n <= len(topo.logical_cpus)]
    for n in plans.sweep_thread_counts(topo, ctx.threads or fixed or None):
        cpus = plans.thread_cpus(topo, n, bind)
        configs.append(Config(params={"threads": n, "bind": bind, **_size_param(ctx)},
                              settings={"elements": elements,
                                        "sizing": _sizing(ctx)},
                              env=plans.omp_env(cpus, bind), cpus=cpus))
    return configs


def _stride(ctx: PlanContext) -> int:
    return int(ctx.options.stride or plans.DEFAULT_STRIDE)


def plan_latency(ctx: PlanContext) -> list:
    """One single-thread child per (shuffle, THP) variant, on the first core."""
    topo = ctx.topology
    cpu = plans.chase_cpu(topo)
    stride = _stride(ctx)
    max_bytes = plans.latency_max_bytes(topo, ctx.profile.name)
    plans.check_memory(topo, max_bytes, "the latency working set")
    variants = profile_row(DEPTH, ctx.profile).latency_curves
    sizes = plans.latency_sizes(max_bytes, stride)
    return [Config(params={"shuffle": s, "thp": t, "stride": stride},
                   settings={"working_sets": [sizes[0], sizes[-1]], "points": len(sizes),
                             "dram_min_bytes": plans.dram_min_bytes(topo)},
                   env=plans.omp_env((cpu,), "close"), cpus=(cpu,))
            for s, t in variants]


def plan_loaded(ctx: PlanContext) -> list:
    """One chase core; every other core runs the load in a second process."""
    topo = ctx.topology
    try:
        chase, load = plans.loaded_cpus(topo)
    except plans.SizingError as exc:
        raise Skipped(str(exc)) from None
    chase_bytes = min(plans.latency_max_bytes(topo, "quick"),
                      plans.latency_max_bytes(topo, ctx.profile.name))
    elements = plans.capped_elements(plans.load_array_elements(topo), ctx.profile.name)
    plans.check_memory(topo, chase_bytes + plans.STREAM_ARRAYS * elements * plans.FLOAT64_BYTES,
                       "loaded-latency buffers")
    return [Config(params={"chase_cpu": chase, "load_cpus": list(load),
                           "delays": list(profile_row(DEPTH, ctx.profile).load_delays)},
                   settings={"chase_bytes": chase_bytes, "elements": elements},
                   env=plans.omp_env((chase,), "close"), cpus=(chase,))]


def plan_native(ctx: PlanContext) -> list:
    """The triad and chase on all cores, Numba and C interleaved in one child."""
    topo = ctx.topology
    bind = _bind(ctx)
    cpus = plans.thread_cpus(topo, topo.physical_cores, bind)
    return [Config(params={"threads": len(cpus), "bind": bind, **_size_param(ctx)},
                   settings={"elements": _stream_elements(ctx), "sizing": _sizing(ctx)},
                   env=plans.omp_env(cpus, bind), cpus=cpus)]


# -- estimates (kernels.estimates: the profile's durations, stated assumptions) --
def estimate_stream(ctx: PlanContext, config: Config) -> float:
    return estimates.stream_seconds(ctx.topology, len(config.cpus), config.settings["elements"],
                                    max(profile_row(DEPTH, ctx.profile).stream_ntimes, 2))


def estimate_latency(ctx: PlanContext, config: Config) -> float:
    stride = int(config.params["stride"])
    low, high = config.settings["working_sets"]
    reps, rep_s = profile_row(DEPTH, ctx.profile).latency_repetitions
    return estimates.latency_seconds(ctx.topology, plans.latency_sizes(high, stride, low),
                                     stride, reps, rep_s)


def estimate_loaded(ctx: PlanContext, config: Config) -> float:
    reps, rep_s = profile_row(DEPTH, ctx.profile).loaded_chase
    return estimates.loaded_seconds(config.settings["chase_bytes"],
                                    1 + len(config.params["delays"]), reps, rep_s,
                                    plans.LOADED_RAMP_SECONDS)


def estimate_native(ctx: PlanContext, config: Config) -> float:
    return estimates.native_seconds(ctx.topology, len(config.cpus), config.settings["elements"],
                                    profile_row(DEPTH, ctx.profile).native_pairs,
                                    plans.NATIVE_CHASE_REP_SECONDS,
                                    plans.NATIVE_L1_CHASE_BYTES)


# STREAM kernels in STREAM order: (name, what it computes). One sweep child
# per thread count times all six; each kernel is its own benchmark id.
STREAM_KERNELS = (
    ("copy", "c = a"), ("scale", "b = s*c"), ("add", "c = a+b"), ("triad", "a = b+s*c"),
    ("dot", "sum a*b (BabelStream)"), ("nstream", "a += b+s*c (BabelStream)"),
)
# The id all six shared in result files of schema 1, the kernel in params.
STREAM_SWEEP_ID = "stream.sweep"


# Triad is the kernel the buyer's table quotes.
HEADLINE_KERNEL = "triad"
TRIAD_ROWS = (
    HeadlineRow("bandwidth_per_core_1core", "Memory bandwidth per core, 1 core (Triad)", (
        Source("bandwidth_single_core"),
        Source("bandwidth_per_core", require={"threads": 1}),
    ), system_block="1 core"),
    HeadlineRow("bandwidth_per_core_allcore", "Memory bandwidth per core, all cores (Triad)", (
        Source("bandwidth_per_core_all_cores"),
        Source("bandwidth_per_core", pick="most_threads"),
    ), system_block="all cores"),
    HeadlineRow("bandwidth_allcore", "Memory bandwidth, all cores (Triad)", (
        Source("bandwidth_all_cores"),
        Source("bandwidth", pick="most_threads"),
    )),
)
# STREAM bandwidth is GB/s: a TB is 1000 GB (decimal, as STREAM reports).
TRIAD_WORK = Work("bandwidth", "gb_per_joule", "GB/J", "GB per joule",
                  "cost_per_tb", 1000.0, "TB moved")
STREAM_DERIVED = tuple((m, "bandwidth") for m in (
    "bandwidth_wa", "bandwidth_per_core", "efficiency", "bandwidth_single_core",
    "bandwidth_all_cores", "bandwidth_per_core_all_cores", "saturation_cores"))


def stream_plot(several_files: bool) -> Plot:
    return Plot("threads", ("bandwidth", "bandwidth_per_core"), x="threads",
                family="STREAM", several_files=several_files)


# The DRAM plateau of the plain curve (random order over the whole buffer,
# huge pages) when the run has variants.
PLAIN_CHASE = {"shuffle": "global", "thp": "on"}
LATENCY_ROWS = (
    HeadlineRow("dram_latency", "DRAM latency", (
        Source("latency", PLAIN_CHASE, require={"level": "DRAM"}),
        Source("latency", require={"level": "DRAM"}),
    )),
)


# What `factorybench validate` prints of native.check: Numba/native ratios.
NATIVE_RATIOS = (
    CrossCheck("triad_ratio", "Triad bandwidth", "numba_gbs", "native_gbs", "GB/s"),
    CrossCheck("chase_dram_ratio", "DRAM chase latency", "numba_ns", "native_ns", "ns"),
    CrossCheck("chase_l1_ratio", "L1 chase latency", "numba_ns", "native_ns", "ns"),
)


def memory_spec(id: str, description: str, module: str, plan, estimate, timeout: float,
                **meaning) -> BenchmarkSpec:
    return BenchmarkSpec(id=id, category="memory", description=description,
                         entry=f"kernels.{module}:run_benchmark", plan=plan, estimate=estimate,
                         timeout=timeout, profile_table=DEPTH, **meaning)


def stream_spec(kernel: str, formula: str) -> BenchmarkSpec:
    quoted = kernel == HEADLINE_KERNEL
    return memory_spec(
        f"stream.{kernel}", f"STREAM {kernel} {formula}, thread sweep, GB/s and GB/s per core",
        "stream", plan_stream, estimate_stream, 900.0,
        summarize="kernels.summaries:summarize_stream", group="stream",
        formerly=(FormerId(STREAM_SWEEP_ID, {"kernel": kernel}),),
        headline=TRIAD_ROWS if quoted else (), work=(TRIAD_WORK,) if quoted else (),
        # Overlaying several files, only the quoted kernel is drawn.
        plots=(stream_plot(several_files=quoted),), derived=STREAM_DERIVED,
    )


# Run order: the children that take the most memory first, one after another
# (STREAM, the native check on STREAM's arrays, loaded latency, the latency
# curve). A virtual machine that hands freed memory back to its host
# (free page reporting) supplies fresh memory several times slower than
# memory a child freed a moment before: each child then reuses the pages
# of the one before it.
SPECS = [
    *(stream_spec(k, f) for k, f in STREAM_KERNELS),
    memory_spec("native.check", "Numba/native C ratios: OpenMP triad and pointer chase, "
                "interleaved", "native.check", plan_native, estimate_native, 600.0,
                cross_check=NATIVE_RATIOS),
    memory_spec("latency.loaded", "DRAM chase latency on one core while the other cores load "
                "memory", "loaded", plan_loaded, estimate_loaded, 600.0,
                formerly=(FormerId("loaded_latency"),),
                plots=(Plot("pairs", ("bandwidth", "latency")),)),
    memory_spec("latency.chase", "Pointer-chase latency from 4 KiB to past the LLC, ns per "
                "load, THP on/off", "latency", plan_latency, estimate_latency, 900.0,
                summarize="kernels.summaries:summarize_latency",
                formerly=(FormerId("latency.curve"),), headline=LATENCY_ROWS,
                plots=(Plot("curve", ("latency",), x="working_set_bytes"),)),
]
