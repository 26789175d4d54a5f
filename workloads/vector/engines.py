"""The kNN engines, shaped for workloads.db.clients.ClientPool: an engine
opens a connection per client process; a connection runs one query (a
sample query's index) and checks its answers against the references.

`sqlite-vec` is loaded into apsw's SQLite: Python builds without loadable
extension support (pyenv's default) have no `enable_load_extension`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from workloads.vector.specs import BYTES_PER_VECTOR, K

# Memory-map up to this much of a store (SQLite caps it at its build's
# SQLITE_MAX_MMAP_SIZE; the rest is read with pread).
MMAP_BYTES = 1 << 40
# Relative slack for a tie at the k-th distance (float32 sums in another order).
TIE_TOLERANCE = 1e-4


class VectorEngineUnavailable(RuntimeError):
    """An engine's library is missing."""


def open_sqlite(path: Path, writable: bool = False):
    """An apsw connection to `path` with sqlite-vec loaded."""
    try:
        import apsw
        import sqlite_vec
    except ImportError as exc:
        raise VectorEngineUnavailable(f"sqlite-vec needs apsw and sqlite-vec ({exc}); "
                                      "pip install apsw sqlite-vec") from None
    flags = (apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE if writable
             else apsw.SQLITE_OPEN_READONLY)
    db = apsw.Connection(str(path), flags=flags)
    db.enable_load_extension(True)
    db.load_extension(sqlite_vec.loadable_path())
    db.enable_load_extension(False)
    if not writable:
        # Read the store's pages in place (memory-mapped) instead of copying
        # each into SQLite's page cache: the scan's per-row cost drops ~1.5x.
        db.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    return db


def build_flags(debug: str) -> str:
    """The SIMD flags sqlite-vec was built with, from vec_debug(); "none"
    means its distance loops are scalar (a compute-bound scan)."""
    for line in debug.splitlines():
        if line.startswith("Build flags:"):
            return line.split(":", 1)[1].strip() or "none"
    return "unknown"


class Answers:
    """What every client checks against: the sample queries, their exact
    answers, and (HNSW) the index's own answers computed before the rounds."""

    def __init__(self, queries: np.ndarray, ids: np.ndarray, distances: np.ndarray,
                 approximate: np.ndarray | None = None):
        self.queries, self.ids, self.distances = queries, ids, distances
        self.approximate = approximate


def check_exact(found: list, want_ids: np.ndarray, want_d: np.ndarray) -> str | None:
    """None when `found` [(id, distance)] is the exact top K, ties at the
    k-th distance allowed."""
    if len(found) != K:
        return f"{len(found)} neighbours, wanted {K}"
    extra = {i for i, _ in found} - set(want_ids.tolist())
    limit = want_d[-1] * (1 + TIE_TOLERANCE) + 1e-6
    far = [(i, d) for i, d in found if i in extra and d > limit]
    if far:
        return f"id {far[0][0]} at distance {far[0][1]:.6f} is not among the exact top {K}"
    return None


class VectorSearch:
    """The one query class of db.vector: top K of a sample query."""

    name = "vector"
    fetch = "all"

    def sql(self, engine) -> str:
        return engine.sql

    def params(self, answers: Answers, rng, dialect: str) -> list:
        return [(int(i),) for i in rng.permutation(len(answers.queries))]

    def round_params(self, params: list, round_tag: str) -> list:
        return params

    def verify(self, connection, params: list, results: list, answers: Answers) -> tuple:
        bad, first = 0, None
        for (q,), found in zip((params[i % len(params)] for i in range(len(results))), results):
            problem = connection.check(q, found, answers)
            if problem:
                bad += 1
                first = first or f"query {q}: {problem}"
        return len(results), bad, first


class _SqliteVecConnection:
    def __init__(self, path: Path, answers: Answers):
        self.db = open_sqlite(path)
        self.answers = answers

    def reader(self, sql: str, fetch: str):
        cursor = self.db.cursor()
        return lambda param: cursor.execute(sql, param).fetchall()

    def encode_params(self, params: list) -> list:
        return [(self.answers.queries[q].tobytes(),) for (q,) in params]

    def decode_results(self, results: list, fetch: str) -> list:
        return [[(int(i) - 1, float(d)) for i, d in r] for r in results]

    def check(self, q: int, found: list, answers: Answers) -> str | None:
        return check_exact(found, answers.ids[q], answers.distances[q])

    def close(self) -> None:
        self.db.close()


class SqliteVecEngine:
    """Exact kNN: sqlite-vec's vec0 table, a full scan of every vector."""

    dialect = "sqlite-vec"
    index = "exact"
    sql = f"SELECT rowid, distance FROM embeddings WHERE embedding MATCH ? AND k = {K}"

    def __init__(self, store: Path, answers: Answers, count: int):
        self.store, self.answers, self.count = store, answers, count

    def connect(self):
        return _SqliteVecConnection(self.store, self.answers)

    def bytes_per_query(self) -> int:
        return self.count * BYTES_PER_VECTOR

    def info(self) -> dict:
        import apsw
        import sqlite_vec

        db = open_sqlite(self.store)
        try:
            vec_version, debug = db.execute("SELECT vec_version(), vec_debug()").fetchone()
            mmap_bytes = db.execute("PRAGMA mmap_size").fetchone()[0]
        finally:
            db.close()
        return {"library": f"sqlite-vec {vec_version} (Python package {sqlite_vec.__version__})",
                "sqlite_version": apsw.sqlite_lib_version(), "search": "exact (full scan)",
                "bytes_scanned_per_query": self.bytes_per_query(), "sqlite_mmap_bytes": mmap_bytes,
                "sqlite_vec_build_flags": build_flags(debug)}


class _UsearchConnection:
    def __init__(self, index, queries: np.ndarray):
        self.index, self.queries = index, queries

    def reader(self, sql: str, fetch: str):
        index = self.index
        return lambda param: index.search(param[1], K, threads=1).keys

    def encode_params(self, params: list) -> list:
        return [(q, self.queries[q]) for (q,) in params]

    def decode_results(self, results: list, fetch: str) -> list:
        return [r.tolist() for r in results]

    def check(self, q: int, found: list, answers: Answers) -> str | None:
        want = answers.approximate[q].tolist()
        return None if found == want else f"ids {found[:3]}... differ from the index's reference"

    def close(self) -> None:
        pass


class UsearchEngine:
    """Approximate kNN: a usearch HNSW index, memory-mapped (shared by the
    forked clients), searched one query per call on one thread."""

    dialect = "usearch"
    index = "hnsw"
    sql = ""

    def __init__(self, path: Path, answers: Answers):
        try:
            from usearch.index import Index
        except ImportError as exc:
            raise VectorEngineUnavailable(f"HNSW needs usearch ({exc}); pip install usearch") from None
        from workloads.vector.dataset import HNSW_EXPANSION_SEARCH

        self.loaded = Index.restore(str(path), view=True)
        self.loaded.expansion_search = HNSW_EXPANSION_SEARCH
        self.answers = answers

    def search_all(self, queries: np.ndarray) -> np.ndarray:
        return np.stack([self.loaded.search(q, K, threads=1).keys for q in queries])

    def connect(self):
        return _UsearchConnection(self.loaded, self.answers.queries)

    def info(self) -> dict:
        import usearch

        return {"library": f"usearch {usearch.__version__}", "search": "approximate (HNSW)",
                "simd": str(self.loaded.hardware_acceleration)}
