"""A throwaway PostgreSQL server: initdb in a temporary directory, unix
socket only, stopped and deleted afterwards.

Uses the Debian postgresql package's binaries (/usr/lib/postgresql/N/bin).
initdb and postgres refuse to run as root, so as root they run as the
`postgres` user (or `nobody`) through runuser.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "factorybench"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL binaries, or the server would not start."""


def postgres_bin_dir() -> Path | None:
    """The newest installed /usr/lib/postgresql/N/bin with initdb, if any."""
    candidates = []
    for path in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(path).parent.parent.name
        if version.isdigit():
            candidates.append((int(version), Path(path).parent))
    if candidates:
        return max(candidates)[1]
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerUnavailable("running as root and neither user postgres nor nobody exists")


class LocalPostgres:
    """with LocalPostgres() as server: connect to server.url"""

    def __init__(self, max_connections: int = 100, settings: dict | None = None):
        self.bin_dir = postgres_bin_dir()
        if self.bin_dir is None:
            raise ServerUnavailable("PostgreSQL server binaries not found (Debian package: postgresql)")
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.user = _run_as()
        self.root: Path | None = None

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@/postgres?host={self.socket_dir}"

    def _cmd(self, *args: str) -> list:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return prefix + [str(self.bin_dir / args[0]), *args[1:]]

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ServerUnavailable(f"{args[0]} failed: {' / '.join(tail)}")

    def start(self) -> "LocalPostgres":
        self.root = Path(tempfile.mkdtemp(prefix="factorybench-pg-"))
        data = self.root / "data"
        self.socket_dir.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            # --no-sync: the cluster is deleted afterwards; benchmark commits
            # still fsync (fsync=on in the running server).
            self._run("initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")
            options = [f"-c listen_addresses=''", f"-k {self.socket_dir}",
                       f"-c max_connections={self.max_connections}"]
            options += [f"-c {k}={v}" for k, v in self.settings.items()]
            self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"),
                      "-w", "-t", "60", "-o", " ".join(options), "start")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            # immediate: no shutdown checkpoint, the cluster is deleted next.
            subprocess.run(self._cmd("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"),
                           capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
