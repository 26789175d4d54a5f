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
import pickle
import sys
from pathlib import Path
from typing import Callable

from suite.atomicfile import write_atomic
from suite.errors import DiskFull

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
    try:
        where.mkdir(parents=True, exist_ok=True)
        write_atomic(path, pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, DiskFull):
        pass  # a read-only checkout or a full disk: made again next time
    return inputs
