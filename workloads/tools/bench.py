"""Entry of the tools.* benchmarks: one tool through the execution models
named in the configuration, closed loop at each concurrency level (and open
loop at `--rate` when given)."""
from __future__ import annotations

import dataclasses
import os

from suite.errors import Skipped
from suite.model import ErrorRecord, Outcome
from suite.spec import profile_row, seed_of
from suite.worker import each_benchmark
from workloads.tools import catalog, loadgen
from workloads.tools.generator_plan import GeneratorLayout
from workloads.tools.generator_procs import GeneratorProcesses, LoadOrder
from workloads.tools.records import load_records
from workloads.tools.specs import DEPTH

CALL_TIMEOUT_S = 30.0  # one call; past it the call fails and its process is killed


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ModelUnavailable(Exception):
    """An execution model cannot run here (e.g. no sandbox backend)."""


def open_model(name: str, tool: catalog.Tool, inputs: dict, concurrency: int, *,
               pool_size: int, timeout_s: float = CALL_TIMEOUT_S, allow_unisolated: bool = False):
    """A started execution model serving `tool` ("pool" | "fresh" | "sandbox")."""
    if name == "pool":
        from workloads.tools.pool import WarmPool

        model = WarmPool({tool.name: tool.run}, inputs, pool_size, timeout_s=timeout_s)
    elif name == "fresh":
        from workloads.tools.percall import FreshProcess

        model = FreshProcess(inputs, concurrency, timeout_s=timeout_s)
    elif name == "sandbox":
        if not tool.stdlib_only:
            raise ModelUnavailable(f"{tool.name} needs packages a bare sandboxed interpreter lacks")
        try:
            from workloads.tools.percall import SandboxedProcess

            model = SandboxedProcess(inputs, {tool.name: tool.source()}, concurrency,
                                     timeout_s=timeout_s, allow_unisolated=allow_unisolated)
        except (ImportError, ValueError, OSError, RuntimeError, Skipped) as exc:  # RuntimeError: SandboxError
            raise ModelUnavailable(f"sandbox unavailable: {exc}") from exc
    else:
        raise ValueError(f"unknown execution model {name!r}; accepted: pool, fresh, sandbox")
    model.start()
    return model


def model_info(model) -> dict:
    info = {"model": model.name, "workers_replaced": model.replaced}
    if model.name == "pool":
        info["pool_size"] = model.size
    if model.name == "sandbox":
        info["sandbox_backend"] = model.backend or model.sandbox.backend
        if model.warning or model.sandbox.warning:
            info["sandbox_warning"] = model.warning or model.sandbox.warning
    return info


def generator_info(layout, processes: int) -> dict:
    """Where the load came from, for the records' info."""
    info = {"load_generator": layout.note, "generator_processes": processes}
    if layout.generator_cpus:
        info["generator_cpus"] = list(layout.generator_cpus)
        info["measured_cpus"] = len(layout.measured_cpus)
    return info


def layout_of(job) -> GeneratorLayout:
    usable = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") \
        else tuple(range(os.cpu_count() or 1))
    return GeneratorLayout.from_settings(job.settings, usable)


class _Load:
    """One tool's load tests: pool tests through the planned generator
    processes when there are several, everything else from this process."""

    def __init__(self, tool, inputs, layout, pick, check, allow: bool):
        self.tool, self.inputs, self.layout = tool, inputs, layout
        self.pick, self.check, self.allow = pick, check, allow

    def open(self, model_name: str, concurrency: int, workers: int):
        return open_model(model_name, self.tool, self.inputs, concurrency, pool_size=workers,
                          allow_unisolated=self.allow)

    def run(self, model_name: str, order: LoadOrder) -> tuple:
        """(LoadResult, model info) of one test."""
        workers = len(self.layout.measured_cpus)
        concurrency = order.concurrency or 4 * workers
        if model_name == "pool" and self.layout.processes > 1:
            with GeneratorProcesses(self.layout, lambda w: self.open("pool", concurrency, w),
                                    lambda level: self.pick, self.check) as gens:
                result = gens.run(order)
            info = {"model": "pool", "pool_size": workers,
                    "workers_replaced": result.workers_replaced}
            return result, dict(info, **generator_info(self.layout, len(gens.workers)))
        model = self.open(model_name, concurrency, workers)
        try:
            if order.rate:
                result = loadgen.open_loop(model, self.pick, self.check, rate=order.rate,
                                           window_s=order.window_s, seed=order.seed)
            else:
                result = loadgen.closed_loop(model, self.pick, self.check,
                                             concurrency=order.concurrency,
                                             window_s=order.window_s, min_calls=order.min_calls)
            info = model_info(model)
        finally:
            model.close()
        layout = self.layout if model_name == "pool" else dataclasses.replace(
            self.layout, note="one generator process: a per-call model starts a process "
                              "per call, milliseconds a generator never lags behind")
        return result, dict(info, **generator_info(layout, 1))


def run_benchmark(job) -> Outcome:
    """Every tool of job.ids (one, or several sharing this child:
    specs.ToolsDepth.tools_share_child), one after the other."""
    return each_benchmark(job, lambda benchmark: _run_tool(job, benchmark))


def _run_tool(job, benchmark: str) -> Outcome:
    tool = catalog.TOOLS[benchmark.split(".", 1)[1]]
    seed = seed_of(job.options)
    allow = job.options.allow_unisolated
    depth = profile_row(DEPTH, job.profile)
    inputs = {tool.name: tool.make_inputs(seed)}
    expected = catalog.expected_digests(tool, inputs[tool.name])
    layout = layout_of(job)
    cpus = len(layout.measured_cpus) + len(layout.generator_cpus)

    def pick(n):
        return tool.name, n % catalog.INPUT_VARIANTS

    def check(c):
        want = expected[c.call.index]
        return None if c.digest == want else f"digest {str(c.digest)[:12]} != expected {want[:12]}"

    load = _Load(tool, inputs, layout, pick, check, allow)
    records, errors, warnings = [], [], []
    base_info = {"tool": tool.name, "seed": seed, "digest_check": "SHA-256 of each output vs an in-process reference run"}

    def emit(params, result, extra):
        info = dict(base_info, **extra)
        if info.get("sandbox_warning") and info["sandbox_warning"] not in warnings:
            warnings.append(info["sandbox_warning"])
        r, e = load_records(benchmark, params, result, cpus=cpus, parts=depth.parts, info=info)
        records.extend(r)
        errors.extend(e)
        if tool.name == "noop" and params.get("concurrency") == 1 and r:
            p50 = next(x for x in r if x.metric == "latency_p50")
            records.append(dataclasses.replace(
                p50, metric="dispatch_overhead",
                info=dict(p50.info, meaning="no-op call round trip p50: the model's dispatch cost")))

    for model_name, levels in job.params["matrix"].items():
        try:
            for c in levels:
                result, info = load.run(model_name, LoadOrder(
                    window_s=depth.window_s, concurrency=c, min_calls=depth.min_calls))
                emit({"model": model_name, "concurrency": c}, result,
                     dict(info, latency_from="call issue (closed loop)"))
        except ModelUnavailable as exc:
            errors.extend(ErrorRecord(benchmark, {"model": model_name, "concurrency": c},
                                      "skipped", str(exc)) for c in levels)
    rate = job.params.get("rate")
    if rate:  # open loop through the configuration's first model
        model_name = next(iter(job.params["matrix"]))
        params = {"model": model_name, "rate": float(rate)}
        try:
            result, info = load.run(model_name, LoadOrder(window_s=depth.window_s,
                                                          rate=float(rate), seed=seed))
        except ModelUnavailable as exc:
            errors.append(ErrorRecord(benchmark, params, "skipped", str(exc)))
        else:
            emit(params, result, dict(info, latency_from="scheduled Poisson arrival (open loop)"))
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=tuple(warnings))
