"""The embeddings on disk: vectors, sample queries, their exact answers, the
SQLite (sqlite-vec) store and the HNSW (usearch) index.

Layout under the DB data directory (`.cache/db/`, or `--db-dir`):

    vector-<count>-seed<seed>/vectors.npy     float32 [count, DIMS], unit length
    .../queries.npy     float32 [sample, DIMS], drawn from the same clusters
    .../reference.npz   exact top-K ids and distances of every query (NumPy)
    .../store.sqlite    vec0 table `embeddings` (rowid = id + 1)
    .../hnsw.usearch    the HNSW index (key = id)
    .../manifest.json   version, count, seed, each file's size, mtime and
                        sampled digest, build times

A directory whose manifest or any file's size, mtime or sampled digest
disagrees is deleted and rebuilt, under a lock so two processes never build
one at once. The check reads a few MiB, not the whole files: a cached open
costs milliseconds (the full files are ~3 x vectors x 1.5 KB); a damaged
file that keeps its size, mtime and sampled blocks still cannot pass as
good, since every answer is checked against the NumPy reference.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.vector.specs import DIMS, K

VERSION = 3  # bump when the generator, the store layout or the index settings change
CLUSTERS = 1024
# Embeddings have a low intrinsic dimension: a vector is its cluster centre,
# plus a point of a LATENT-dimensional subspace shared by all clusters, plus
# a little isotropic noise (scales per dimension, before normalising).
LATENT = 32
LATENT_SCALE = 0.5
NOISE = 0.05
CHUNK = 65_536  # vectors generated (and scanned for the reference) at a time
# The cache check: SHA-256 of this many evenly spaced blocks of each file.
SAMPLE_BLOCKS = 65
SAMPLE_BYTES = 1 << 16
FILES = ("vectors.npy", "queries.npy", "reference.npz", "store.sqlite", "hnsw.usearch")
# HNSW build settings: links per node, candidates while adding, the stored
# scalar. A cheap build (a quick run's budget); the search widens its
# candidate list instead. Half-precision storage halves the build's and each
# search's distance work and the index's memory traffic; recall@10 on 100k
# of these vectors is the same as float32's (0.986 against 0.983).
HNSW = {"connectivity": 16, "expansion_add": 32, "dtype": "f16"}
# Candidates while searching: recall@10 0.995 on 30k such vectors (0.97 at 128).
HNSW_EXPANSION_SEARCH = 256


class VectorDatasetError(RuntimeError):
    """The embeddings could not be built or read."""


@dataclass(frozen=True)
class VectorDataset:
    directory: Path
    manifest: dict
    reused: bool

    def path(self, name: str) -> Path:
        return self.directory / name

    def vectors(self) -> np.ndarray:
        return np.load(self.path("vectors.npy"), mmap_mode="r")

    def queries(self) -> np.ndarray:
        return np.load(self.path("queries.npy"))

    def reference(self) -> tuple:
        """(ids [sample, K], distances [sample, K]) of the exact answers."""
        with np.load(self.path("reference.npz")) as ref:
            return ref["ids"], ref["distances"]


def _settings(count: int, seed: int, sample: int) -> dict:
    return {"version": VERSION, "count": count, "dims": DIMS, "seed": seed, "sample": sample,
            "clusters": CLUSTERS, "latent": LATENT, "latent_scale": LATENT_SCALE, "noise": NOISE,
            "hnsw": HNSW}


def _clustered(rng, centres: np.ndarray, basis: np.ndarray, n: int) -> np.ndarray:
    x = centres[rng.integers(len(centres), size=n)]
    x += LATENT_SCALE * (rng.standard_normal((n, LATENT), dtype=np.float32) @ basis)
    x += NOISE * rng.standard_normal((n, DIMS), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def generate(directory: Path, count: int, seed: int, sample: int) -> None:
    """vectors.npy and queries.npy, deterministic from the seed."""
    rng = np.random.default_rng([seed, count])
    centres = rng.standard_normal((CLUSTERS, DIMS), dtype=np.float32)
    basis = rng.standard_normal((LATENT, DIMS), dtype=np.float32)
    out = np.lib.format.open_memmap(directory / "vectors.npy", mode="w+", dtype=np.float32,
                                    shape=(count, DIMS))
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        out[start:start + n] = _clustered(np.random.default_rng([seed, count, start]), centres, basis, n)
    out.flush()
    del out
    np.save(directory / "queries.npy", _clustered(np.random.default_rng([seed, count, 1 << 40]),
                                                   centres, basis, sample))


def exact_knn(vectors: np.ndarray, queries: np.ndarray, k: int = K) -> tuple:
    """(ids, L2 distances) of the k nearest vectors of every query: a chunked
    NumPy scan (the reference the engines are checked against)."""
    best_d = np.full((len(queries), k), np.inf, dtype=np.float64)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    qn = (queries.astype(np.float64) ** 2).sum(axis=1)
    for start in range(0, len(vectors), CHUNK):
        block = np.asarray(vectors[start:start + CHUNK], dtype=np.float64)
        d = (block ** 2).sum(axis=1)[None, :] - 2.0 * queries.astype(np.float64) @ block.T
        d += qn[:, None]
        top = np.argpartition(d, min(k, d.shape[1] - 1), axis=1)[:, :k]
        cand_d = np.concatenate([best_d, np.take_along_axis(d, top, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, top + start], axis=1)
        order = np.argsort(cand_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(cand_d, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_i, np.sqrt(np.maximum(best_d, 0.0))


def _build_store(directory: Path, vectors: np.ndarray) -> None:
    from workloads.vector.engines import open_sqlite

    db = open_sqlite(directory / "store.sqlite", writable=True)
    try:
        db.execute(f"CREATE VIRTUAL TABLE embeddings USING vec0(embedding float[{DIMS}])")
        for start in range(0, len(vectors), CHUNK):
            block = np.ascontiguousarray(vectors[start:start + CHUNK])
            with db:  # one transaction per chunk
                db.executemany("INSERT INTO embeddings(rowid, embedding) VALUES (?, ?)",
                               ((start + i + 1, block[i].tobytes()) for i in range(len(block))))
    finally:
        db.close()


def _build_index(directory: Path, vectors: np.ndarray) -> float:
    """Seconds the HNSW build took (every usable CPU)."""
    from usearch.index import Index

    index = Index(ndim=DIMS, metric="l2sq", **HNSW)
    threads = len(os.sched_getaffinity(0))
    t0 = time.perf_counter()
    for start in range(0, len(vectors), CHUNK):
        block = np.ascontiguousarray(vectors[start:start + CHUNK])
        index.add(np.arange(start, start + len(block)), block, threads=threads)
    build_s = time.perf_counter() - t0
    index.save(str(directory / "hnsw.usearch"))
    return build_s


def file_check(path: Path) -> dict:
    """Size, mtime and SHA-256 of SAMPLE_BLOCKS evenly spaced SAMPLE_BYTES
    blocks (the whole file when it is smaller than that)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_size <= SAMPLE_BLOCKS * SAMPLE_BYTES:
            h.update(f.read())
        else:
            step = (st.st_size - SAMPLE_BYTES) / (SAMPLE_BLOCKS - 1)
            for i in range(SAMPLE_BLOCKS):
                h.update(os.pread(f.fileno(), SAMPLE_BYTES, round(i * step)))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sampled_sha256": h.hexdigest()}


def _whole(directory: Path, settings: dict) -> dict | None:
    """The manifest when the directory holds a complete build of `settings`
    whose every file has its recorded digest; else None."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("settings") != settings or not manifest.get("complete"):
            return None
        if any(file_check(directory / name) != manifest["files"][name] for name in FILES):
            return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def ensure_dataset(root: Path, count: int, seed: int, sample: int) -> VectorDataset:
    """The dataset of `count` vectors for `seed`, built when missing or damaged."""
    directory = root / f"vector-{count}-seed{seed}"
    settings = _settings(count, seed, sample)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f".vector-{count}-seed{seed}.lock", "w")
    except OSError as exc:
        raise VectorDatasetError(f"cannot create the vector dataset under {root}: {exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = _whole(directory, settings)
        if manifest is not None:
            return VectorDataset(directory, manifest, reused=True)
        shutil.rmtree(directory, ignore_errors=True)
        try:
            directory.mkdir(parents=True)
            t0 = time.perf_counter()
            generate(directory, count, seed, sample)
            vectors = np.load(directory / "vectors.npy", mmap_mode="r")
            queries = np.load(directory / "queries.npy")
            ids, distances = exact_knn(vectors, queries)
            np.savez(directory / "reference.npz", ids=ids, distances=distances)
            generate_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            _build_store(directory, vectors)
            store_s = time.perf_counter() - t0
            index_s = _build_index(directory, vectors)
            manifest = {"settings": settings, "complete": True,
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "generate_s": round(generate_s, 3), "store_build_s": round(store_s, 3),
                        "hnsw_build_s": round(index_s, 3),
                        "files": {name: file_check(directory / name) for name in FILES}}
            (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise VectorDatasetError(f"building the vector dataset in {directory} failed: "
                                     f"{exc}") from None
        return VectorDataset(directory, manifest, reused=False)
