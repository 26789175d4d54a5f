"""A throwaway local PostgreSQL server: unix socket only, started and stopped
by the process that uses it.

Uses the Debian postgresql package's binaries (/usr/lib/postgresql/N/bin).
The postmaster is launched directly (not through `pg_ctl start`, which puts
it in a new session) as a child of the calling process, so it

* stays in the caller's process group: the runner's kill of a worker's
  process group on a timeout takes the server down with it;
* gets SIGQUIT (immediate shutdown) if its parent dies any other way
  (PR_SET_PDEATHSIG), so no server outlives the benchmark that started it.

The cluster lives in a temporary directory deleted by `stop()`, or, when
`cluster_dir` is given, in that directory, kept between runs so a loaded
dataset need not be loaded again (the directory is locked while a server
runs on it). initdb and postgres refuse to run as root, so as root they run
as the `postgres` user (or `nobody`).
"""
from __future__ import annotations

import ctypes
import fcntl
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

SUPERUSER = "factorybench"
START_TIMEOUT_S = 120.0  # crash recovery of a kept cluster may replay WAL
STOP_TIMEOUT_S = 60.0
# How long a killed predecessor on a kept cluster may take to be reaped.
STALE_SERVER_WAIT_S = 15.0
# Written into a kept cluster once initdb finished; a directory without it
# is a half-made cluster and is made again.
INITDB_DONE = "factorybench-initdb-complete"
ROOT_PREFIX = "factorybench-pg-"
STALE_ROOT_AGE_S = 300.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


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


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerUnavailable("running as root and neither user postgres nor nobody exists")


def _unreachable_by(user: pwd.struct_passwd | None, path: Path) -> Path | None:
    """The first directory on the way to `path` that `user` cannot enter."""
    if user is None:
        return None
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for directory in reversed([path, *path.parents]):
        try:
            st = directory.stat()
        except FileNotFoundError:
            return None  # made below, by us, for the server user
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return directory
    return None


def _die_with_parent() -> None:
    # Runs in the forked child after the switch to the server user (a
    # credential change would clear the setting), just before exec.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)


def installed_version() -> str | None:
    """Major version of the binaries LocalPostgres would use, if installed."""
    bin_dir = postgres_bin_dir()
    return None if bin_dir is None else _major_version(bin_dir)


def _major_version(bin_dir: Path) -> str:
    # Debian layout /usr/lib/postgresql/<major>/bin; else ask the binary.
    if bin_dir.parent.name.isdigit():
        return bin_dir.parent.name
    out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                         text=True).stdout
    return out.split()[-1].split(".")[0] if out.split() else "unknown"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_roots(min_age_s: float = STALE_ROOT_AGE_S) -> list:
    """Delete temporary server directories whose server is gone (left by a
    process killed before it could clean up); returns what was deleted."""
    removed = []
    for root in Path(tempfile.gettempdir()).glob(ROOT_PREFIX + "*"):
        try:
            if time.time() - root.stat().st_mtime < min_age_s:
                continue  # may be a server that is still starting
            lock = next((root / "socket").glob(".s.PGSQL.*.lock"), None)
            pid = int(lock.read_text().split()[0]) if lock else None
        except (OSError, ValueError, IndexError):
            pid = None
        if pid is None or not _pid_alive(pid):
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
    return removed


class LocalPostgres:
    """with LocalPostgres() as server: connect to server.url"""

    def __init__(self, max_connections: int = 100, settings: dict | None = None,
                 cluster_dir: str | Path | None = None):
        self.bin_dir = postgres_bin_dir()
        if self.bin_dir is None:
            raise ServerUnavailable("PostgreSQL server binaries not found (Debian package: postgresql)")
        self.version = _major_version(self.bin_dir)
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.cluster_dir = Path(cluster_dir) if cluster_dir is not None else None
        self.user = _server_user()
        self.root: Path | None = None  # temporary: socket, log, throwaway cluster
        self.process: subprocess.Popen | None = None
        self.cluster_reused = False
        # Why a requested kept cluster could not be used (then it is temporary).
        self.cluster_not_kept: str | None = None
        self._lock = None

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir if self.cluster_dir is not None else self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@/postgres?host={self.socket_dir}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def _as_server_user(self) -> dict:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def _give_to_server_user(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _initdb(self, data: Path) -> None:
        # --no-sync: a crash mid-initdb leaves no completion mark and the
        # cluster is made again; benchmark commits still fsync (fsync=on).
        result = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "-E", "UTF8", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, timeout=300, cwd=self.root, **self._as_server_user())
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ServerUnavailable(f"initdb failed: {' / '.join(tail)}")

    def _prepare_cluster(self) -> None:
        if self.cluster_dir is not None:
            blocked = _unreachable_by(self.user, self.cluster_dir.parent)
            if blocked is not None:
                self.cluster_not_kept = (f"user {self.user.pw_name} cannot enter {blocked}; "
                                         "the cluster was temporary")
                self.cluster_dir = None
        data = self.data_dir
        if self.cluster_dir is not None:
            self.cluster_dir.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.cluster_dir.parent / f"{self.cluster_dir.name}.lock", "a")
            fcntl.flock(self._lock, fcntl.LOCK_EX)  # one server per kept cluster
            done = data / INITDB_DONE
            same_version = (data / "PG_VERSION").is_file() and \
                (data / "PG_VERSION").read_text().strip() == self.version
            if done.is_file() and same_version:
                self.cluster_reused = True
                self._wait_for_previous_server(data)
                return
            shutil.rmtree(data, ignore_errors=True)
        data.mkdir(mode=0o700)
        self._give_to_server_user(data)
        self._initdb(data)
        (data / INITDB_DONE).write_text(f"initdb by factorybench, PostgreSQL {self.version}\n")

    def _wait_for_previous_server(self, data: Path) -> None:
        # A server killed with its worker stays a zombie until reaped, and
        # postgres refuses a lock file whose process still exists.
        try:
            pid = int((data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        deadline = time.monotonic() + STALE_SERVER_WAIT_S
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> "LocalPostgres":
        remove_stale_roots()
        self.root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX))
        try:
            self.socket_dir.mkdir()
            self._give_to_server_user(self.root)
            self._give_to_server_user(self.socket_dir)
            self._prepare_cluster()
            options = ["-c", "listen_addresses=", "-k", str(self.socket_dir),
                       "-c", f"max_connections={self.max_connections}"]
            for key, value in self.settings.items():
                options += ["-c", f"{key}={value}"]
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), *options],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=self.root, preexec_fn=_die_with_parent, **self._as_server_user())
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        # The postmaster writes "ready" as line 8 of postmaster.pid once it
        # accepts connections (what `pg_ctl start -w` waits for).
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerUnavailable(f"postgres exited with status {self.process.returncode}: "
                                        f"{self._log_tail()}")
            try:
                lines = pid_file.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[0].strip() == str(self.process.pid) \
                    and lines[7].strip() == "ready":
                return
            time.sleep(0.02)
        raise ServerUnavailable(f"postgres not ready after {START_TIMEOUT_S:g} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            lines = [l for l in self.log_path.read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            return "(no server log)"
        return " / ".join(lines[-3:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # A kept cluster gets a fast shutdown (checkpoint, clean next
            # start); a throwaway one an immediate shutdown, it is deleted next.
            self.process.send_signal(signal.SIGINT if self.cluster_dir is not None
                                     else signal.SIGQUIT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
