"""One part of a profile run through the CLI and timed, child start-up
included: the wall-time line several perf scripts print."""
from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class QuickRun:
    wall_s: float
    returncode: int
    summary: str  # the run's "N records (...)" line, or ""
    stderr: str
    doc: dict = field(default_factory=dict, repr=False)  # the result file, {} without one
    cpu_s: float = 0.0  # user + system seconds of the run and the descendants it waited for


def timed_run(*selection: str, profile: str = "quick", root: Path = ROOT) -> QuickRun:
    """`python -m suite run SELECTION --profile PROFILE` of the checkout at
    `root` (its own suite package: `-m` puts the working directory first),
    timed from outside."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(root / ".cache" / "numba"))
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "suite", "run", *selection, "--profile", profile,
                            "--out", out, "--no-report", "--quiet"], cwd=root, env=env,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        files = sorted(Path(out).glob("*.json"))
        doc = json.loads(files[0].read_text()) if files else {}
    lines = p.stdout.strip().splitlines()
    return QuickRun(wall, p.returncode, next((line for line in lines if "records" in line), ""),
                    p.stderr, doc, (after.ru_utime - before.ru_utime)
                    + (after.ru_stime - before.ru_stime))


def timed_quick_run(*selection: str) -> QuickRun:
    return timed_run(*selection, profile="quick")


@contextlib.contextmanager
def trees_to_compare(base: str | None, prefix: str):
    """{"this": this checkout}, with {"base": a temporary worktree of
    commit `base`} first when one is given; the worktree goes at the end."""
    if not base:
        yield {"this": ROOT}
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree),
                        base], check=True)
        try:
            yield {"base": tree, "this": ROOT}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)
