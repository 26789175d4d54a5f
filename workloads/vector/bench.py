"""Entry of db.vector: one engine (params.engine) at 1, cores and 2 x cores
client processes (workloads.db.clients.ClientPool), every answer checked.

Exact (sqlite-vec): answers must be the NumPy reference's top K; the scan
reads every vector, so the records add the bytes scanned per query and the
effective bandwidth (total, and per core). HNSW (usearch): recall@K of the
index against the reference is recorded and must reach RECALL_THRESHOLD;
each client answer must equal the index's own answer computed beforehand.
"""
from __future__ import annotations

import os
import uuid

import numpy as np

from suite.model import ErrorRecord, Outcome, measurement
from suite.options import BenchmarkOptions
from suite.spec import Job, profile_row, seed_of
from workloads.db.clients import ClientPool, timed_rounds
from workloads.db.dataset import data_dir
from workloads.vector import dataset as vdata
from workloads.vector.engines import (Answers, SqliteVecEngine, UsearchEngine, VectorEngineUnavailable,
                                      VectorSearch)
from workloads.vector.specs import K, RECALL_THRESHOLD, VECTOR_DEPTH, DatasetTooLarge, check_fits

LATENCY_PERCENTILES = (50, 95, 99)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top K that `found` holds."""
    hits = sum(len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact))
    return hits / (len(exact) * exact.shape[1])


def recall_problem(recall: float) -> str | None:
    if recall >= RECALL_THRESHOLD:
        return None
    return f"HNSW recall@{K} {recall:.3f} is below the {RECALL_THRESHOLD} this record needs"


def _pgvector_skip(job: Job) -> str:
    """Why db.vector on PostgreSQL did not run."""
    url = job.options.db_url
    if url:
        try:
            import psycopg

            with psycopg.connect(url, connect_timeout=10) as conn:
                row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
                                   ).fetchone()
        except Exception as exc:  # noqa: BLE001 - any connection failure is the reason
            return f"skipped: PostgreSQL at --db-url not reachable ({' '.join(str(exc).split())})"
        if row:
            return ("skipped: the pgvector engine of db.vector is not implemented yet; "
                    "the server has the vector extension")
    return "skipped: pgvector not installed"


def run_benchmark(job: Job) -> Outcome:
    params = dict(job.params)
    depth = profile_row(VECTOR_DEPTH, job.profile)
    engine_name = params.get("engine")
    if engine_name == "postgresql":
        return Outcome(errors=(ErrorRecord(job.benchmark, params, "skipped", _pgvector_skip(job)),))
    try:
        engine, answers, data, extra = open_engine(engine_name, job.options, job.profile.name,
                                                   (job.system.get("memory") or {}).get("total_bytes"))
    except (DatasetTooLarge, vdata.VectorDatasetError, VectorEngineUnavailable, ValueError) as exc:
        return Outcome(errors=(ErrorRecord(job.benchmark, params, "error", str(exc)),))
    ids = answers.ids
    m = data.manifest
    info = dict(engine.info(), **extra, vectors=depth.vectors, dims=answers.queries.shape[1],
                k=K, sample_queries=len(answers.queries), dataset_reused=data.reused,
                dataset_seed=m["settings"]["seed"], dataset_build_s=m.get("generate_s"),
                validation=("every answer vs the exact NumPy top K of its query"
                            if engine.index == "exact" else
                            "recall@K vs the exact NumPy top K; every client answer vs the "
                            "index's own answer"))
    records, errors = [], []
    problem = None
    if engine.index == "hnsw":
        recall = recall_at_k(answers.approximate, ids)
        problem = recall_problem(recall)
        common = {"engine": engine.dialect, "index": engine.index}
        records.append(measurement(job.benchmark, common, "recall_at_10", "fraction", [recall],
                                   higher_is_better=True, validated=problem is None,
                                   info=dict(info, recall_threshold=RECALL_THRESHOLD)))
        records.append(measurement(job.benchmark, common, "build_time", "s",
                                   [m["hnsw_build_s"]], higher_is_better=False,
                                   info=dict(info, build_measured_at=m.get("built_at"),
                                             meaning="HNSW index build on every usable CPU, "
                                                     "measured when the cached index was built")))
        if problem:
            errors.append(ErrorRecord(job.benchmark, common, "invalid", problem))
    for clients in params.get("clients") or [1]:
        cparams = {"engine": engine.dialect, "index": engine.index, "clients": clients}
        try:
            rounds = _measure(engine, answers, clients, job, depth)
        except RuntimeError as exc:
            errors.append(ErrorRecord(job.benchmark, cparams, "error", str(exc)))
            continue
        made, bad = _records(job, cparams, rounds, info, engine, problem)
        records.extend(made)
        if bad:
            errors.append(ErrorRecord(job.benchmark, cparams, "invalid", bad))
    return Outcome(records=tuple(records), errors=tuple(errors))


# The engine serving each kind of index (params.index, co-run workload db.vector.<index>).
INDEX_ENGINES = {"exact": "sqlite-vec", "hnsw": "usearch"}


def open_engine(name: str, options: BenchmarkOptions, profile: str, total_memory: int | None) -> tuple:
    """(engine, answers, dataset, extra info) of the engine named `name`, on
    the profile's dataset (built when missing or damaged)."""
    depth = profile_row(VECTOR_DEPTH, profile)
    check_fits(depth.vectors, total_memory, profile)
    data = vdata.ensure_dataset(data_dir(options), depth.vectors, seed_of(options),
                                depth.sample_queries)
    ids, distances = data.reference()
    answers = Answers(data.queries(), ids, distances)
    if name == "sqlite-vec":
        count = data.manifest["settings"]["count"]
        return SqliteVecEngine(data.path("store.sqlite"), answers, count), answers, data, {}
    if name == "usearch":
        engine = UsearchEngine(data.path("hnsw.usearch"), answers)
        answers.approximate = engine.search_all(answers.queries)
        extra = {"hnsw": dict(vdata.HNSW, expansion_search=vdata.HNSW_EXPANSION_SEARCH)}
        return engine, answers, data, extra
    raise ValueError(f"unknown db.vector engine {name!r}; accepted: sqlite-vec, usearch, postgresql")


def _measure(engine, answers: Answers, clients: int, job: Job, depth) -> list:
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with ClientPool(engine, VectorSearch(), answers, clients, seed_of(job.options), tag) as pool:
        return timed_rounds(pool, job.profile, round_s=depth.round_s,
                            budget_s=depth.extra_rounds_budget_s, warmup_s=depth.warmup_s,
                            min_rounds=depth.min_rounds, max_rounds=depth.max_rounds)


def _records(job: Job, params: dict, rounds: list, info: dict, engine, recall_bad) -> tuple:
    checked = sum(r.checked for r in rounds)
    wrong = sum(r.wrong for r in rounds)
    queries = sum(r.queries for r in rounds)
    first = next((r.first_problem for r in rounds if r.first_problem), None)
    bad = None
    if wrong or checked != queries or not queries:
        bad = (f"{wrong} of {checked} answers wrong; first: {first}" if wrong
               else f"{checked} of {queries} answers checked")
    ok = bad is None and recall_bad is None
    info = dict(info, queries=queries, answers_checked=checked, answers_wrong=wrong)
    thr = [r.throughput for r in rounds]
    made = [measurement(job.benchmark, params, "throughput", "queries/s", thr,
                        higher_is_better=True, validated=ok, info=info)]
    per_round_ms = [np.frombuffer(r.latencies_s, dtype=np.float64) * 1e3 for r in rounds]
    pooled = np.concatenate(per_round_ms)
    for q in LATENCY_PERCENTILES:
        made.append(measurement(job.benchmark, params, f"latency_p{q}", "ms",
                                [float(np.percentile(x, q)) for x in per_round_ms],
                                value=float(np.percentile(pooled, q)), higher_is_better=False,
                                validated=ok, info={"pooled_queries": len(pooled)}))
    if engine.index == "exact":
        per_query = engine.bytes_per_query()
        cores = max(1, job.topology.physical_cores)
        busy = min(params["clients"], cores)
        gbs = [t * per_query / 1e9 for t in thr]
        note = {"bytes_scanned_per_query": per_query,
                "meaning": "queries/s x bytes of vectors each exact query scans"}
        made.append(measurement(job.benchmark, params, "scan_bandwidth", "GB/s", gbs,
                                higher_is_better=True, validated=ok, info=note))
        made.append(measurement(job.benchmark, params, "scan_bandwidth_per_core", "GB/s",
                                [g / busy for g in gbs], higher_is_better=True, validated=ok,
                                info=dict(note, cores_busy=busy)))
    return made, bad
