"""Several load generator processes, each with its own share of the workers.

Where the plan set CPUs aside (workloads.tools.generator_plan), the
benchmark child forks one generator process per planned generator. Each
starts its execution model with its share of the workers pinned to the
measured CPUs, pins itself to one generator CPU, then runs the load tests
the child orders over a pipe (its share of the clients or of the arrival
rate, from a common start time) and sends back its LoadResult (pyperf
style: workers in child processes reporting over a pipe). The child merges
the results into one: the calls of every generator, each generator's own
CPU time (`generator_cpu_each`), the workers' CPU time.

Each generator and its workers are one independent group, like load
generator hosts each driving a share of a server's workers: with equal
shares the queueing is the same in every group.
"""
from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from workloads.tools import loadgen
from workloads.reporting import all_ready, receive, start, stop
from workloads.tools.calls import ErrorTally

_FORK = multiprocessing.get_context("fork")
START_DELAY_S = 0.02  # time for an order to reach every generator


def split(total: int, parts: int) -> list:
    """`total` as `parts` near-equal positive shares (fewer when total < parts)."""
    parts = max(1, min(parts, total)) if total > 0 else 1
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


@dataclass(frozen=True)
class LoadOrder:
    """One load test for every generator: a closed loop of `concurrency`
    clients or an open loop at `rate` calls/s, both split over the generators."""

    window_s: float
    concurrency: int = 0
    rate: float = 0.0
    think_s: float = 0.0
    min_calls: int = 0
    seed: int = 0
    level: int | None = None  # what `pick_for` builds the pick from (agent count)
    drain_s: float | None = None
    start_at: float = 0.0
    share: dict = field(default_factory=dict)  # this generator's concurrency / rate


def _run_order(model, pick, check, order: LoadOrder) -> loadgen.LoadResult:
    while time.perf_counter() < order.start_at:
        time.sleep(min(0.001, max(0.0, order.start_at - time.perf_counter())))
    if order.rate:
        return loadgen.open_loop(model, pick, check, rate=order.share["rate"],
                                 window_s=order.window_s, seed=order.seed, drain_s=order.drain_s)
    return loadgen.closed_loop(model, pick, check, concurrency=order.share["concurrency"],
                               window_s=order.window_s, think_s=order.think_s,
                               min_calls=order.share["min_calls"], seed=order.seed,
                               drain_s=order.drain_s)


def _generator_main(conn, measured: tuple, own_cpu: int | None, open_model, workers: int,
                    pick_for, check) -> None:
    model = None
    try:
        if measured:
            os.sched_setaffinity(0, measured)  # the workers fork from here and inherit it
        model = open_model(workers)
        if own_cpu is not None:
            os.sched_setaffinity(0, {own_cpu})
        conn.send(("ready", None))
        while True:
            order = conn.recv()
            if order is None:
                break
            result = _run_order(model, pick_for(order.level), check, order)
            result.workers_replaced = model.replaced
            conn.send(("result", result))
    except BaseException as exc:  # the parent reports it as the test's error
        line = traceback.format_exc(limit=3).strip().splitlines()[-1]
        try:
            conn.send(("error", f"load generator: {line or type(exc).__name__}"))
        except OSError:
            pass
    finally:
        if model is not None:
            model.close()


def merge(results: list) -> loadgen.LoadResult:
    """One LoadResult of several generators' results, times from the earliest start."""
    t0 = min(r.start for r in results)
    out = loadgen.LoadResult(start=t0, window_s=max(r.window_s for r in results),
                             errors=ErrorTally())
    for r in results:
        shift = r.start - t0
        out.latencies.extend((end + shift, lat, cpu) for end, lat, cpu in r.latencies)
        for kind, n in r.errors.counts.items():
            out.errors.counts[kind] = out.errors.counts.get(kind, 0) + n
        out.errors.first.extend(r.errors.first[:max(0, out.errors.keep - len(out.errors.first))])
        out.calls += r.calls
        out.wall_s = max(out.wall_s, shift + r.wall_s)
        out.generator_cpu_s += r.generator_cpu_s
        out.generator_cpu_each.extend(r.generator_cpu_each or [r.generator_cpu_s])
        out.tool_cpu_s += r.tool_cpu_s
        out.workers_replaced += r.workers_replaced
    out.latencies.sort()
    return out


class GeneratorProcesses:
    """`layout.processes` generator processes, each with its own model of
    its share of the workers (`open_model(workers)` builds and starts one)."""

    def __init__(self, layout, open_model: Callable, pick_for: Callable, check: Callable):
        self.layout = layout
        shares = split(len(layout.measured_cpus), layout.processes)
        self.workers = shares
        own = layout.generator_cpus
        self._conns, self._procs = [], []
        try:
            for g, workers in enumerate(shares):
                # Not a daemon: it forks the pool's workers. It stays in the
                # benchmark child's process group, which dies with the run.
                conn, proc = start(_FORK, _generator_main, (
                    tuple(layout.measured_cpus), own[g % len(own)] if own else None,
                    open_model, workers, pick_for, check))
                self._conns.append(conn)
                self._procs.append(proc)
            all_ready(self._conns, "load generator")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _receive(conn, wanted: str):
        return receive(conn, wanted, "load generator")

    def run(self, order: LoadOrder) -> loadgen.LoadResult:
        """Run one load test on every generator that has a share of it."""
        if order.rate:
            shares = [{"rate": order.rate / len(self._conns)} for _ in self._conns]
        else:
            clients = split(order.concurrency, len(self._conns))
            calls = split(order.min_calls, len(clients)) if order.min_calls else [0] * len(clients)
            shares = [{"concurrency": c, "min_calls": calls[k] if k < len(calls) else 0}
                      for k, c in enumerate(clients)]
        start_at = time.perf_counter() + START_DELAY_S
        used = self._conns[:len(shares)]
        for g, (conn, share) in enumerate(zip(used, shares)):
            conn.send(LoadOrder(**{**order.__dict__, "start_at": start_at, "share": share,
                                   "seed": order.seed * 1000 + g}))
        return merge([self._receive(conn, "result") for conn in used])

    def close(self) -> None:
        stop(self._conns, self._procs)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> "GeneratorProcesses":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
