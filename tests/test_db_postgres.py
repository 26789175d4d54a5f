"""Database workloads on a throwaway PostgreSQL server (skipped without one)."""
from __future__ import annotations

import pytest

from workloads.db import dataset as datasets
from workloads.db.bench import run_benchmark
from workloads.db.engines import EngineUnavailable, PostgresEngine
from workloads.db.pg_server import LocalPostgres, postgres_bin_dir
from workloads.db.postgres import MARKER, ensure_loaded, read_marker
from workloads.db.queries import QUERY_CLASSES

from tests.test_db import job, tiny

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(postgres_bin_dir() is None,
                       reason="PostgreSQL server binaries not installed (Debian package postgresql)"),
]


@pytest.fixture(scope="module")
def server():
    with LocalPostgres(max_connections=30) as pg:
        yield pg


@pytest.fixture(scope="module")
def pg_options(server, tmp_path_factory):
    options = tiny(tmp_path_factory.mktemp("dbpg"), db_url=server.url)
    ensure_loaded(PostgresEngine(server.url), datasets.ensure_dataset(options))
    return options


def _database(server, name: str) -> str:
    admin = PostgresEngine(server.url).connect(schema=None)
    try:
        admin.execute(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    return server.url.replace("/postgres?", f"/{name}?")


@pytest.mark.parametrize("name", sorted(QUERY_CLASSES))
def test_every_class_runs_and_validates_on_postgres(pg_options, name):
    out = run_benchmark(job(name, pg_options, engine="postgresql"))
    assert out.errors == ()
    assert len(out.records) == 8
    for r in out.records:
        assert r.validated and r.value > 0 and r.params["engine"] == "postgresql"
    info = next(r.info for r in out.records if r.metric == "throughput")
    assert info["engine"] == "postgresql" and info["engine_version"]


def test_loaded_schema_is_marked_and_reused(pg_options):
    engine = PostgresEngine(pg_options["db_url"])
    dataset = datasets.ensure_dataset(pg_options)
    assert ensure_loaded(engine, dataset) is True
    con = engine.connect(schema=None)
    try:
        exists, marker = read_marker(con)
    finally:
        con.close()
    assert exists and marker["dataset_hash"] == dataset.hash


def test_stale_marker_is_reloaded(server, tmp_path):
    url = _database(server, "stale")
    engine = PostgresEngine(url)
    ds5 = datasets.ensure_dataset(tiny(tmp_path / "a", seed=5))
    ds6 = datasets.ensure_dataset(tiny(tmp_path / "b", seed=6))
    assert ensure_loaded(engine, ds5) is False
    assert ensure_loaded(engine, ds6) is False  # ours, but another seed: reloaded
    con = engine.connect(schema=None)
    try:
        assert read_marker(con)[1]["seed"] == 6
    finally:
        con.close()


def test_foreign_schema_is_never_touched(server, tmp_path):
    url = _database(server, "not_ours")
    con = PostgresEngine(url).connect(schema=None)
    try:
        con.execute("CREATE SCHEMA factorybench")
        con.execute("CREATE TABLE factorybench.precious(x int)")
        con.execute("INSERT INTO factorybench.precious VALUES (42)")
        with pytest.raises(EngineUnavailable, match="not created by factorybench"):
            ensure_loaded(PostgresEngine(url), datasets.ensure_dataset(tiny(tmp_path)))
        assert con.query("SELECT x FROM factorybench.precious") == [(42,)]
        comment = con.query("SELECT obj_description('factorybench'::regnamespace)")[0][0]
        assert not (comment or "").startswith(MARKER)
    finally:
        con.close()


def test_refused_socket_names_host_and_port(server, tmp_path):
    url = f"postgresql://x@/postgres?host={tmp_path}&port=5999"
    out = run_benchmark(job("point", tiny(tmp_path, db_url=url), engine="postgresql"))
    assert out.records == ()
    assert f"host {tmp_path} port 5999" in out.errors[0].message
