"""Writing output files so that a reader sees a whole file or none.

Every file factorybench writes for a user (result files, reports, exports)
goes through write_atomic: a temp file in the same directory, fsync,
rename. Files get the mode the umask gives any new file (a CI collector
running as another user must be able to read them). A full disk is one
DiskFull naming the path and the free space; the temp file is removed and a
previous version of the file is left as it was.
"""
from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path

from suite.errors import DiskFull

_FULL = (errno.ENOSPC, errno.EDQUOT)
TEMP_NAME = ".{name}.{token}.tmp"


def remove_temp_files(path: str | os.PathLike) -> None:
    """Remove temp files a killed writer of `path` left beside it."""
    path = Path(path)
    prefix, suffix = TEMP_NAME.format(name=path.name, token="|").split("|")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix):
            _unlink(path.parent / name)


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FULL


def free_space(path: str | os.PathLike) -> str:
    """Free space on the filesystem holding `path`, for messages."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = float(shutil.disk_usage(where).free)
    except OSError:
        return "unknown free space"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit} free" if unit == "B" else f"{free:.1f} {unit} free"
        free /= 1024
    raise AssertionError("unreachable")


def disk_full(path: str | os.PathLike, consequence: str = "") -> DiskFull:
    """The one-line error for a write to `path` that ran out of space."""
    tail = f"; {consequence}" if consequence else ""
    return DiskFull(f"cannot write {path}: disk full ({free_space(Path(path).parent)} "
                    f"on its filesystem){tail}")


def write_atomic(path: str | os.PathLike, data: str | bytes, exclusive: bool = False) -> Path:
    """Write `data` to `path` whole or not at all.

    exclusive: `path` must not exist yet (FileExistsError otherwise), so two
    writers choosing the same name can never overwrite each other.
    Raises DiskFull when the filesystem is full; other OSErrors propagate.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(TEMP_NAME.format(name=path.name, token=secrets.token_hex(4)))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            _link_exclusive(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        _unlink(tmp)
        if is_disk_full(exc):
            raise disk_full(path) from None
        raise
    _fsync_dir(path.parent)
    return path


def _link_exclusive(tmp: Path, path: Path) -> None:
    """Give the written temp file its name only if nothing has that name:
    link() fails with EEXIST atomically, and the file never appears empty."""
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        # A filesystem without hard links: reserve the name, then fill it.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename stands
    finally:
        os.close(fd)
