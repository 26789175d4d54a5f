"""History for nightly tracking: result points in SQLite or PostgreSQL, and a
noise-aware regression check.

A series is one machine (fingerprint: hostname, CPU model, core count,
memory size, kernel) x benchmark x params x metric. Adding a run inserts its
points in one transaction keyed by (run, series), so adding the same run
twice changes nothing and concurrent adds from several processes lose
nothing (SQLite: BEGIN IMMEDIATE with a busy timeout; PostgreSQL: a
transaction with ON CONFLICT DO NOTHING).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from suite import stats
from suite.emulation import emulation_of

DEFAULT_STORE = Path("results") / "history.sqlite"
STORE_SCHEMA = "1"  # layout of the tables below
# Points of the recent history the latest point is judged against.
DEFAULT_WINDOW = 10
# Relative change (percent) below which nothing is flagged, whatever the noise.
DEFAULT_THRESHOLD_PCT = 5.0
# Fewer earlier points than this and a series is "too short" to judge.
MIN_HISTORY = 3
# Modified z-score 0.6745 * (x - median) / MAD above which a point is an
# outlier of its window: Iglewicz & Hoaglin, "How to Detect and Handle
# Outliers" (ASQC, 1993), recommend 3.5.
OUTLIER_Z = 3.5
_MAD_TO_SIGMA = 0.6745  # Phi^-1(0.75): MAD of a normal sample = 0.6745 sigma
SQLITE_BUSY_TIMEOUT_S = 60.0
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fb_runs (run_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
    " machine TEXT NOT NULL, started_at TEXT NOT NULL, run_id TEXT, suite_version TEXT,"
    " profile TEXT, source TEXT, added_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fb_points (run_key TEXT NOT NULL, series_key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, started_at TEXT NOT NULL, benchmark TEXT NOT NULL,"
    " params TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
    " higher_is_better INTEGER NOT NULL, value DOUBLE PRECISION, samples TEXT NOT NULL,"
    " validated INTEGER NOT NULL, PRIMARY KEY (run_key, series_key))",
    "CREATE INDEX IF NOT EXISTS fb_points_series ON fb_points (series_key, started_at)",
)


class HistoryError(ValueError):
    """A store that cannot be used (one clear line; the store is left untouched)."""


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def machine_of(system: dict) -> dict:
    """The fingerprint fields. Memory is rounded to GiB: MemTotal moves by a
    few KiB between kernel builds on the same hardware."""
    total = (system.get("memory") or {}).get("total_bytes")
    return {
        "hostname": system.get("hostname"),
        "cpu_model": system.get("model_name"),
        "cores": system.get("logical_cpus"),
        "memory_gib": round(total / 2 ** 30) if total else None,
        "kernel": system.get("kernel"),
    }


def fingerprint(system: dict) -> str:
    return _digest(machine_of(system))


# -- stores ---------------------------------------------------------------------


class Store:
    """A connection with the table layout in place. Use as a context manager."""

    placeholder = "?"

    def __init__(self, where: str):
        self.where = where
        self.conn = None

    def sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.conn is not None:
            self.conn.close()

    def query(self, text: str, args: Sequence = ()) -> list:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(args))
        return cur.fetchall()


class SqliteStore(Store):
    def __init__(self, path: Path, create: bool):
        super().__init__(str(path))
        if path.exists():
            _check_sqlite_header(path)
        elif not create:
            raise HistoryError(f"no history store at {str(path)!r}; add a run first "
                               "(factorybench history add RESULT.json)")
        elif not path.parent.is_dir():
            raise HistoryError(f"--store: directory {str(path.parent)!r} does not exist")
        try:
            self.conn = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_S,
                                        isolation_level=None)
            _prepare(self, begin="BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"history store {str(path)!r} is unreadable ({exc}); "
                               "left untouched") from None

    def transaction(self):
        return _Transaction(self, "BEGIN IMMEDIATE")


class PostgresStore(Store):
    placeholder = "%s"

    def __init__(self, url: str):
        super().__init__(_redact(url))
        import psycopg

        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise HistoryError(f"--store: cannot connect to {self.where} "
                               f"({str(exc).strip().splitlines()[0]})") from None
        _prepare(self, begin="BEGIN", lock="SELECT pg_advisory_xact_lock(80800808)")

    def transaction(self):
        return _Transaction(self, "BEGIN", "SELECT pg_advisory_xact_lock(80800808)")


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


class _Transaction:
    def __init__(self, store: Store, begin: str, lock: str | None = None):
        self.store, self.begin, self.lock = store, begin, lock

    def __enter__(self):
        cur = self.store.conn.cursor()
        cur.execute(self.begin)
        if self.lock:
            cur.execute(self.lock)
        return cur

    def __exit__(self, exc_type, *exc):
        self.store.conn.cursor().execute("ROLLBACK" if exc_type else "COMMIT")


def _check_sqlite_header(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise HistoryError(f"history store {str(path)!r} cannot be read ({exc.strerror})") from None
    if head and head != _SQLITE_MAGIC:
        raise HistoryError(f"history store {str(path)!r} is not an SQLite database "
                           "(corrupt or another file); left untouched")


def _prepare(store: Store, begin: str, lock: str | None = None) -> None:
    """Create the tables if the store is new; refuse a foreign or newer one."""
    with _Transaction(store, begin, lock) as cur:
        for stmt in _SCHEMA:
            cur.execute(stmt)
        cur.execute(store.sql("SELECT value FROM fb_meta WHERE key = ?"), ("schema",))
        row = cur.fetchone()
        if row is None:
            cur.execute(store.sql("INSERT INTO fb_meta (key, value) VALUES (?, ?)"),
                        ("schema", STORE_SCHEMA))
        elif row[0] != STORE_SCHEMA:
            raise HistoryError(f"history store {store.where} has layout {row[0]}, this "
                               f"factorybench reads {STORE_SCHEMA}; left untouched")


def open_store(spec: str | None, create: bool = False) -> Store:
    """A plain path is an SQLite file; postgresql://... a PostgreSQL database."""
    if spec and spec.startswith(("postgresql://", "postgres://")):
        return PostgresStore(spec)
    return SqliteStore(Path(spec) if spec else DEFAULT_STORE, create)


# -- add / list -------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    run_key: str
    points: int
    new: bool  # False: this run was already in the store


def run_key(doc) -> str:
    return _digest(fingerprint(doc.system), doc.run.get("id"), doc.run.get("started_at"))


def refuse_emulated(doc) -> None:
    """An emulated run's timings would plant a false regression (or hide a
    real one) in its machine's series: it never enters the history."""
    emulation = emulation_of(doc)
    if emulation:
        raise HistoryError(f"{doc.path or doc.run.get('id')}: run made under {emulation}; "
                           "its timings are meaningless and are not added to the history")


def add(store: Store, doc) -> Added:
    """Add a run's points; adding a run that is already there changes nothing.
    An emulated run is refused (HistoryError)."""
    refuse_emulated(doc)
    fp, key = fingerprint(doc.system), run_key(doc)
    started = str(doc.run.get("started_at") or "")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with store.transaction() as cur:
        cur.execute(store.sql(
            "INSERT INTO fb_runs (run_key, fingerprint, machine, started_at, run_id,"
            " suite_version, profile, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_key) DO NOTHING"),
            (key, fp, json.dumps(machine_of(doc.system), sort_keys=True), started,
             doc.run.get("id"), (doc.suite or {}).get("version"), doc.run.get("profile"),
             doc.path, now))
        new = cur.rowcount == 1
        if not new:
            return Added(key, 0, False)
        rows = []
        for r in doc.results:
            params = json.dumps(r.params, sort_keys=True)
            rows.append((key, _digest(fp, r.benchmark, params, r.metric), fp, started,
                         r.benchmark, params, r.metric, r.unit, int(r.higher_is_better),
                         r.value, json.dumps(list(r.samples)), int(r.validated)))
        cur.executemany(store.sql(
            "INSERT INTO fb_points (run_key, series_key, fingerprint, started_at, benchmark,"
            " params, metric, unit, higher_is_better, value, samples, validated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"), rows)
    return Added(key, len(rows), True)


def list_runs(store: Store) -> list:
    """(started_at, machine dict, run_id, profile, points) per run, oldest first."""
    rows = store.query(
        "SELECT r.started_at, r.machine, r.run_id, r.profile, COUNT(p.series_key)"
        " FROM fb_runs r LEFT JOIN fb_points p ON p.run_key = r.run_key"
        " GROUP BY r.run_key, r.started_at, r.machine, r.run_id, r.profile"
        " ORDER BY r.started_at, r.run_key")
    return [(s, json.loads(m), rid, prof, int(n)) for s, m, rid, prof, n in rows]


# -- check ----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    host: str
    benchmark: str
    params: dict
    metric: str
    unit: str
    latest: float
    median: float
    change: float  # oriented relative change: < 0 worse, > 0 better
    z: float  # modified z-score of the latest point in its window
    window: int

    @property
    def label(self) -> str:
        p = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.host}: {self.benchmark}" + (f"[{p}]" if p else "") + f" {self.metric}"


@dataclass(frozen=True)
class CheckReport:
    regressions: tuple
    improvements: tuple
    checked: int  # series judged
    too_short: int  # series with fewer than MIN_HISTORY earlier points


def judge_series(values: Sequence[float], higher_is_better: bool, window: int) -> tuple | None:
    """(change, z, median) of the last value against the `window` before it,
    or None when the history is too short."""
    latest, history = values[-1], list(values[:-1])[-window:]
    if len(history) < MIN_HISTORY:
        return None
    med, mad = stats.median(history), stats.mad(history)
    if med == 0:
        return None
    change = (latest - med) / abs(med)
    if not higher_is_better:
        change = -change
    if mad > 0:
        z = _MAD_TO_SIGMA * abs(latest - med) / mad
    else:
        z = 0.0 if latest == med else float("inf")
    return change, z, med


def check(store: Store, window: int = DEFAULT_WINDOW,
          threshold_pct: float = DEFAULT_THRESHOLD_PCT) -> CheckReport:
    """Judge the latest run of every machine against its recent history."""
    latest_run = {fp: key for fp, key in store.query(
        "SELECT fingerprint, run_key FROM fb_runs r WHERE started_at ="
        " (SELECT MAX(started_at) FROM fb_runs r2 WHERE r2.fingerprint = r.fingerprint)")}
    hosts = {fp: json.loads(m).get("hostname") for fp, m in
             store.query("SELECT fingerprint, machine FROM fb_runs")}
    series: dict = {}
    for row in store.query(
            "SELECT series_key, run_key, fingerprint, benchmark, params, metric, unit,"
            " higher_is_better, value FROM fb_points WHERE validated = 1 AND value IS NOT NULL"
            " ORDER BY series_key, started_at, run_key"):
        series.setdefault(row[0], []).append(row[1:])
    regressions, improvements, checked, short = [], [], 0, 0
    for points in series.values():
        last = points[-1]
        if last[0] not in latest_run.values():
            continue  # this series was not in its machine's latest run
        _, fp, bench, params, metric, unit, hib = last[:7]
        verdict = judge_series([p[7] for p in points], bool(hib), window)
        if verdict is None:
            short += 1
            continue
        checked += 1
        change, z, med = verdict
        if abs(change) * 100 <= threshold_pct or z <= OUTLIER_Z:
            continue
        finding = Finding(str(hosts.get(fp)), bench, json.loads(params), metric, unit,
                          last[7], med, change, z, min(window, len(points) - 1))
        (regressions if change < 0 else improvements).append(finding)
    order = lambda f: f.change  # noqa: E731 - worst regressions, best improvements first
    return CheckReport(tuple(sorted(regressions, key=order)),
                       tuple(sorted(improvements, key=order, reverse=True)), checked, short)
