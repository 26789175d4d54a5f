"""History in PostgreSQL: the same behaviour as the SQLite store, for a fleet."""
from __future__ import annotations

import multiprocessing

import pytest

from suite import history
from suite.results import parse
from tests.test_history import night

pg_server = pytest.importorskip("workloads.db.pg_server",
                                reason="throwaway-server helper workloads.db.pg_server absent")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(pg_server.postgres_bin_dir() is None,
                       reason="PostgreSQL server binaries not installed (Debian package postgresql)"),
]


@pytest.fixture(scope="module")
def url():
    with pg_server.LocalPostgres(max_connections=30) as pg:
        yield pg.url


def _add(args):
    url, indexes = args
    with history.open_store(url, create=True) as st:
        for i in indexes:
            history.add(st, parse(night(i, seed=3)))


def test_postgres_store_add_idempotent_concurrent_and_check(url):
    jobs = [(url, [i % 10 for i in range(k, k + 4)]) for k in range(0, 10, 2)]
    with multiprocessing.get_context("fork").Pool(5) as pool:
        pool.map(_add, jobs)
    with history.open_store(url) as st:
        runs = history.list_runs(st)
        assert sorted(r[2] for r in runs) == sorted(f"night-{i}" for i in range(10))
        assert len({r[4] for r in runs}) == 1
        assert history.check(st).regressions == ()
        added = history.add(st, parse(night(10, seed=3, scale=0.9, scaled="stream.triad")))
        assert added.new and not history.add(st, parse(night(10, seed=3))).new
        report = history.check(st)
    assert report.regressions and {f.benchmark for f in report.regressions} == {"stream.triad"}


def test_unreachable_postgres_is_one_clear_error():
    with pytest.raises(history.HistoryError, match="cannot connect") as exc:
        history.open_store("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(exc.value)  # the password is never echoed
