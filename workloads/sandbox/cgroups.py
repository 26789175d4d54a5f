"""Per-run cgroups of the sandbox: CPU time, kill-all, process and memory caps.

Where a writable cgroup v2 hierarchy exists, each sandbox run lives in its
own cgroup: `cpu.stat` gives the CPU time of every process in it (rusage
cannot see through bwrap's PID namespace), `cgroup.kill` ends them all,
`pids.max` caps the process count of the run as a whole and `memory.max`
its memory, whatever the number of processes (RLIMIT_AS is per process).
A controller v2 lacks is taken from its cgroup v1 hierarchy when mounted
(`pids.max`, `memory.limit_in_bytes`).
Standard library only; nothing is created before the first run.
"""
from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


def mounts() -> list:
    """(mount point, fstype, super options) of every mount of this process."""
    out = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) >= 5 and len(rfields) >= 3:
                out.append((fields[4], rfields[0], rfields[2]))
    return out


def _own_cgroups() -> dict:
    """{controller list or "" for v2: path} from /proc/self/cgroup."""
    out = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            out[controllers] = path
    return out


# The controllers a run is capped by: the file holding the cap in v2 and v1.
LIMIT_FILES = {"pids": ("pids.max", "pids.max"), "memory": ("memory.max", "memory.limit_in_bytes")}


class CgroupParent:
    """This process's directories for per-run cgroups (created on first use),
    and the run cgroups idle between runs."""

    def __init__(self) -> None:
        self.v2: str | None = None  # for cpu.stat and cgroup.kill
        self.v2_controllers: set = set()  # LIMIT_FILES controllers enabled under v2
        self.v1: dict = {}  # controller: this process's directory in its v1 hierarchy
        self.problem: str | None = None
        self.idle: list = []  # CgroupSet, empty and ready for the next run
        self.pid = os.getpid()  # a forked child makes its own (see cgroup_parent)
        own = _own_cgroups()
        name = f"factorybench-{os.getpid()}"
        v1_mounts = []
        for mountpoint, fstype, options in mounts():
            if fstype == "cgroup2" and self.v2 is None and "" in own:
                self.v2 = self._make(mountpoint, own[""], name)
            elif fstype == "cgroup":
                v1_mounts.append((mountpoint, options.split(",")))
        if self.v2:
            for controller in LIMIT_FILES:
                with contextlib.suppress(OSError):
                    Path(self.v2, "cgroup.subtree_control").write_text(f"+{controller}")
            enabled = Path(self.v2, "cgroup.subtree_control").read_text().split()
            self.v2_controllers = set(LIMIT_FILES) & set(enabled)
        for controller in set(LIMIT_FILES) - self.v2_controllers:
            for mountpoint, options in v1_mounts:
                key = next((k for k in own if controller in k.split(",")), None)
                if controller in options and key is not None and controller not in self.v1:
                    path = self._make(mountpoint, own[key], name)
                    if path:
                        self.v1[controller] = path
        if self.v2 is None and self.problem is None:
            self.problem = "no cgroup v2 hierarchy mounted"
        atexit.register(self.remove)

    @property
    def dirs(self) -> list:
        return [d for d in (self.v2, *self.v1.values()) if d]

    def caps(self, controller: str) -> bool:
        """Whether runs can be capped by `controller` ("pids", "memory")."""
        return controller in self.v2_controllers or controller in self.v1

    def remove(self) -> None:
        if os.getpid() != self.pid:  # inherited by fork: the parent's to remove
            return
        for cgroups in self.idle:
            cgroups.remove()
        self.idle = []
        for d in self.dirs:
            with contextlib.suppress(OSError):
                os.rmdir(d)

    def _make(self, mountpoint: str, own_path: str, name: str) -> str | None:
        path = os.path.join(mountpoint, own_path.lstrip("/"), name)
        _remove_stale(os.path.dirname(path))
        try:
            os.makedirs(path, exist_ok=True)
            return path
        except OSError as exc:
            self.problem = f"cannot create a cgroup under {os.path.dirname(path)}: {exc.strerror}"
            return None


def _remove_stale(base: str) -> None:
    """Remove the empty cgroups of factorybench processes that are gone
    (killed before their exit handlers ran). The kernel refuses to remove
    a cgroup that still holds a process, so nothing live is touched."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            prefix, _, pid = entry.name.partition("-")
            if prefix != "factorybench" or not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
                continue
            with contextlib.suppress(OSError):
                for run in os.scandir(entry.path):
                    if run.is_dir(follow_symlinks=False):
                        os.rmdir(run.path)
                os.rmdir(entry.path)


def remove_own() -> None:
    """Remove this process's cgroups now (their processes must be gone)."""
    with _parent_lock:
        parent = _parent
    if parent is not None:
        parent.remove()


@dataclass
class CgroupSet:
    """The cgroup directories one run uses (v2, and v1 ones for the caps v2 lacks)."""

    v2: str | None
    caps: dict  # controller: (directory, file) holding its cap
    dirs: list  # every directory above, the v2 one first
    written: dict = field(default_factory=dict)  # controller: last value written

    def is_empty(self) -> bool:
        """No process left (killed ones leave a moment after they are reaped)."""
        try:
            if self.v2:  # covers the v1 directory too: a process is in both or neither
                return "populated 0" in Path(self.v2, "cgroup.events").read_text()
            return not Path(self.dirs[0], "cgroup.procs").read_text().strip()
        except OSError:
            return False

    def remove(self) -> None:
        for d in reversed(self.dirs):
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)


_parent_lock = threading.Lock()
_parent: CgroupParent | None = None
_run_numbers = itertools.count()


_fork_hook = False


def _after_fork_in_child() -> None:
    global _parent_lock
    _parent_lock = threading.Lock()  # another thread may have held it at the fork


def cgroup_parent() -> CgroupParent:
    """This process's cgroup parent, made on first use (importing this
    module creates nothing and registers no hook)."""
    global _parent, _fork_hook
    if not _fork_hook:
        _fork_hook = True
        os.register_at_fork(after_in_child=_after_fork_in_child)
    with _parent_lock:
        if (_parent is None or _parent.pid != os.getpid()
                or any(not os.path.isdir(d) for d in _parent.dirs)):
            _parent = CgroupParent()
        return _parent


class RunCgroup:
    """The cgroups of one run: its process joins them before exec.

    A run's cgroups go back to an idle pool when it ends and are reused once
    empty: waiting for killed processes to leave before `rmdir` cost
    milliseconds a run. CPU time is the growth of `usage_usec` during the run.
    """

    def __init__(self, caps: dict | None, enabled: bool = True) -> None:
        """`caps`: {controller: value or None for no cap}, e.g. {"pids": 256}."""
        self.cgroups: CgroupSet | None = None
        self.capped: set = set()  # controllers whose cap holds
        self._cpu_before = 0.0
        self._killed = False
        if not enabled:
            self.problem = "per-run cgroup disabled (use_cgroup=False)"
            return
        self._parent = parent = cgroup_parent()
        self.problem = parent.problem
        self.cgroups = self._reuse(parent) or self._create(parent)
        if self.cgroups is None:
            return
        for controller, value in (caps or {}).items():
            if self._cap(controller, value):
                self.capped.add(controller)

    def _cap(self, controller: str, value: int | None) -> bool:
        """Write `value` ("max" for None) as the cap; whether a cap holds."""
        cgroups = self.cgroups
        where = cgroups.caps.get(controller)
        if where and cgroups.written.get(controller) != value:
            ok = self._write(*where, value or ("max" if where[1].endswith(".max") else -1))
            cgroups.written[controller] = value if ok else "unknown"  # rewritten next time
        return bool(value) and cgroups.written.get(controller) == value

    @property
    def dirs(self) -> list:
        return self.cgroups.dirs if self.cgroups else []

    @property
    def v2(self) -> str | None:
        return self.cgroups.v2 if self.cgroups else None

    @staticmethod
    def _reuse(parent: CgroupParent) -> CgroupSet | None:
        with _parent_lock:
            for i, cgroups in enumerate(parent.idle):
                if cgroups.is_empty():
                    return parent.idle.pop(i)
        return None

    def _create(self, parent: CgroupParent) -> CgroupSet | None:
        name = f"run-{next(_run_numbers)}"
        v2 = self._add(parent.v2, name) if parent.v2 else None
        caps = {c: (v2, LIMIT_FILES[c][0]) for c in parent.v2_controllers if v2}
        dirs = [v2] if v2 else []
        for controller, base in parent.v1.items():
            d = self._add(base, name)
            if d:
                caps[controller] = (d, LIMIT_FILES[controller][1])
                dirs.append(d)
        return CgroupSet(v2=v2, caps=caps, dirs=dirs) if dirs else None

    def _add(self, base: str, name: str) -> str | None:
        path = os.path.join(base, name)
        try:
            os.mkdir(path)
        except OSError as exc:
            self.problem = f"cannot create cgroup {path}: {exc.strerror}"
            return None
        return path

    @staticmethod
    def _write(d: str, name: str, value) -> bool:
        # Plain os calls: these run on every sandbox call, and file objects
        # cost several times more than the write itself.
        try:
            fd = os.open(os.path.join(d, name), os.O_WRONLY)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
            return True
        except OSError:
            return False

    def join(self, pid: int) -> None:
        """Move `pid` (held before exec, see sandbox_warm) into every cgroup of the run."""
        for d in self.dirs:
            fd = os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, str(pid).encode())
            finally:
                os.close(fd)

    def kill(self) -> None:
        # One cgroup.kill is final: it also kills children forked meanwhile.
        if self._killed:
            return
        if self.v2 and self._write(self.v2, "cgroup.kill", 1):
            self._killed = True
        elif self.v2:
            # Kernels before 5.14 have no cgroup.kill: kill member by member.
            with contextlib.suppress(OSError):
                for pid in Path(self.v2, "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def _usage_s(self) -> float | None:
        if not self.v2:
            return None
        with contextlib.suppress(OSError, ValueError):
            fd = os.open(os.path.join(self.v2, "cpu.stat"), os.O_RDONLY)
            try:
                text = os.read(fd, 4096).decode()
            finally:
                os.close(fd)
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        return None

    def restart_accounting(self) -> None:
        """CPU time counts from now (call once the held process waits)."""
        self._cpu_before = self._usage_s() or 0.0

    def cpu_seconds(self) -> float | None:
        usage = self._usage_s()
        return None if usage is None else usage - self._cpu_before

    def close(self) -> None:
        """Back to the idle pool (the caller killed every process first)."""
        if self.cgroups is not None:
            with _parent_lock:
                self._parent.idle.append(self.cgroups)
            self.cgroups = None
