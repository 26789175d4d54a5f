"""Java classes compiled once per source, javac version and javac options,
kept in the checkout's .cache (a javac run costs a JVM start and seconds
of compiling that a quick or smoke run does not have): built aside in a
directory of their own and renamed into place, so a reader sees a whole
build or none."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Callable

from workloads.runtime import runtimes

CACHE = runtimes.CACHE_DIR


def compiled(name: str, source: bytes, javac: runtimes.Runtime, marker: str,
             build: Callable[[str], None]) -> str:
    """The directory holding `marker` (a class file) as `build(directory)`
    compiled it from `source` with `javac`; built on first use."""
    key = hashlib.sha256(source + javac.version.encode()
                         + repr(runtimes.javac_options()).encode()).hexdigest()[:16]
    target = os.path.join(CACHE, f"{name}-{key}")
    if os.path.isfile(os.path.join(target, marker)):
        return target
    try:
        os.makedirs(CACHE, exist_ok=True)
        building = tempfile.mkdtemp(prefix="building-", dir=CACHE)
    except OSError:  # a read-only checkout: a fresh build in the temp directory
        building = target = tempfile.mkdtemp(prefix=f"factorybench-{name}-")
    try:
        build(building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if building != target:
        try:
            os.rename(building, target)
        except OSError:  # another run built it meanwhile
            shutil.rmtree(building, ignore_errors=True)
    return target
