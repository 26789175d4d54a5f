"""Tools' seeded inputs kept in the project's cache.

A tool's inputs depend only on its module's source, the seed and the
interpreter, and some take 0.1-0.3 s to make (the byte-pair tokenizer's
merges are trained on a generated corpus); every child that serves a tool
(its own benchmark, the runtime pools, co-run) would make them again. They
are kept under .cache/tool-inputs, named by a digest of all three and
written whole or not at all; a file that cannot be read is made again, and
a checkout that cannot be written to makes them every time.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Callable

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "tool-inputs"


def cached_inputs(name: str, source: bytes, seed: int, make: Callable[[], list],
                  cache_dir: Path | None = None) -> list:
    """`make()`'s inputs of tool `name`, from the cache when they are there."""
    where = cache_dir or CACHE_DIR
    key = hashlib.sha256(source + f"\0{seed}\0{sys.version}".encode()).hexdigest()[:16]
    path = where / f"{name}-{seed}-{key}.pickle"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - absent, cut short or unreadable: made again
        pass
    inputs = make()
    tmp = None
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{name}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(inputs, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return inputs
