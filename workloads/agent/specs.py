"""agent.step benchmark spec (light module: the work is in workloads.agent.bench)."""
from __future__ import annotations

from suite.meaning import HeadlineRow, Plot, Source, Work
from dataclasses import dataclass

from suite.options import DEFAULTS
from suite.spec import BenchmarkSpec, Config, PlanContext, profile_row

DEFAULT_SLO_MS = DEFAULTS.slo_ms
# The GPU's share of a step: how long an agent waits for "inference" between
# steps. 100 ms is a short completion from a hosted model.
DEFAULT_INFERENCE_MS = DEFAULTS.inference_ms


@dataclass(frozen=True)
class AgentDepth:
    """How far the capacity search goes in one profile."""

    window_s: float  # seconds per agent count tried
    max_levels: int  # most counts tried
    precision: float  # stop bisecting below this gap between passing and failing counts
    parts: int  # sub-windows: the samples


DEPTH = {
    "smoke": AgentDepth(window_s=0.2, max_levels=2, precision=1.0, parts=2),
    "quick": AgentDepth(window_s=0.8, max_levels=5, precision=0.25, parts=3),
    "standard": AgentDepth(window_s=3.0, max_levels=10, precision=0.10, parts=5),
    "full": AgentDepth(window_s=8.0, max_levels=14, precision=0.05, parts=10),
}


# The search tries at most this many agents per pool worker (one per measured CPU).
MAX_AGENTS_PER_CPU = 64


def plan_agent_step(ctx: PlanContext) -> list:
    from workloads.tools.generator_plan import closed_loop_rate, plan_generators

    slo = float(ctx.options.slo_ms)
    inference = float(ctx.options.inference_ms)
    # Generators sized for the largest agent count the search may try.
    layout = plan_generators(ctx.topology, lambda workers: closed_loop_rate(
        MAX_AGENTS_PER_CPU * workers, workers, inference / 1e3))
    return [Config(params={"slo_ms": slo, "inference_ms": inference},
                   settings=layout.settings())]


def estimate_agent_step(ctx: PlanContext, config: Config) -> float:
    """Every agent count the search may try, one window each."""
    from workloads import estimates as est

    depth = profile_row(DEPTH, ctx.profile)
    return (est.CHILD_START_S + est.ENGINE_OPEN_S + est.POOL_START_S
            + depth.max_levels * depth.window_s)


SPECS = [
    BenchmarkSpec(
        id="agent.step", category="agent",
        description="concurrent simulated agents (tokenize, state, tool, write back, "
                    "inference wait): most agents per core with p99 step latency under the SLO",
        entry="workloads.agent.bench:run_benchmark", plan=plan_agent_step, timeout=600.0,
        estimate=estimate_agent_step,
        profile_table=DEPTH,
        headline=(HeadlineRow("agents_per_core", "Agents per core", (Source("agents_per_core"),)),),
        work=(Work("steps_per_s", "steps_per_joule", "steps/J", "Agent steps per joule",
                   "cost_per_million_steps", 1e6, "million agent steps"),),
        # The capacity search's trace (info.search): p99 at each agent count tried.
        plots=(Plot("search", ("agents",), x="agents", family="agent.step"),),
        derived=(("agents_per_core", "agents"),),
    ),
]
