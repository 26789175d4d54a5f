"""One part of the quick profile run through the CLI and timed, child
start-up included: the wall-time line several perf scripts print."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class QuickRun:
    wall_s: float
    returncode: int
    summary: str  # the run's "N records (...)" line, or ""
    stderr: str


def timed_quick_run(*selection: str) -> QuickRun:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(ROOT / ".cache" / "numba"))
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "suite", "run", *selection, "--profile", "quick",
                            "--out", out, "--no-report", "--quiet"], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
    lines = p.stdout.strip().splitlines()
    return QuickRun(wall, p.returncode, next((line for line in lines if "records" in line), ""),
                    p.stderr)
