"""Performance targets of the database workloads, measured side by side.

    .venv/bin/python tests/perf/db.py [--db-url postgresql://...] [--seconds 0.5]

Prints:
  1. SQLite point lookups through the benchmark path (client process, timed
     loop, answer checks) / a bare sqlite3 loop on the same file, 1 client,
     interleaved pairs. Target >= 0.70.
  2. PostgreSQL point queries through the benchmark path / pgbench -S
     --protocol=prepared at the same client count on the same server
     (a throwaway server unless --db-url). Target >= 0.90.
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
from workloads.db.queries import QUERY_CLASSES, client_rng  # noqa: E402

PAIRS = 5


def bare_sqlite_point(path: Path, params: list, seconds: float) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    cur = con.cursor()
    sql = QUERY_CLASSES["point"].sql("sqlite")
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


def pgbench_tps(pgbench: str, url_parts: dict, clients: int, seconds: float) -> float:
    out = subprocess.run(
        [pgbench, "-n", "-S", "--protocol=prepared", "-c", str(clients), "-j", str(clients),
         "-T", str(max(1, round(seconds))), "-h", url_parts["host"], "-p", url_parts.get("port", "5432"),
         "-U", url_parts["user"], url_parts["dbname"]],
        capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([0-9.]+)", out).group(1))


def postgres_ratio(url: str, options: dict, seconds: float) -> None:
    import psycopg.conninfo

    from workloads.db.postgres import ensure_loaded

    pgbench = shutil.which("pgbench")
    if pgbench is None:
        print("PostgreSQL vs pgbench: skipped (pgbench not installed)")
        return
    parts = psycopg.conninfo.conninfo_to_dict(url)
    parts.setdefault("user", os.environ.get("USER", "postgres"))
    parts.setdefault("dbname", parts["user"])
    subprocess.run([pgbench, "-i", "-q", "-s", "2", "-h", parts["host"], "-p", parts.get("port", "5432"),
                    "-U", parts["user"], parts["dbname"]], capture_output=True, check=True)
    ds = datasets.ensure_dataset(options)
    engine = PostgresEngine(url)
    ensure_loaded(engine, ds)
    answers = ds.answers()
    for clients in (1, 2):
        ratios = []
        with ClientPool(engine, QUERY_CLASSES["point"], answers, clients, ds.seed, "perf") as pool:
            pool.run_round(0.2)
            for _ in range(3):
                bench = pool.run_round(max(1.0, seconds))
                ref = pgbench_tps(pgbench, parts, clients, seconds)
                ratios.append(bench.throughput / ref)
                print(f"  postgres point, {clients} clients: benchmark {bench.throughput:8.0f} q/s"
                      f"   pgbench -S {ref:8.0f} tps")
        print(f"PostgreSQL point, benchmark / pgbench -S --protocol=prepared, {clients} clients:"
              f" median {statistics.median(ratios):.2f}  (target >= 0.90)")


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
    ap.add_argument("--seconds", type=float, default=0.5)
    args = ap.parse_args()
    options = {"db_dir": str(ROOT / ".cache" / "db")}
    sqlite_ratio(options, args.seconds)
    if args.db_url:
        postgres_ratio(args.db_url, options, args.seconds)
    else:
        from workloads.db.pg_server import LocalPostgres, ServerUnavailable

        try:
            with LocalPostgres() as server:
                postgres_ratio(server.url, options, args.seconds)
        except ServerUnavailable as exc:
            print(f"PostgreSQL vs pgbench: skipped ({exc})")
    quick_wall()


if __name__ == "__main__":
    main()
