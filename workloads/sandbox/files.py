"""The harness's file operations in a sandbox's work dir, symlink-safe.

Code in the sandbox owns its work dir: between two runs of a session it
may have replaced any name there by a link to a host file. Every
operation here works relative to a directory file descriptor and never
follows a link: directories are opened with O_NOFOLLOW, and a file is
written under a fresh name and renamed over the old one, which replaces
a planted link instead of writing through it. Standard library only.
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import PurePath
from typing import Iterator, Mapping

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePathError(OSError):
    """A name in the work dir is not what the harness may write through."""


def relative_parts(name: str) -> tuple:
    """The components of `name`, which must stay inside the work dir."""
    p = PurePath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"sandbox file name must be a relative path inside the work dir: {name!r}")
    return p.parts


@contextlib.contextmanager
def _open_dir(parent_fd: int | None, name: str) -> Iterator[int]:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(exc.errno, f"{name!r} in the work dir is a symbolic link or not a directory; "
                                             "not followed") from None
        raise
    try:
        yield fd
    finally:
        os.close(fd)


def write_files(workdir: str, files: Mapping[str, bytes], owner: tuple | None = None) -> None:
    """Write `files` (relative name: bytes) under `workdir`, creating
    directories; `owner` (uid, gid) for what is created, when the sandboxed
    code runs as another user."""
    with _open_dir(None, workdir) as root:
        for name, data in files.items():
            *dirs, leaf = relative_parts(name)
            _write_one(root, dirs, leaf, data, owner)


def _write_one(dir_fd: int, dirs: list, leaf: str, data: bytes, owner: tuple | None) -> None:
    if dirs:
        head, rest = dirs[0], dirs[1:]
        try:
            os.mkdir(head, 0o755, dir_fd=dir_fd)
            created = True
        except FileExistsError:  # a directory, or something planted: _open_dir checks
            created = False
        with _open_dir(dir_fd, head) as sub:
            if created and owner:
                os.fchown(sub, *owner)
            _write_one(sub, rest, leaf, data, owner)
        return
    # A fresh name, then rename: a planted link at `leaf` is replaced, never followed.
    tmp = f".fb-write-{secrets.token_hex(8)}"
    fd = os.open(tmp, _NEW_FILE_FLAGS, 0o644, dir_fd=dir_fd)
    try:
        with open(fd, "wb", closefd=False) as f:
            f.write(data)
        if owner:
            os.fchown(fd, *owner)
        os.rename(tmp, leaf, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    finally:
        os.close(fd)
