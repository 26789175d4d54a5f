"""db.vector: agent memory as k-nearest-neighbour retrieval over embeddings.

Exact kNN in SQLite (sqlite-vec: a full scan, so bandwidth-bound) and an
approximate HNSW index (usearch), at 1, cores and 2 x cores clients; on
PostgreSQL with pgvector when the `vector` extension is there. Light module:
nothing heavy is imported here.
"""
from __future__ import annotations

from dataclasses import dataclass

from suite.meaning import HeadlineRow, Plot, Source, Work
from suite.spec import BenchmarkSpec, Config, PlanContext, profile_row

DIMS = 384
BYTES_PER_VECTOR = DIMS * 4  # float32
# The vectors live three times at once: the array, the SQLite store (in the
# page cache) and the HNSW index (vectors and graph links).
COPIES = 3
MEMORY_SHARE_LIMIT = 0.5
RECALL_THRESHOLD = 0.95
K = 10


@dataclass(frozen=True)
class VectorDepth:
    """How far db.vector goes in one profile."""

    vectors: int  # dataset size
    sample_queries: int  # queries with a NumPy reference; the clients cycle through them
    round_s: float  # seconds per measured round
    extra_rounds_budget_s: float  # seconds rounds may add while the samples vary
    timeout_s: float  # per configuration: the first run of a scale builds its dataset
    # As workloads.db.specs.DbDepth: measured rounds at least and at most
    # (None: the profile's), the warm-up round's length (None: round_s).
    min_rounds: int | None = None
    max_rounds: int | None = None
    warmup_s: float | None = None


VECTOR_DEPTH = {
    "smoke": VectorDepth(vectors=2_000, sample_queries=16, round_s=0.02,
                         extra_rounds_budget_s=0.0, timeout_s=600.0, warmup_s=0.01),
    "quick": VectorDepth(vectors=100_000, sample_queries=64, round_s=0.5,
                         extra_rounds_budget_s=0.0, timeout_s=600.0,
                         min_rounds=2, max_rounds=2, warmup_s=0.1),
    "standard": VectorDepth(vectors=1_000_000, sample_queries=256, round_s=1.0,
                            extra_rounds_budget_s=10.0, timeout_s=3600.0),
    "full": VectorDepth(vectors=5_000_000, sample_queries=256, round_s=2.0,
                        extra_rounds_budget_s=30.0, timeout_s=14400.0),
}


class DatasetTooLarge(Exception):
    """The profile's vectors would not fit in half the machine's memory."""


def needed_bytes(vectors: int) -> int:
    return COPIES * vectors * BYTES_PER_VECTOR


def check_fits(vectors: int, total_memory: int | None, profile: str) -> None:
    """Refuse a dataset whose copies need more than half the memory."""
    need = needed_bytes(vectors)
    if total_memory and need > MEMORY_SHARE_LIMIT * total_memory:
        raise DatasetTooLarge(
            f"db.vector {profile}: {vectors:,} x {DIMS} float32 vectors need "
            f"{need / 2**30:.1f} GiB ({COPIES} copies: array, SQLite store, HNSW index), more "
            f"than half of this machine's {total_memory / 2**30:.1f} GiB memory; "
            "run a smaller profile")


def client_counts(ctx: PlanContext) -> list:
    cores = max(1, ctx.topology.physical_cores)
    return ctx.profile.levels(sorted({1, cores, 2 * cores}))


def plan_vector(ctx: PlanContext) -> list:
    depth = profile_row(VECTOR_DEPTH, ctx.profile)
    check_fits(depth.vectors, ctx.topology.memory_total_bytes, ctx.profile.name)
    clients = client_counts(ctx)
    configs = [Config(params={"engine": "sqlite-vec", "index": "exact", "clients": clients}),
               Config(params={"engine": "usearch", "index": "hnsw", "clients": clients})]
    if ctx.options.db_url or ctx.profile.name != "quick":
        configs.append(Config(params={"engine": "postgresql", "index": "exact",
                                      "clients": clients}))
    return configs


def estimate_vector(ctx: PlanContext, config: Config) -> float:
    from workloads import estimates as est

    depth = profile_row(VECTOR_DEPTH, ctx.profile)
    total = est.CHILD_START_S + est.ENGINE_OPEN_S
    if config.params["engine"] == "postgresql":
        total += est.POSTGRES_LOCAL_S
    return total + len(config.params["clients"]) * (est.CLIENTS_START_S + est.rounds_seconds(
        ctx.profile, depth.round_s, depth.extra_rounds_budget_s, warmup_s=depth.warmup_s,
        min_rounds=depth.min_rounds))


ROW = HeadlineRow("vector_queries", "Vector kNN queries/s", (Source("throughput"),),
                  per_benchmark=True, notes=(("latency_p99", "p99"),))
SCAN_ROW = HeadlineRow("vector_scan", "Exact kNN scan GB/s per core",
                       (Source("scan_bandwidth_per_core", {"clients": 1}),))
WORK = Work("throughput", "queries_per_joule", "queries/J", "Queries per joule",
            "cost_per_million_queries", 1e6, "million queries")
PLOT = Plot("concurrency", ("throughput", "latency_p99"), x="clients", family="vector")
# The exact scan's GB/s (and per core) drawn in the STREAM bandwidth panels:
# how close agent retrieval gets to the machine's bandwidth.
SCAN_PLOT = Plot("threads", ("scan_bandwidth", "scan_bandwidth_per_core"), x="clients",
                 family="STREAM", several_files=False)

SPECS = [BenchmarkSpec(
    id="db.vector", category="db",
    description=f"kNN (k={K}) over {DIMS}-dim embeddings: exact scan in SQLite (sqlite-vec) "
                "and HNSW (usearch), 1/cores/2xcores clients: queries/s, p50/p99, GB/s, recall",
    entry="workloads.vector.bench:run_benchmark", plan=plan_vector, estimate=estimate_vector,
    timeout={name: row.timeout_s for name, row in VECTOR_DEPTH.items()},
    profile_table=VECTOR_DEPTH, headline=(ROW, SCAN_ROW), work=(WORK,), plots=(PLOT, SCAN_PLOT),
    # queries/s x the bytes a query scans (per busy core): throughput's verdict
    derived=(("scan_bandwidth", "throughput"), ("scan_bandwidth_per_core", "throughput")),
)]
