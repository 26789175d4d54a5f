"""The one sandbox for agent-written code: isolate, limit, time, clean up.

Every workload that runs code an agent wrote (compiles, tests, tool calls)
goes through `Sandbox.run`. A run gets a throwaway work directory (its cwd
and the only writable place), a scrubbed environment, resource limits, a
wall-clock timeout that kills the whole process tree, and no network.

Backends, strongest first:

* ``bwrap``   bubblewrap: every namespace unshared, read-only root, private
  /tmp and /dev, no capabilities, the work dir bound writable.
* ``unshare`` util-linux unshare: network, PID, IPC, UTS and mount
  namespaces; as root the code runs as ``nobody``.
* ``rlimit``  resource limits and a new session only (as ``nobody`` when
  root); no network or PID isolation.
* ``none``    no isolation at all: the baseline for overhead figures.

A backend weaker than bwrap is never silent: `Sandbox.warning` and every
`SandboxResult.warning` say what is missing and why.

Where a writable cgroup v2 hierarchy exists, each run lives in its own
cgroup: `cpu.stat` gives the CPU time of every process in the sandbox
(rusage cannot see through a PID namespace), `cgroup.kill` ends them all,
and `pids.max` caps the process count even for uid 0, which RLIMIT_NPROC
exempts. A pids cgroup v1 hierarchy is used for the cap when v2 lacks it.

This module is also a spec module (`SPECS`, `sandbox.lifecycle`), so it
imports the standard library only.
"""
from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping, Sequence

BACKENDS = ("bwrap", "unshare", "rlimit", "none")  # strongest first
NOBODY = 65534  # uid/gid the unshare and rlimit backends drop to when root
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Output beyond this is drained and dropped, so a program printing in a loop
# until its timeout cannot exhaust the benchmark's memory.
MAX_CAPTURE_BYTES = 16 << 20
# After a timeout kill, how long to wait for the pipes and the exit status.
KILL_GRACE_S = 5.0


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits (setrlimit; the process cap also via cgroup)."""

    cpu_s: int = 10  # RLIMIT_CPU, per process
    # RLIMIT_AS. 4 GiB lets python3, gcc and a Numba import start (LLVM maps
    # large regions) while an 8 GiB allocation still fails.
    address_space_bytes: int = 4 << 30
    file_size_bytes: int = 64 << 20  # RLIMIT_FSIZE
    nproc: int = 256  # RLIMIT_NPROC and cgroup pids.max


@dataclass(frozen=True)
class SandboxResult:
    returncode: int  # negative: killed by that signal
    stdout: bytes
    stderr: bytes
    wall_s: float  # spawn to the end of the last process
    cpu_s: float | None  # user+system of every process of the run
    cpu_source: str  # "cgroup" | "rusage" | "unavailable: <reason>"
    timed_out: bool
    backend: str
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class SandboxError(RuntimeError):
    """The sandbox itself could not run a command (not the command failing)."""


# -- binaries ---------------------------------------------------------------

_PYTHON_NAME = re.compile(r"python[0-9.]*$")


@lru_cache(maxsize=None)
def resolve_binary(name: str) -> str:
    """The real executable behind `name`, resolved once, before any timing.

    A pyenv shim is a script that costs ~80 ms per start; for Python the
    interpreter itself reports where it lives (a venv python is kept as is,
    since resolving its symlink would drop the venv).
    """
    path = name if "/" in name else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise FileNotFoundError(f"executable not found: {name}")
    if _PYTHON_NAME.match(os.path.basename(path)):
        out = subprocess.run(
            [path, "-c", "import sys; print(sys.executable)"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
        if out:
            return out
    return os.path.realpath(path)


def _world_executable(path: str) -> bool:
    """Whether an unprivileged user can reach and execute `path`."""
    p = Path(path).resolve()
    try:
        if not p.stat().st_mode & 0o001:
            return False
        return all(d.stat().st_mode & 0o001 for d in p.parents)
    except OSError:
        return False


# -- backends ---------------------------------------------------------------

def _is_root() -> bool:
    return os.geteuid() == 0


def _bwrap_prefix(workdir: str) -> list:
    return [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
        # As root, bwrap keeps every capability unless told otherwise, and
        # CAP_SYS_ADMIN could remount the read-only root.
        "--cap-drop", "ALL",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "--bind", workdir, workdir, "--chdir", workdir, "--",
    ]


def _unshare_prefix() -> list:
    prefix = ["unshare", "--net", "--pid", "--ipc", "--uts", "--mount",
              "--fork", "--kill-child"]
    if _is_root():
        prefix += ["--setuid", str(NOBODY), "--setgid", str(NOBODY)]
    else:
        prefix += ["--user"]  # lets an unprivileged user create the others
    return prefix + ["--"]


def _setpriv_prefix() -> list:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def _probe(argv: list) -> str | None:
    """None when `argv` runs /bin/true successfully, else why not."""
    try:
        r = subprocess.run(argv + ["/bin/true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        return msg[-1] if msg else f"exit status {r.returncode}"
    return None


@lru_cache(maxsize=None)
def _backend_problem(backend: str) -> str | None:
    """None when `backend` works on this machine, else the reason."""
    if backend == "none" or backend == "rlimit" and not _is_root():
        return None
    if backend == "rlimit":  # as root it drops to nobody with setpriv
        if not shutil.which("setpriv"):
            return "setpriv not installed (package util-linux)"
        return None
    if backend not in BACKENDS:
        return "unknown backend"
    if not shutil.which(backend):
        package = "bubblewrap" if backend == "bwrap" else "util-linux"
        return f"{backend} not installed (package {package})"
    with tempfile.TemporaryDirectory(prefix="fb-probe-") as d:
        prefix = _bwrap_prefix(d) if backend == "bwrap" else _unshare_prefix()
        problem = _probe(prefix)
    return None if problem is None else f"{backend} cannot create namespaces: {problem}"


def available_backends() -> list:
    """Working isolating backends on this machine, strongest first
    ("none" is always accepted too, but not listed)."""
    return [b for b in BACKENDS[:-1] if _backend_problem(b) is None]


def _weakness(backend: str) -> str | None:
    if backend == "bwrap":
        return None
    why_not_bwrap = _backend_problem("bwrap") or "another backend was requested"
    missing = {
        "unshare": "world-writable directories (/tmp, /dev/shm) stay writable",
        "rlimit": "no network, PID or filesystem isolation beyond file permissions",
        "none": "no isolation and no limits at all",
    }[backend]
    return f"sandbox backend {backend} is weaker than bwrap ({why_not_bwrap}): {missing}"


# -- cgroups ----------------------------------------------------------------

def _mounts() -> list:
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


class _CgroupParent:
    """This process's directories for per-run cgroups (created on first use),
    and the run cgroups idle between runs."""

    def __init__(self) -> None:
        self.v2: str | None = None  # for cpu.stat and cgroup.kill
        self.v2_pids = False
        self.v1_pids: str | None = None  # process cap when v2 has no pids
        self.problem: str | None = None
        self.idle: list = []  # _CgroupSet, empty and ready for the next run
        own = _own_cgroups()
        name = f"factorybench-{os.getpid()}"
        for mountpoint, fstype, options in _mounts():
            if fstype == "cgroup2" and self.v2 is None and "" in own:
                self.v2 = self._make(mountpoint, own[""], name)
            elif fstype == "cgroup" and "pids" in options.split(",") and self.v1_pids is None:
                key = next((k for k in own if "pids" in k.split(",")), None)
                if key is not None:
                    self.v1_pids = self._make(mountpoint, own[key], name)
        if self.v2:
            with contextlib.suppress(OSError):
                Path(self.v2, "cgroup.subtree_control").write_text("+pids")
            self.v2_pids = "pids" in Path(self.v2, "cgroup.subtree_control").read_text()
        if self.v2 is None and self.problem is None:
            self.problem = "no cgroup v2 hierarchy mounted"
        atexit.register(self.remove)

    def remove(self) -> None:
        for cgroups in self.idle:
            cgroups.remove()
        self.idle = []
        for d in (self.v2, self.v1_pids):
            if d:
                with contextlib.suppress(OSError):
                    os.rmdir(d)

    def _make(self, mountpoint: str, own_path: str, name: str) -> str | None:
        path = os.path.join(mountpoint, own_path.lstrip("/"), name)
        try:
            os.makedirs(path, exist_ok=True)
            return path
        except OSError as exc:
            self.problem = f"cannot create a cgroup under {os.path.dirname(path)}: {exc.strerror}"
            return None


@dataclass
class _CgroupSet:
    """The cgroup directories one run uses (v2, and v1 pids when v2 has none)."""

    v2: str | None
    pids: str | None  # the directory whose pids.max caps the run
    dirs: list  # every directory above, the v2 one first
    pids_max: int | None = None  # last value written to pids.max

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
_parent: _CgroupParent | None = None
_run_numbers = itertools.count()


def _cgroup_parent() -> _CgroupParent:
    global _parent
    with _parent_lock:
        if _parent is None or _parent.v2 and not os.path.isdir(_parent.v2):
            _parent = _CgroupParent()
        return _parent


class _RunCgroup:
    """The cgroups of one run: its process joins them before exec.

    A run's cgroups go back to an idle pool when it ends and are reused once
    empty: waiting for killed processes to leave before `rmdir` cost
    milliseconds a run. CPU time is the growth of `usage_usec` during the run.
    """

    def __init__(self, nproc: int | None, enabled: bool = True) -> None:
        self.cgroups: _CgroupSet | None = None
        self.pids_capped = False
        self._cpu_before = 0.0
        if not enabled:
            self.problem = "per-run cgroup disabled (use_cgroup=False)"
            return
        self._parent = parent = _cgroup_parent()
        self.problem = parent.problem
        self.cgroups = self._reuse(parent) or self._create(parent)
        if self.cgroups is None:
            return
        self.pids_capped = self._cap_processes(nproc)
        self._cpu_before = self._usage_s() or 0.0

    def _cap_processes(self, nproc: int | None) -> bool:
        """Set pids.max to `nproc` ("max" when None); whether a cap holds."""
        cgroups = self.cgroups
        if cgroups.pids and cgroups.pids_max != nproc:
            written = self._write(cgroups.pids, "pids.max", nproc or "max")
            cgroups.pids_max = nproc if written else -1  # -1: unknown, rewrite next time
        return bool(nproc) and cgroups.pids_max == nproc

    @property
    def dirs(self) -> list:
        return self.cgroups.dirs if self.cgroups else []

    @property
    def v2(self) -> str | None:
        return self.cgroups.v2 if self.cgroups else None

    @staticmethod
    def _reuse(parent: _CgroupParent) -> _CgroupSet | None:
        with _parent_lock:
            for i, cgroups in enumerate(parent.idle):
                if cgroups.is_empty():
                    return parent.idle.pop(i)
        return None

    def _create(self, parent: _CgroupParent) -> _CgroupSet | None:
        name = f"run-{next(_run_numbers)}"
        v2 = self._add(parent.v2, name) if parent.v2 else None
        pids = v2 if v2 and parent.v2_pids else None
        v1 = self._add(parent.v1_pids, name) if parent.v1_pids and not pids else None
        dirs = [d for d in (v2, v1) if d]
        return _CgroupSet(v2=v2, pids=pids or v1, dirs=dirs) if dirs else None

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
        try:
            Path(d, name).write_text(str(value))
            return True
        except OSError:
            return False

    def join(self, pid: int) -> None:
        """Move `pid` (held before exec, see _HOLD_SHIM) into every cgroup of the run."""
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def kill(self) -> None:
        if self.v2 and not self._write(self.v2, "cgroup.kill", 1):
            # Kernels before 5.14 have no cgroup.kill: kill member by member.
            with contextlib.suppress(OSError):
                for pid in Path(self.v2, "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def _usage_s(self) -> float | None:
        if not self.v2:
            return None
        with contextlib.suppress(OSError, ValueError):
            for line in Path(self.v2, "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        return None

    def cpu_seconds(self) -> float | None:
        usage = self._usage_s()
        return None if usage is None else usage - self._cpu_before

    def close(self) -> None:
        """Back to the idle pool (the caller killed every process first)."""
        if self.cgroups is not None:
            with _parent_lock:
                self._parent.idle.append(self.cgroups)
            self.cgroups = None


# -- running ----------------------------------------------------------------

# The child waits in this shell until the parent has moved it into its
# cgroups and set its limits, then becomes the command. No Python runs
# between fork and exec, so subprocess can use vfork: a Python preexec_fn
# made every spawn several milliseconds slower. The go signal is one line
# on stdin, ahead of the command's own input; a parent that fails before
# sending it leaves the shell to exit 125 without running anything.
_HOLD_SHIM = 'read -r _ || exit 125; exec "$@"'
HOLD_SHELL = "/bin/sh"


def _set_limits(pid: int, limits: Limits) -> None:
    cpu_hard = limits.cpu_s + 1  # SIGXCPU at the soft limit, SIGKILL at the hard
    resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_s, cpu_hard))
    resource.prlimit(pid, resource.RLIMIT_AS, (limits.address_space_bytes,) * 2)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limits.file_size_bytes,) * 2)
    resource.prlimit(pid, resource.RLIMIT_NPROC, (limits.nproc,) * 2)
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))


def _collect(proc: subprocess.Popen, stdin: bytes | None, deadline: float, kill) -> tuple:
    """Feed stdin, read stdout/stderr and reap `proc`, killing the whole
    tree at `deadline` and as soon as the main process has exited (so a
    background child holding the pipes cannot keep the run alive).
    Returns (stdout, stderr, wait status, rusage, timed_out)."""
    out = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f, selectors.EVENT_READ)
    pending = memoryview(stdin or b"")
    if proc.stdin is not None:
        if pending:
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
    status = rusage = None
    timed_out = killed = False
    while sel.get_map():
        now = time.monotonic()
        if now >= deadline and not killed:
            timed_out = killed = True
            kill()
            deadline = now + KILL_GRACE_S
        elif now >= deadline:
            break  # the pipes outlived the kill: give up on them
        for key, _ in sel.select(timeout=min(deadline - now, 0.05)):
            if key.fileobj is proc.stdin:
                try:
                    n = os.write(key.fd, pending[:65536])
                except BrokenPipeError:
                    n = len(pending)
                pending = pending[n:]
                if not pending:
                    sel.unregister(proc.stdin)
                    proc.stdin.close()
                continue
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
            elif len(out[key.fd]) < MAX_CAPTURE_BYTES:
                out[key.fd] += chunk
        if status is None:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rusage = st, ru
                if not killed:
                    killed = True
                    kill()  # leftovers: background children
    sel.close()
    if status is None:
        while time.monotonic() < deadline:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rusage = st, ru
                break
            time.sleep(0.001)
        else:
            timed_out = True
        if status is None:
            kill()
            _, status, rusage = os.wait4(proc.pid, 0)
    kill()
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
    return bytes(out[proc.stdout.fileno()]), bytes(out[proc.stderr.fileno()]), status, rusage, timed_out


def _scrubbed_env(workdir: str, extra: Mapping[str, str] | None) -> dict:
    env = {"PATH": SAFE_PATH, "HOME": workdir, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra or {})
    return env


def _safe_relative(name: str) -> Path:
    p = Path(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"sandbox file name must be a relative path inside the work dir: {name!r}")
    return p


class SandboxSession:
    """A work directory kept across several runs (compile, then test)."""

    def __init__(self, sandbox: "Sandbox", workdir: str) -> None:
        self.sandbox = sandbox
        self.path = workdir

    def write(self, files: Mapping[str, bytes]) -> None:
        for name, data in files.items():
            target = Path(self.path, _safe_relative(name))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if self.sandbox._drops_to_nobody:
                for p in [target, *target.relative_to(self.path).parents]:
                    os.chown(Path(self.path, p), NOBODY, NOBODY)

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            files: Mapping[str, bytes] | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        if files:
            self.write(files)
        return self.sandbox._execute(list(argv), self.path, stdin, env)


class Sandbox:
    """Runs commands isolated, limited, timed, and leaves nothing behind."""

    def __init__(self, backend: str | None = None, limits: Limits = Limits(),
                 timeout_s: float = 30.0, workdir_parent: str | None = None,
                 use_cgroup: bool = True) -> None:
        """`use_cgroup=False` skips the per-run cgroup: moving a process into
        a cgroup waits for an RCU grace period in the kernel (~5-10 ms a
        spawn on a busy machine), but without it CPU time under bwrap is
        unavailable, the process cap is RLIMIT_NPROC only, and a process
        that leaves its session can outlive the rlimit backend's run."""
        if backend is None:
            found = available_backends()
            backend = found[0] if found else "rlimit"
        elif backend not in BACKENDS:
            raise ValueError(f"unknown sandbox backend {backend!r}; accepted: {', '.join(BACKENDS)}")
        elif _backend_problem(backend):
            raise ValueError(f"sandbox backend {backend!r} unavailable: {_backend_problem(backend)}")
        self.backend = backend
        self.limits = limits
        self.timeout_s = float(timeout_s)
        self.workdir_parent = workdir_parent
        self.use_cgroup = use_cgroup
        self._drops_to_nobody = _is_root() and backend in ("unshare", "rlimit")
        notes = [w for w in (_weakness(backend), self._process_cap_note()) if w]
        self.warning = "; ".join(notes) or None

    def _process_cap_note(self) -> str | None:
        if self.backend == "none" or not _is_root() or self._drops_to_nobody:
            return None
        parent = _cgroup_parent() if self.use_cgroup else None
        if parent and (parent.v2_pids or parent.v1_pids):
            return None
        return "process count unbounded: runs as uid 0, which RLIMIT_NPROC exempts, and no pids cgroup is writable"

    @contextlib.contextmanager
    def session(self) -> Iterator[SandboxSession]:
        workdir = tempfile.mkdtemp(prefix="fb-sandbox-", dir=self.workdir_parent)
        try:
            if self._drops_to_nobody:
                os.chown(workdir, NOBODY, NOBODY)
            yield SandboxSession(self, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            files: Mapping[str, bytes] | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        """Run `argv` in a fresh work dir (its cwd), then remove the dir."""
        with self.session() as s:
            return s.run(argv, stdin=stdin, files=files, env=env)

    def _argv(self, argv: list, workdir: str) -> list:
        if self.backend == "bwrap":
            return _bwrap_prefix(workdir) + argv
        if self.backend == "unshare":
            return _unshare_prefix() + argv
        if self._drops_to_nobody:  # rlimit as root: after the parent set the limits
            return _setpriv_prefix() + argv
        return argv

    def _execute(self, argv: list, workdir: str, stdin: bytes | None,
                 env: Mapping[str, str] | None) -> SandboxResult:
        if not argv:
            raise ValueError("empty command")
        if self._drops_to_nobody and argv[0].startswith("/") and not _world_executable(argv[0]):
            raise SandboxError(
                f"{argv[0]} is not executable by uid {NOBODY}; the {self.backend} backend "
                "runs code as nobody when started as root (use bwrap, or a world-readable binary)")
        isolated = self.backend != "none"
        cgroup = _RunCgroup(self.limits.nproc if isolated else None, enabled=self.use_cgroup)
        try:
            return self._spawn(argv, workdir, stdin, env, cgroup, isolated)
        finally:
            cgroup.close()

    def _spawn(self, argv, workdir, stdin, env, cgroup: _RunCgroup, isolated: bool) -> SandboxResult:
        command = self._argv(argv, workdir)
        hold = isolated or bool(cgroup.dirs)
        if hold:
            command = [HOLD_SHELL, "-c", _HOLD_SHIM, "fb-sandbox", *command]
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                command, cwd=workdir, env=_scrubbed_env(workdir, env),
                stdin=subprocess.PIPE if stdin is not None or hold else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc
        if hold:
            try:
                cgroup.join(proc.pid)
                if isolated:
                    _set_limits(proc.pid, self.limits)
                os.write(proc.stdin.fileno(), b"\n")
            except OSError as exc:
                proc.kill()
                proc.communicate()
                raise SandboxError(f"cannot confine {argv[0]} before it starts: {exc}") from exc

        def kill_tree() -> None:
            cgroup.kill()
            # The session: everything the command started unless it setsid'ed
            # (with bwrap/unshare the PID namespace dies with its first process).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        deadline = time.monotonic() + self.timeout_s
        stdout, stderr, status, rusage, timed_out = _collect(proc, stdin, deadline, kill_tree)
        wall = time.perf_counter() - start
        cpu, source = cgroup.cpu_seconds(), "cgroup"
        if cpu is None and self.backend == "bwrap":
            source = f"unavailable: rusage does not cover a PID namespace; {cgroup.problem}"
        elif cpu is None:
            cpu, source = rusage.ru_utime + rusage.ru_stime, "rusage"
        return SandboxResult(
            returncode=proc.returncode, stdout=stdout, stderr=stderr, wall_s=wall,
            cpu_s=cpu, cpu_source=source, timed_out=timed_out, backend=self.backend,
            warning=self.warning,
        )


# -- many sandboxes at once -------------------------------------------------

def run_concurrently(call, concurrency: int, calls_per_worker: int) -> tuple:
    """`concurrency` threads each make `calls_per_worker` sequential calls
    of `call()`. Returns (per-call latencies in s, results, batch wall s).
    The sandboxed processes do the work, so threads are enough to keep
    `concurrency` of them alive at once."""
    latencies: list = []
    results: list = []
    lock = threading.Lock()
    failure: list = []

    def worker() -> None:
        for _ in range(calls_per_worker):
            t0 = time.perf_counter()
            try:
                res = call()
            except Exception as exc:  # reported by the caller, not lost in a thread
                failure.append(exc)
                return
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                results.append(res)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if failure:
        raise failure[0]
    return latencies, results, wall


# -- the sandbox.lifecycle benchmark ----------------------------------------

# Calls per thread in one measured batch; a batch's rate is one sample.
LIFECYCLE_CALLS_PER_WORKER = {"quick": 2, "standard": 10, "full": 25}
LIFECYCLE_BATCH_BUDGET_S = {"quick": 0.3, "standard": 5.0, "full": 20.0}


def concurrency_levels(cpus: int) -> list:
    """1, cores and 2 x cores (cores = online logical CPUs, what `nproc` says)."""
    return sorted({1, max(1, cpus), 2 * max(1, cpus)})


def plan_lifecycle(ctx) -> list:
    from suite.spec import Config

    # One child measures every backend: a child start-up costs more than the
    # measurement itself in the quick profile.
    return [Config(params={"backends": ",".join(available_backends() + ["none"])})]


def _lifecycle_records(job, backend: str) -> tuple:
    from suite import stats
    from suite.model import ErrorRecord, measurement
    from suite.sampling import repeat_until_stable

    sandbox = Sandbox(backend=backend, timeout_s=10.0)
    per_worker = LIFECYCLE_CALLS_PER_WORKER.get(job.profile.name, 4)
    records, errors = [], []
    for concurrency in concurrency_levels(len(job.topology.logical_cpus)):
        params = {"backend": backend, "concurrency": concurrency}
        latencies: list = []
        failed: list = []

        def batch() -> float:
            lat, results, wall = run_concurrently(
                lambda: sandbox.run(["/bin/true"]), concurrency, per_worker)
            latencies.extend(lat)
            failed.extend(r for r in results if not r.ok)
            return len(lat) / wall

        rates = repeat_until_stable(batch, job.profile,
                                    time_budget_s=LIFECYCLE_BATCH_BUDGET_S.get(job.profile.name))
        # Validation: every /bin/true exited 0 within its timeout.
        valid = not failed
        if failed:
            errors.append(ErrorRecord(job.benchmark, params, "invalid",
                                      f"{len(failed)} of {len(latencies)} sandboxed /bin/true runs failed "
                                      f"(first: exit {failed[0].returncode}, {failed[0].stderr[-200:]!r})"))
        # A weaker backend measured on purpose is not a run warning; the
        # record still says what it lacks.
        info = {"backend": backend, "backend_note": sandbox.warning, "limits": asdict(sandbox.limits),
                "cgroup_per_run": sandbox.use_cgroup,
                "calls": len(latencies), "calls_per_batch": concurrency * per_worker}
        records.append(measurement(job.benchmark, params, "rate", "sandboxes/s", rates,
                                   higher_is_better=True, validated=valid, info=info))
        lat_ms = [x * 1e3 for x in latencies]
        for q in (50, 95, 99):
            records.append(measurement(
                job.benchmark, params, f"latency_p{q}", "ms", lat_ms, higher_is_better=False,
                value=stats.percentile(lat_ms, q), validated=valid, info=info))
    return records, errors


def run_lifecycle(job):
    """Create a sandbox, run /bin/true, tear it down: latency and rate,
    for every backend named in the params."""
    from suite.model import ErrorRecord, Outcome

    records, errors, warnings = [], [], []
    if "bwrap" not in available_backends():
        warnings.append(f"sandbox.lifecycle: no bwrap figures ({_backend_problem('bwrap')})")
    for backend in job.params["backends"].split(","):
        try:
            r, e = _lifecycle_records(job, backend)
        except ValueError as exc:  # backend vanished since planning
            r, e = [], [ErrorRecord(job.benchmark, {"backend": backend}, "skipped", str(exc))]
        records += r
        errors += e
    return Outcome(records=tuple(records), errors=tuple(errors), warnings=tuple(warnings))


def _lifecycle_spec():
    from suite.spec import BenchmarkSpec

    return BenchmarkSpec(
        id="sandbox.lifecycle", category="sandbox",
        description="Create a sandbox, run /bin/true, tear down: latency percentiles and rate "
                    "at concurrency 1, cores, 2 x cores, per backend (none = baseline)",
        entry="workloads.sandbox:run_lifecycle", plan=plan_lifecycle, timeout=120.0,
    )


SPECS = [_lifecycle_spec()]
