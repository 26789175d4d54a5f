"""Performance targets of the database workloads, measured side by side.

    .venv/bin/python tests/perf/db.py [--db-url postgresql://...] [--seconds 0.5]
        [--only sqlite|postgresql|quick]

Prints:
  1. SQLite point lookups through the benchmark path (client process, timed
     loop, answer checks) / a bare sqlite3 loop on the same file, 1 client,
     interleaved pairs. Target >= 0.70.
  2. PostgreSQL, like for like: pgbench -S's own statement (on a
     pgbench-initialized table) through the benchmark's client path /
     pgbench -S --protocol=prepared, same client count, same server (a
     throwaway one unless --db-url), median of interleaved pairs. Target
     >= 0.90. Then the same ratio for db.point's real query (its rows are
     larger, so this one is not expected to reach 0.90).
  3. Wall time of the quick profile's DB part: five fresh worker-like child
     processes, one per query class, starting from an empty data directory
     (dataset build included). Target <= 20 s.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workloads.db import dataset as datasets  # noqa: E402
from workloads.db.clients import ClientPool  # noqa: E402
from workloads.db.engines import PostgresEngine, SqliteEngine  # noqa: E402
from workloads.db.queries import (PARAMS_PER_CLIENT, QUERY_CLASSES, QueryClass,  # noqa: E402
                                   client_rng)

PAIRS = 5


def bare_sqlite_point(path: Path, params: list, seconds: float) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    cur = con.cursor()
    sql = QUERY_CLASSES["point"].sql(SqliteEngine(Path()))
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for p in params:
            cur.execute(sql, p).fetchone()
        n += len(params)
    rate = n / (time.perf_counter() - start)
    con.close()
    return rate


def sqlite_ratio(options: dict, seconds: float) -> None:
    ds = datasets.ensure_dataset(options)
    answers = ds.answers()
    query = QUERY_CLASSES["point"]
    params = query.params(answers, client_rng(ds.seed, "point", 0), "sqlite")
    ratios = []
    with ClientPool(SqliteEngine(ds.store), query, answers, 1, ds.seed, "perf") as pool:
        pool.run_round(0.1)  # warm-up
        bare_sqlite_point(ds.store, params, 0.1)
        for _ in range(PAIRS):
            bench = pool.run_round(seconds)
            bare = bare_sqlite_point(ds.store, params, seconds)
            assert bench.wrong == 0
            ratios.append(bench.throughput / bare)
            print(f"  sqlite point: benchmark {bench.throughput:9.0f} q/s   bare {bare:9.0f} q/s")
    print(f"SQLite point, benchmark / bare sqlite3 loop: median {statistics.median(ratios):.2f}"
          f"  (target >= 0.70)")


PGBENCH_SCALE = 2  # pgbench -i -s: 100,000 accounts per unit
PG_SECONDS = 2  # per side of a pair; pgbench -T takes whole seconds


class PgbenchSelect(QueryClass):
    """The statement pgbench -S runs, through the benchmark's client path.
    Balances start at 0 and -S never changes them, which is the check."""

    name = "pgbench_select"
    description = "pgbench -S statement"
    sql_text = "SELECT abalance FROM public.pgbench_accounts WHERE aid = ?"

    def params(self, answers, rng, dialect):
        accounts = 100_000 * PGBENCH_SCALE
        return [(k,) for k in rng.integers(1, accounts + 1, size=PARAMS_PER_CLIENT).tolist()]

    def check(self, param, result, answers):
        return None if result == ("0",) else f"aid {param[0]}: got {result!r}"


def pgbench_tps(pgbench: str, url_parts: dict, clients: int, seconds: int) -> float:
    out = subprocess.run(
        [pgbench, "-n", "-S", "--protocol=prepared", "-c", str(clients), "-j", str(clients),
         "-T", str(seconds), "-h", url_parts["host"], "-p", url_parts.get("port", "5432"),
         "-U", url_parts["user"], url_parts["dbname"]],
        capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([0-9.]+)", out).group(1))


def interleaved(pool, pgbench: str, parts: dict, clients: int) -> list:
    """(benchmark q/s, pgbench tps) pairs, alternating which side goes first."""
    pool.run_round(0.3)  # warm-up: connections, plans, buffers
    pgbench_tps(pgbench, parts, clients, 1)
    pairs = []
    for i in range(PAIRS):
        if i % 2:
            ref = pgbench_tps(pgbench, parts, clients, PG_SECONDS)
            bench = pool.run_round(PG_SECONDS)
        else:
            bench = pool.run_round(PG_SECONDS)
            ref = pgbench_tps(pgbench, parts, clients, PG_SECONDS)
        assert bench.wrong == 0 and bench.checked == bench.queries, bench.first_problem
        pairs.append((bench.throughput, ref))
    return pairs


def postgres_ratio(url: str, options: dict) -> None:
    import psycopg.conninfo

    from workloads.db.postgres import ensure_loaded

    pgbench = shutil.which("pgbench")
    if pgbench is None:
        print("PostgreSQL vs pgbench: skipped (pgbench not installed)")
        return
    parts = psycopg.conninfo.conninfo_to_dict(url)
    parts.setdefault("user", os.environ.get("USER", "postgres"))
    parts.setdefault("dbname", parts["user"])
    subprocess.run([pgbench, "-i", "-q", "-s", str(PGBENCH_SCALE), "-h", parts["host"],
                    "-p", parts.get("port", "5432"), "-U", parts["user"], parts["dbname"]],
                   capture_output=True, check=True)
    ds = datasets.ensure_dataset(options)
    engine = PostgresEngine(url)
    ensure_loaded(engine, ds)
    answers = ds.answers()
    n = os.cpu_count() or 1
    for clients in sorted({1, n}):
        for label, query in (("pgbench -S statement", PgbenchSelect()),
                             ("db.point state fetch", QUERY_CLASSES["point"])):
            with ClientPool(engine, query, answers, clients, ds.seed, "perf") as pool:
                pairs = interleaved(pool, pgbench, parts, clients)
            for bench, ref in pairs:
                print(f"  {label}, {clients} clients: benchmark {bench:8.0f} q/s"
                      f"   pgbench -S {ref:8.0f} tps")
            ratio = statistics.median(b / r for b, r in pairs)
            target = "  (target >= 0.90)" if query is not QUERY_CLASSES["point"] else ""
            print(f"PostgreSQL {label} via benchmark path / pgbench -S --protocol=prepared, "
                  f"{clients} clients: median of {len(pairs)} pairs {ratio:.2f}{target}")


QUICK_CHILD = """
import sys
from suite.spec import Job, PROFILES
from workloads.db.bench import run_benchmark
system = {"logical_cpus": %(n)d, "cpus": [{"cpu": i, "core": i, "package": 0, "node": 0}
          for i in range(%(n)d)]}
out = run_benchmark(Job(sys.argv[1], {"engine": "sqlite", "clients": %(clients)r},
                        PROFILES["quick"], system, {"db_dir": sys.argv[2]}, 300.0))
sys.exit(1 if out.errors or not all(r.validated for r in out.records) else 0)
"""


def quick_wall() -> None:
    n = os.cpu_count() or 1
    code = QUICK_CHILD % {"n": n, "clients": sorted({1, n, 2 * n})}
    with tempfile.TemporaryDirectory() as empty:
        start = time.perf_counter()
        failed = []
        for name in QUERY_CLASSES:
            rc = subprocess.run([sys.executable, "-c", code, f"db.{name}", empty], cwd=ROOT).returncode
            if rc:
                failed.append(name)
        wall = time.perf_counter() - start
    print(f"Quick DB part (5 child processes, dataset build included): {wall:.1f} s"
          f"  (target <= 20 s){'  FAILED: ' + ', '.join(failed) if failed else ''}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db-url")
    ap.add_argument("--seconds", type=float, default=0.5, help="SQLite round length")
    ap.add_argument("--only", choices=("sqlite", "postgresql", "quick"),
                    help="print one of the three figures")
    args = ap.parse_args()
    # Its own data directory: a concurrent run with another seed rebuilds
    # the shared one under whoever is reading it.
    options = {"db_dir": str(ROOT / ".cache" / "db-perf")}
    if args.only in (None, "sqlite"):
        sqlite_ratio(options, args.seconds)
    if args.only in (None, "postgresql") and args.db_url:
        postgres_ratio(args.db_url, options)
    elif args.only in (None, "postgresql"):
        from workloads.db.pg_server import LocalPostgres, ServerUnavailable

        try:
            with LocalPostgres() as server:
                postgres_ratio(server.url, options)
        except ServerUnavailable as exc:
            print(f"PostgreSQL vs pgbench: skipped ({exc})")
    if args.only in (None, "quick"):
        quick_wall()


if __name__ == "__main__":
    main()
