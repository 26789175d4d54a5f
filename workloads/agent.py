"""agent.step benchmark spec (light module: the work is in workloads.agent_step)."""
from __future__ import annotations

from suite.meaning import HeadlineRow, Plot, Source, Work
from suite.spec import BenchmarkSpec, Config, PlanContext

DEFAULT_SLO_MS = 250.0
# The GPU's share of a step: how long an agent waits for "inference" between
# steps. 100 ms is a short completion from a hosted model.
DEFAULT_INFERENCE_MS = 100.0


def plan_agent_step(ctx: PlanContext) -> list:
    options = ctx.options or {}
    slo = float(options.get("slo_ms") or DEFAULT_SLO_MS)
    inference = float(options.get("inference_ms") or DEFAULT_INFERENCE_MS)
    return [Config(params={"slo_ms": slo, "inference_ms": inference})]


SPECS = [
    BenchmarkSpec(
        id="agent.step", category="agent",
        description="concurrent simulated agents (tokenize, state, tool, write back, "
                    "inference wait): most agents per core with p99 step latency under the SLO",
        entry="workloads.agent_step:run_benchmark", plan=plan_agent_step, timeout=600.0,
        headline=(HeadlineRow("agents_per_core", "Agents per core", (Source("agents_per_core"),)),),
        work=(Work("steps_per_s", "steps_per_joule", "steps/J", "Agent steps per joule",
                   "cost_per_million_steps", 1e6, "million agent steps"),),
        # The capacity search's trace (info.search): p99 at each agent count tried.
        plots=(Plot("search", ("agents",), x="agents", family="agent.step"),),
        derived=(("agents_per_core", "agents"),),
    ),
]
