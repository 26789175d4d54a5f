"""Database benchmarks: five query classes on SQLite, and on PostgreSQL when
`db_url` is given or, in the standard and full profiles, on a throwaway
local server. Light module: nothing heavy is imported here."""
from __future__ import annotations

import functools

from suite.meaning import HeadlineRow, Plot, Source, Work
from suite.spec import BenchmarkSpec, Config, PlanContext

QUERY_CLASSES = (
    ("point", "state fetch by session key"),
    ("range", "a session's 20 most recent messages"),
    ("write", "append a tool result per durable transaction (WAL / synchronous commit)"),
    ("search", "full-text top-10 documents (FTS5 bm25 / tsvector ts_rank)"),
    ("analytic", "orders x line items x products grouped by category"),
)


def client_counts(ctx: PlanContext) -> list:
    """1, cores and 2 x cores clients (distinct, ascending)."""
    cores = max(1, ctx.topology.physical_cores)
    return sorted({1, cores, 2 * cores})


# Profiles that start a local PostgreSQL server when no db_url is given;
# quick does not (initdb and the dataset load do not fit its time budget).
LOCAL_SERVER_PROFILES = frozenset({"standard", "full"})


def plan_db(ctx: PlanContext, query: str = "point") -> list:
    clients = client_counts(ctx)
    configs = [Config(params={"engine": "sqlite", "clients": clients})]
    if ctx.options.get("db_url"):
        configs.append(Config(params={"engine": "postgresql", "clients": clients}))
    elif ctx.profile.name in LOCAL_SERVER_PROFILES:
        from workloads.db.pg_server import postgres_bin_dir  # stdlib only

        # Without server binaries one configuration (the first class's)
        # records the skip and its reason; the other classes stay silent.
        if postgres_bin_dir() is not None or query == QUERY_CLASSES[0][0]:
            configs.append(Config(params={"engine": "postgresql", "server": "local",
                                          "clients": clients}))
    return configs


ROW = HeadlineRow("queries", "Queries/s", (Source("throughput"),), per_benchmark=True)
WORK = Work("throughput", "queries_per_joule", "queries/J", "Queries per joule",
            "cost_per_million_queries", 1e6, "million queries")
PLOT = Plot("concurrency", ("throughput", "latency_p99"), x="clients", family="db")

SPECS = [
    BenchmarkSpec(
        id=f"db.{name}", category="db",
        description=f"{what}; 1/cores/2xcores clients, queries/s and p50/p95/p99 ms",
        entry="workloads.db.bench:run_benchmark",
        plan=functools.partial(plan_db, query=name),
        # The first run of a scale builds its dataset (full: ~5 GB, and a
        # PostgreSQL load on top), so the limit grows with the profile.
        timeout={"quick": 600.0, "standard": 1800.0, "full": 7200.0},
        headline=(ROW,), work=(WORK,), plots=(PLOT,),
    )
    for name, what in QUERY_CLASSES
]
