"""Database workloads on SQLite: dataset reuse/rebuild, answer checks, entry."""
from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from suite.spec import PROFILES, Job, PlanContext, Profile
from workloads.db import dataset as datasets
from workloads.db import generator
from workloads.db.agent_state import AgentStateStore
from workloads.db.bench import run_benchmark
from workloads.db.queries import QUERY_CLASSES
from workloads.db.specs import SPECS, plan_db

SYSTEM = {
    "logical_cpus": 2,
    "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0},
             {"cpu": 1, "core": 1, "package": 0, "node": 0}],
    "caches": [],
    "memory": {"total_bytes": 8 << 30, "available_bytes": 4 << 30},
}
# One measured round per client count keeps the entry tests short.
ONE_ROUND = Profile("quick", min_runs=1, max_runs=1, cv_target=1.0)


def tiny(tmp_path, **extra) -> dict:
    return {"db_dir": str(tmp_path / "db"), "db_scale": "tiny", **extra}


@pytest.fixture(scope="module")
def tiny_options(tmp_path_factory):
    options = tiny(tmp_path_factory.mktemp("dbshared"))
    datasets.ensure_dataset(options)
    return options


def job(name: str, options: dict, clients=(1, 2), engine="sqlite") -> Job:
    return Job(f"db.{name}", {"engine": engine, "clients": list(clients)}, ONE_ROUND,
               SYSTEM, options, 60.0)


def first(gen):
    for item in gen:
        if isinstance(item, tuple):
            return item


def test_same_seed_same_data_different_seed_different_hash():
    _, h1 = first(generator.generate("tiny", 7))
    _, h2 = first(generator.generate("tiny", 7))
    _, h3 = first(generator.generate("tiny", 8))
    assert h1 == h2 != h3


def test_dataset_reused_only_when_manifest_matches(tmp_path):
    options = tiny(tmp_path, seed=5)
    assert datasets.existing_dataset(options) is None
    built = datasets.ensure_dataset(options)
    assert not built.reused
    assert datasets.existing_dataset(options) == built.store
    assert datasets.ensure_dataset(options).reused

    rebuilt = datasets.ensure_dataset(tiny(tmp_path, seed=6))
    assert not rebuilt.reused and rebuilt.seed == 6 and rebuilt.hash != built.hash
    assert datasets.existing_dataset(options) is None  # seed 5 is gone, not reused


@pytest.mark.parametrize("field,value", [("schema_version", 0), ("complete", False),
                                         ("scale", "quick")])
def test_schema_mismatch_forces_rebuild(tmp_path, field, value):
    options = tiny(tmp_path)
    built = datasets.ensure_dataset(options)
    manifest_path = built.directory / datasets.MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest[field] = value
    manifest_path.write_text(json.dumps(manifest))
    assert datasets.existing_dataset(options) is None
    again = datasets.ensure_dataset(options)
    assert not again.reused and again.manifest["schema_version"] == datasets.SCHEMA_VERSION


def test_unwritable_data_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(datasets.DatasetError, match="cannot build the tiny dataset"):
        datasets.ensure_dataset({"db_dir": str(blocker / "db"), "db_scale": "tiny"})


def test_unknown_scale_names_accepted_values():
    with pytest.raises(datasets.DatasetError, match="accepted: tiny, quick, standard, full"):
        datasets.dataset_scale({"db_scale": "huge"})


def test_plan_uses_1_cores_2x_cores_and_db_url():
    ctx = PlanContext(PROFILES["quick"], SYSTEM, {})
    assert [c.params for c in plan_db(ctx)] == [{"engine": "sqlite", "clients": [1, 2, 4]}]
    ctx = PlanContext(PROFILES["quick"], SYSTEM, {"db_url": "postgresql://h/db"})
    assert [c.params["engine"] for c in plan_db(ctx)] == ["sqlite", "postgresql"]
    assert sorted(s.id for s in SPECS) == ["db.analytic", "db.point", "db.range",
                                           "db.search", "db.write"]


@pytest.mark.parametrize("name", sorted(QUERY_CLASSES))
def test_every_class_runs_and_validates_on_sqlite(tiny_options, name):
    out = run_benchmark(job(name, tiny_options))
    assert out.errors == ()
    metrics = {(r.params["clients"], r.metric) for r in out.records}
    assert metrics == {(c, m) for c in (1, 2)
                       for m in ("throughput", "latency_p50", "latency_p95", "latency_p99")}
    for r in out.records:
        assert r.validated and r.value > 0
    info = next(r.info for r in out.records if r.metric == "throughput")
    assert info["engine"] == "sqlite" and info["answers_checked"] == info["queries"] > 0
    assert info["dataset_hash"] and "ENABLE_FTS5" in info["sqlite_compile_options"]


def test_write_leaves_no_rows_behind(tiny_options):
    store = datasets.existing_dataset(tiny_options)
    run_benchmark(job("write", tiny_options, clients=(1,)))
    with sqlite3.connect(store) as con:
        left = con.execute("SELECT count(*) FROM tool_results WHERE writer LIKE ?",
                           ("factorybench-db.write-%",)).fetchone()[0]
    assert left == 0


def test_wrong_answers_are_reported_invalid(tmp_path):
    options = tiny(tmp_path)
    store = datasets.ensure_dataset(options).store
    with sqlite3.connect(store) as con:
        con.execute("UPDATE sessions SET state = '{}' WHERE id % 2 = 0")
    out = run_benchmark(job("point", options, clients=(1,)))
    assert out.records and not any(r.validated for r in out.records)
    assert [e.kind for e in out.errors] == ["invalid"]
    assert "state digest differs" in out.errors[0].message


def test_checks_reject_wrong_rows(tiny_options):
    answers = datasets.ensure_dataset(tiny_options).answers()
    point, recent, search = QUERY_CLASSES["point"], QUERY_CLASSES["range"], QUERY_CLASSES["search"]
    assert point.check((1,), None, answers) is not None
    assert point.check((1,), ('{"x":1}',), answers) is not None
    assert recent.check((1, 20), [], answers) is not None
    search._sets = [set(m.tolist()) for m in answers.search_matches]
    q = max(range(len(answers.search_queries)), key=lambda i: len(answers.search_matches[i]))
    outside = max(answers.search_matches[q]) + 1_000_000
    assert search.check((answers.search_queries[q], 10), [(outside,)], answers) is not None


def test_bad_db_url_names_host_and_port(tiny_options):
    options = dict(tiny_options, db_url="postgresql://bench@127.0.0.1:1/nothing")
    out = run_benchmark(job("point", options, engine="postgresql"))
    assert out.records == ()
    (error,) = out.errors
    assert error.kind == "error" and "\n" not in error.message
    assert "host 127.0.0.1 port 1" in error.message


def test_non_postgres_url_is_rejected(tiny_options):
    out = run_benchmark(job("point", dict(tiny_options, db_url="mysql://x/y"), engine="postgresql"))
    assert "must be a PostgreSQL URL" in out.errors[0].message


def test_agent_state_store_fetch_and_append(tiny_options):
    path = datasets.existing_dataset(tiny_options)
    with AgentStateStore(path, writer="test-agent") as store:
        state = store.fetch(3)
        assert state["session_id"] == 3 and "goal" in state["state"]
        assert 8 <= len(state["messages"]) <= generator.RECENT_LIMIT
        seqs = [m["seq"] for m in state["messages"]]
        assert seqs == sorted(seqs, reverse=True)
        store.append(3, {"tool": "search", "output": "ok"})
        with pytest.raises(KeyError):
            store.fetch(10**9)
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT session_id, payload FROM tool_results WHERE writer = 'test-agent'")
        assert [(3, '{"output":"ok","tool":"search"}')] == rows.fetchall()
        con.execute("DELETE FROM tool_results WHERE writer = 'test-agent'")


def _plans(profile: str, options: dict) -> dict:
    ctx = PlanContext(PROFILES[profile], SYSTEM, options)
    return {s.id: [c.params for c in s.plan(ctx)] for s in SPECS}


def test_quick_profile_never_starts_a_local_server():
    assert all(p == [{"engine": "sqlite", "clients": [1, 2, 4]}]
               for p in _plans("quick", {}).values())


def test_standard_profile_adds_a_local_postgres_config(monkeypatch):
    from workloads.db import pg_server

    monkeypatch.setattr(pg_server, "postgres_bin_dir", lambda: pg_server.Path("/usr/lib/x/bin"))
    for profile in ("standard", "full"):
        for params in _plans(profile, {}).values():
            assert params[1] == {"engine": "postgresql", "server": "local", "clients": [1, 2, 4]}
    # An explicit server replaces the local one.
    assert all(p[1] == {"engine": "postgresql", "clients": [1, 2, 4]}
               for p in _plans("standard", {"db_url": "postgresql://h/db"}).values())


def test_missing_server_binaries_are_skipped_once(monkeypatch, tmp_path):
    from workloads.db import bench, pg_server

    monkeypatch.setattr(pg_server, "postgres_bin_dir", lambda: None)
    monkeypatch.setattr(bench, "installed_version", lambda: None)
    plans = _plans("standard", {})
    local = [(b, p) for b, ps in plans.items() for p in ps if p.get("server") == "local"]
    assert [b for b, _ in local] == ["db.point"]
    out = run_benchmark(Job("db.point", local[0][1], ONE_ROUND, SYSTEM, tiny(tmp_path), 60.0))
    assert out.records == ()
    (error,) = out.errors
    assert error.kind == "skipped" and "postgresql" in error.message and "\n" not in error.message


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 1 MiB tmpfs mounted on a fresh directory (skips where mounting is not allowed)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_full_disk_during_build_is_one_clear_error(tiny_filesystem):
    options = {"db_dir": str(tiny_filesystem / "db"), "db_scale": "tiny"}
    with pytest.raises(datasets.DatasetError) as caught:
        datasets.ensure_dataset(options)
    message = str(caught.value)
    assert "\n" not in message and "cannot build the tiny dataset" in message
    assert "no space left on the device" in message and "--db-dir" in message
    assert datasets.existing_dataset(options) is None  # nothing half-built is reused
    assert list((tiny_filesystem / "db" / "tiny").iterdir()) == []  # space given back
    # Through the entry: an error record, not a crash.
    out = run_benchmark(job("point", options, clients=(1,)))
    assert out.records == () and [e.kind for e in out.errors] == ["error"]


# -- DuckDB: the read-only classes, checked against the same digests -----------------
@pytest.mark.parametrize("name", ["range", "analytic"])
def test_duckdb_runs_the_read_classes_against_the_same_digests(tiny_options, name):
    out = run_benchmark(job(name, tiny_options, engine="duckdb"))
    assert out.errors == ()
    assert {r.params["engine"] for r in out.records} == {"duckdb"}
    assert all(r.validated and r.value > 0 for r in out.records)
    info = next(r.info for r in out.records if r.metric == "throughput")
    assert info["engine"] == "duckdb" and info["answers_checked"] == info["queries"] > 0
    sqlite_info = next(r.info for r in run_benchmark(job(name, tiny_options, clients=(1,))).records
                       if r.metric == "throughput")
    assert info["dataset_hash"] == sqlite_info["dataset_hash"]  # one dataset, one answer key


def test_duckdb_refuses_a_class_it_does_not_run(tiny_options):
    (error,) = run_benchmark(job("write", tiny_options, clients=(1,), engine="duckdb")).errors
    assert error.kind == "error" and "does not run the write class" in error.message


def test_duckdb_is_planned_beyond_quick_for_its_classes():
    standard = PlanContext(PROFILES["standard"], SYSTEM, {})
    engines = {name: [c.params["engine"] for c in plan_db(standard, query=name)]
               for name in QUERY_CLASSES}
    assert "duckdb" in engines["range"] and "duckdb" in engines["analytic"]
    assert "duckdb" not in engines["write"] and "duckdb" not in engines["search"]
    quick = PlanContext(PROFILES["quick"], SYSTEM, {})
    assert all("duckdb" not in [c.params["engine"] for c in plan_db(quick, query=name)]
               for name in QUERY_CLASSES)


def test_the_dataset_scale_is_the_profiles_without_db_scale():
    assert datasets.dataset_scale({}, "quick") == "quick"
    assert datasets.dataset_scale({}, "smoke") == "tiny"
    assert datasets.dataset_scale(None, "full") == "full"
    assert datasets.dataset_scale({"db_scale": "tiny"}, "full") == "tiny"


def test_smoke_runs_every_class_of_an_engine_in_one_child_and_the_other_profiles_one_each(
        monkeypatch):
    from suite.runner import plan
    from workloads.db import pg_server

    monkeypatch.setattr(pg_server, "postgres_bin_dir", lambda: pg_server.Path("/usr/lib/x/bin"))
    for profile, shared in (("smoke", True), ("quick", False), ("standard", False)):
        planned, errors = plan(SPECS, PlanContext(PROFILES[profile], SYSTEM, {}))
        assert not errors
        children = {(p.config.params["engine"], p.name): p.ids for p in planned}
        if shared:
            classes = tuple(f"db.{name}" for name in QUERY_CLASSES)
            assert children == {("sqlite", "db"): classes, ("postgresql", "db"): classes,
                                ("duckdb", "db"): ("db.range", "db.analytic")}
        else:
            assert all(len(ids) == 1 for ids in children.values())


def test_a_shared_child_measures_each_class_under_its_own_id(tiny_options):
    shared = Job("db.point", {"engine": "sqlite", "clients": [1]}, ONE_ROUND, SYSTEM,
                 tiny_options, 60.0, benchmarks=("db.point", "db.write", "db.analytic"))
    out = run_benchmark(shared)
    assert not out.errors
    by_id = {}
    for r in out.records:
        by_id.setdefault(r.benchmark, set()).add(r.metric)
    assert set(by_id) == {"db.point", "db.write", "db.analytic"}
    assert all(m == {"throughput", "latency_p50", "latency_p95", "latency_p99"} for m in by_id.values())
    assert all(r.validated for r in out.records)
    described = {r.benchmark: r.info["query_class"] for r in out.records if r.metric == "throughput"}
    assert described["db.write"] == QUERY_CLASSES["write"].description


def test_a_shared_child_without_server_binaries_skips_every_class(monkeypatch, tmp_path):
    from workloads.db import bench

    monkeypatch.setattr(bench, "installed_version", lambda: None)
    shared = Job("db.point", {"engine": "postgresql", "server": "local", "clients": [1]},
                 ONE_ROUND, SYSTEM, tiny(tmp_path), 60.0, benchmarks=("db.point", "db.range"))
    out = run_benchmark(shared)
    assert [(e.benchmark, e.kind) for e in out.errors] == [("db.point", "skipped"),
                                                           ("db.range", "skipped")]
