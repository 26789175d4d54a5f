"""Entry of the tools.* benchmarks: one tool through the execution models
named in the configuration, closed loop at each concurrency level (and open
loop at `--rate` when given)."""
from __future__ import annotations

import dataclasses
import os

from suite.errors import Skipped
from suite.model import ErrorRecord, Outcome
from suite.spec import profile_row, seed_of
from workloads.tools import catalog, loadgen
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


def run_benchmark(job) -> Outcome:
    tool = catalog.TOOLS[job.benchmark.split(".", 1)[1]]
    seed = seed_of(job.options)
    allow = job.options.allow_unisolated
    depth = profile_row(DEPTH, job.profile)
    inputs = {tool.name: tool.make_inputs(seed)}
    expected = catalog.expected_digests(tool, inputs[tool.name])
    cpus = usable_cpus()

    def pick(n):
        return tool.name, n % catalog.INPUT_VARIANTS

    def check(c):
        want = expected[c.call.index]
        return None if c.digest == want else f"digest {str(c.digest)[:12]} != expected {want[:12]}"

    records, errors, warnings = [], [], []
    base_info = {"tool": tool.name, "seed": seed, "digest_check": "SHA-256 of each output vs an in-process reference run"}

    def emit(params, result, model, extra):
        info = dict(base_info, **model_info(model), **extra)
        if info.get("sandbox_warning") and info["sandbox_warning"] not in warnings:
            warnings.append(info["sandbox_warning"])
        r, e = load_records(job.benchmark, params, result, cpus=cpus, parts=depth.parts, info=info)
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
                model = open_model(model_name, tool, inputs, c, pool_size=cpus, allow_unisolated=allow)
                try:
                    result = loadgen.closed_loop(model, pick, check, concurrency=c,
                                                 window_s=depth.window_s, min_calls=depth.min_calls)
                    emit({"model": model_name, "concurrency": c}, result, model,
                         {"latency_from": "call issue (closed loop)"})
                finally:
                    model.close()
        except ModelUnavailable as exc:
            errors.extend(ErrorRecord(job.benchmark, {"model": model_name, "concurrency": c},
                                      "skipped", str(exc)) for c in levels)
    rate = job.params.get("rate")
    if rate:  # open loop through the configuration's first model
        model_name = next(iter(job.params["matrix"]))
        params = {"model": model_name, "rate": float(rate)}
        try:
            model = open_model(model_name, tool, inputs, 4 * cpus, pool_size=cpus, allow_unisolated=allow)
        except ModelUnavailable as exc:
            errors.append(ErrorRecord(job.benchmark, params, "skipped", str(exc)))
        else:
            try:
                result = loadgen.open_loop(model, pick, check, rate=float(rate),
                                           window_s=depth.window_s, seed=seed)
                emit(params, result, model, {"latency_from": "scheduled Poisson arrival (open loop)"})
            finally:
                model.close()
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=tuple(warnings))
