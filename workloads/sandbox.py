"""The one sandbox for agent-written code: isolate, limit, time, clean up.

Every workload that runs code an agent wrote (compiles, tests, tool calls)
goes through `Sandbox.run`. A run gets a throwaway work directory (its cwd
and the only writable place), a scrubbed environment, resource limits, a
wall-clock timeout that kills the whole process tree, and no network.

Backends, strongest first:

* ``bwrap``   bubblewrap: every namespace unshared including the user one,
  an unprivileged uid, only what compilers and interpreters need bound
  read-only (/usr, the loader paths, a minimal /etc), private /tmp,
  /dev/shm, /dev and /proc, no capabilities, the work dir bound writable.
* ``unshare`` util-linux unshare: network, PID, IPC, UTS and mount
  namespaces.
* ``rlimit``  resource limits and a new session only; no network, PID or
  file system isolation.
* ``none``    no isolation at all: the baseline for overhead figures.

Started as root, every backend runs the code as a uid of its own per
session (`sandbox_uids`), so concurrent sandboxes cannot signal, trace or
read one another. A backend weaker than bwrap is never silent: `Sandbox.warning` and every
`SandboxResult.warning` say what is missing and why.

Where a writable cgroup v2 hierarchy exists, each run lives in its own
cgroup (`sandbox_cgroups`): CPU time of every process, kill-all, and a
process cap that holds for uid 0 too. A run's first process is a shell
already placed in those cgroups and limited (`sandbox_warm`), which then
execs the backend and the command.

This module is also a spec module (`SPECS`, `sandbox.lifecycle`), so it
imports the standard library only.
"""
from __future__ import annotations

import contextlib
import os
import sys
import re
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

from workloads.sandbox_cgroups import cgroup_parent, mounts
from workloads.sandbox_files import UnsafePathError, write_files
from workloads import sandbox_uids
from workloads.sandbox_warm import WARM, HeldShell, command_script, hold

BACKENDS = ("bwrap", "unshare", "rlimit", "none")  # strongest first
NAMESPACED_BACKENDS = ("bwrap", "unshare")  # a PID namespace per run
NOBODY = 65534
# The uid and gid sandboxed code has inside bwrap's user namespace (named
# "sandbox" in its /etc/passwd); outside it is the session's own uid.
INNER_ID = 1000
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
    scratch_bytes: int = 256 << 20  # size of bwrap's private /tmp and /dev/shm each
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


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


@lru_cache(maxsize=None)
def _loader_paths() -> tuple:
    """/bin, /lib and the like: symlinks into /usr on merged-/usr systems
    (recreated as such), else directories bound read-only."""
    args = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return tuple(args)


# What compilers and interpreters read from the host's /etc: the dynamic
# loader's cache and configuration, the alternatives (cc, c++ and the like
# are links through them), the time zone, and how names are looked up.
ETC_FROM_HOST = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf")
# Written by us: no host account, no host name.
ETC_WRITTEN = {
    "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
              f"sandbox:x:{INNER_ID}:{INNER_ID}:sandbox:/tmp:/bin/sh\n"
              f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/usr/sbin/nologin\n",
    "group": f"root:x:0:\nsandbox:x:{INNER_ID}:\nnogroup:x:{NOBODY}:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
}


@lru_cache(maxsize=None)
def _written_etc() -> str:
    """A directory holding ETC_WRITTEN, readable by every sandbox uid and
    writable by us only (checked: another user may have made it first)."""
    base = os.path.join(tempfile.gettempdir(), f"factorybench-sandbox-etc-{os.geteuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(base, 0o755)
    st = os.lstat(base)
    if not os.path.isdir(base) or os.path.islink(base) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        base = tempfile.mkdtemp(prefix="factorybench-sandbox-etc-")
    os.chmod(base, 0o755)
    for name, text in ETC_WRITTEN.items():
        path = os.path.join(base, name)
        with contextlib.suppress(OSError), open(path) as f:
            if f.read() == text:
                continue
        write_files(base, {name: text.encode()})
    return base


def _world_traversable(path: str) -> bool:
    p = Path(path)
    try:
        return all(d.stat().st_mode & 0o001 for d in (p, *p.parents))
    except OSError:
        return False


@lru_cache(maxsize=None)
def _interpreter_roots(unprivileged: bool) -> tuple:
    """The running Python's installation and venv when outside /usr, bound
    read-only so a sandbox can run this interpreter (only those an
    unprivileged uid can reach when the sandbox runs as one)."""
    found = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)} | {sys.prefix, sys.base_prefix}
    return tuple(sorted(p for p in found if p != "/" and not _under(p, "/usr") and os.path.isdir(p)
                        and (not unprivileged or _world_traversable(p))))


def _bwrap_visible(path: str, workdir: str, unprivileged: bool) -> bool:
    """Whether an absolute `path` exists inside a bwrap sandbox."""
    real = os.path.realpath(path)
    roots = ("/usr", workdir, *_interpreter_roots(unprivileged))
    return any(_under(real, r) for r in roots)


def _bwrap_prefix(workdir: str, run_as: int | None = None, scratch_bytes: int = Limits.scratch_bytes) -> list:
    """bwrap's arguments; `run_as` is the host uid to start it as (root
    drops to it first, so the user namespace belongs to nobody privileged)."""
    etc = [a for name in ETC_FROM_HOST for a in ("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")]
    written = _written_etc()
    etc += [a for name in ETC_WRITTEN for a in ("--ro-bind", os.path.join(written, name), f"/etc/{name}")]
    interpreters = [a for p in _interpreter_roots(run_as is not None) for a in ("--ro-bind", p, p)]
    size = str(scratch_bytes)
    return [
        *(_setpriv_prefix(run_as) if run_as is not None else []),
        "bwrap", "--unshare-all", "--unshare-user", "--uid", str(INNER_ID), "--gid", str(INNER_ID),
        "--hostname", "sandbox", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr", *_loader_paths(), *etc,
        "--dev", "/dev", "--proc", "/proc",
        "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm",
        *interpreters, "--bind", workdir, workdir, "--chdir", workdir, "--",
    ]


def _unshare_prefix(run_as: int | None = None) -> list:
    prefix = ["unshare", "--net", "--pid", "--ipc", "--uts", "--mount",
              "--fork", "--kill-child"]
    if run_as is not None:
        prefix += ["--setuid", str(run_as), "--setgid", str(run_as)]
    else:
        prefix += ["--user"]  # lets an unprivileged user create the others
    return prefix + ["--"]


def _setpriv_prefix(run_as: int) -> list:
    return ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups", "--"]


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
    if backend not in BACKENDS:
        return "unknown backend"
    if _is_root() and not shutil.which("setpriv"):  # root drops to a sandbox uid with it
        return "setpriv not installed (package util-linux)"
    if backend == "rlimit":
        return None
    if not shutil.which(backend):
        package = "bubblewrap" if backend == "bwrap" else "util-linux"
        return f"{backend} not installed (package {package})"
    uid = sandbox_uids.take() if _is_root() else None
    try:
        with tempfile.TemporaryDirectory(prefix="fb-probe-") as d:
            run_as = uid.uid if uid else None
            if run_as is not None:
                os.chown(d, run_as, run_as)
            prefix = _bwrap_prefix(d, run_as) if backend == "bwrap" else _unshare_prefix(run_as)
            problem = _probe(prefix)
    finally:
        if uid:
            uid.release()
    if problem is None:
        return None
    who = " as an unprivileged uid" if backend == "bwrap" and uid else ""
    return f"{backend} cannot create namespaces{who}: {problem}"


def available_backends() -> list:
    """Working isolating backends on this machine, strongest first
    ("none" is always accepted too, but not listed)."""
    return [b for b in BACKENDS[:-1] if _backend_problem(b) is None]


def _weakness(backend: str) -> str | None:
    if backend == "bwrap":
        return None
    why_not_bwrap = _backend_problem("bwrap") or "another backend was requested"
    missing = {
        "unshare": "the host's file system stays visible",
        "rlimit": "no network, PID or filesystem isolation beyond file permissions",
        "none": "no isolation and no limits at all",
    }[backend]
    return f"sandbox backend {backend} is weaker than bwrap ({why_not_bwrap}): {missing}"


# -- work directories -------------------------------------------------------

# Work dirs go to a memory file system when one has room: creating and
# removing a directory on a journaling disk costs 1-2 ms a run on a VM,
# more than the rest of the sandbox, and is not what these benchmarks
# measure. Big trees (compile.source, compile.linux) ask for disk.
TMPFS_WORKDIR_PARENT = "/dev/shm"
TMPFS_MIN_FREE_BYTES = 1 << 30


@lru_cache(maxsize=None)
def default_workdir_parent() -> str:
    """/dev/shm when it is a writable tmpfs with room, else the temp dir."""
    parent = TMPFS_WORKDIR_PARENT
    is_tmpfs = any(mp == parent and fstype == "tmpfs" for mp, fstype, _ in mounts())
    try:
        st = os.statvfs(parent)
        roomy = st.f_bavail * st.f_frsize >= TMPFS_MIN_FREE_BYTES
    except OSError:
        roomy = False
    if is_tmpfs and roomy and os.access(parent, os.W_OK | os.X_OK):
        return parent
    return tempfile.gettempdir()


# -- running ----------------------------------------------------------------

def _exit_fd(pid: int) -> int | None:
    """A pidfd, readable once `pid` has exited (Linux >= 5.3); None without."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _collect(proc: subprocess.Popen, stdin: bytes | None, deadline: float, kill) -> tuple:
    """Feed stdin, read stdout/stderr and reap `proc`, killing the whole
    tree at `deadline` and as soon as the main process has exited (so a
    background child holding the pipes cannot keep the run alive).
    `kill(reaped)` is told whether the main process is gone already.
    Returns (stdout, stderr, wait status, rusage, timed_out)."""
    out = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f, selectors.EVENT_READ)
    # The exit itself wakes the loop: no polling between the pipes closing
    # and the process becoming reapable.
    exit_fd = _exit_fd(proc.pid)
    if exit_fd is not None:
        sel.register(exit_fd, selectors.EVENT_READ)
    pending = memoryview(stdin or b"")
    if proc.stdin is not None:
        if pending:
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
    status = rusage = None
    timed_out = killed = False

    def reap(flags: int) -> None:
        nonlocal status, rusage, killed
        pid, st, ru = os.wait4(proc.pid, flags)
        if pid:
            status, rusage = st, ru
            if not killed:
                killed = True
                kill(True)  # leftovers: background children

    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline and not killed:
                timed_out = killed = True
                kill(False)
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
                if key.fd == exit_fd:
                    sel.unregister(exit_fd)
                    reap(0)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif len(out[key.fd]) < MAX_CAPTURE_BYTES:
                    out[key.fd] += chunk
            if status is None and exit_fd is None:
                reap(os.WNOHANG)
        sel.close()
        if status is None:
            while time.monotonic() < deadline:
                reap(os.WNOHANG)
                if status is not None:
                    break
                time.sleep(0.001)
            else:
                timed_out = True
            if status is None:
                kill(False)
                _, status, rusage = os.wait4(proc.pid, 0)
    finally:
        if exit_fd is not None:
            os.close(exit_fd)
    kill(True)
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
    return bytes(out[proc.stdout.fileno()]), bytes(out[proc.stderr.fileno()]), status, rusage, timed_out


# Every run's environment: these, HOME (its work dir) and the caller's extras.
BASE_ENV = {"PATH": SAFE_PATH, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1"}


class SandboxSession:
    """A work directory kept across several runs (compile, then test)."""

    def __init__(self, sandbox: "Sandbox", workdir: str, run_as: int | None) -> None:
        self.sandbox = sandbox
        self.path = workdir
        # The host uid (and gid) the code runs as; None: ours.
        self.run_as = run_as

    @property
    def owner(self) -> tuple | None:
        """(uid, gid) that files the code should own must be given to."""
        return None if self.run_as is None else (self.run_as, self.run_as)

    def write(self, files: Mapping[str, bytes]) -> None:
        """Write files into the work dir; a link the sandboxed code planted
        is replaced, never written through (SandboxError for one in place
        of a directory)."""
        try:
            write_files(self.path, files, self.owner)
        except UnsafePathError as exc:
            raise SandboxError(f"refusing to write into the work dir: {exc.strerror}") from None

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            files: Mapping[str, bytes] | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        if files:
            self.write(files)
        return self.sandbox._execute(list(argv), self, stdin, env)


class Sandbox:
    """Runs commands isolated, limited, timed, and leaves nothing behind."""

    def __init__(self, backend: str | None = None, limits: Limits = Limits(),
                 timeout_s: float = 30.0, workdir_parent: str | None = None,
                 use_cgroup: bool = True) -> None:
        """`use_cgroup=False` skips the per-run cgroup: without it CPU time
        under bwrap is unavailable and a process that leaves its session
        can outlive the rlimit backend's run."""
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
        self.workdir_parent = workdir_parent or default_workdir_parent()
        self.use_cgroup = use_cgroup
        # Root hands each session a uid of its own; anyone else runs the
        # code as themselves (in a user namespace under bwrap).
        self.own_uid_per_session = _is_root() and backend != "none"
        self.warning = _weakness(backend)

    def can_execute(self, path: str) -> str | None:
        """None when the sandboxed code can execute `path` (absolute), else why not."""
        if self.own_uid_per_session and not _world_executable(path):
            return (f"{path} is not executable by an unprivileged uid, which the {self.backend} "
                    "backend runs code as when started as root (use a world-readable binary)")
        if self.backend == "bwrap" and not _bwrap_visible(path, self.workdir_parent, self.own_uid_per_session):
            return f"{path} is not inside the bwrap sandbox, which binds /usr and the running Python only"
        return None

    def executable(self, name: str) -> str:
        """`name` resolved to a binary this sandbox can execute: the one on
        PATH, else the system's own (an interpreter installed under /root
        is out of reach of the unprivileged uid the code runs as)."""
        found = resolve_binary(name)
        candidates = [found] + [os.path.join(d, os.path.basename(name)) for d in ("/usr/local/bin", "/usr/bin")]
        for path in candidates:
            if os.path.isfile(path) and self.can_execute(path) is None:
                return path
        raise SandboxError(self.can_execute(found))

    @contextlib.contextmanager
    def session(self) -> Iterator[SandboxSession]:
        uid = sandbox_uids.take() if self.own_uid_per_session else None
        try:
            workdir = tempfile.mkdtemp(prefix="fb-sandbox-", dir=self.workdir_parent)  # mode 0700
            try:
                if uid:
                    os.chown(workdir, uid.uid, uid.uid)
                yield SandboxSession(self, workdir, uid.uid if uid else None)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
        finally:
            if uid:
                uid.release()

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            files: Mapping[str, bytes] | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        """Run `argv` in a fresh work dir (its cwd), then remove the dir."""
        with self.session() as s:
            return s.run(argv, stdin=stdin, files=files, env=env)

    def _argv(self, argv: list, session: SandboxSession) -> list:
        if self.backend == "bwrap":
            return _bwrap_prefix(session.path, session.run_as, self.limits.scratch_bytes) + argv
        if self.backend == "unshare":
            return _unshare_prefix(session.run_as) + argv
        if session.run_as is not None:  # rlimit as root: after the parent set the limits
            return _setpriv_prefix(session.run_as) + argv
        return argv

    def _execute(self, argv: list, session: SandboxSession, stdin: bytes | None,
                 env: Mapping[str, str] | None) -> SandboxResult:
        if not argv:
            raise ValueError("empty command")
        problem = self.can_execute(argv[0]) if argv[0].startswith("/") else None
        if problem:
            raise SandboxError(problem)
        script = command_script(session.path, {"HOME": session.path, **(env or {})}, self._argv(argv, session))
        limits = self.limits if self.backend != "none" else None
        use_cgroup = self.use_cgroup

        def make() -> HeldShell:
            return hold(BASE_ENV, limits, use_cgroup)

        start = time.perf_counter()
        try:
            shell = WARM.take((limits, use_cgroup), make)
        except OSError as exc:
            raise SandboxError(f"cannot start a confined process for {argv[0]}: {exc}") from exc
        try:
            shell.start(script)
            return self._finish(shell, stdin, start)
        except BaseException as exc:  # nothing of the run may outlive a failure here
            shell.discard(kill=True)
            if isinstance(exc, OSError):
                raise SandboxError(f"cannot run {argv[0]}: {exc}") from exc
            raise
        finally:
            shell.forget_script()
            shell.cgroup.close()

    def _finish(self, shell: HeldShell, stdin: bytes | None, start: float) -> SandboxResult:
        proc, cgroup = shell.proc, shell.cgroup

        def kill_tree(reaped: bool) -> None:
            # Once bwrap or unshare has exited its PID namespace is gone, and
            # every process in it with it. cgroup.kill is then left out: it
            # waits for the cgroup lock, which a ready shell being placed in
            # its cgroup holds for an RCU grace period.
            if not (reaped and self.backend in NAMESPACED_BACKENDS):
                cgroup.kill()
            # The session: everything the command started unless it setsid'ed.
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
                "workdir_parent": sandbox.workdir_parent,
                "cgroup_per_run": sandbox.use_cgroup,
                # The run's first process is a shell placed in its cgroups and
                # limited before the call (workloads.sandbox_warm).
                "first_process": "held shell, confined before the call",
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
