"""Database benchmarks: five query classes on SQLite, and on PostgreSQL when
`db_url` is given or, in the standard and full profiles, on a throwaway
local server. Light module: nothing heavy is imported here."""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

from suite.meaning import HeadlineRow, Plot, Source, Work
from suite.spec import BenchmarkSpec, Config, PlanContext, profile_row

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
    return ctx.profile.levels(sorted({1, cores, 2 * cores}))


# Engines by the name records carry (params.engine): the module holding its
# `open_engine(job, dataset, cleanup) -> (engine, info)` and `CAPABILITIES`
# (the query classes it runs). Light modules: drivers import on first use.
ENGINES = {"sqlite": "workloads.db.engines", "postgresql": "workloads.db.postgres",
           "duckdb": "workloads.db.duckdb_engine"}


def engine_module(name: str):
    return importlib.import_module(ENGINES[name])


@dataclass(frozen=True)
class DbDepth:
    """How far the db benchmarks go in one profile."""

    dataset_scale: str  # without --db-scale (workloads.db.generator.SCALE_FACTORS)
    round_s: float  # seconds per measured round
    extra_rounds_budget_s: float  # seconds rounds may add while the samples vary
    # Start a local PostgreSQL server when no db_url is given (initdb and the
    # dataset load do not fit a quick run's time budget).
    local_server: bool
    # In-process engines beyond SQLite that run the classes they can (ENGINES).
    engines: tuple
    timeout_s: float  # per configuration: the first run of a scale builds its dataset
    # Measured rounds at least and at most (None: the profile's min_runs and
    # max_runs), and the warm-up round's length (None: round_s). Quick takes
    # few rounds long enough to be stable rather than many short ones.
    min_rounds: int | None = None
    max_rounds: int | None = None
    warmup_s: float | None = None
    # Every query class of one engine in one child (Config.share): one
    # dataset open and one server start, where they cost more than the
    # rounds. Otherwise each class has a fresh process of its own.
    one_child: bool = False


DEPTH = {
    # smoke: every engine proven on the tiny dataset; a round runs one query
    # per client at least (workloads.db.clients.timed_loop), the warm-up too.
    "smoke": DbDepth(dataset_scale="tiny", round_s=0.02, extra_rounds_budget_s=0.0,
                     local_server=True, engines=("duckdb",), timeout_s=600.0,
                     warmup_s=0.01, one_child=True),
    # quick: two rounds of 0.5 s (shorter ones vary by more than the 5%
    # target here) after a short warm-up, where standard and full take the
    # profile's repetitions.
    "quick": DbDepth(dataset_scale="quick", round_s=0.5, extra_rounds_budget_s=0.0,
                     local_server=False, engines=(), timeout_s=600.0,
                     min_rounds=2, max_rounds=2, warmup_s=0.1),
    "standard": DbDepth(dataset_scale="standard", round_s=0.5, extra_rounds_budget_s=10.0,
                        local_server=True, engines=("duckdb",), timeout_s=1800.0),
    # full: ~5 GB, and a PostgreSQL load on top.
    "full": DbDepth(dataset_scale="full", round_s=1.0, extra_rounds_budget_s=30.0,
                    local_server=True, engines=("duckdb",), timeout_s=7200.0),
}


SHARED_CHILD = "db"  # Config.share of the classes of one engine, where the profile says


def plan_db(ctx: PlanContext, query: str = "point") -> list:
    depth = profile_row(DEPTH, ctx.profile)
    clients = client_counts(ctx)
    params = [{"engine": "sqlite", "clients": clients}]
    if ctx.options.db_url:
        params.append({"engine": "postgresql", "clients": clients})
    elif depth.local_server:
        from workloads.db.pg_server import postgres_bin_dir  # stdlib only

        # Without server binaries one configuration (the first class's)
        # records the skip and its reason; the other classes stay silent.
        if postgres_bin_dir() is not None or query == QUERY_CLASSES[0][0]:
            params.append({"engine": "postgresql", "server": "local", "clients": clients})
    for name in depth.engines:
        if query in engine_module(name).CAPABILITIES:
            params.append({"engine": name, "clients": clients})
    share = SHARED_CHILD if depth.one_child else None
    return [Config(params=p, share=share) for p in params]


def estimate_db(ctx: PlanContext, config: Config) -> float:
    """Timed rounds per client count, the engine's opening (a local
    PostgreSQL server: initdb and the dataset's load)."""
    from workloads import estimates as est

    depth = profile_row(DEPTH, ctx.profile)
    total = est.CHILD_START_S + est.ENGINE_OPEN_S
    if config.params.get("server") == "local":
        total += est.POSTGRES_LOCAL_S
    # A shared child runs every class its engine runs.
    classes = len(engine_module(config.params["engine"]).CAPABILITIES) if config.share else 1
    return total + classes * len(config.params["clients"]) * (est.CLIENTS_START_S + est.rounds_seconds(
        ctx.profile, depth.round_s, depth.extra_rounds_budget_s, warmup_s=depth.warmup_s,
        min_rounds=depth.min_rounds))


ROW = HeadlineRow("queries", "Queries/s", (Source("throughput"),), per_benchmark=True)
WORK = Work("throughput", "queries_per_joule", "queries/J", "Queries per joule",
            "cost_per_million_queries", 1e6, "million queries")
PLOT = Plot("concurrency", ("throughput", "latency_p99"), x="clients", family="db")

SPECS = [
    BenchmarkSpec(
        id=f"db.{name}", category="db",
        description=f"{what}; 1/cores/2xcores clients, queries/s and p50/p95/p99 ms",
        entry="workloads.db.bench:run_benchmark",
        plan=functools.partial(plan_db, query=name), estimate=estimate_db,
        timeout={name: row.timeout_s for name, row in DEPTH.items()},
        profile_table=DEPTH, headline=(ROW,), work=(WORK,), plots=(PLOT,),
    )
    for name, what in QUERY_CLASSES
]
