"""The database engines behind one small interface (`Engine`).

An engine is a picklable description (file path or URL) that client
processes `connect()` to after they start; it names its SQL `dialect`, the
`placeholder` its driver binds parameters with, and the query classes it
runs (`capabilities`). SQLite and PostgreSQL are here, DuckDB in
duckdb_engine.py; workloads/db/bench.py opens them by name (ENGINES). A connection hands out
`reader(sql)` / `writer(sql)` callables: one call is one query (or one
durable transaction), which is what the timed loop measures. They take
parameters as `encode_params` made them (outside the timing) and return
every row as Python values, so on every engine the timed call is the same
client work: run the query, fetch every row, build its Python values.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from suite.urls import POSTGRES_URL_FORM, is_postgres_url

# Every read-side client connection: WAL (readers never block the writer),
# a generous busy timeout so lock waits show up as latency, not errors.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                  "PRAGMA busy_timeout=10000")
POSTGRES_SCHEMA = "factorybench"
# Server settings that change what the figures mean; recorded in `info`.
POSTGRES_SETTINGS_RECORDED = ("shared_buffers", "synchronous_commit", "fsync", "full_page_writes",
                              "wal_level", "max_connections", "work_mem",
                              "max_parallel_workers_per_gather")


# Every query class (workloads.db.queries.QUERY_CLASSES).
ALL_CLASSES = frozenset({"point", "range", "write", "search", "analytic"})
CAPABILITIES = ALL_CLASSES  # SQLite's (workloads.db.specs.ENGINES)


class EngineUnavailable(RuntimeError):
    """The database cannot be reached; the message is one line for the user."""


class Engine(Protocol):
    dialect: str  # which SQL a query class gives it (queries.QueryClass.sql)
    placeholder: str  # how its driver marks a parameter
    capabilities: frozenset  # query classes it runs

    def connect(self): ...  # in each client process: a connection (reader/writer)
    def info(self) -> dict: ...  # what a reader of its records needs to know


@dataclass(frozen=True)
class FileEngine:
    """An engine whose database is one file, its driver binding `?`."""

    path: Path
    placeholder = "?"


@dataclass(frozen=True)
class SqliteEngine(FileEngine):
    dialect = "sqlite"
    capabilities = ALL_CLASSES

    def connect(self) -> "SqliteConnection":
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in SQLITE_PRAGMAS:
            con.execute(pragma)
        return SqliteConnection(con)

    def info(self) -> dict:
        with sqlite3.connect(self.path) as con:
            options = [r[0] for r in con.execute("PRAGMA compile_options")]
            journal = con.execute("PRAGMA journal_mode").fetchone()[0]
        return {"engine": "sqlite", "engine_version": sqlite3.sqlite_version,
                "sqlite_compile_options": options, "journal_mode": journal,
                "synchronous": "FULL"}


def open_engine(job, dataset, cleanup) -> tuple:
    """SQLite on the dataset's own store (workloads.db.specs.ENGINES)."""
    return SqliteEngine(dataset.store), {}


class UntimedCalls:
    """Set-up and check statements through the DB-API `connection` (sqlite3,
    psycopg and duckdb all take `execute(sql, params)`), outside the timing."""

    connection = None

    def query(self, sql: str, params=()) -> list:
        return self.connection.execute(sql, params).fetchall()

    def execute(self, sql: str, params=()) -> None:
        self.connection.execute(sql, params)

    def close(self) -> None:
        self.connection.close()


class SqliteConnection(UntimedCalls):
    placeholder = "?"

    def __init__(self, con: sqlite3.Connection):
        self.connection = con
        self._cursor = con.cursor()

    def reader(self, sql: str, fetch: str):
        execute = self._cursor.execute
        if fetch == "one":
            return lambda params: execute(sql, params).fetchone()
        return lambda params: execute(sql, params).fetchall()

    @staticmethod
    def encode_params(params: list) -> list:
        return params  # sqlite3 binds Python values itself

    @staticmethod
    def decode_results(results: list, fetch: str) -> list:
        return results

    def writer(self, sql: str):
        execute = self._cursor.execute

        def write(params):
            execute("BEGIN IMMEDIATE")
            execute(sql, params)
            execute("COMMIT")
        return write


def postgres_endpoint(url: str) -> tuple:
    """(host, port) a libpq URL points at, for error messages (no password)."""
    import psycopg.conninfo

    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise EngineUnavailable(f"invalid db_url: {str(exc).splitlines()[0]}") from None
    host = parts.get("host") or "/var/run/postgresql (default socket)"
    return host, parts.get("port") or "5432"


def check_postgres_url(url: str) -> None:
    if not is_postgres_url(url):
        raise EngineUnavailable(f"db_url must be a PostgreSQL URL ({POSTGRES_URL_FORM}), "
                                f"got {url!r}")


@dataclass(frozen=True)
class PostgresEngine:
    url: str
    dialect = "postgresql"
    placeholder = "%s"
    capabilities = ALL_CLASSES

    def connect(self, schema: str | None = POSTGRES_SCHEMA) -> "PostgresConnection":
        import psycopg

        check_postgres_url(self.url)
        host, port = postgres_endpoint(self.url)
        options = f"-c search_path={schema}" if schema else None
        try:
            con = psycopg.connect(self.url, autocommit=True, options=options, connect_timeout=10)
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise EngineUnavailable(
                f"cannot connect to PostgreSQL at host {host} port {port}: {reason}") from None
        return PostgresConnection(con)

    def info(self) -> dict:
        con = self.connect(schema=None)
        try:
            version = con.query("SHOW server_version")[0][0]
            # current_setting: with units ("128MB"), as SHOW prints them.
            settings = dict(con.query(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                (list(POSTGRES_SETTINGS_RECORDED),)))
        finally:
            con.close()
        host, port = postgres_endpoint(self.url)
        return {"engine": "postgresql", "engine_version": version, "host": host, "port": port,
                "server_settings": settings}


def _server_error(result) -> str:
    """The server's message of a failed libpq result, one line."""
    return result.error_message.decode(errors="replace").strip()


def _text(value: bytes | None) -> str | None:
    """A text-protocol value as Python: str, or None for NULL."""
    return None if value is None else value.decode()


class PostgresConnection(UntimedCalls):
    """Timed queries go straight through psycopg's libpq binding (psycopg.pq)
    as named prepared statements with text parameters, which is what
    pgbench --protocol=prepared does; the Python-level cursor machinery
    would otherwise cost more than the server's work for a point query.

    Parameters are encoded once per round (`encode_params`), outside the
    timing. Inside it, as sqlite3 builds its rows, every value is fetched
    and decoded to str (None for NULL); checks convert as needed.
    """

    placeholder = "%s"

    def __init__(self, con):
        self.connection = con
        self._statements = 0

    def _prepare(self, sql: str) -> bytes:
        from psycopg import pq

        numbered = sql.split("%s")
        text = numbered[0] + "".join(f"${i}{part}" for i, part in enumerate(numbered[1:], 1))
        self._statements += 1
        name = f"fb_{self._statements}".encode()
        result = self.connection.pgconn.prepare(name, text.encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise RuntimeError(f"PostgreSQL could not prepare {sql!r}: {_server_error(result)}")
        return name

    @staticmethod
    def encode_params(params: list) -> list:
        return [[str(p).encode() for p in row] for row in params]

    @staticmethod
    def decode_results(results: list, fetch: str) -> list:
        return results  # decoded inside the timed call, as sqlite3 does

    def reader(self, sql: str, fetch: str):
        from psycopg import pq

        name = self._prepare(sql)
        exec_prepared = self.connection.pgconn.exec_prepared
        tuples_ok = pq.ExecStatus.TUPLES_OK

        if fetch == "one" and self.connection.pgconn.describe_prepared(name).nfields == 1:
            # The common case (a point query) without the per-column loop.
            def read_one_value(wire_params):
                res = exec_prepared(name, wire_params)
                if res.status != tuples_ok:
                    raise RuntimeError(_server_error(res))
                return (_text(res.get_value(0, 0)),) if res.ntuples else None
            return read_one_value

        if fetch == "one":
            def read_one(wire_params):
                res = exec_prepared(name, wire_params)
                if res.status != tuples_ok:
                    raise RuntimeError(_server_error(res))
                if not res.ntuples:
                    return None
                value = res.get_value
                return tuple([_text(value(0, j)) for j in range(res.nfields)])
            return read_one

        def read_all(wire_params):
            res = exec_prepared(name, wire_params)
            if res.status != tuples_ok:
                raise RuntimeError(_server_error(res))
            value = res.get_value
            cols = range(res.nfields)
            return [tuple([_text(value(i, j)) for j in cols]) for i in range(res.ntuples)]
        return read_all

    def writer(self, sql: str):
        # Autocommit: each INSERT is its own transaction, durable when
        # synchronous_commit is on (the server default).
        from psycopg import pq

        name = self._prepare(sql)
        exec_prepared = self.connection.pgconn.exec_prepared
        command_ok = pq.ExecStatus.COMMAND_OK

        def write(wire_params):
            res = exec_prepared(name, wire_params)
            if res.status != command_ok:
                raise RuntimeError(_server_error(res))
        return write
