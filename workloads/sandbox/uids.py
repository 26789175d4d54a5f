"""A dedicated uid for each live sandbox, so no two can touch each other.

Sandboxed code runs as a uid of its own, taken from a small range no
login, service or subordinate-id range uses: processes of one sandbox
cannot signal, ptrace or read the files of another, nor count against
another's process limit. A uid is held by an exclusive `flock` on a file
named after it in a root-only directory, so concurrent factorybench
processes on one machine never hand out the same uid; the lock goes with
the holder, however it ends. Only root can run code as another uid; for
anyone else the sandboxes share the caller's uid and rely on their
namespaces. Standard library only.
"""
from __future__ import annotations

import errno
import fcntl
import itertools
import os
import tempfile
import threading
from dataclasses import dataclass

from workloads.sandbox.tempdir import own_directory, temp_dir

# Far above login uids (1000-59999), systemd's dynamic users (61184-65519),
# nobody (65534) and the usual subordinate ranges (100000 + 65536 per user).
FIRST_UID = 1_600_000_000
# Live sessions per machine: compile.test alone holds 2 x logical CPUs
# (352 on a 176-thread machine) at once, and several runs may share it.
UID_COUNT = 4096


class NoFreeUid(OSError):
    """Every sandbox uid is in use (a SandboxError for the caller)."""


@dataclass
class SandboxUid:
    uid: int
    _lock_fd: int

    def release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # drops the flock
            self._lock_fd = -1


_lock_dir: str | None = None
_dir_guard = threading.Lock()
_next = itertools.count()


def _lock_directory() -> str:
    """A directory only root can enter: sandboxed code (running as one of
    these uids) must not be able to take or hold the locks."""
    global _lock_dir
    with _dir_guard:
        if _lock_dir is None:
            path = os.path.join(temp_dir(), "factorybench-sandbox-uids")
            if not own_directory(path, 0o700, 0o077):
                # Someone else's, or loosened: use a private one instead.
                path = tempfile.mkdtemp(prefix="factorybench-sandbox-uids-", dir=temp_dir())
            _lock_dir = path
        return _lock_dir


def take() -> SandboxUid:
    """A uid no other live sandbox on this machine has, held until released.
    Uids are handed out round-robin, so one just released (its killed
    processes may still be on their way out) is the last to come back."""
    directory = _lock_directory()
    start = next(_next)
    for i in range(UID_COUNT):
        uid = FIRST_UID + (start + i) % UID_COUNT
        fd = os.open(os.path.join(directory, str(uid)),
                     os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise
        return SandboxUid(uid, fd)
    raise NoFreeUid(errno.EAGAIN, f"all {UID_COUNT} sandbox uids ({FIRST_UID}-{FIRST_UID + UID_COUNT - 1}) are in use")
