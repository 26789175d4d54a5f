"""Benchmark entry for db.point, db.range, db.write, db.search, db.analytic.

One worker child runs one query class on one engine over the client counts
in its params (1, cores, 2 x cores), each count with its own pool of client
processes. Per count: throughput (queries/s, one sample per round) and
latency p50/p95/p99 (ms, pooled over every measured query).
"""
from __future__ import annotations

import os
import uuid
from contextlib import ExitStack

import numpy as np

from suite.model import ErrorRecord, Outcome, measurement
from suite.spec import Job, profile_row
from suite.worker import each_benchmark
from workloads.db import dataset as datasets
from workloads.db.clients import ClientPool, timed_rounds
from workloads.db.engines import EngineUnavailable
from workloads.db.pg_server import ServerUnavailable, installed_version
from workloads.db.queries import QUERY_CLASSES
from workloads.db.specs import DEPTH, ENGINES, engine_module

LATENCY_PERCENTILES = (50, 95, 99)


def run_benchmark(job: Job) -> Outcome:
    """Every query class of job.ids (one, or several sharing this child:
    specs.DbDepth.one_child) on the engine of job.params, opened once."""
    engine_name = job.params.get("engine", "sqlite")
    local_server = job.params.get("server") == "local"
    if local_server and installed_version() is None:
        return Outcome(errors=tuple(ErrorRecord(bench, dict(job.params), "skipped", (
            "db.* on PostgreSQL skipped: no local PostgreSQL server binaries (Debian package "
            "postgresql); give --db-url postgresql://... to use a running server"))
            for bench in job.ids))
    # The local server, if any, is stopped when this block ends, whatever happens.
    with ExitStack() as cleanup:
        try:
            dataset = datasets.ensure_dataset(job.options, job.profile.name)
            engine, extra_info = _engine(engine_name, job, dataset, cleanup)
            info = engine.info()
        except (datasets.DatasetError, EngineUnavailable, ServerUnavailable) as exc:
            return Outcome(errors=tuple(ErrorRecord(bench, dict(job.params), "error", str(exc))
                                        for bench in job.ids))
        info.update(extra_info)
        info.update({"dataset_scale": dataset.scale, "dataset_seed": dataset.seed,
                     "dataset_hash": dataset.hash, "dataset_reused": dataset.reused,
                     "dataset_bytes": dataset.manifest.get("size_bytes")})
        return each_benchmark(job, lambda bench: _measure_counts(job, bench, engine, dataset, info))


def _query_of(benchmark: str):
    return QUERY_CLASSES[benchmark.split(".", 1)[1]]


def _measure_counts(job: Job, benchmark: str, engine, dataset, info: dict) -> Outcome:
    query = _query_of(benchmark)
    info = dict(info, query_class=query.description)
    answers = dataset.answers()
    records: list = []
    errors: list = []
    for clients in job.params.get("clients") or [1]:
        params = {"engine": engine.dialect, "clients": clients}
        if "server" in job.params:
            params["server"] = job.params["server"]
        try:
            rounds = _measure(engine, query, answers, clients, dataset.seed, job)
        except RuntimeError as exc:
            errors.append(ErrorRecord(benchmark, params, "error", str(exc)))
            continue
        made, problem = _records(benchmark, params, rounds, info)
        records.extend(made)
        if problem:
            errors.append(ErrorRecord(benchmark, params, "invalid", problem))
    return Outcome(records=tuple(records), errors=tuple(errors))


def _engine(name: str, job: Job, dataset, cleanup: ExitStack) -> tuple:
    """(engine, extra info) of the engine named `name` (specs.ENGINES)."""
    if name not in ENGINES:
        raise EngineUnavailable(f"unknown db engine {name!r}; accepted: " + ", ".join(ENGINES))
    engine, extra = engine_module(name).open_engine(job, dataset, cleanup)
    for bench in job.ids:
        query = bench.split(".", 1)[1]
        if query not in engine.capabilities:
            raise EngineUnavailable(f"engine {name} does not run the {query} class; it runs "
                                    + ", ".join(sorted(engine.capabilities)))
    return engine, extra


def _measure(engine, query, answers, clients: int, seed: int, job: Job) -> list:
    depth = profile_row(DEPTH, job.profile)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with ClientPool(engine, query, answers, clients, seed, tag) as pool:
        return timed_rounds(pool, job.profile, round_s=depth.round_s,
                            budget_s=depth.extra_rounds_budget_s, warmup_s=depth.warmup_s,
                            min_rounds=depth.min_rounds, max_rounds=depth.max_rounds)


def _records(benchmark: str, params: dict, rounds: list, info: dict) -> tuple:
    """Throughput and latency records for one client count, and any problem."""
    checked = sum(r.checked for r in rounds)
    wrong = sum(r.wrong for r in rounds)
    queries = sum(r.queries for r in rounds)
    problem = next((r.first_problem for r in rounds if r.first_problem), None)
    validated = wrong == 0 and checked == queries and queries > 0
    if validated:
        problem = None
    elif problem is None:
        problem = f"{checked} of {queries} answers checked"
    else:
        problem = f"{wrong} of {checked} answers wrong; first: {problem}"
    info = dict(info, queries=queries, answers_checked=checked, answers_wrong=wrong,
                round_seconds=[round(r.wall_s, 4) for r in rounds])
    made = [measurement(benchmark, params, "throughput", "queries/s",
                        [r.throughput for r in rounds], higher_is_better=True,
                        validated=validated, info=info)]
    # numpy's default (linear) percentile, as suite.stats.percentile, but
    # fast enough for the hundreds of thousands of latencies of a run.
    per_round_ms = [np.frombuffer(r.latencies_s, dtype=np.float64) * 1e3 for r in rounds]
    pooled = np.concatenate(per_round_ms)
    for q in LATENCY_PERCENTILES:
        made.append(measurement(benchmark, params, f"latency_p{q}", "ms",
                                [float(np.percentile(x, q)) for x in per_round_ms],
                                higher_is_better=False, value=float(np.percentile(pooled, q)),
                                validated=validated, info={"pooled_queries": len(pooled)}))
    return made, problem
