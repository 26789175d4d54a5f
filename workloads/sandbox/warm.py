"""Confined shells kept ready for the sandbox's next runs.

A sandbox run's first process must sit in the run's cgroups and under its
limits before it executes anything. Moving a process into a cgroup waits
for an RCU grace period in the kernel (the cgroup_threadgroup_rwsem write
side): 1-20 ms on a busy machine, more than a whole bwrap start. Python
cannot create a child directly inside a cgroup (clone3 with
CLONE_INTO_CGROUP), so that wait is taken ahead of time instead: a
`HeldShell` is a shell already placed in its own fresh cgroups and
limited, blocked reading stdin. The run writes the shell's script (change
to the work dir, export the run's environment, exec the command) and
sends a newline; the rest of stdin is the command's input. Each taken
shell is replaced by a background thread, so a run waits for the grace
period only when no shell is ready (the first run, or a burst).

A shell can also be held at a sandbox uid (`run_as`): bwrap, started by
root, then runs straight from it with no exec in between to drop
privileges (the drop ran while the shell was made). An idle shell made
for any session holds its uid (`uid`) until a session takes it.

A held shell starts no Python between fork and exec (subprocess can use
vfork), and exits by itself when its stdin closes, so an idle one never
outlives this process. Standard library only.
"""
from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import queue
import re
import resource
import shlex
import subprocess
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Mapping, Sequence

from workloads.sandbox.backends import drop_prefix, written_etc
from workloads.sandbox.cgroups import RunCgroup, remove_own
from workloads.sandbox.tempdir import own_directory
from workloads.sandbox.uids import SandboxUid

HOLD_SHELL = "/bin/sh"
# The script lives in a memfd of this process, opened read-only as fd 3
# (from /proc/<our pid>/fd/<n>, while still root), or, for a shell started
# at a sandbox uid, in a file of root's that the shell opens read-only and
# we unlink once it is ready: either way in no directory by the time a run
# is handed over, so code in a sandbox cannot plant or change the text a
# shell outside it runs next. The command itself gets no fd 3 (see
# command_script).
SCRIPT_FD = 3
OPEN_SCRIPT = f'exec {SCRIPT_FD}<"$1" || exit 125; shift; '
# The shell says it is ready (one byte on stdout), waits for a newline on
# stdin, then runs its script (written meanwhile), which becomes the
# command. A parent gone before the newline leaves it to exit 125 without
# running anything.
HOLD_SCRIPT = f'printf .; read -r _ || exit 125; . /proc/self/fd/{SCRIPT_FD}'
# Before holding at another uid: ready to be confined, then drop to it.
DROP_SCRIPT = 'printf .; read -r _ || exit 125; exec "$@"'
MAX_IDLE_PER_KIND = 64  # ready shells kept per (limits, cgroup) kind
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def _open_files(limits) -> int:
    # Never above our own hard limit: raising it needs CAP_SYS_RESOURCE.
    own_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return limits.open_files if own_hard == resource.RLIM_INFINITY else min(limits.open_files, own_hard)


def rlimits(limits) -> tuple:
    """(resource, soft, hard) of each limit a `Limits` sets on a run."""
    cpu_hard = limits.cpu_s + 1  # SIGXCPU at the soft limit, SIGKILL at the hard
    return ((resource.RLIMIT_CPU, limits.cpu_s, cpu_hard),
            (resource.RLIMIT_AS, limits.address_space_bytes, limits.address_space_bytes),
            (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
            (resource.RLIMIT_NPROC, limits.nproc, limits.nproc),
            (resource.RLIMIT_NOFILE, _open_files(limits), _open_files(limits)),
            (resource.RLIMIT_CORE, 0, 0))


def set_limits(pid: int, limits) -> None:
    """Apply a `Limits` to a process that has not executed anything yet."""
    for which, soft, hard in rlimits(limits):
        resource.prlimit(pid, which, (soft, hard))


# dash's ulimit: the option and unit of each limit. Other shells differ
# (bash's -p is the pipe size, its -f counts KiB outside POSIX mode).
ULIMIT_OPTIONS = {resource.RLIMIT_CPU: ("t", 1), resource.RLIMIT_AS: ("v", 1024),
                  resource.RLIMIT_FSIZE: ("f", 512), resource.RLIMIT_NPROC: ("p", 1),
                  resource.RLIMIT_NOFILE: ("n", 1), resource.RLIMIT_CORE: ("c", 1)}
# How /proc/<pid>/limits names them.
PROC_LIMIT_NAMES = {resource.RLIMIT_CPU: "Max cpu time", resource.RLIMIT_AS: "Max address space",
                    resource.RLIMIT_FSIZE: "Max file size", resource.RLIMIT_NPROC: "Max processes",
                    resource.RLIMIT_NOFILE: "Max open files", resource.RLIMIT_CORE: "Max core file size"}


def ulimit_script(limits) -> str | None:
    """Shell commands by which a shell at a sandbox uid sets `limits` on
    itself, the same as set_limits; None where it could not: a hard limit
    above our own (only prlimit, as root, may raise it), a limit that is
    not a whole number of ulimit's unit, or a HOLD_SHELL whose ulimit does
    not set what dash's would (checked once per limits)."""
    wanted = rlimits(limits)
    for which, _, hard in wanted:
        own_hard = resource.getrlimit(which)[1]
        if own_hard != resource.RLIM_INFINITY and hard > own_hard:
            return None
    return _checked_ulimit_script(HOLD_SHELL, wanted)


@lru_cache(maxsize=64)
def _checked_ulimit_script(shell: str, wanted: tuple) -> str | None:
    steps = []
    for which, soft, hard in wanted:
        option, unit = ULIMIT_OPTIONS[which]
        if soft % unit or hard % unit:
            return None
        steps.append(f"ulimit -{option} {hard // unit}")
        if soft != hard:
            steps.append(f"ulimit -S -{option} {soft // unit}")
    script = " && ".join(steps) + " || exit 125; "
    # The shell reads its own limits back after setting them: no exec.
    readback = 'while IFS= read -r line; do printf "%s\\n" "$line"; done < /proc/$$/limits'
    try:
        out = subprocess.run([shell, "-c", script + readback], capture_output=True, text=True,
                             timeout=10, cwd="/", env={"PATH": "/usr/bin:/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = {line[:26].strip(): line[26:].split()[:2] for line in out.splitlines()}
    for which, soft, hard in wanted:
        if found.get(PROC_LIMIT_NAMES[which]) != [str(soft), str(hard)]:
            return None
    return script


@dataclass
class HeldShell:
    proc: subprocess.Popen
    cgroup: RunCgroup
    script_fd: int  # memfd the run writes the shell's script into
    run_as: int | None = None  # the uid the shell runs as; None: ours
    uid: SandboxUid | None = None  # the uid's lock, while no session holds it
    # (kind, make) of the shells to ask the pool for once this one's run is
    # under way (see Sandbox._ask_for_owed).
    owed: list = field(default_factory=list)

    def start(self, script: str) -> None:
        """Hand the shell its script: it execs the run's command."""
        data = script.encode()
        os.ftruncate(self.script_fd, len(data))
        os.pwrite(self.script_fd, data, 0)
        os.write(self.proc.stdin.fileno(), b"\n")

    def discard(self, kill: bool = False) -> None:
        """End the shell: an idle one exits when its stdin closes; `kill`
        for one that may be running the command already."""
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        if kill:
            self.cgroup.kill()
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.cgroup.kill()
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.cgroup.close()
        self.forget_script()
        self.release_uid()

    def release_uid(self) -> None:
        """Drop the uid's lock (the shell has ended, or a fork copied it)."""
        if self.uid is not None:
            self.uid.release()
            self.uid = None

    def forget_script(self) -> None:
        """Once the run is over: the shell has read its script long ago."""
        if self.script_fd >= 0:
            os.close(self.script_fd)
            self.script_fd = -1


def hold_argv(script_path: str, run_as: int | None) -> list:
    """The held shell's command line: open the script, drop to `run_as`
    (when given), hold. The path stays in the holding shell's arguments,
    unused, naming whose shell it is."""
    if run_as is None:
        return [HOLD_SHELL, "-c", OPEN_SCRIPT + HOLD_SCRIPT, "fb-sandbox", script_path]
    # Limits are set while it still runs as us (without CAP_SYS_RESOURCE,
    # prlimit cannot reach another uid's process): it drops at a newline.
    return [HOLD_SHELL, "-c", OPEN_SCRIPT + DROP_SCRIPT, "fb-sandbox", script_path,
            *drop_prefix(run_as), HOLD_SHELL, "-c", HOLD_SCRIPT, "fb-sandbox", script_path]


def dropped_hold_argv(script_path: str, run_as: int, ulimits: str) -> list:
    """A held shell started at `run_as` straight away: it opens its script
    (a file of root's that only `run_as`'s group may read), limits itself
    and holds. One exec fewer than hold_argv's root shell that drops at a
    newline: each exec costs 0.6-1 ms of CPU on a VM, and a shell is made
    for every run while it runs."""
    return [*drop_prefix(run_as), HOLD_SHELL, "-c", OPEN_SCRIPT + ulimits + HOLD_SCRIPT, "fb-sandbox", script_path]


_script_dir: str | None = None
_script_numbers = itertools.count()


def script_file(run_as: int) -> tuple:
    """(fd, path) of a new empty file of root's (the fd writable), readable
    by `run_as`'s group only, in a directory only root writes to; the
    caller unlinks it once the held shell has opened it. Files a killed
    process left behind are removed on first use."""
    global _script_dir
    if _script_dir is None:
        path = os.path.join(written_etc(), "scripts")
        if not own_directory(path, 0o711, 0o022):
            raise OSError(f"{path} is not a directory only we may write to")
        os.chmod(path, 0o711)
        for name in os.listdir(path):
            pid = name.split("-", 1)[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(path, name))
        _script_dir = path
    # Random as well: a process killed before unlinking left its files,
    # named after a pid that comes round again.
    path = os.path.join(_script_dir, f"{os.getpid()}-{next(_script_numbers)}-{os.urandom(6).hex()}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o440)
    try:
        os.fchown(fd, os.geteuid(), run_as)
        os.fchmod(fd, 0o040)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return fd, path


def hold(env: Mapping[str, str], limits, use_cgroup: bool, run_as: int | None = None) -> HeldShell:
    """Start a shell (as `run_as`, when given), place it in fresh cgroups,
    limit it (`limits` None: no limits and no process cap) and wait until
    it is ready. Raises OSError when it cannot be confined."""
    ulimits = ulimit_script(limits) if limits is not None else ""
    if run_as is not None and ulimits is not None and os.geteuid() == 0:
        return _hold_dropped(env, limits, use_cgroup, run_as, ulimits)
    cgroup = _run_cgroup(limits, use_cgroup)
    script_fd = -1
    try:
        script_fd = os.memfd_create("fb-sandbox-script", os.MFD_CLOEXEC)
        # Read-only to all but us: the shell, once at run_as, opens it
        # again for reading, and no other process at that uid may write it.
        os.fchmod(script_fd, 0o444)
        proc = _start_shell(hold_argv(f"/proc/{os.getpid()}/fd/{script_fd}", run_as), env)
    except (OSError, AttributeError) as exc:  # AttributeError: no memfd_create (glibc < 2.27)
        if script_fd >= 0:
            os.close(script_fd)
        cgroup.close()
        raise OSError(f"cannot start a held shell: {exc}") from exc
    shell = HeldShell(proc, cgroup, script_fd, run_as)
    try:
        if run_as is not None:
            _ready(proc)
        cgroup.join(proc.pid)
        if limits is not None:
            set_limits(proc.pid, limits)
        if run_as is not None:
            os.write(proc.stdin.fileno(), b"\n")  # drop to run_as
        _ready(proc)
    except OSError:
        shell.discard()
        raise
    # Its start-up is not the run's CPU time.
    cgroup.restart_accounting()
    return shell


def _hold_dropped(env: Mapping[str, str], limits, use_cgroup: bool, run_as: int, ulimits: str) -> HeldShell:
    """hold() of a shell at `run_as` from its first exec: it limits itself
    (prlimit could not reach another uid's process without CAP_SYS_RESOURCE)
    and is placed in its cgroups once ready, before any run is handed to it."""
    cgroup = _run_cgroup(limits, use_cgroup)
    script_fd, path = -1, None
    try:
        script_fd, path = script_file(run_as)
        proc = _start_shell(dropped_hold_argv(path, run_as, ulimits), env)
    except OSError as exc:
        if script_fd >= 0:
            os.close(script_fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
        cgroup.close()
        raise OSError(f"cannot start a held shell: {exc}") from exc
    shell = HeldShell(proc, cgroup, script_fd, run_as)
    try:
        try:
            _ready(proc)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)  # opened (or never to be): in no directory from now on
        cgroup.join(proc.pid)
    except OSError:
        shell.discard()
        raise
    cgroup.restart_accounting()
    return shell


def _run_cgroup(limits, use_cgroup: bool) -> RunCgroup:
    """Fresh cgroups for a held shell: its run's process and memory caps."""
    caps = {"pids": limits.nproc, "memory": limits.memory_bytes} if limits else None
    return RunCgroup(caps, enabled=use_cgroup)


def _start_shell(argv: list, env: Mapping[str, str]) -> subprocess.Popen:
    """A held shell's process: behind pipes, in a session of its own."""
    return subprocess.Popen(argv, cwd="/", env=dict(env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _ready(proc: subprocess.Popen) -> None:
    if os.read(proc.stdout.fileno(), 1) != b".":
        raise OSError(f"the held shell exited early (status {proc.wait()})")


# A run's words are mostly the same backend arguments every time: short
# ones are quoted once (a long one, a script given inline, is not kept).
_quote_short = lru_cache(maxsize=4096)(shlex.quote)


def _quote(word: str) -> str:
    return _quote_short(word) if len(word) <= 256 else shlex.quote(word)


def command_script(workdir: str, env: Mapping[str, str], argv: Sequence[str]) -> str:
    """Shell text that enters `workdir`, exports `env` and execs `argv`."""
    # cd exports PWD and OLDPWD in dash: unset, the environment is exactly `env`.
    lines = [f"cd -- {_quote(workdir)} || exit 125", "unset OLDPWD PWD"]
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"environment variable name {name!r} is not a shell identifier")
        lines.append(f"export {name}={_quote(value)}")
    lines.append("exec " + " ".join(map(_quote, argv)) + f" {SCRIPT_FD}<&-")
    return "\n".join(lines) + "\n"


class WarmShells:
    """Ready `HeldShell`s by kind, refilled by a background thread."""

    def __init__(self) -> None:
        self._idle: dict = {}
        # Bumped when a kind is retired: shells queued before are not kept.
        # At most one kind per sandbox uid (uids.UID_COUNT) besides the shared ones.
        self._generation: dict = {}
        self._lock = threading.Lock()
        self._wanted: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self.drain)
        os.register_at_fork(after_in_child=self._forget_after_fork)

    def _forget_after_fork(self) -> None:
        """A forked child cannot use its parent's shells (only the parent
        can reap them) nor its refill thread: start empty."""
        global _pool_lock
        _pool_lock = threading.Lock()
        for ready in self._idle.values():
            for shell in ready:  # this process's copies of the pipes only
                for pipe in (shell.proc.stdin, shell.proc.stdout, shell.proc.stderr):
                    with contextlib.suppress(OSError):
                        pipe.close()
                shell.forget_script()
                shell.release_uid()  # this process's copy of the lock only
                shell.proc.returncode = 0  # not this process's child: never wait for it
        self._idle = {}
        self._generation = {}
        self._lock = threading.Lock()
        self._wanted = queue.Queue()
        self._thread = None

    def take(self, kind, make: Callable[[], HeldShell], refill: bool = True) -> HeldShell:
        """A ready shell of `kind`, or a new one made now; either way one
        more is made in the background for the next run (unless not
        `refill`: the caller asks for it with `want` when it suits)."""
        with self._lock:
            ready = self._idle.get(kind, [])
            shell = None
            while ready and shell is None:
                candidate = ready.pop()
                if candidate.proc.poll() is None:
                    shell = candidate
                else:
                    candidate.discard()  # died idle (killed from outside)
            if refill:
                self._queue(kind, make)
        return shell if shell is not None else make()

    def want(self, kind, make: Callable[[], HeldShell]) -> None:
        """Make one shell of `kind` in the background, for a run to come."""
        with self._lock:
            self._queue(kind, make)

    def retire(self, kind) -> None:
        """No run takes a shell of `kind` any more (its session's uid is
        released): end the ready ones, and those queued once made, even if
        the kind comes back later."""
        with self._lock:
            self._generation[kind] = self._generation.get(kind, 0) + 1
            shells = self._idle.pop(kind, [])
        for shell in shells:
            shell.discard()

    def _queue(self, kind, make: Callable[[], HeldShell]) -> None:
        """Ask the refill thread for a shell of `kind` (the lock is held)."""
        if self._thread is None:
            self._closed = False
            self._thread = threading.Thread(target=self._refill, name="sandbox-warm", daemon=True)
            self._thread.start()
        self._wanted.put((kind, make, self._generation.get(kind, 0)))

    def _wanted_still(self, kind, generation: int) -> bool:
        return not self._closed and self._generation.get(kind, 0) == generation  # the lock is held

    def _refill(self) -> None:
        while True:
            kind, make, generation = self._wanted.get()
            if kind is None:
                return
            with self._lock:
                if not self._wanted_still(kind, generation):
                    continue
            try:
                shell = make()
            except Exception:  # the next take makes its own and reports the problem
                continue
            with self._lock:
                keep = self._wanted_still(kind, generation) and len(self._idle.get(kind, ())) < MAX_IDLE_PER_KIND
                if keep:
                    self._idle.setdefault(kind, []).append(shell)
            if not keep:
                shell.discard()

    def drain(self) -> None:
        """End every idle shell and the refill thread (also at exit)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._wanted.put((None, None, 0))
            thread.join(timeout=10)
        with self._lock:
            shells = [s for ready in self._idle.values() for s in ready]
            self._idle = {}
        for shell in shells:
            shell.discard()
        # Exit handlers run last-registered first, so this process's cgroups
        # tried to go while these shells still sat in them: retry now.
        remove_own()


_pool: WarmShells | None = None
_pool_lock = threading.Lock()


def warm_shells() -> WarmShells:
    """The process's pool of ready shells, made (and its exit and fork
    hooks registered) on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WarmShells()
        return _pool


def drain() -> None:
    """End every ready shell, if the pool exists."""
    if _pool is not None:
        _pool.drain()
