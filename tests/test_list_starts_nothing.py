"""`factorybench list` imports every spec module and starts nothing: no
process, no exit or fork hook (infrastructure is made on first use)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import atexit, os, subprocess, sys, threading

calls = []
OURS = ("suite", "kernels", "workloads")


def caller():
    return sys._getframe(2).f_globals.get("__name__", "")


def hook(kind):
    # The standard library's own import-time hooks (random reseeds after a
    # fork) are not the suite's doing; any hook a suite module registers is.
    def register(*a, **k):
        if caller().split(".")[0] in OURS:
            calls.append((kind, caller()))
    return register


atexit.register = hook("atexit.register")
os.register_at_fork = hook("os.register_at_fork")

class NoProcess:
    def __init__(self, *a, **k):
        calls.append(("subprocess.Popen", repr(a[:1])))
        raise RuntimeError("factorybench list started a process")

subprocess.Popen = NoProcess
os.fork = lambda: calls.append(("os.fork", "")) or (_ for _ in ()).throw(RuntimeError("fork"))
threads_before = threading.active_count()

from suite.cli import main
try:
    main(["list"])
except SystemExit as exc:
    code = exc.code
sys.__stderr__.write(f"PROBE exit={code} threads={threading.active_count() - threads_before} "
                     f"calls={calls!r}\n")
"""


def test_list_starts_no_process_and_registers_no_hook():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    line = next((l for l in proc.stderr.splitlines() if l.startswith("PROBE ")), None)
    assert line is not None, proc.stderr[-2000:]
    assert line == "PROBE exit=0 threads=0 calls=[]", line
    assert "stream.triad" in proc.stdout and "corun.db.point" in proc.stdout
