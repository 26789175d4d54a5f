"""DuckDB, an in-process columnar engine, for the read-only query classes.

The SQLite dataset stays the one source: the tables the classes read are
copied into a DuckDB file beside it, named by the dataset's hash, so the
answers are checked against the same digests the generator computed.
Clients open the file read-only (DuckDB lets several processes read one
file) with one DuckDB thread each, so the client count is the parallelism,
as with SQLite.
"""
from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from workloads.db import schema
from workloads.db.engines import EngineUnavailable, FileEngine, UntimedCalls

# Query classes DuckDB runs: the readers whose SQL is portable. Writes need
# its single-writer file lock, and full-text search its fts extension
# (downloaded at run time, which a benchmark must not depend on).
CAPABILITIES = frozenset({"range", "analytic"})
# Tables those classes read, copied from the SQLite store.
TABLES = ("messages", "orders", "line_items", "products")
INDEXES = schema.index_ddl("duckdb", TABLES)
THREADS_PER_CLIENT = 1


@dataclass(frozen=True)
class DuckDbEngine(FileEngine):
    dialect = "duckdb"
    capabilities = CAPABILITIES

    def connect(self) -> "DuckDbConnection":
        import duckdb

        try:
            con = duckdb.connect(str(self.path), read_only=True,
                                 config={"threads": THREADS_PER_CLIENT})
        except duckdb.Error as exc:
            raise EngineUnavailable(f"cannot open DuckDB file {self.path}: {exc}") from None
        return DuckDbConnection(con)

    def info(self) -> dict:
        import duckdb

        return {"engine": "duckdb", "engine_version": duckdb.__version__,
                "duckdb_threads_per_client": THREADS_PER_CLIENT,
                "duckdb_file": str(self.path), "duckdb_tables": list(TABLES)}


class DuckDbConnection(UntimedCalls):
    placeholder = "?"

    def __init__(self, con):
        self.connection = con

    def reader(self, sql: str, fetch: str):
        execute = self.connection.execute
        if fetch == "one":
            return lambda params: execute(sql, params).fetchone()
        return lambda params: execute(sql, params).fetchall()

    def writer(self, sql: str):
        raise EngineUnavailable("the DuckDB engine runs only the read-only query classes: "
                                + ", ".join(sorted(CAPABILITIES)))

    @staticmethod
    def encode_params(params: list) -> list:
        return params

    @staticmethod
    def decode_results(results: list, fetch: str) -> list:
        return results


def open_engine(job, dataset, cleanup) -> tuple:
    """(engine, info) for workloads.db.specs.ENGINES."""
    engine, reused = ensure_loaded(dataset)
    return engine, {"dataset_loaded_reused": reused}


def ensure_loaded(dataset) -> tuple:
    """(engine, reused): the DuckDB copy of `dataset`, built once per dataset
    hash under a lock (parallel workers wait for one builder)."""
    path = dataset.directory / f"duckdb-{dataset.hash[:16]}.duckdb"
    lock_path = path.with_suffix(".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return DuckDbEngine(path), True
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        _copy(dataset.store, tmp)
        os.replace(tmp, path)
    return DuckDbEngine(path), False


def _copy(store: Path, target: Path) -> None:
    import duckdb
    import pandas as pd

    with sqlite3.connect(store) as source, duckdb.connect(str(target)) as copy:
        for table in TABLES:
            frame = pd.read_sql_query(f"SELECT * FROM {table}", source)  # noqa: F841 - read by name
            copy.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
        copy.execute(INDEXES)
