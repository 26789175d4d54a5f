"""Work directories: where a session's files live, and how big they may grow.

Work dirs go to a memory file system when one has room: creating and
removing a directory on a journaling disk costs 1-2 ms a run on a VM,
more than the rest of the sandbox, and is not what these benchmarks
measure. Big trees (compile.source, compile.linux) ask for disk.

A work dir is `work` inside a directory of ours (mode 0711): the code
owns `work` but cannot rename it or put a link in its place, which a
sticky /tmp would let an owner do. As root, a work dir with a size limit
is a tmpfs of its own mounted there (about 50 us to mount and unmount),
owned by the session's uid with mode 0700: code in it can fill that
tmpfs, not the host's memory or disk. Work dirs are named after this
process, so those a killed process left behind (still mounted) are
removed by the next.
Standard library only.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
import threading
from functools import lru_cache

from workloads.sandbox.cgroups import mounts
from workloads.sandbox.tempdir import temp_dir

TMPFS_WORKDIR_PARENT = "/dev/shm"
TMPFS_MIN_FREE_BYTES = 1 << 30
PREFIX = "fb-sandbox-"
WORK = "work"
_MS_NOSUID, _MS_NODEV = 2, 4
_MNT_DETACH, _UMOUNT_NOFOLLOW = 2, 8


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
    return temp_dir()


@lru_cache(maxsize=None)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def can_size_limit() -> bool:
    return size_limit_problem() is None


@lru_cache(maxsize=None)
def size_limit_problem() -> str | None:
    """None when a tmpfs can be mounted on a work dir here (root with
    CAP_SYS_ADMIN: not in most containers), else why not; tried once."""
    if os.geteuid() != 0:
        return "only root can mount a tmpfs on a work dir"
    probe = tempfile.mkdtemp(prefix="fb-sandbox-probe-", dir=temp_dir())
    try:
        _mount_tmpfs(probe, 1 << 20, 0)
    except OSError as exc:
        return exc.strerror
    else:
        _unmount(probe)
    finally:
        os.rmdir(probe)
    return None


def _mount_tmpfs(path: str, size_bytes: int, owner: int) -> None:
    options = f"size={size_bytes},mode=0700,uid={owner},gid={owner}".encode()
    if _libc().mount(b"fb-sandbox-workdir", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options):
        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount a tmpfs on the work dir {path}: {os.strerror(err)}")


def _unmount(path: str) -> None:
    """Detach what is mounted on `path`, if anything (its files go with it);
    never through a link."""
    _libc().umount2(path.encode(), _MNT_DETACH | _UMOUNT_NOFOLLOW)


_swept: set = set()
_sweep_lock = threading.Lock()


def _remove_stale(parent: str) -> None:
    """Work dirs of factorybench processes that are gone (killed before
    cleaning up): unmounted and removed, once per parent and process."""
    with _sweep_lock:
        if (parent, os.getpid()) in _swept:
            return
        _swept.add((parent, os.getpid()))
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            pid = entry.name[len(PREFIX):].split("-", 1)[0]
            if (entry.name.startswith(PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}")
                    and entry.is_dir(follow_symlinks=False)):
                remove(os.path.join(entry.path, WORK))


def make(parent: str, owner: int | None, size_bytes: int | None) -> str:
    """A new work dir under `parent`, mode 0700, given to `owner` (a uid,
    also its gid) when not None; a tmpfs of `size_bytes` when given and
    we may mount."""
    _remove_stale(parent)
    outer = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)
    path = os.path.join(outer, WORK)
    try:
        os.chmod(outer, 0o711)
        os.mkdir(path, 0o700)
        if size_bytes and owner is not None and can_size_limit():
            _mount_tmpfs(path, size_bytes, owner)
        elif owner is not None:
            os.chown(path, owner, owner)
    except BaseException:
        remove(path)
        raise
    return path


def remove(path: str) -> None:
    """Remove a work dir made by `make` (`path` is its `work`)."""
    if can_size_limit():
        _unmount(path)
    outer = os.path.dirname(path)
    try:  # an unmounted tmpfs leaves two empty directories
        os.rmdir(path)
        os.rmdir(outer)
    except OSError:
        shutil.rmtree(outer, ignore_errors=True)
