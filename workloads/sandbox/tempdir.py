"""Where the sandbox keeps what other uids rely on: the temp dir, unless
another user could rename or replace something on its path.

Root keeps files there that sandbox uids use or that decide what they
get: the /etc and /dev a bwrap sandbox binds, the scripts of held shells,
the uid locks, work dirs. A TMPDIR inside a directory another user owns
(a CI runner's, say, kept by sudo -E) lets that user move root's
directory aside and put one of theirs in its place after every check:
then a held shell opens their script and runs it outside the sandbox.
Standard library only.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from functools import lru_cache

FALLBACK = "/tmp"


def others_can_replace(path: str) -> bool:
    """Whether a user other than root and us could rename or replace `path`
    or a directory above it: one they own, or that others may write to
    without the sticky bit."""
    real = os.path.realpath(path)
    while True:
        try:
            st = os.stat(real)
        except OSError:
            return True
        if st.st_uid not in (0, os.geteuid()):
            return True
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            return True
        if real == "/":
            return False
        real = os.path.dirname(real)


@lru_cache(maxsize=None)
def temp_dir() -> str:
    """The temp dir (TMPDIR first, as tempfile finds it), resolved, where
    no other user can replace it; else /tmp."""
    found = os.path.realpath(tempfile.gettempdir())
    return FALLBACK if others_can_replace(found) else found


def own_directory(path: str, mode: int, forbidden: int) -> bool:
    """Make `path` a directory of `mode` unless something is there; whether
    it is now a directory of ours (no link) with none of the `forbidden`
    mode bits: another user may have made it first, or loosened it."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    st = os.lstat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & forbidden
