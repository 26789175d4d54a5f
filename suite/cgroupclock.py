"""CPU time of a benchmark's processes, however they end and whoever reaps them.

getrusage(RUSAGE_CHILDREN) counts a process only once its parent has
waited for it, and reaches the harness only when every parent up the
chain did. A sandbox's PID namespace breaks that chain: bwrap's outer
process exits as soon as the command does, and the namespace's init,
which reaped the command and all it started, is reparented to the
host's init with all that CPU time. Sampling the tree at 10 Hz misses
what lives shorter than a sample (compiler passes, a cold runtime's
start). A cgroup counts every process in it, whoever reaps it: the
benchmark's child is moved into a fresh cgroup v2 directory of its own
before it starts anything, everything it forks stays there (a
sandbox's per-run cgroups are made beneath it), and its `cpu.stat` is
the benchmark's CPU time.

The directory is made only where it changes nothing else: under a
cgroup that hands no controllers to its children (empty
`cgroup.subtree_control`) it has none of its own, so the benchmark is
scheduled and limited exactly as before. Elsewhere (no writable v2
hierarchy, not root, a cgroup that delegates controllers) the clock says
why it is unavailable and the caller counts processes as before.
Standard library only.
"""
from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import threading
from functools import lru_cache

PREFIX = "factorybench-config"
_numbers = itertools.count()
_lock = threading.Lock()
_leftover: list = []  # directories that still held dying processes when closed
_swept = False
_exit_hook = False


def _v2_path(pid: int | str = "self") -> str | None:
    """The cgroup v2 path (as /proc/<pid>/cgroup names it) of a process."""
    own = None
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == "":
                own = path
    return own


@lru_cache(maxsize=1)
def _v2_home() -> tuple:
    """(this process's cgroup v2 directory, None) or (None, why not)."""
    own = _v2_path()
    if own is None:
        return None, "this process is in no cgroup v2 hierarchy"
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if right.split()[:1] == ["cgroup2"] and len(fields) >= 5 and fields[3] == "/":
                home = os.path.join(fields[4], own.lstrip("/"))
                if os.path.isdir(home):
                    return home, None
    return None, "no cgroup v2 hierarchy mounted"


def _cpu_seconds_of(pid: int) -> float:
    """CPU time `pid` and its reaped children used so far (/proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    # utime stime cutime cstime are fields 14-17; fields[0] is field 3.
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _remove_tree(path: str) -> bool:
    """rmdir `path` and its sub-cgroups, deepest first; False while any
    still holds a process (the kernel refuses: nothing live is touched)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(entry.path)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _sweep(home: str) -> None:
    """Remove what earlier closes left, and the directories of harnesses
    that were killed before they could (named after a pid that is gone)."""
    global _swept, _leftover
    _leftover = [d for d in _leftover if not _remove_tree(d)]
    if _swept:
        return
    _swept = True
    with contextlib.suppress(OSError):
        for entry in os.scandir(home):
            pid = entry.name[len(PREFIX) + 1:].split("-")[0]
            if entry.name.startswith(PREFIX + "-") and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                _remove_tree(entry.path)


def _remove_leftovers() -> None:
    with _lock:
        for d in _leftover:
            _remove_tree(d)


def _at_exit_once() -> None:
    global _exit_hook
    if not _exit_hook:
        _exit_hook = True
        atexit.register(_remove_leftovers)


class CgroupClock:
    """The CPU time of a process and everything it starts, from a cgroup
    of their own. `unavailable` says why when there is none (then
    `seconds()` is None)."""

    def __init__(self, pid: int, members=()) -> None:
        self.path: str | None = None
        self.unavailable: str | None = None
        self._before = 0.0  # CPU time the moved processes used before they moved
        try:
            self._open(pid, members)
        except OSError as exc:
            self.unavailable = f"cannot place the benchmark in a cgroup of its own: {exc.strerror or exc}"
            self.close()

    def _open(self, pid: int, members) -> None:
        home, why = _v2_home()
        if home is None:
            self.unavailable = why
            return
        with open(os.path.join(home, "cgroup.subtree_control")) as f:
            delegated = f.read().split()
        if delegated:
            # A child cgroup would get these controllers: a scheduling group
            # and limits of its own, and no controllers for a sandbox's runs.
            self.unavailable = (f"the harness's cgroup hands controllers ({' '.join(delegated)}) "
                                "to its children: one for the benchmark would change its scheduling")
            return
        with _lock:
            _sweep(home)
            path = os.path.join(home, f"{PREFIX}-{os.getpid()}-{next(_numbers)}")
        os.mkdir(path)
        self.path = path
        fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY)
        try:
            self._before = _cpu_seconds_of(pid)
            try:
                os.write(fd, str(pid).encode())
            except ProcessLookupError:
                # Reaped already: its whole life is in its parent's rusage.
                self.unavailable = f"process {pid} ended before it could be placed in a cgroup"
                self.close()
                return
            here = _v2_path()
            for member in members:
                if _v2_path(member) != here:
                    # Placed by someone else (a sandbox run's limits, say),
                    # or its pid now names another process: left where it is.
                    continue
                before = _cpu_seconds_of(member)
                with contextlib.suppress(ProcessLookupError):  # gone: its parent waited for it
                    os.write(fd, str(member).encode())
                    self._before += before
        finally:
            os.close(fd)

    def seconds(self) -> float | None:
        """CPU seconds of every process that was ever in the cgroup."""
        if self.path is None:
            return None
        try:
            with open(os.path.join(self.path, "cpu.stat")) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return self._before + int(value) / 1e6
        except (OSError, ValueError):
            pass
        return None

    def close(self) -> None:
        """Remove the directory now, or once its last processes are gone."""
        if self.path is None:
            return
        path, self.path = self.path, None
        if not _remove_tree(path):
            with _lock:
                _at_exit_once()
                _leftover.append(path)
