"""SQLite and PostgreSQL behind one small interface.

An engine is a picklable description (file path or URL) that client
processes `connect()` to after they start. A connection hands out
`reader(sql)` / `writer(sql)` callables: one call is one query (or one
durable transaction), which is what the timed loop measures.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Every read-side client connection: WAL (readers never block the writer),
# a generous busy timeout so lock waits show up as latency, not errors.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                  "PRAGMA busy_timeout=10000")
POSTGRES_SCHEMA = "factorybench"


class EngineUnavailable(RuntimeError):
    """The database cannot be reached; the message is one line for the user."""


@dataclass(frozen=True)
class SqliteEngine:
    path: Path
    dialect: str = "sqlite"

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


class SqliteConnection:
    placeholder = "?"

    def __init__(self, con: sqlite3.Connection):
        self._con = con
        self._cursor = con.cursor()

    def reader(self, sql: str, fetch: str):
        execute = self._cursor.execute
        if fetch == "one":
            return lambda params: execute(sql, params).fetchone()
        return lambda params: execute(sql, params).fetchall()

    def writer(self, sql: str):
        execute = self._cursor.execute

        def write(params):
            execute("BEGIN IMMEDIATE")
            execute(sql, params)
            execute("COMMIT")
        return write

    def query(self, sql: str, params=()) -> list:
        return self._con.execute(sql, params).fetchall()

    def execute(self, sql: str, params=()) -> None:
        self._con.execute(sql, params)

    def close(self) -> None:
        self._con.close()


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
    scheme = urlsplit(url).scheme
    if scheme not in ("postgresql", "postgres"):
        raise EngineUnavailable(
            f"db_url must be a postgresql:// URL, got scheme {scheme or '(none)'!r}")


@dataclass(frozen=True)
class PostgresEngine:
    url: str
    dialect: str = "postgresql"

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
            settings = dict(con.query(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections', 'wal_level')"))
        finally:
            con.close()
        host, port = postgres_endpoint(self.url)
        return {"engine": "postgresql", "engine_version": version, "host": host, "port": port,
                "server_settings": settings}


class PostgresConnection:
    placeholder = "%s"

    def __init__(self, con):
        self._con = con
        self._cursor = con.cursor()

    def reader(self, sql: str, fetch: str):
        # Server-side prepared statements, as pgbench --protocol=prepared.
        cur = self._cursor
        execute = cur.execute
        if fetch == "one":
            def read_one(params):
                execute(sql, params, prepare=True)
                return cur.fetchone()
            return read_one

        def read_all(params):
            execute(sql, params, prepare=True)
            return cur.fetchall()
        return read_all

    def writer(self, sql: str):
        # Autocommit: each INSERT is its own transaction, durable when
        # synchronous_commit is on (the server default).
        execute = self._cursor.execute
        return lambda params: execute(sql, params, prepare=True)

    def query(self, sql: str, params=()) -> list:
        return self._con.execute(sql, params).fetchall()

    def execute(self, sql: str, params=()) -> None:
        self._con.execute(sql, params)

    def close(self) -> None:
        self._con.close()
