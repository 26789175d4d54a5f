"""History for nightly tracking: result points in SQLite or PostgreSQL, and a
noise-aware regression check.

A series is one machine (fingerprint: hostname, CPU model, core count,
memory size, kernel) x profile x suite major version x the run options that
change a figure x benchmark x params x metric. Adding a run inserts its
points in one transaction keyed by (run, series), so adding the same run
twice changes nothing and concurrent adds from several processes lose
nothing (SQLite: BEGIN IMMEDIATE with a busy timeout; PostgreSQL: a
transaction with ON CONFLICT DO NOTHING).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from suite import stats
from suite.emulation import emulation_of
from suite.machine import machine_name
from suite.results import SCHEMA_VERSION as RESULT_SCHEMA
from suite.urls import is_postgres_url

DEFAULT_STORE = Path("results") / "history.sqlite"
STORE_SCHEMA = "3"  # layout of the tables below; 1 and 2 are migrated on open
# A step is reported when it began within the latest this many runs: a
# nightly check names a new step on the night it shows and the next (a
# third when the reference level has not yet cut the step's first point
# off), then stays quiet. A longer window looks in more places for a step,
# and raises more false alarms.
DEFAULT_WINDOW = 2
# Relative change (percent) below which nothing is flagged, whatever the noise.
DEFAULT_THRESHOLD_PCT = 5.0
# Fewer points than this and a series is "too short" to judge.
MIN_POINTS = 5
# The step fit looks at the series' latest this many points.
MAX_POINTS = 60
# The within-run noise of a series is the median of its latest this many
# points' own: plenty for a median, and each point costs a parse of its
# samples (all 60 took a third of a check over 100 nights of 479 series).
WITHIN_NOISE_POINTS = 20
# The reference level is the mean of at most this many of its latest
# points: a slow drift shifts the mean of a longer one away from where the
# series is now. Its noise comes from all its points, each block of this
# many about its own mean, so a long-kept series knows its noise from up to
# MAX_POINTS points while a drift moves no block far (measured over nights
# 31-60 of a 60-night A/A with 2% drift, 60 trials: 1.13 false-alarm
# nights in 30 at 30 points, 1.03 at 25, 0.97 at 20; a 10% step after 60
# nights is caught within 2 nights in 96.1%, 95.8% and 94.8% of 2000
# trials; the noise of the latest 30 points alone caught 93.6%).
MAX_REFERENCE_POINTS = 30
# A level before a step must rest on this many points; shorter segments
# between it and the latest level are outliers, not levels.
MIN_LEVEL_POINTS = 3
# The step fit that finds the reference level before a candidate step pays
# PROPOSE_Z**2 noise variances a level: at 3, noise alone cut 5% of
# 20-night references into shorter levels (at 4, 0.5%), and a shorter
# reference is a weaker test.
PROPOSE_Z = 4.0
# False-alarm probability of one check of a run (the latest run of one
# machine and profile), shared equally by the series it judges (Bonferroni):
# each series' step test, a one-sided t test of the new level against the
# level before it, runs at this over the number of series, so a run of
# 130 series and one of 400 (a big machine sweeps more thread counts) raise
# false alarms on as few nights. Most of it goes to what a gate is for, a
# drop the next night confirms: a drop is called a regression at
# REGRESSION_ALPHA, a rise an improvement only at IMPROVEMENT_ALPHA (it fails
# no gate, so it need not be caught early), and a single new point must
# pass at alpha x SINGLE_POINT_FACTOR (a gross drop is still named the
# night it shows). Together about 0.02 a night by the tests' own level;
# the step fit's choice of the reference and a drift's lag add some once a
# series is long. tests/perf/verdicts.py prints the false alarms and the
# detection power these give: over nights 31-60 of a 60-night A/A with 2%
# drift, 0.028 raised 1.13 false-alarm nights in 30 and 0.021 0.87 (60
# trials each), while a 10% step after 60 nights at CV 1-3% was caught
# within 2 nights in 96.1% and 95.9% of 2000 trials (0.018: 95.4%).
REGRESSION_ALPHA = 0.021
IMPROVEMENT_ALPHA = 0.001
SINGLE_POINT_FACTOR = 0.02
# Options that say where output goes, not what was measured.
FIGURE_NEUTRAL_OPTIONS = ("out_dir",)
SQLITE_BUSY_TIMEOUT_S = 60.0
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS fb_runs (run_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
    " machine TEXT NOT NULL, started_at TEXT NOT NULL, run_id TEXT, suite_version TEXT,"
    " profile TEXT, source TEXT, added_at TEXT NOT NULL, options TEXT, git_commit TEXT)",
    "CREATE TABLE IF NOT EXISTS fb_points (run_key TEXT NOT NULL, series_key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, started_at TEXT NOT NULL, benchmark TEXT NOT NULL,"
    " params TEXT NOT NULL, metric TEXT NOT NULL, unit TEXT NOT NULL,"
    " higher_is_better INTEGER NOT NULL, value DOUBLE PRECISION, samples TEXT NOT NULL,"
    " validated INTEGER NOT NULL, notes TEXT, PRIMARY KEY (run_key, series_key))",
    "CREATE INDEX IF NOT EXISTS fb_points_series ON fb_points (series_key, started_at)",
)


class HistoryError(ValueError):
    """A store that cannot be used (one clear line; the store is left untouched)."""


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def machine_of(system: dict) -> dict:
    """The fingerprint fields. Memory is rounded to GiB: MemTotal moves by a
    few KiB between kernel builds on the same hardware. A name given with
    `run --machine` is a field only when given, so unnamed runs keep the
    fingerprints they always had."""
    total = (system.get("memory") or {}).get("total_bytes")
    fields = {
        "hostname": system.get("hostname"),
        "cpu_model": system.get("model_name"),
        "cores": system.get("logical_cpus"),
        "memory_gib": round(total / 2 ** 30) if total else None,
        "kernel": system.get("kernel"),
    }
    if system.get("machine"):
        fields["machine"] = system["machine"]
    return fields


def machine_label(machine: dict) -> str | None:
    """The name a stored machine (machine_of's fields) is shown by."""
    return machine_name(machine)


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
            if sqlite_disk_full(exc):
                raise  # not the store's fault: the caller names the free space
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
        cur = self.store.conn.cursor()
        if exc_type is None:
            try:
                cur.execute("COMMIT")
                return
            except Exception:
                self._rollback(cur)
                raise
        self._rollback(cur)

    @staticmethod
    def _rollback(cur) -> None:
        try:
            cur.execute("ROLLBACK")
        except Exception:
            pass  # already rolled back (SQLite does on a full disk); the first error counts


def sqlite_disk_full(exc: BaseException) -> bool:
    """An SQLite error that means the disk is full, not that the store is bad."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    return (isinstance(exc, sqlite3.DatabaseError)
            and (code == getattr(sqlite3, "SQLITE_FULL", 13) or "disk is full" in str(exc)))


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
    """Create the tables if the store is new, migrate an older layout,
    refuse a foreign or newer one."""
    with _Transaction(store, begin, lock) as cur:
        for stmt in _SCHEMA:
            cur.execute(stmt)
        cur.execute(store.sql("SELECT value FROM fb_meta WHERE key = ?"), ("schema",))
        row = cur.fetchone()
        if row is None:
            cur.execute(store.sql("INSERT INTO fb_meta (key, value) VALUES (?, ?)"),
                        ("schema", STORE_SCHEMA))
            _set_meta(store, cur, "result_schema", str(RESULT_SCHEMA))
            return
        if row[0] not in ("1", "2", STORE_SCHEMA):
            raise HistoryError(f"history store {store.where} has layout {row[0]}, this "
                               f"factorybench reads {STORE_SCHEMA}; left untouched")
        if row[0] == "1":
            _migrate_1_to_2(store, cur)
        if row[0] in ("1", "2"):
            _migrate_2_to_3(store, cur, row[0] == "1")
        cur.execute(store.sql("SELECT value FROM fb_meta WHERE key = ?"), ("result_schema",))
        held = int(cur.fetchone()[0])
        if held < RESULT_SCHEMA:  # a newer result schema renamed ids: follow it
            cur.execute("SELECT run_key, fingerprint, profile, suite_version, options FROM fb_runs")
            for key, fp, profile, version, options in cur.fetchall():
                scope = series_scope(profile, version, None if options is None
                                     else json.loads(options))
                _rekey_run(store, cur, key, fp, scope, held)
            _set_meta(store, cur, "result_schema", str(RESULT_SCHEMA))


def _set_meta(store: Store, cur, key: str, value: str) -> None:
    cur.execute(store.sql("DELETE FROM fb_meta WHERE key = ?"), (key,))
    cur.execute(store.sql("INSERT INTO fb_meta (key, value) VALUES (?, ?)"), (key, value))


def _rekey_run(store: Store, cur, key: str, fp: str, scope: list, schema: int) -> None:
    """Move a run's points, stored under the ids of result schema `schema`,
    to today's ids and their series."""
    from suite.results import current_ids

    cur.execute(store.sql("SELECT series_key, benchmark, params, metric FROM fb_points"
                          " WHERE run_key = ?"), (key,))
    for old, bench, params, metric in cur.fetchall():
        now = current_ids({"benchmark": bench, "params": json.loads(params)}, schema)[0]
        bench, params = now["benchmark"], json.dumps(now["params"], sort_keys=True)
        cur.execute(store.sql("UPDATE fb_points SET series_key = ?, benchmark = ?, params = ?"
                              " WHERE run_key = ? AND series_key = ?"),
                    (_digest(fp, scope, bench, params, metric), bench, params, key, old))


def _source_run(path: str | None) -> dict:
    """The `run` block of a result file a layout-1 store names, when it is
    still there to read (its options and commit were not stored then)."""
    try:
        data = json.loads(Path(path).read_text())
        return {"options": data["run"].get("options") or {},
                "git_commit": (data.get("suite") or {}).get("git_commit")}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _migrate_1_to_2(store: Store, cur) -> None:
    """Layout 1 keyed a series without profile, suite major version and
    options, and held result-schema-1 benchmark ids. Re-key every point
    under today's ids; a run's options come from its result file when that
    is still readable, else they count as unrecorded (a series of their
    own)."""
    cur.execute("ALTER TABLE fb_runs ADD COLUMN options TEXT")
    cur.execute("ALTER TABLE fb_runs ADD COLUMN git_commit TEXT")
    cur.execute("ALTER TABLE fb_points ADD COLUMN notes TEXT")
    cur.execute("SELECT run_key, fingerprint, profile, suite_version, source FROM fb_runs")
    for key, fp, profile, version, source in cur.fetchall():
        found = _source_run(source)
        options = found.get("options")
        cur.execute(store.sql("UPDATE fb_runs SET options = ?, git_commit = ? WHERE run_key = ?"),
                    (None if options is None else json.dumps(options, sort_keys=True),
                     found.get("git_commit"), key))
        _rekey_run(store, cur, key, fp, series_scope(profile, version, options), 1)


def _schema_of_run(store: Store, cur, key: str, source: str | None) -> int:
    """The result schema whose ids a layout-2 run's points carry (layout 2
    did not record it). `add` stored a run under the ids of the
    factorybench that added it, whatever its file's schema: 3 when the
    result file (still readable) is schema 3 or the run holds an id that
    schema 3 introduced, else 2. (Wrong only for a run of schema 3 whose
    file is gone and which holds none of those ids but a renamed one.)"""
    from suite.results import introduced_ids

    try:
        if json.loads(Path(source).read_text())["schema_version"] == 3:
            return 3
    except (OSError, ValueError, TypeError, KeyError):
        pass
    cur.execute(store.sql("SELECT DISTINCT benchmark FROM fb_points WHERE run_key = ?"), (key,))
    return 3 if {b for (b,) in cur.fetchall()} & introduced_ids(3) else 2


def _migrate_2_to_3(store: Store, cur, from_1: bool) -> None:
    """Layout 3 records the result schema of the stored ids (fb_meta
    result_schema). Layout 2 held runs of result schemas 2 and 3: re-key
    each schema-2 run's points under today's ids (schema 3 moved the
    pure-Python tokenizer's id); layout 1 was re-keyed to today's already."""
    if not from_1:
        cur.execute("SELECT run_key, fingerprint, profile, suite_version, options, source"
                    " FROM fb_runs")
        for key, fp, profile, version, options, source in cur.fetchall():
            schema = _schema_of_run(store, cur, key, source)
            if schema < RESULT_SCHEMA:
                scope = series_scope(profile, version, None if options is None
                                     else json.loads(options))
                _rekey_run(store, cur, key, fp, scope, schema)
    _set_meta(store, cur, "schema", STORE_SCHEMA)
    _set_meta(store, cur, "result_schema", str(RESULT_SCHEMA))


def sqlite_file(spec: str | None) -> Path | None:
    """The SQLite file a store spec names; None for a PostgreSQL URL."""
    if is_postgres_url(spec):
        return None
    return Path(spec) if spec else DEFAULT_STORE


def open_store(spec: str | None, create: bool = False) -> Store:
    """A plain path is an SQLite file; postgresql://... a PostgreSQL database."""
    path = sqlite_file(spec)
    return PostgresStore(spec) if path is None else SqliteStore(path, create)


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


def figure_options(options: dict | None) -> dict | None:
    """The run options that change a figure (None: not recorded)."""
    if options is None:
        return None
    kept = {k: v for k, v in options.items() if k not in FIGURE_NEUTRAL_OPTIONS}
    if isinstance(kept.get("db_url"), str):
        kept["db_url"] = _redact(kept["db_url"])
    return kept


def series_scope(profile: str | None, suite_version: str | None, options: dict | None) -> list:
    """What separates two series of one machine's benchmark beyond its
    params: quick (best of 5) and standard (best of 10) figures differ, a
    new suite major version may measure differently, and so may an option."""
    major = str(suite_version).split(".", 1)[0] if suite_version else None
    return [profile, major, figure_options(options)]


def _notes(record) -> str:
    """What check needs of a point beyond its value."""
    from suite.compare import disturbance, is_primary, process_values

    return json.dumps({"primary": is_primary(record), "disturbed": disturbance(record),
                       "processes": len(process_values(record))}, sort_keys=True)


def add(store: Store, doc) -> Added:
    """Add a run's points; adding a run that is already there changes nothing.
    An emulated run is refused (HistoryError)."""
    refuse_emulated(doc)
    fp, key = fingerprint(doc.system), run_key(doc)
    started = str(doc.run.get("started_at") or "")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    options = doc.run.get("options") or {}
    scope = series_scope(doc.run.get("profile"), (doc.suite or {}).get("version"), options)
    with store.transaction() as cur:
        cur.execute(store.sql(
            "INSERT INTO fb_runs (run_key, fingerprint, machine, started_at, run_id,"
            " suite_version, profile, source, added_at, options, git_commit)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_key) DO NOTHING"),
            (key, fp, json.dumps(machine_of(doc.system), sort_keys=True), started,
             doc.run.get("id"), (doc.suite or {}).get("version"), doc.run.get("profile"),
             doc.path, now, json.dumps(options, sort_keys=True),
             (doc.suite or {}).get("git_commit")))
        new = cur.rowcount == 1
        if not new:
            return Added(key, 0, False)
        rows = []
        for r in doc.results:
            params = json.dumps(r.params, sort_keys=True)
            rows.append((key, _digest(fp, scope, r.benchmark, params, r.metric), fp, started,
                         r.benchmark, params, r.metric, r.unit, int(r.higher_is_better),
                         r.value, json.dumps(list(r.samples)), int(r.validated), _notes(r)))
        cur.executemany(store.sql(
            "INSERT INTO fb_points (run_key, series_key, fingerprint, started_at, benchmark,"
            " params, metric, unit, higher_is_better, value, samples, validated, notes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"), rows)
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
class Step:
    """The latest level of a series against the level before it."""

    index: int  # first point of the latest level
    before: float  # the earlier level (geometric mean of its points)
    after: float  # the latest level
    change: float  # oriented relative change: < 0 worse, > 0 better
    z: float  # the t statistic of the latest level against the one before
    noise: float  # the noise (relative) the step was judged against


def point_noise(samples: Sequence[float]) -> float:
    """Relative standard error of one point's figure from its own samples:
    the within-run noise, below which no series' noise is believed."""
    if len(samples) < 2 or any(s <= 0 for s in samples):
        return 0.0
    c = stats.cv(samples)
    return 0.0 if c is None else c / len(samples) ** 0.5


def within_noise(samples: Sequence[str]) -> float:
    """The within-run noise of a series: the median of its latest
    WITHIN_NOISE_POINTS points' own noise, from their samples (JSON lists
    as stored, oldest first)."""
    recent = samples[-WITHIN_NOISE_POINTS:]
    return stats.median([point_noise(json.loads(t)) for t in recent]) if recent else 0.0


def series_noise(logs: Sequence[float], within: float, values: Sequence[float]) -> float:
    """Noise of one point of a series, on the log scale: the robust spread
    of successive differences of `logs`, floored by the within-run noise
    and, for an integer metric, by its step of one unit."""
    sigma = max(stats.robust_sigma(logs), within)
    if values and all(float(v).is_integer() for v in values):
        sigma = max(sigma, math.log1p(1.0 / max(1.0, stats.median(values))))
    return sigma


@functools.lru_cache(maxsize=None)
def _t_threshold(df: int, alpha: float) -> float:
    """The one-sided critical t at level alpha."""
    from suite.significance import t_quantile

    return t_quantile(1.0 - alpha, df)


@dataclass(frozen=True)
class Reference:
    """The level the points before a candidate step end on, and the noise
    about it."""

    level: float  # mean (log scale) of its latest points
    points: tuple  # those points (log scale): at most MAX_REFERENCE_POINTS
    spread: float  # sum of squares of the whole level's points about their blocks' means
    df: int  # degrees of freedom of `spread`


def _fit(logs: Sequence[float], floor: float) -> list:
    """The penalized step fit of a log series: [(start, end, log level)]."""
    # 1e-6: a series that never moved still has a noise scale for the fit.
    rough = max(stats.robust_sigma(logs), stats.difference_rms(logs), floor, 1e-6)
    return stats.step_fit(logs, PROPOSE_Z ** 2 * rough ** 2)


def levels(values: Sequence[float], within: float = 0.0) -> list:
    """The levels the step fit of `reference_level` sees in a whole series
    of positive values: [(start, end, level)], end exclusive, oldest first
    (one level for fewer than MIN_POINTS points: too short to cut)."""
    if not values:
        return []
    if len(values) < MIN_POINTS:
        return [(0, len(values), stats.geometric_mean(values))]
    logs = [math.log(v) for v in values]
    return [(s, e, math.exp(m)) for s, e, m in _fit(logs, series_noise([], within, values))]


def block_spread(logs: Sequence[float], block: int) -> tuple:
    """(sum of squares, degrees of freedom) of `logs` about the means of
    blocks of `block` points, counted back from the latest: the noise of a
    long level that may drift, each block's own mean following the drift."""
    spread, df = 0.0, 0
    for end in range(len(logs), 0, -block):
        part = logs[max(0, end - block):end]
        mean = math.fsum(part) / len(part)
        spread += math.fsum((y - mean) ** 2 for y in part)
        df += len(part) - 1
    return spread, df


def reference_level(logs: Sequence[float], floor: float) -> Reference | None:
    """The latest level of a penalized step fit (asv's step detection,
    solved exactly) over `logs`, priced at PROPOSE_Z**2 noise variances a
    level. None when it is shorter than MIN_LEVEL_POINTS: the points just
    before the candidate are a level of their own, so a step began before
    it (or they are outliers). Only this level's spread measures the noise:
    where noise alone cut the series into levels, the spread about all of
    them is too small (measured: more false alarms). Its mean is that of
    its latest MAX_REFERENCE_POINTS points (a drift moves the mean of more
    away from where the series is now); its noise is the spread of all its
    points about blocks that long, so a long-kept series knows its noise
    from twice the points (a 10% step at CV 1-3% after 60 nights: caught
    within 2 nights in 96% instead of 94%)."""
    start, end, _ = _fit(logs, floor)[-1]
    if end - start < MIN_LEVEL_POINTS:
        return None
    latest = tuple(logs[max(start, end - MAX_REFERENCE_POINTS):end])
    spread, df = block_spread(logs[start:end], MAX_REFERENCE_POINTS)
    return Reference(math.fsum(latest) / len(latest), latest, spread, df)


def judge_series(values: Sequence[float], higher_is_better: bool, window: int = DEFAULT_WINDOW,
                 within: float = 0.0, series: int = 1) -> Step | None:
    """The step the latest points make, or None (no step, or under
    MIN_POINTS points). Each of the latest 1 .. `window` points is tried as
    the first of a new level: a one-sided t test of the points from it on
    against the reference level before them (reference_level) decides. The
    check's false-alarm budget (REGRESSION_ALPHA for a drop,
    IMPROVEMENT_ALPHA for a rise, SINGLE_POINT_FACTOR of that for a single
    new point) is shared by the `series` judged in one check. The noise is
    the pooled spread about the reference level and the new level, floored
    by the within-run noise and, for an integer metric, by one unit. Of
    several new levels that pass, the surest is reported."""
    values = [v for v in values if v is not None and v > 0][-MAX_POINTS:]
    if len(values) < MIN_POINTS:
        return None
    logs = [math.log(v) for v in values]
    floor = series_noise([], within, values)
    found = None
    for start in range(max(len(logs) - window, MIN_LEVEL_POINTS), len(logs)):
        step = _step_test(logs, start, floor, higher_is_better, max(1, series))
        if step is not None and (found is None or step.z > found.z):
            found = step
    return found


def _step_test(logs: Sequence[float], start: int, floor: float, higher_is_better: bool,
               series: int) -> Step | None:
    """The t test of logs[start:] as a new level against the level before."""
    ref = reference_level(logs[:start], floor)
    if ref is None:
        return None
    new = logs[start:]
    after = math.fsum(new) / len(new)
    df = ref.df + len(new) - 1
    spread = ref.spread + math.fsum((y - after) ** 2 for y in new)
    sigma = max(math.sqrt(spread / df), floor, 1e-6)
    t = abs(after - ref.level) / (sigma * math.sqrt(1 / len(new) + 1 / len(ref.points)))
    change = (math.expm1(after - ref.level) if higher_is_better
              else math.expm1(ref.level - after))
    alpha = (REGRESSION_ALPHA if change < 0 else IMPROVEMENT_ALPHA) / series
    if t < _t_threshold(df, alpha if len(new) >= 2 else alpha * SINGLE_POINT_FACTOR):
        return None
    return Step(start, math.exp(ref.level), math.exp(after), change, t, sigma)


@dataclass(frozen=True)
class Finding:
    host: str
    profile: str | None
    benchmark: str
    params: dict
    metric: str
    unit: str
    latest: float
    before: float  # the level before the step
    change: float  # oriented relative change: < 0 worse, > 0 better
    z: float
    began_at: str  # started_at of the run where the step began
    began_run: str | None
    began_commit: str | None
    points: int
    series: str = ""  # the store's series key

    @property
    def label(self) -> str:
        p = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.host}: {self.benchmark}" + (f"[{p}]" if p else "") + f" {self.metric}"

    def to_dict(self) -> dict:
        return {**self.__dict__, "label": self.label}


@dataclass(frozen=True)
class CheckReport:
    regressions: tuple
    improvements: tuple
    checked: int  # series judged
    too_short: int  # series with fewer than MIN_POINTS points
    disturbed: int  # series whose latest point was disturbed: not judged
    window: int = DEFAULT_WINDOW
    threshold_pct: float = DEFAULT_THRESHOLD_PCT

    def to_dict(self) -> dict:
        return {"regressions": [f.to_dict() for f in self.regressions],
                "improvements": [f.to_dict() for f in self.improvements],
                "checked": self.checked, "too_short": self.too_short,
                "disturbed": self.disturbed, "window": self.window,
                "threshold_pct": self.threshold_pct, "min_points": MIN_POINTS,
                "regression_alpha": REGRESSION_ALPHA,
                "improvement_alpha": IMPROVEMENT_ALPHA,
                "alpha_per": "check of one run, shared by the series it judges"}


def _latest_runs(store: Store) -> set:
    """The latest run of every machine and profile."""
    latest: dict = {}
    for key, fp, profile, started in store.query(
            "SELECT run_key, fingerprint, profile, started_at FROM fb_runs"
            " ORDER BY started_at, run_key"):
        latest[(fp, profile)] = key
    return set(latest.values())


@functools.lru_cache(maxsize=256)  # a store holds few distinct notes; callers only read
def point_notes(text: str | None) -> dict:
    try:
        notes = json.loads(text) if text else {}
    except ValueError:
        notes = {}
    return notes if isinstance(notes, dict) else {}


def series_points(store: Store) -> dict:
    """{series key: [(run_key, benchmark, params, metric, unit,
    higher_is_better, value, samples, notes, validated, started_at)]}, each
    series oldest first. What names a series is read once a series (of
    hundreds of runs, re-reading it with every point was a third of a
    check), its points in one scan sorted here: reading them in index
    order costs several times more on a store of hundreds of runs."""
    names = {row[0]: row[1:] for row in store.query(
        "SELECT DISTINCT series_key, benchmark, params, metric, unit, higher_is_better"
        " FROM fb_points")}
    rows = store.query(
        "SELECT series_key, started_at, run_key, value, samples, notes, validated FROM fb_points")
    rows.sort()
    series: dict = {}
    for key, started, run, value, samples, notes, validated in rows:
        series.setdefault(key, []).append(
            (run, *names[key], value, samples, notes, validated, started))
    return series


def check(store: Store, window: int = DEFAULT_WINDOW,
          threshold_pct: float = DEFAULT_THRESHOLD_PCT, series: dict | None = None) -> CheckReport:
    """Judge the latest run of every machine and profile against its history
    (`series`: what series_points(store) gives, when the caller has it)."""
    from suite.meaning import declared_derived

    latest, derived = _latest_runs(store), declared_derived()
    runs = {key: (machine_label(json.loads(m)), profile, started, rid, commit)
            for key, m, profile, started, rid, commit in store.query(
                "SELECT run_key, machine, profile, started_at, run_id, git_commit FROM fb_runs")}
    judged, short, disturbed = [], 0, 0
    for key, points in (series_points(store) if series is None else series).items():
        points = [p for p in points if p[9] and p[6] is not None]
        if not points:
            continue
        last = points[-1]
        if last[0] not in latest:
            continue  # this series was not in its machine's latest run
        if not point_notes(last[8]).get("primary", True) or derived.get((last[1], last[3])):
            continue  # a derived figure repeats its source's step
        if point_notes(last[8]).get("disturbed"):
            disturbed += 1
            continue
        kept = [p for p in points if p[6] > 0 and not point_notes(p[8]).get("disturbed")]
        if len(kept) < MIN_POINTS:
            short += 1
            continue
        judged.append((key, kept))
    # Each run's false-alarm budget is shared by the series judged in it.
    per_run: dict = {}
    for _key, kept in judged:
        per_run[kept[-1][0]] = per_run.get(kept[-1][0], 0) + 1
    regressions, improvements = [], []
    for key, kept in judged:
        last = kept[-1]
        within = within_noise([p[7] for p in kept[-MAX_POINTS:]])  # the points judged
        step = judge_series([p[6] for p in kept], bool(last[5]), window, within,
                            series=per_run[last[0]])
        if step is None or abs(step.change) * 100 <= threshold_pct:
            continue
        began = runs.get(kept[-MAX_POINTS:][step.index][0], (None,) * 5)
        host, profile = runs.get(last[0], (None, None))[:2]
        finding = Finding(str(host), profile, last[1], json.loads(last[2]), last[3], last[4],
                          last[6], step.before, step.change, step.z, str(began[2]), began[3],
                          began[4], len(kept[-MAX_POINTS:]), key)
        (regressions if step.change < 0 else improvements).append(finding)
    order = lambda f: f.change  # noqa: E731 - worst regressions, best improvements first
    return CheckReport(tuple(sorted(regressions, key=order)),
                       tuple(sorted(improvements, key=order, reverse=True)), len(judged),
                       short, disturbed, window, threshold_pct)


# -- noise floors for compare -----------------------------------------------------

# An indicative (single-process) change in compare must exceed this many
# standard deviations of the difference of two runs (sqrt(2) x a point's noise).
FLOOR_Z = 4.0


def noise_floors(store: Store, doc) -> dict:
    """{(benchmark, params JSON, metric): relative change} that a single-run
    difference of this machine and profile must exceed to be more than noise,
    for every series with MIN_POINTS points or more."""
    from suite.significance import MIN_EFFECT

    grouped: dict = {}
    for bench, params, metric, value in store.query(
            "SELECT p.benchmark, p.params, p.metric, p.value FROM fb_points p"
            " JOIN fb_runs r ON r.run_key = p.run_key WHERE p.fingerprint = ? AND r.profile = ?"
            " AND p.validated = 1 AND p.value > 0 ORDER BY p.started_at",
            (fingerprint(doc.system), doc.run.get("profile"))):
        grouped.setdefault((bench, params, metric), []).append(value)
    floors = {}
    for key, values in grouped.items():
        if len(values) >= MIN_POINTS:
            logs = [math.log(v) for v in values[-MAX_POINTS:]]
            sigma = series_noise(logs, 0.0, values)
            floors[key] = max(MIN_EFFECT, math.expm1(FLOOR_Z * math.sqrt(2.0) * sigma))
    return floors
