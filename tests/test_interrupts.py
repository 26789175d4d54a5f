"""Whatever ends a run — SIGINT, SIGTERM, SIGKILL, to the process or its
group, at any moment — no worker and no temp file outlive it, and every
configuration saved before the signal is still in the result file."""
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from suite.results import load
from tests.conftest import ROOT, cli_argv

TRIALS = 10
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def _records(out: Path) -> list:
    """The records in the result file now (none before its first write)."""
    for f in out.glob("*.json"):
        try:
            return json.loads(f.read_text())["results"]
        except (ValueError, OSError):
            pass
    return []


def _processes_of(tmp: Path) -> list:
    """Live processes of the trial: the run's guardian and workers have
    TMPDIR inside the trial's temp directory."""
    found = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if p.environ().get("TMPDIR", "").startswith(str(tmp)):
                found.append(f"{p.pid} {' '.join(p.cmdline())}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def _gone(tmp: Path, timeout: float = 15.0) -> tuple:
    """(live processes, files in tmp) once both are empty or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        procs, files = _processes_of(tmp), sorted(os.listdir(tmp))
        if (not procs and not files) or time.monotonic() > deadline:
            return procs, files
        time.sleep(0.1)


def _trial(base: Path, env: dict, sig: int, to_group: bool, delay: float) -> str:
    tmp, out = base / "tmp", base / "out"
    tmp.mkdir(parents=True)
    proc = subprocess.Popen(cli_argv("run", "fake.sleepy", "--out", str(out), "--quiet"),
                            cwd=ROOT, env=dict(env, TMPDIR=str(tmp)), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    before = _records(out)
    (os.killpg if to_group else os.kill)(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    where = f"{signal.Signals(sig).name} to the {'group' if to_group else 'process'} " \
            f"after {delay:.2f} s"
    procs, files = _gone(tmp)
    assert not procs, f"{where}: processes left: {procs}"
    assert not files, f"{where}: temp files left: {files}"
    # A signal during the interpreter's own start-up gives Python's trace,
    # before any code of this project runs; none may come from the project.
    assert "Traceback" not in err or f'File "{ROOT / "suite"}' not in err, f"{where}: {err}"
    results = list(out.glob("*.json")) if out.exists() else []
    assert len(list(out.iterdir()) if out.exists() else []) == len(results), \
        f"{where}: temp files beside the result: {list(out.iterdir())}"
    if not results:
        assert not before, f"{where}: the result file is gone"
        return f"{where}: no result file yet"
    doc = load(results[0])
    kept = [r.to_dict() for r in doc.results]
    assert all(r in kept for r in before), f"{where}: saved records lost"
    configs = doc.run.get("configs", [])
    sleepy = [r for r in doc.results if r.benchmark == "fake.sleepy"]
    assert len(sleepy) == len(configs), f"{where}: records and configurations disagree"
    if sig != signal.SIGKILL and doc.run["status"] != "complete":
        # Stopped mid-run: the file is finished as partial, the exit says why.
        assert doc.run["status"] == "partial" and doc.run.get("interrupted"), where
        assert proc.returncode == 128 + sig, f"{where}: exit {proc.returncode}: {err}"
    return f"{where}: {len(configs)} configurations kept, exit {proc.returncode}"


@pytest.mark.parametrize("to_group", [False, True], ids=["process", "group"])
def test_sigkill_takes_the_workers_descendants_too(tmp_path, fake_specs_env, to_group):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    argv = cli_argv("run", "fake.spawns", "--out", str(tmp_path / "out"), "--quiet")
    proc = subprocess.Popen(argv, cwd=ROOT, env=dict(fake_specs_env, TMPDIR=str(tmp)),
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any("sleep 3600" in p for p in _processes_of(tmp)):
        assert time.monotonic() < deadline, "the worker's grandchild never started"
        time.sleep(0.05)
    (os.killpg if to_group else os.kill)(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert _gone(tmp) == ([], [])


@pytest.mark.slow
def test_signals_at_random_points_leave_nothing_behind(tmp_path, fake_specs_env):
    seed = int(os.environ.get("FACTORYBENCH_TEST_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    outcomes = []
    for i in range(TRIALS):
        # Every signal at least three times; moments from start-up to past the end.
        sig = SIGNALS[i % 3] if i < 9 else rng.choice(SIGNALS)
        try:
            outcomes.append(_trial(tmp_path / str(i), fake_specs_env, sig,
                                   to_group=rng.random() < 0.5, delay=rng.uniform(0.0, 5.0)))
        except AssertionError as exc:
            raise AssertionError(f"seed {seed} (FACTORYBENCH_TEST_SEED), trial {i}: {exc}")
    print("\n".join(outcomes))
