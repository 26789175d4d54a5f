"""The project as one archive for the hosts: unpacking one file takes
seconds where copying its files one by one over SSH takes minutes."""
from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from suite.errors import UserError
from suite.runner import COMMIT_FILE, PROJECT_ROOT, git_commit

# Never shipped: the controller's own environment, caches, results and VCS.
EXCLUDED = {".git", ".venv", ".cache", "results", "tests", "build", "dist", "__pycache__",
            ".pytest_cache", "node_modules"}


def _shipped(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = Path(info.name).parts
    if any(p in EXCLUDED or p.endswith((".egg-info", ".pyc")) for p in parts):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def project_archive(dest: Path, root: Path = PROJECT_ROOT) -> Path:
    """`dest`: a gzip tar of the project (what `./run.sh` needs on a host)."""
    if not (root / "pyproject.toml").exists() or not (root / "run.sh").exists():
        raise UserError(f"fleet: {str(root)!r} is not a factorybench project checkout "
                        "(no pyproject.toml and run.sh); run fleet from a checkout")
    commit = git_commit() if root == PROJECT_ROOT else None
    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        for entry in sorted(root.iterdir()):
            if entry.name != COMMIT_FILE:
                tar.add(entry, arcname=entry.name, filter=_shipped)
        if commit:  # the hosts' result files name the commit they ran
            data = commit.encode() + b"\n"
            info = tarfile.TarInfo(COMMIT_FILE)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return dest
