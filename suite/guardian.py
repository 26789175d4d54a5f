"""Cleans up after a run whatever ends it, SIGKILL included.

    python -m suite.guardian

The runner starts this process in its own session, so that a signal to the
runner's process group does not reach it. It creates the run's temp
directory (printed on stdout) and reads the runner's messages on stdin:
`+PGID` when a worker's process group starts, `-PGID` once it is gone,
`=PATH` for the result file. When stdin closes — the runner finished, or
died however it died — it SIGKILLs every worker group still listed, waits
until their processes are gone, removes the run directory and any temp
file a killed write of the result file left beside it. A worker therefore
never outlives its run, and no job or temp file is left behind.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suite.atomicfile import disk_full, is_disk_full, remove_temp_files

# How long killed workers may take to go before the directory is removed anyway.
_GONE_TIMEOUT_S = 10.0


def live_members(pgids: set) -> set:
    """Processes (not zombies) in any of the process groups `pgids`."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
        if state not in "ZX" and int(pgrp) in pgids:
            found.add(int(entry))
    return found


def kill_groups(pgids: set) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + _GONE_TIMEOUT_S
    while pgids and live_members(pgids) and time.monotonic() < deadline:
        time.sleep(0.02)


class RunDirectory:
    """The runner's side: the run's temp directory, kept by a guardian.

    Use as a context manager; `watch(pgid)` when a worker group starts and
    `forget(pgid)` once it is gone. Leaving the context (or dying) closes the
    guardian's stdin, which cleans up.
    """

    def __init__(self):
        self.path: Path | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "RunDirectory":
        root = Path(__file__).resolve().parent.parent
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(root), os.environ.get("PYTHONPATH")) if p))
        self._proc = subprocess.Popen(
            # -S: no site-packages to scan; the guardian needs the stdlib only.
            [sys.executable, "-S", "-m", "suite.guardian"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            cwd=str(root), start_new_session=True)  # a signal to the run's group spares it
        line = self._proc.stdout.readline().strip()
        if not line or line.startswith("!"):
            self.__exit__(None, None, None)
            code = int(line[1:]) if line[1:].isdigit() else 0
            where = Path(tempfile.gettempdir()) / "factorybench-run-..."
            if is_disk_full(OSError(code, "")):
                raise disk_full(where)
            raise OSError(code, f"cannot create the run's temp directory "
                                f"({os.strerror(code) if code else 'guardian did not start'})",
                          str(where.parent))
        self.path = Path(line)
        return self

    def _tell(self, message: str) -> None:
        try:
            self._proc.stdin.write(message + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the guardian is gone; the worker is still killed by its own parent's death

    def watch(self, pgid: int) -> None:
        self._tell(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        self._tell(f"-{pgid}")

    def output(self, path: Path) -> None:
        """On exit, remove temp files a killed write of `path` left."""
        self._tell(f"={path}")

    def __exit__(self, *exc) -> None:
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=_GONE_TIMEOUT_S + 5)
        except subprocess.TimeoutExpired:
            pass  # it finishes on its own; the run need not wait
        self._proc.stdout.close()


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the end of stdin ends this process
    try:
        run_dir = tempfile.mkdtemp(prefix="factorybench-run-")
    except OSError as exc:
        print(f"!{exc.errno}", flush=True)  # the runner reports it
        return 1
    groups: set = set()
    outputs: set = set()
    try:
        print(run_dir, flush=True)
        for line in sys.stdin:
            sign, arg = line[:1], line[1:].rstrip("\n")
            if sign == "=":
                outputs.add(arg)
            elif arg.isdigit():
                (groups.add if sign == "+" else groups.discard)(int(arg))
    except (OSError, ValueError):
        pass  # the runner is gone: clean up all the same
    finally:
        kill_groups(groups)
        shutil.rmtree(run_dir, ignore_errors=True)
        for path in outputs:
            remove_temp_files(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
