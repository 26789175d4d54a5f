"""The agent store on disk: a SQLite file, its expected answers, a manifest.

Layout under the data directory (default `.cache/db/` in the project,
overridden by the `db_dir` option):

    <scale>/store.sqlite    the database (WAL mode)
    <scale>/answers.npz     expected answers (generator.Answers)
    <scale>/manifest.json   schema version, scale, seed, dataset hash, counts

A dataset is reused only when its manifest records the current schema
version and the requested scale and seed, and says the build completed;
anything else is deleted and rebuilt. Builds hold an exclusive lock so two
processes never build the same directory at once.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from suite.spec import profile_row
from suite.spec import profile_row, seed_of
from workloads.db import generator, schema

# Bump whenever the generator's content or the schema below changes.
SCHEMA_VERSION = 1

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".cache" / "db"
STORE_FILE = "store.sqlite"
ANSWERS_FILE = "answers.npz"
MANIFEST_FILE = "manifest.json"
# Size of the finished store per unit of scale factor (quick, 1.0, measured
# at 60 MB with SQLite 3.40), for the message when the disk is full.
STORE_MB_PER_SCALE_UNIT = 60

SQLITE_TABLES = schema.table_ddl("sqlite")
SQLITE_INDEXES = schema.index_ddl("sqlite")


class DatasetError(RuntimeError):
    """The dataset could not be built or read (full disk, read-only dir ...)."""


@dataclass(frozen=True)
class Dataset:
    directory: Path
    manifest: dict
    reused: bool  # False when this call built it

    @property
    def store(self) -> Path:
        return self.directory / STORE_FILE

    @property
    def scale(self) -> str:
        return self.manifest["scale"]

    @property
    def seed(self) -> int:
        return self.manifest["seed"]

    @property
    def hash(self) -> str:
        return self.manifest["dataset_hash"]

    def answers(self) -> generator.Answers:
        return generator.Answers.load(self.directory / ANSWERS_FILE)


def data_dir(options: Mapping | None) -> Path:
    value = (options or {}).get("db_dir")
    return Path(value) if value else DEFAULT_DATA_DIR


def dataset_scale(options: Mapping | None, profile_name: str = "quick") -> str:
    """The scale to use: the `db_scale` option, else the profile's."""
    from workloads.db.specs import DEPTH

    scale = (options or {}).get("db_scale") or profile_row(DEPTH, profile_name).dataset_scale
    if scale not in generator.SCALE_FACTORS:
        raise DatasetError(f"unknown dataset scale {scale!r}; accepted: "
                           + ", ".join(generator.SCALE_FACTORS))
    return scale


def dataset_seed(options: Mapping | None) -> int:
    return seed_of(options)


def _read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None


def mismatch(manifest: dict | None, scale: str, seed: int, directory: Path) -> str | None:
    """Why a stored dataset cannot be reused, or None when it can."""
    if manifest is None:
        return "no manifest"
    wanted = {"schema_version": SCHEMA_VERSION, "scale": scale, "seed": seed, "complete": True}
    for key, value in wanted.items():
        if manifest.get(key) != value:
            return f"{key} is {manifest.get(key)!r}, wanted {value!r}"
    for name in (STORE_FILE, ANSWERS_FILE):
        if not (directory / name).is_file():
            return f"{name} missing"
    return None


def existing_dataset(options: Mapping | None, profile_name: str = "quick") -> Path | None:
    """The SQLite store already built for these options (scale, seed), if any."""
    scale = dataset_scale(options, profile_name)
    directory = data_dir(options) / scale
    if mismatch(_read_manifest(directory), scale, dataset_seed(options), directory) is None:
        return directory / STORE_FILE
    return None


def ensure_dataset(options: Mapping | None, profile_name: str = "quick") -> Dataset:
    """A dataset matching the options: reused if valid, else (re)built."""
    scale = dataset_scale(options, profile_name)
    seed = dataset_seed(options)
    root = data_dir(options)
    directory = root / scale
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _build_lock(root / f"{scale}.lock"):
            manifest = _read_manifest(directory)
            if mismatch(manifest, scale, seed, directory) is None:
                return Dataset(directory, manifest, reused=True)
            return Dataset(directory, build(directory, scale, seed), reused=False)
    except (OSError, sqlite3.Error) as exc:
        raise DatasetError(f"cannot build the {scale} dataset in {directory}: "
                           f"{_reason(exc, scale)}") from exc


def _reason(exc: BaseException, scale: str) -> str:
    # sqlite_errorname arrived in Python 3.11; older versions only say it in words.
    full = (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or (
        isinstance(exc, sqlite3.Error)
        and (getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"
             or "database or disk is full" in str(exc)))
    if not full:
        return " ".join(str(exc).split())
    needed = STORE_MB_PER_SCALE_UNIT * generator.SCALE_FACTORS[scale]
    return (f"no space left on the device (the store needs about {needed:.0f} MB); "
            "free some space or choose another --db-dir")


@contextmanager
def _build_lock(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(directory: Path, scale: str, seed: int) -> dict:
    """Generate the dataset into `directory` (replacing whatever is there)."""
    started = time.perf_counter()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    partial = directory / (STORE_FILE + ".partial")
    try:
        return _build_into(directory, partial, scale, seed, started)
    except BaseException:
        partial.unlink(missing_ok=True)  # give the space back; no manifest, never reused
        raise


def _build_into(directory: Path, partial: Path, scale: str, seed: int, started: float) -> dict:
    con = sqlite3.connect(partial, isolation_level=None)
    try:
        # Build-only settings: no journal and no fsync while loading; a crash
        # leaves a .partial file and no manifest, so it is never reused.
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-262144")
        con.executescript(SQLITE_TABLES)
        con.execute("BEGIN")
        answers = dataset_hash = None
        for item in generator.generate(scale, seed):
            if isinstance(item, tuple):
                answers, dataset_hash = item
                break
            marks = ",".join("?" * len(item.columns))
            con.executemany(f"INSERT INTO {item.table}({','.join(item.columns)}) VALUES ({marks})",
                            item.rows)
        con.execute("COMMIT")
        con.executescript(SQLITE_INDEXES)
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()
    answers.save(directory / ANSWERS_FILE)
    os.replace(partial, directory / STORE_FILE)
    manifest = {
        "schema_version": SCHEMA_VERSION, "scale": scale, "seed": seed,
        "dataset_hash": dataset_hash, "counts": answers.counts,
        "size_bytes": (directory / STORE_FILE).stat().st_size,
        "build_seconds": round(time.perf_counter() - started, 3),
        "sqlite_version": sqlite3.sqlite_version, "complete": True,
    }
    tmp = directory / (MANIFEST_FILE + ".partial")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, directory / MANIFEST_FILE)
    return manifest
