"""Database benchmarks: five query classes on SQLite, and on PostgreSQL when
`db_url` is given. Light module: nothing heavy is imported here."""
from __future__ import annotations

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


def plan_db(ctx: PlanContext) -> list:
    clients = client_counts(ctx)
    configs = [Config(params={"engine": "sqlite", "clients": clients})]
    if ctx.options.get("db_url"):
        configs.append(Config(params={"engine": "postgresql", "clients": clients}))
    return configs


SPECS = [
    BenchmarkSpec(
        id=f"db.{name}", category="db",
        description=f"{what}; 1/cores/2xcores clients, queries/s and p50/p95/p99 ms",
        entry="workloads.db.bench:run_benchmark",
        plan=plan_db,
        timeout=600.0,
    )
    for name, what in QUERY_CLASSES
]
