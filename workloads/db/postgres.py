"""Loading the dataset into a PostgreSQL database, without touching others'.

Everything the suite creates lives in one schema, `factorybench`, whose
COMMENT is the marker: "factorybench dataset " + the dataset manifest as
JSON. The schema is reused when the marker matches the local dataset
(schema version, scale, seed, hash); dropped and reloaded when the marker is
ours but stale; and never touched when a schema of that name exists
without our marker (the load then fails with a clear message).
"""
from __future__ import annotations

import json
import sqlite3

from workloads.db import dataset as datasets
from workloads.db import schema
from workloads.db.dataset import SCHEMA_VERSION, Dataset
from workloads.db.engines import ALL_CLASSES, POSTGRES_SCHEMA, EngineUnavailable, PostgresEngine

CAPABILITIES = ALL_CLASSES

# What a reader of a server=local record needs to know about that server.
LOCAL_SERVER_NOTE = ("throwaway PostgreSQL started by factorybench for this benchmark: stock "
                     "initdb settings, unix socket only, stopped afterwards; its cluster (the "
                     "loaded dataset) is kept next to the SQLite dataset and reused")
# Connections beyond the clients: the loader and the verifiers' spare slots.
SPARE_CONNECTIONS = 10
MARKER = "factorybench dataset "
# Serializes loaders of the same server (any 64-bit key unlikely to clash).
ADVISORY_LOCK_KEY = 0x46425F4442  # "FB_DB"

TABLES = schema.table_ddl("postgresql")
INDEXES = schema.index_ddl("postgresql")
COPIED_TABLES = schema.copied_columns()


def _marker_for(dataset: Dataset) -> dict:
    return {"schema_version": SCHEMA_VERSION, "scale": dataset.scale, "seed": dataset.seed,
            "dataset_hash": dataset.hash}


def read_marker(connection) -> tuple:
    """(schema exists, our marker dict or None)."""
    rows = connection.query(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
        (POSTGRES_SCHEMA,))
    if not rows:
        return False, None
    comment = rows[0][0] or ""
    if not comment.startswith(MARKER):
        return True, None
    try:
        return True, json.loads(comment[len(MARKER):])
    except ValueError:
        return True, None


def ensure_loaded(engine: PostgresEngine, dataset: Dataset) -> bool:
    """Make the `factorybench` schema hold `dataset`; True when it was reused."""
    connection = engine.connect(schema=None)
    try:
        connection.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        exists, marker = read_marker(connection)
        if exists and marker is None:
            raise EngineUnavailable(
                f"schema {POSTGRES_SCHEMA!r} already exists in this database and was not created "
                "by factorybench; refusing to modify it (use another database)")
        if marker == _marker_for(dataset):
            return True
        _load(connection, dataset, replace=exists)
        return False
    finally:
        connection.close()


def _load(connection, dataset: Dataset, replace: bool) -> None:
    # One transaction: a failed load leaves the database as it was.
    con = connection.connection
    with con.transaction():
        if replace:
            con.execute(f"DROP SCHEMA {POSTGRES_SCHEMA} CASCADE")
        con.execute(f"CREATE SCHEMA {POSTGRES_SCHEMA}")
        con.execute(f"SET LOCAL search_path = {POSTGRES_SCHEMA}")
        con.execute(TABLES)
        source = sqlite3.connect(dataset.store)
        try:
            with con.cursor() as cur:
                for table, columns in COPIED_TABLES.items():
                    cols = ", ".join(columns)
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                        for row in source.execute(f"SELECT {cols} FROM {table}"):
                            copy.write_row(row)
        finally:
            source.close()
        con.execute(INDEXES)
        comment = MARKER + json.dumps(_marker_for(dataset), sort_keys=True)
        con.execute(f"COMMENT ON SCHEMA {POSTGRES_SCHEMA} IS '{comment}'")
    con.execute(f"ANALYZE {POSTGRES_SCHEMA}.sessions, {POSTGRES_SCHEMA}.messages, "
                f"{POSTGRES_SCHEMA}.documents, {POSTGRES_SCHEMA}.products, "
                f"{POSTGRES_SCHEMA}.orders, {POSTGRES_SCHEMA}.line_items")


def open_engine(job, dataset: Dataset, cleanup) -> tuple:
    """(engine, info) for workloads.db.specs.ENGINES: the server at the
    db_url option, or a local throwaway one (params.server == "local")
    whose stop is registered on `cleanup`, with the dataset loaded."""
    extra: dict = {}
    if job.params.get("server") == "local":
        server = _local_server(job, dataset)
        cleanup.callback(server.stop)
        server.start()
        url = server.url
        extra = {"server": "local", "server_cluster_reused": server.cluster_reused,
                 "server_cluster": server.cluster_not_kept or str(server.data_dir),
                 "server_note": LOCAL_SERVER_NOTE}
    else:
        url = job.options.db_url
        if not url:
            raise EngineUnavailable("engine postgresql needs the db_url option (postgresql://...)")
    engine = PostgresEngine(url)
    extra["dataset_loaded_reused"] = ensure_loaded(engine, dataset)
    return engine, extra


def _local_server(job, dataset: Dataset):
    from workloads.db.pg_server import LocalPostgres, installed_version

    clients = max(job.params.get("clients") or [1])
    cluster = datasets.data_dir(job.options) / f"postgresql{installed_version()}-{dataset.scale}"
    return LocalPostgres(max_connections=max(100, clients + SPARE_CONNECTIONS),
                         cluster_dir=cluster)
