"""tools.* benchmark specs (light: no heavy imports here).

The quick profile keeps the area inside its time budget: every tool and
every execution model at least once, every concurrency level for the no-op
tool (the dispatch overhead and how it scales). Standard and full run every
model the tool supports at every level, one child process per model.
"""
from __future__ import annotations

from suite.meaning import HeadlineRow, Plot, Source, Work
from dataclasses import dataclass

from suite.spec import BenchmarkSpec, Config, FormerId, PlanContext, profile_row
from workloads.tools.catalog import TOOLS

@dataclass(frozen=True)
class ToolsDepth:
    """How far the tool benchmarks go in one profile."""

    window_s: float  # seconds per load test
    parts: int  # sub-windows: the samples
    min_calls: int  # calls a test waits for at least (a slow model stretches up to 5x)
    every_model: bool  # every model at every level; else the reduced matrix below
    one_child: bool = False  # every model's tests in one child process, not one per model
    # The cold models (a fresh process or a sandbox per call) at the top
    # level only; the warm pool at every level.
    cold_top_level: bool = False
    # With one_child: the tools whose tests are the same share that child
    # too (Config.share), one after the other.
    tools_share_child: bool = False


# The tools' (and agent step's tool calls') one profile table.
DEPTH = {
    # smoke: a window holds a few calls of a per-call model (min_calls waits
    # for two), thousands of a warm pool's.
    "smoke": ToolsDepth(window_s=0.05, parts=2, min_calls=2, every_model=True, one_child=True,
                        cold_top_level=True, tools_share_child=True),
    "quick": ToolsDepth(window_s=0.5, parts=3, min_calls=3, every_model=False),
    "standard": ToolsDepth(window_s=3.0, parts=5, min_calls=20, every_model=True),
    "full": ToolsDepth(window_s=10.0, parts=10, min_calls=50, every_model=True),
}

MODELS = ("pool", "fresh", "sandbox")
# code_exec is by definition the sandboxed cold path; a tool that is not
# stdlib-only (table_query: pandas) cannot run in a bare sandboxed interpreter.
SANDBOX_ONLY = {"code_exec"}


def unsupported_models(tool: str) -> set:
    if tool in SANDBOX_ONLY:
        return {"pool", "fresh"}
    return set() if TOOLS[tool].stdlib_only else {"sandbox"}


def _description(tool) -> str:
    if tool.name == "noop":
        return "no-op tool through warm pool, fresh process and sandbox: dispatch overhead (ms)"
    return f"{tool.description}: calls/s, latency p50-p99"


def concurrency_levels(ctx: PlanContext) -> list:
    cores = max(1, ctx.topology.physical_cores)
    return ctx.profile.levels(sorted({1, cores, 2 * cores, 4 * cores}))


def _quick_matrix(tool: str, levels: list, cores: int) -> dict:
    if tool == "noop":
        return {"pool": levels, "fresh": [1], "sandbox": [1]}
    if tool == "code_exec":
        return {"sandbox": sorted({1, cores})}
    if tool == "json_transform":
        return {"pool": [cores], "fresh": [1]}
    if tool == "tokenize_python":
        return {"pool": [cores], "sandbox": [1]}
    return {"pool": [cores]}


def generator_layout(ctx: PlanContext, params: dict):
    """Where a configuration's load generators run (generator_plan): sized
    for the warm pool's highest closed-loop level and the open-loop rate;
    the per-call models start a process per call and need one generator."""
    from workloads.tools.generator_plan import closed_loop_rate, plan_generators

    pool = max(params["matrix"].get("pool") or [0])
    rate = float(params.get("rate") or 0.0) if next(iter(params["matrix"])) == "pool" else 0.0
    return plan_generators(ctx.topology, lambda workers: max(
        closed_loop_rate(pool, workers) if pool else 0.0, rate))


SHARED_CHILD = "tools"  # Config.share of the tools that share a child, where the profile says


def _config(ctx: PlanContext, params: dict) -> Config:
    share = SHARED_CHILD if profile_row(DEPTH, ctx.profile).tools_share_child else None
    return Config(params=params, settings=generator_layout(ctx, params).settings(), share=share)


def _planner(tool: str):
    def plan(ctx: PlanContext) -> list:
        levels = concurrency_levels(ctx)
        rate = ctx.options.rate
        extra = {"rate": float(rate)} if rate else {}
        if not profile_row(DEPTH, ctx.profile).every_model:
            matrix = _quick_matrix(tool, levels, ctx.topology.physical_cores)
            return [_config(ctx, {"matrix": matrix, **extra})]
        models = [m for m in MODELS if m not in unsupported_models(tool)]
        depth = profile_row(DEPTH, ctx.profile)
        if depth.one_child:
            cold = levels[-1:] if depth.cold_top_level else levels
            matrix = {m: levels if m == "pool" else cold for m in models}
            return [_config(ctx, {"matrix": matrix, **extra})]
        # The open-loop test runs once, with the first (preferred) model.
        return [_config(ctx, {"matrix": {m: levels}, **(extra if m == models[0] else {})})
                for m in models]
    plan.__name__ = f"plan_{tool}"
    return plan


def estimate_tools(ctx: PlanContext, config: Config) -> float:
    """A load test per model and level (a closed loop through a per-call
    model runs on until min_calls answered), the open-loop test, pool starts."""
    from workloads import estimates as est

    depth = profile_row(DEPTH, ctx.profile)
    cpus = len(ctx.topology.logical_cpus)
    total = est.CHILD_START_S
    for model, levels in config.params["matrix"].items():
        for c in levels:
            if model == "pool":
                total += est.POOL_START_S + depth.window_s
                continue
            calls_s = est.PROCESS_CALL_S[model] * max(1.0, c / cpus) / c
            total += min(5 * depth.window_s, max(depth.window_s, depth.min_calls * calls_s))
    if config.params.get("rate"):
        total += est.POOL_START_S + depth.window_s
    if config.share:  # every tool planned with these params runs in this child
        sharing = sum(1 for t in TOOLS if any(c.params == config.params for c in _planner(t)(ctx)))
        total = est.CHILD_START_S + max(1, sharing) * (total - est.CHILD_START_S)
    return total


ROW = HeadlineRow("tool_calls", "Tool calls/s", (Source("throughput"),), per_benchmark=True,
                  notes=(("latency_p99", "p99"),))
WORK = Work("throughput", "calls_per_joule", "calls/J", "Tool calls per joule",
            "cost_per_million_calls", 1e6, "million tool calls")
PLOT = Plot("concurrency", ("throughput", "latency_p99"), x="concurrency",
            family="tools")
# Each tool's warm-pool throughput beside its Java and JavaScript versions
# (workloads.runtime): the records name their tool in info.tool.
SIDE_BY_SIDE = Plot("side_by_side", ("throughput",), x="tool", family="Python",
                    where=(("model", "pool"),))

# Result files before schema 3 stored the pure-Python encoder as tools.tokenize.
_FORMERLY = {"tokenize_python": (FormerId("tools.tokenize", schema=3),)}


@dataclass(frozen=True)
class TokenizerDepth:
    """How far tools.tokenize (Hugging Face tokenizers) goes in one profile."""

    batch_size: int  # prompts per encode_batch call
    batches: int  # distinct batches the calls cycle through
    round_s: float  # seconds per measured round (a sample)
    extra_budget_s: float  # seconds rounds may add while the samples vary
    thread_sweep: bool = True  # 1 and cores threads; else cores only


TOKENIZER_DEPTH = {
    "smoke": TokenizerDepth(batch_size=16, batches=2, round_s=0.1, extra_budget_s=0.0,
                            thread_sweep=False),
    "quick": TokenizerDepth(batch_size=16, batches=4, round_s=0.25, extra_budget_s=1.0),
    "standard": TokenizerDepth(batch_size=16, batches=16, round_s=1.0, extra_budget_s=10.0),
    "full": TokenizerDepth(batch_size=16, batches=32, round_s=2.0, extra_budget_s=30.0),
}


def estimate_tokenizer(ctx: PlanContext, config: Config) -> float:
    from workloads import estimates as est

    depth = profile_row(TOKENIZER_DEPTH, ctx.profile)
    return est.CHILD_START_S + est.TOKENIZER_LOAD_S + est.rounds_seconds(
        ctx.profile, depth.round_s, depth.extra_budget_s)


def plan_tokenizer(ctx: PlanContext) -> list:
    """One child per thread count: 1 and cores (the library's rayon pool
    reads RAYON_NUM_THREADS once)."""
    cores = max(1, ctx.topology.physical_cores)
    levels = ctx.profile.levels(sorted({1, cores}))
    if not profile_row(TOKENIZER_DEPTH, ctx.profile).thread_sweep:
        levels = levels[-1:]
    return [Config(params={"threads": n}, env={"RAYON_NUM_THREADS": str(n)}) for n in levels]


TOKENS_ROW = HeadlineRow("tokenizer", "Tokenizer tokens/s", (Source("throughput"),),
                         notes=(("latency_p99", "p99 per batch"),))
TOKENS_WORK = Work("throughput", "tokens_per_joule", "tokens/J", "Tokens per joule",
                   "cost_per_billion_tokens", 1e9, "billion tokens")
TOKENS_PLOT = Plot("concurrency", ("throughput", "latency_p99"), x="threads", family="tokenizer")

SPECS = [
    BenchmarkSpec(
        id=f"tools.{name}", category="tools", description=desc,
        entry="workloads.tools.bench:run_benchmark", plan=_planner(name), timeout=600.0,
        estimate=estimate_tools,
        profile_table=DEPTH, headline=(ROW,), work=(WORK,), plots=(PLOT, SIDE_BY_SIDE),
        formerly=_FORMERLY.get(name, ()),
    )
    for name, desc in ((t.name, _description(t)) for t in TOOLS.values())
]
SPECS.insert(3, BenchmarkSpec(
    id="tools.tokenize", category="tools",
    description="Hugging Face tokenizers byte-level BPE (32k vocabulary) encode_batch of "
                "2-16 KB agent prompts, 1 and cores threads: tokens/s, latency p50/p99",
    entry="workloads.tools.tokenizer_bench:run_benchmark", plan=plan_tokenizer, timeout=600.0,
    estimate=estimate_tokenizer,
    profile_table=TOKENIZER_DEPTH, headline=(TOKENS_ROW,), work=(TOKENS_WORK,),
    plots=(TOKENS_PLOT,),
))
