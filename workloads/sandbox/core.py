"""`Sandbox` and its sessions: a command run through a backend in a work
dir, its output collected, its timeout enforced, nothing of it left.
Standard library only."""
from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from suite.errors import Skipped
from workloads.sandbox import uids, workdirs
from workloads.sandbox.backends import (
    BACKENDS, NAMESPACED_BACKENDS, SCRATCH_BYTES, backend_problem, bwrap_prefix, bwrap_visible,
    is_root, confined_drop_prefix, drop_prefix, unshare_prefix, weakness, world_executable, available_backends,
    resolve_binary,
)
from workloads.sandbox.files import UnsafePathError, write_files
from workloads.sandbox.process import SandboxProcess
from workloads.sandbox.warm import HeldShell, command_script, hold, warm_shells

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Output beyond this is drained and dropped, so a program printing in a loop
# until its timeout cannot exhaust the benchmark's memory.
MAX_CAPTURE_BYTES = 16 << 20
# After a timeout kill, how long to wait for the pipes and the exit status.
KILL_GRACE_S = 5.0


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits: setrlimit per process, and the run's cgroup
    caps processes and memory for all its processes together."""

    cpu_s: int = 10  # RLIMIT_CPU, per process
    scratch_bytes: int = SCRATCH_BYTES  # size of each private tmpfs: /tmp, /dev/shm, ...
    # RLIMIT_AS. 4 GiB lets python3, gcc and a Numba import start (LLVM maps
    # large regions) while an 8 GiB allocation still fails.
    address_space_bytes: int = 4 << 30
    file_size_bytes: int = 64 << 20  # RLIMIT_FSIZE
    nproc: int = 256  # RLIMIT_NPROC (per uid: each session has its own) and cgroup pids.max
    open_files: int = 1024  # RLIMIT_NOFILE
    # cgroup memory.max of the run, all its processes together (None: no cap).
    memory_bytes: int | None = 2 << 30
    # The work dir's tmpfs size (None: a plain directory, for big trees on disk).
    workdir_bytes: int | None = 1 << 30


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


def for_agent_code(options: Mapping | None, **kwargs) -> Sandbox:
    """A `Sandbox(**kwargs)` for code an agent wrote. One that does not
    isolate it (rlimit, none) is refused with Skipped unless the run's
    options allow it (`factorybench run --allow-unisolated`)."""
    sandbox = Sandbox(**kwargs)
    if not sandbox.isolated and not (options or {}).get("allow_unisolated"):
        raise Skipped(f"sandbox backend {sandbox.backend} does not isolate agent-written code "
                      f"(bwrap: {backend_problem('bwrap') or 'not chosen'}; unshare: "
                      f"{backend_problem('unshare') or 'not chosen'}); --allow-unisolated runs it anyway")
    return sandbox


def _kill_every_process_of(uid: int) -> None:
    """SIGKILL whatever still runs as `uid` (a process that left the run's
    session and, without a cgroup, its reach) before the uid is reused:
    a shell dropped to it kills every process it may signal."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(drop_prefix(uid) + ["/bin/sh", "-c", "kill -KILL -1 2>/dev/null; exit 0"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd="/", timeout=10)


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
    Returns once the main process is reaped and what was written before is
    read, not when the last pipe closes: bwrap's init, killed with its
    parent, ends a moment later, and waiting for it was a wake-up more per
    run on a busy machine. Returns (stdout, stderr, wait status, rusage,
    timed_out)."""
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
            if proc.stdin is not None and not proc.stdin.closed:  # no one left to read the rest
                with contextlib.suppress(KeyError):
                    sel.unregister(proc.stdin)
                proc.stdin.close()

    try:
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline and not killed:
                timed_out = killed = True
                kill(False)
                deadline = now + KILL_GRACE_S
            elif now >= deadline:
                break  # the pipes outlived the kill: give up on them
            # Once the main process is reaped and the tree killed, what it
            # wrote is in the pipes already: take that, without waiting for
            # the dying rest (bwrap's init) to close them.
            events = sel.select(timeout=0 if status is not None else min(deadline - now, 0.05))
            if not events and status is not None:
                break
            for key, _ in events:
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
                else:
                    out[key.fd] += chunk[:MAX_CAPTURE_BYTES - len(out[key.fd])]
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

    def __init__(self, sandbox: "Sandbox", workdir: str, run_as: int | None,
                 shell: HeldShell | None = None, single_run: bool = False) -> None:
        self.sandbox = sandbox
        self.path = workdir
        # The host uid (and gid) the code runs as; None: ours.
        self.run_as = run_as
        # A shell held at run_as, ready for the first run (it brought the uid).
        self.spare = shell
        self.single_run = single_run  # no shell is made ahead for a second run

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

    def start(self, argv: Sequence[str], *, files: Mapping[str, bytes] | None = None,
              env: Mapping[str, str] | None = None, on_close=None) -> SandboxProcess:
        """Start `argv` in the work dir and leave it running, talking over
        its pipes (no timeout: its user ends it with `close`, which then
        calls `on_close`)."""
        if files:
            self.write(files)
        return self.sandbox._start(list(argv), self, env, on_close)


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
        elif backend_problem(backend):
            raise ValueError(f"sandbox backend {backend!r} unavailable: {backend_problem(backend)}")
        self.backend = backend
        self.limits = limits
        self.timeout_s = float(timeout_s)
        self.workdir_parent = workdir_parent or workdirs.default_workdir_parent()
        self.use_cgroup = use_cgroup
        # Root hands each session a uid of its own; anyone else runs the
        # code as themselves (in a user namespace under bwrap).
        self.own_uid_per_session = is_root() and backend != "none"
        # bwrap then starts straight from a shell held at the session's uid:
        # no exec to drop privileges on the way.
        self.shells_at_uid = self.own_uid_per_session and backend == "bwrap"
        notes = [weakness(backend)]
        if limits.workdir_bytes and backend != "none" and workdirs.size_limit_problem():
            notes.append(f"work dir size unbounded ({workdirs.size_limit_problem()})")
        self.warning = "; ".join(n for n in notes if n) or None
        # rlimit and none isolate nothing: agent code refuses them by default.
        self.isolated = backend in NAMESPACED_BACKENDS

    def can_execute(self, path: str) -> str | None:
        """None when the sandboxed code can execute `path` (absolute), else why not."""
        if self.own_uid_per_session and not world_executable(path):
            return (f"{path} is not executable by an unprivileged uid, which the {self.backend} "
                    "backend runs code as when started as root (use a world-readable binary)")
        if self.backend == "bwrap" and not bwrap_visible(path, self.workdir_parent, self.own_uid_per_session):
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
    def session(self, single_run: bool = False) -> Iterator[SandboxSession]:
        """A work dir and a uid of its own (as root) for several runs;
        `single_run`: one run only, so no shell is made ahead for a second."""
        shell = None
        try:
            if self.shells_at_uid:  # a ready shell at a fresh uid brings the uid
                shell = self._take_shell(None)
                uid, shell.uid = shell.uid, None
            else:
                uid = uids.take() if self.own_uid_per_session else None
        except uids.NoFreeUid as exc:
            raise SandboxError(exc.strerror) from None
        except OSError as exc:
            raise SandboxError(f"cannot start a confined process: {exc}") from exc
        run_as = uid.uid if uid else None
        session = None
        try:
            try:
                workdir = workdirs.make(self.workdir_parent, run_as, self.limits.workdir_bytes)
            except OSError as exc:
                raise SandboxError(str(exc)) from exc
            session = SandboxSession(self, workdir, run_as, shell, single_run)
            try:
                yield session
            finally:
                workdirs.remove(workdir)
        finally:
            unused = session.spare if session is not None else shell
            if unused is not None:
                self._ask_for_owed(unused)
                unused.discard()
            if self.shells_at_uid:  # nothing may run as the uid once it is released
                warm_shells().retire(self._shell_kind(run_as))
            if uid:
                uid.release()

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            files: Mapping[str, bytes] | None = None,
            env: Mapping[str, str] | None = None) -> SandboxResult:
        """Run `argv` in a fresh work dir (its cwd), then remove the dir."""
        with self.session(single_run=True) as s:
            return s.run(argv, stdin=stdin, files=files, env=env)

    def start(self, argv: Sequence[str], *, files: Mapping[str, bytes] | None = None,
              env: Mapping[str, str] | None = None) -> SandboxProcess:
        """Start `argv` in a fresh work dir and leave it running (a
        long-lived worker); its `close` ends it and removes the dir."""
        stack = contextlib.ExitStack()
        session = stack.enter_context(self.session(single_run=True))
        try:
            return session.start(argv, files=files, env=env, on_close=stack.close)
        except BaseException:
            stack.close()
            raise

    # -- held shells ---------------------------------------------------------

    def _shell_kind(self, run_as: int | None) -> tuple:
        """Which ready shells a run of a session at `run_as` can take
        (with shells_at_uid, None: any uid, the shell bringing its own)."""
        limits = self.limits if self.backend != "none" else None
        if self.shells_at_uid:
            return (limits, self.use_cgroup, "uid", run_as)
        return (limits, self.use_cgroup)

    def _shell_maker(self, run_as: int | None):
        limits, use_cgroup = self.limits if self.backend != "none" else None, self.use_cgroup
        if not self.shells_at_uid:
            return lambda: hold(BASE_ENV, limits, use_cgroup)
        if run_as is not None:
            return lambda: hold(BASE_ENV, limits, use_cgroup, run_as)

        def at_a_fresh_uid() -> HeldShell:
            uid = uids.take()
            try:
                shell = hold(BASE_ENV, limits, use_cgroup, uid.uid)
            except BaseException:
                uid.release()
                raise
            shell.uid = uid
            return shell
        return at_a_fresh_uid

    def _take_shell(self, run_as: int | None) -> HeldShell:
        kind, make = self._shell_kind(run_as), self._shell_maker(run_as)
        shell = warm_shells().take(kind, make, refill=False)
        shell.owed.append((kind, make))  # its replacement
        return shell

    @staticmethod
    def _ask_for_owed(shell: HeldShell) -> None:
        """Ask the pool for the shells `shell` owes (its replacement, the
        session's next run's) once its run is under way: made before, in
        the background thread, they competed with the run's own setup for
        the interpreter lock."""
        owed, shell.owed = shell.owed, []
        for kind, make in owed:
            warm_shells().want(kind, make)

    def _session_shell(self, session: SandboxSession) -> HeldShell:
        """The shell a run of `session` starts from."""
        if not self.shells_at_uid:
            return self._take_shell(None)
        shell, session.spare = session.spare, None
        if shell is None:
            shell = self._take_shell(session.run_as)
        elif not session.single_run:  # the next run of the session finds one ready
            shell.owed.append((self._shell_kind(session.run_as), self._shell_maker(session.run_as)))
        if shell.run_as != session.run_as:
            self._ask_for_owed(shell)
            shell.discard(kill=True)
            raise OSError(f"held shell runs as uid {shell.run_as}, the session as {session.run_as}")
        return shell

    def _argv(self, argv: list, session: SandboxSession) -> list:
        if self.backend == "bwrap":  # as root, the held shell runs as the session's uid already
            return bwrap_prefix(session.path, session.run_as is not None, self.limits.scratch_bytes) + argv
        if self.backend == "unshare":
            return unshare_prefix(session.path, session.run_as, self.limits.scratch_bytes) + argv
        if session.run_as is not None:  # rlimit as root: after the parent set the limits
            return confined_drop_prefix(session.run_as) + argv
        return argv

    def _script(self, argv: list, session: SandboxSession, env: Mapping[str, str] | None) -> str:
        if not argv:
            raise ValueError("empty command")
        problem = self.can_execute(argv[0]) if argv[0].startswith("/") else None
        if problem:
            raise SandboxError(problem)
        return command_script(session.path, {"HOME": session.path, **(env or {})}, self._argv(argv, session))

    def _shell_for(self, argv: list, session: SandboxSession) -> HeldShell:
        try:
            return self._session_shell(session)
        except OSError as exc:
            raise SandboxError(f"cannot start a confined process for {argv[0]}: {exc}") from exc

    def _start(self, argv: list, session: SandboxSession, env: Mapping[str, str] | None,
               on_close) -> SandboxProcess:
        script = self._script(argv, session, env)
        shell = self._shell_for(argv, session)
        try:
            shell.start(script)
        except OSError as exc:
            shell.discard(kill=True)
            raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc
        finally:
            self._ask_for_owed(shell)
        shell.forget_script()  # the shell reads it through its own descriptor
        return SandboxProcess(shell, self.backend, on_close)

    def _execute(self, argv: list, session: SandboxSession, stdin: bytes | None,
                 env: Mapping[str, str] | None) -> SandboxResult:
        script = self._script(argv, session, env)
        start = time.perf_counter()
        shell = self._shell_for(argv, session)
        try:
            shell.start(script)
            self._ask_for_owed(shell)
            return self._finish(shell, stdin, start, session.run_as)
        except BaseException as exc:  # nothing of the run may outlive a failure here
            self._ask_for_owed(shell)
            shell.discard(kill=True)
            if isinstance(exc, OSError):
                raise SandboxError(f"cannot run {argv[0]}: {exc}") from exc
            raise
        finally:
            shell.forget_script()
            shell.cgroup.close()

    def _finish(self, shell: HeldShell, stdin: bytes | None, start: float, run_as: int | None) -> SandboxResult:
        proc, cgroup = shell.proc, shell.cgroup
        # rlimit with no cgroup to kill: what left the session is found by its uid.
        by_uid = run_as is not None and self.backend == "rlimit" and cgroup.v2 is None

        def kill_tree(reaped: bool) -> None:
            # Once bwrap or unshare has exited its PID namespace goes, and
            # every process in it with it (bwrap's init dies with bwrap,
            # unshare waited for its own). cgroup.kill is then left out: it
            # waits for the cgroup lock, which a ready shell being placed in
            # its cgroup holds for an RCU grace period.
            if not (reaped and self.backend in NAMESPACED_BACKENDS):
                cgroup.kill()
            # The session: everything the command started unless it setsid'ed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if by_uid:
                _kill_every_process_of(run_as)

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
