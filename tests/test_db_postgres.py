"""Database workloads on a throwaway PostgreSQL server (skipped without one)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from suite.spec import Job

from workloads.db import dataset as datasets
from workloads.db.bench import run_benchmark
from workloads.db.engines import EngineUnavailable, PostgresEngine
from workloads.db.pg_server import LocalPostgres, postgres_bin_dir
from workloads.db.postgres import MARKER, ensure_loaded, read_marker
from workloads.db.queries import QUERY_CLASSES

from tests.test_db import ONE_ROUND, SYSTEM, job, tiny

ROOT = Path(__file__).resolve().parents[1]

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


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _server_processes(postmaster: int) -> list:
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return [postmaster, *map(int, children)]


def _wait_gone(pids: list, seconds: float = 15.0) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(map(_alive, pids)):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_standard_profile_runs_on_a_local_server_and_stops_it(tmp_path, monkeypatch):
    started = []
    original = LocalPostgres._wait_ready

    def remember(self):
        original(self)
        started.append(_server_processes(self.process.pid))
    monkeypatch.setattr(LocalPostgres, "_wait_ready", remember)
    params = {"engine": "postgresql", "server": "local", "clients": [1]}
    out = run_benchmark(Job("db.point", params, ONE_ROUND, SYSTEM, tiny(tmp_path), 60.0))
    assert out.errors == ()
    throughput = next(r for r in out.records if r.metric == "throughput")
    assert throughput.validated and throughput.params == {"engine": "postgresql",
                                                          "server": "local", "clients": 1}
    info = throughput.info
    assert info["server"] == "local" and "throwaway" in info["server_note"]
    assert info["engine_version"] and {"shared_buffers", "synchronous_commit", "fsync"} <= set(
        info["server_settings"])
    (pids,) = started
    assert _wait_gone(pids, seconds=0.5) == [], "server still running after the entry returned"


@pytest.fixture(scope="module")
def kept_cluster_parent():
    # pytest's own temporary directories are private to root; the server
    # user must be able to enter a kept cluster's parent.
    parent = Path(tempfile.mkdtemp(prefix="factorybench-test-"))
    parent.chmod(0o755)
    yield parent
    shutil.rmtree(parent, ignore_errors=True)


SERVER_CHILD = """
import sys, time
from workloads.db.pg_server import LocalPostgres
server = LocalPostgres(cluster_dir=sys.argv[1]).start()
print(server.process.pid, server.root, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("kill", ["process group", "worker only"])
def test_killed_worker_leaves_no_server(kill, kept_cluster_parent):
    # The runner kills a timed-out worker's whole process group; a worker
    # may also die alone. Either way its server must go. Both cases share
    # one kept cluster, so the second also restarts after an unclean stop.
    cluster = kept_cluster_parent / "cluster"
    child = subprocess.Popen([sys.executable, "-c", SERVER_CHILD, str(cluster)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    try:
        line = child.stdout.readline().split()
        assert line, "the child could not start a server"
        pids = _server_processes(int(line[0]))
        assert len(pids) > 1  # postmaster and its background processes
    finally:
        if kill == "process group":
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
        child.wait()
    assert _wait_gone(pids) == []
    shutil.rmtree(line[1])  # what a killed worker leaves: the socket directory


def test_timed_postgres_reads_return_python_values_like_sqlite(pg_options, tmp_path):
    # Like for like: the timed call fetches and decodes every row on both
    # engines; nothing is left to decode after the timed window.
    con = PostgresEngine(pg_options["db_url"]).connect()
    try:
        read_all = con.reader("SELECT 1, NULL::text, 'x' UNION ALL SELECT 2, 'y', 'z'", "all")
        read_one = con.reader("SELECT %s::int + 1", "one")
        assert read_all([]) == [("1", None, "x"), ("2", "y", "z")]
        assert read_one(con.encode_params([[41]])[0]) == ("42",)
        assert con.decode_results([[("1",)]], "all") == [[("1",)]]
    finally:
        con.close()
