"""The sandbox's backends: how each isolates a command, and which work here.

Each backend is a command prefix the run's held shell execs (see warm.py;
as root, bwrap's shell already runs as the session's uid).
``bwrap`` starts bubblewrap with every namespace unshared, the user one
included, and binds only what compilers and interpreters need; ``unshare``
uses util-linux's unshare; ``rlimit`` only drops to the session's uid.
Whether one works is probed once per process, on first use. Standard
library only.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from workloads.sandbox import uids
from workloads.sandbox.files import write_files
from workloads.sandbox.tempdir import own_directory, temp_dir

BACKENDS = ("bwrap", "unshare", "rlimit", "none")  # strongest first
NAMESPACED_BACKENDS = ("bwrap", "unshare")  # a PID namespace per run; the only isolating ones
NOBODY = 65534
# The uid and gid sandboxed code has inside bwrap's user namespace (named
# "sandbox" in its /etc/passwd); outside it is the session's own uid.
INNER_ID = 1000
# Size of each private tmpfs (/tmp, /dev/shm, ...), unless the limits say otherwise.
SCRATCH_BYTES = 256 << 20


# -- binaries ---------------------------------------------------------------

_PYTHON_NAME = re.compile(r"python[0-9.]*$")


@lru_cache(maxsize=None)
def resolve_binary(name: str) -> str:
    """The real executable behind `name`, resolved once, before any timing.

    A pyenv shim is a script that costs ~80 ms per start; for Python the
    interpreter itself reports where it lives (a venv python is kept as is,
    since resolving its symlink would drop the venv).
    """
    path = name if "/" in name else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise FileNotFoundError(f"executable not found: {name}")
    if _PYTHON_NAME.match(os.path.basename(path)):
        out = subprocess.run(
            [path, "-c", "import sys; print(sys.executable)"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
        if out:
            return out
    return os.path.realpath(path)


def world_executable(path: str) -> bool:
    """Whether an unprivileged user can reach and execute `path` (checked
    before every run: plain strings, a third of what Path objects cost)."""
    real = os.path.realpath(path)
    try:
        if not os.stat(real).st_mode & 0o001:
            return False
        while real != "/":
            real = os.path.dirname(real)
            if not os.stat(real).st_mode & 0o001:
                return False
    except OSError:
        return False
    return True


# -- backends ---------------------------------------------------------------

def is_root() -> bool:
    return os.geteuid() == 0


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


@lru_cache(maxsize=None)
def loader_paths() -> tuple:
    """/bin, /lib and the like: symlinks into /usr on merged-/usr systems
    (recreated as such), else directories bound read-only."""
    args = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return tuple(args)


# What compilers and interpreters read from the host's /etc: the dynamic
# loader's cache and configuration, the alternatives (cc, c++ and the like
# are links through them), the time zone, and how names are looked up.
ETC_FROM_HOST = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf")
# Debian's JDKs keep their configuration (java.security, without which the
# JVM's compiler and digests fail) in /etc/java-<N>-openjdk.
ETC_FROM_HOST_GLOB = ("java-*-openjdk",)
# Written by us: no host account, no host name.
ETC_WRITTEN = {
    "passwd": f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
              f"sandbox:x:{INNER_ID}:{INNER_ID}:sandbox:/tmp:/bin/sh\n"
              f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/usr/sbin/nologin\n",
    "group": f"root:x:0:\nsandbox:x:{INNER_ID}:\nnogroup:x:{NOBODY}:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
}


@lru_cache(maxsize=None)
def written_etc() -> str:
    """A directory holding ETC_WRITTEN, readable by every sandbox uid and
    writable by us only (checked: another user may have made it first)."""
    base = os.path.join(temp_dir(), f"factorybench-sandbox-etc-{os.geteuid()}")
    if not own_directory(base, 0o755, 0o022):
        base = tempfile.mkdtemp(prefix="factorybench-sandbox-etc-", dir=temp_dir())
    os.chmod(base, 0o755)
    for name, text in ETC_WRITTEN.items():
        path = os.path.join(base, name)
        with contextlib.suppress(OSError), open(path) as f:
            if f.read() == text:
                continue
        write_files(base, {name: text.encode()})
    return base


def _copy_into(directory: str, name: str) -> None:
    source = os.path.join("/etc", name)
    target = os.path.join(directory, name)
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    elif os.path.isdir(source):
        shutil.copytree(source, target, symlinks=True)
    elif os.path.isfile(source):
        shutil.copy2(source, target)


def etc_from_host() -> tuple:
    """The names of ETC_FROM_HOST and what ETC_FROM_HOST_GLOB finds in /etc
    (looked for again only when /etc's entries change: a glob on every
    run cost more than the rest of bwrap's arguments)."""
    try:
        listing = os.stat("/etc").st_mtime_ns
    except OSError:
        listing = None
    return _etc_from_host(listing)


@lru_cache(maxsize=4)
def _etc_from_host(listing: int | None) -> tuple:
    found = sorted(os.path.basename(p) for g in ETC_FROM_HOST_GLOB for p in glob.glob(os.path.join("/etc", g)))
    return (*ETC_FROM_HOST, *found)


def sandbox_etc() -> str:
    """The bwrap sandbox's whole /etc, one read-only bind instead of one per
    file: copies of ETC_FROM_HOST and the ETC_WRITTEN files. Rebuilt
    (under a new name, so a running sandbox keeps its own) when a host
    file it copies changes, e.g. ldconfig or update-alternatives ran."""
    stamps = []
    for name in etc_from_host():
        try:
            st = os.lstat("/etc/" + name)
        except OSError:
            continue
        stamps.append((name, st.st_mtime_ns, st.st_size))
    return _sandbox_etc(tuple(stamps))


@lru_cache(maxsize=None)
def _sandbox_etc(stamps: tuple) -> str:
    key = hashlib.sha256(repr((stamps, ETC_WRITTEN)).encode()).hexdigest()[:16]
    path = os.path.join(written_etc(), f"etc-{key}")
    if os.path.isdir(path):
        return path
    building = tempfile.mkdtemp(prefix="building-", dir=written_etc())
    for name, *_ in stamps:
        _copy_into(building, name)
    write_files(building, {name: text.encode() for name, text in ETC_WRITTEN.items()})
    os.chmod(building, 0o755)
    try:
        os.rename(building, path)
    except OSError:  # another process built the same one meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return path


def world_traversable(path: str) -> bool:
    p = Path(path)
    try:
        return all(d.stat().st_mode & 0o001 for d in (p, *p.parents))
    except OSError:
        return False


@lru_cache(maxsize=None)
def interpreter_roots(unprivileged: bool) -> tuple:
    """The running Python's installation and venv when outside /usr, bound
    read-only so a sandbox can run this interpreter; none when the sandbox
    runs as an unprivileged uid that could not reach the interpreter."""
    executable = os.path.realpath(sys.executable)
    if unprivileged and not world_traversable(executable):
        return ()
    found = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)} | {sys.prefix, sys.base_prefix}
    return tuple(sorted(p for p in found if p != "/" and not under(p, "/usr") and os.path.isdir(p)
                        and (not unprivileged or world_traversable(p))))


def bwrap_visible(path: str, workdir: str, unprivileged: bool) -> bool:
    """Whether an absolute `path` exists inside a bwrap sandbox."""
    real = os.path.realpath(path)
    roots = ("/usr", workdir, *interpreter_roots(unprivileged))
    return any(under(real, r) for r in roots)


# The sandbox's /dev: the device nodes compilers and interpreters open, and
# the descriptor links. Not bwrap's --dev, whose devpts instance (no
# pseudo-terminals here) makes bwrap map the uid to 0 first and add a
# second, nested user namespace for --uid: a few hundred microseconds a run.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2"}
# Mount points inside /dev (the private /dev/shm tmpfs).
DEV_DIRS = ("shm",)


def bwrap_dev() -> list:
    """/dev as one read-only-to-the-code bind of `sandbox_dev()` where it can
    be made, else a tmpfs with a bind per node: each bind is a mount and a
    read of bwrap's mountinfo, together 0.2-0.4 ms a run."""
    made = sandbox_dev()
    if made is not None:
        return ["--dev-bind", made, "/dev"]
    nodes = [a for n in DEV_NODES for a in ("--dev-bind", f"/dev/{n}", f"/dev/{n}")]
    links = [a for n, target in DEV_LINKS.items() for a in ("--symlink", target, f"/dev/{n}")]
    return ["--tmpfs", "/dev", *nodes, *links]


def sandbox_dev() -> str | None:
    """A directory of root's holding the DEV_NODES (made like the host's),
    the DEV_LINKS and the DEV_DIRS, bound as the sandbox's whole /dev; the
    code cannot add to it. None where it cannot be made: not root, or
    device nodes do not work on the file system it would be on (nodev).
    Checked whole before its first use and whenever it changed since (one
    lstat a run): a /tmp cleaner (systemd-tmpfiles' age, 10 days on RHEL)
    removes its links and its empty shm but not its nodes, and without shm
    bwrap cannot start at all."""
    if not is_root():
        return None
    nodes = []
    for name in DEV_NODES:
        try:
            st = os.stat(os.path.join("/dev", name))
        except OSError:
            return None
        if not stat.S_ISCHR(st.st_mode):
            return None
        nodes.append((name, st.st_rdev, stat.S_IMODE(st.st_mode)))
    nodes = tuple(nodes)
    path = _sandbox_dev_path(nodes)
    if path is None:
        return None
    try:
        st = os.lstat(path)
        stamp = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        stamp = None
    if stamp is not None and _dev_found_whole.get(path) == stamp:
        return path
    return _make_sandbox_dev(path, nodes)


# Each dev directory's (inode, mtime, ctime) when last found whole: any
# entry added, removed or renamed, or the directory replaced, changes it.
_dev_found_whole: dict = {}


@lru_cache(maxsize=None)
def _sandbox_dev_path(nodes: tuple) -> str | None:
    base = written_etc()
    with contextlib.suppress(OSError):
        if os.statvfs(base).f_flag & os.ST_NODEV:
            return None
    key = hashlib.sha256(repr((nodes, DEV_LINKS, DEV_DIRS)).encode()).hexdigest()[:16]
    return os.path.join(base, f"dev-{key}")


def _make_sandbox_dev(path: str, nodes: tuple) -> str | None:
    """`path` checked whole, else (re)built: None when it cannot be."""
    if path in _dev_cannot_be_made:
        return None
    if not _dev_is_whole(path, nodes):
        building = _build_dev(os.path.dirname(path), nodes)
        if building is None:
            _dev_cannot_be_made.add(path)
            return None
        try:
            os.rename(building, path)  # none there (or an empty directory)
        except OSError:
            if _dev_is_whole(path, nodes):  # another process made it meanwhile
                shutil.rmtree(building, ignore_errors=True)
            else:
                _replace_stale(path, building)
        if not _dev_is_whole(path, nodes):
            _dev_cannot_be_made.add(path)
            return None
    st = os.lstat(path)
    _dev_found_whole[path] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return path


_dev_cannot_be_made: set = set()  # e.g. device nodes there do not open


def _dev_is_whole(path: str, nodes: tuple) -> bool:
    """Whether `path` is a dev directory of ours with exactly what
    _build_dev puts in one, its nodes usable."""
    def ours(st, kind, mode: int | None = 0o755) -> bool:
        return kind(st.st_mode) and st.st_uid == os.geteuid() and (mode is None or stat.S_IMODE(st.st_mode) == mode)
    try:
        if not ours(os.lstat(path), stat.S_ISDIR):
            return False
        if sorted(os.listdir(path)) != sorted((*(n for n, *_ in nodes), *DEV_LINKS, *DEV_DIRS)):
            return False
        for name, rdev, mode in nodes:
            st = os.lstat(os.path.join(path, name))
            if not ours(st, stat.S_ISCHR, mode) or st.st_rdev != rdev:
                return False
        for name, target in DEV_LINKS.items():
            link = os.path.join(path, name)
            if not ours(os.lstat(link), stat.S_ISLNK, None) or os.readlink(link) != target:
                return False
        for name in DEV_DIRS:
            if not ours(os.lstat(os.path.join(path, name)), stat.S_ISDIR) or os.listdir(os.path.join(path, name)):
                return False
        os.close(os.open(os.path.join(path, "null"), os.O_WRONLY))  # fails on a nodev mount
    except OSError:
        return False
    return True


def _build_dev(base: str, nodes: tuple) -> str | None:
    """A new dev directory in `base` under a temporary name, or None."""
    building = tempfile.mkdtemp(prefix="building-", dir=base)
    try:
        for name, rdev, mode in nodes:
            node = os.path.join(building, name)
            os.mknod(node, stat.S_IFCHR | mode, rdev)
            os.chmod(node, mode)  # mknod applies the umask
        for name, target in DEV_LINKS.items():
            os.symlink(target, os.path.join(building, name))
        for name in DEV_DIRS:
            os.mkdir(os.path.join(building, name))
            os.chmod(os.path.join(building, name), 0o755)
        os.chmod(building, 0o755)
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
        return None
    return building


def _replace_stale(path: str, building: str) -> None:
    """Put the directory `building` at `path` in place of what is there."""
    with contextlib.suppress(OSError):
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            aside = tempfile.mkdtemp(prefix="stale-", dir=os.path.dirname(path))
            try:
                os.rename(path, aside)  # onto an empty directory: replaces it
            finally:
                shutil.rmtree(aside, ignore_errors=True)
    try:
        os.rename(building, path)
    except OSError:  # another process put one there meanwhile
        shutil.rmtree(building, ignore_errors=True)


def bwrap_prefix(workdir: str, unprivileged: bool = False, scratch_bytes: int = SCRATCH_BYTES) -> list:
    """bwrap's arguments. `unprivileged`: root starts it as a sandbox uid
    (a shell held at that uid, see warm.py), so the user namespace belongs
    to nobody privileged and binds only what that uid can reach.

    bwrap runs from a held shell that started a session of its own when it
    was made (warm.py), ahead of the run: the sandbox has no controlling
    terminal and shares its session with nothing but its own bwrap. So no
    --new-session, a second setsid at run time, which also made the kernel
    a scheduler autogroup per run (slower to get a CPU on a busy machine)."""
    interpreters = [a for p in interpreter_roots(unprivileged) for a in ("--ro-bind", p, p)]
    size = str(scratch_bytes)
    return [
        "bwrap", "--unshare-all", "--unshare-user", "--uid", str(INNER_ID), "--gid", str(INNER_ID),
        "--hostname", "sandbox", "--die-with-parent", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr", *loader_paths(), "--ro-bind", sandbox_etc(), "/etc",
        *bwrap_dev(), "--proc", "/proc",
        "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm",
        *interpreters, "--bind", workdir, workdir, "--chdir", workdir,
        "--remount-ro", "/",  # bwrap's own root tmpfs: unbounded but for the run's memory
        "--",
    ]


# Covered by an empty private tmpfs under unshare: the scratch space the
# host and other sandboxes share, and where homes, keys and sockets live.
# Directory: its mode (the scratch ones are shared by every user, sticky).
UNSHARE_PRIVATE_DIRS = {"/tmp": "1777", "/var/tmp": "1777", "/dev/shm": "1777", "/run": "755",
                        "/home": "755", "/root": "700", "/mnt": "755", "/media": "755", "/srv": "755"}
# Runs as root inside the new namespaces, before dropping to the session's
# uid: mounts the private dirs ($0 is their fstab), then binds the work dir
# (the cwd, which a private dir may now hide) back at its own path ($1).
UNSHARE_SETUP = ('mount --all --fstab "$0" || exit 125; '
                 'mkdir -p "$1" && mount --no-canonicalize --bind /proc/self/cwd "$1" && cd "$1" || exit 125; '
                 'shift; exec "$@"')


@lru_cache(maxsize=None)
def unshare_fstab(scratch_bytes: int) -> str:
    """An fstab of UNSHARE_PRIVATE_DIRS (those that are real directories
    here) as tmpfs of `scratch_bytes` each. The source name differs from
    the host's own tmpfs mounts, so `mount --all` never takes one of them
    for already mounted."""
    lines = [f"fb-sandbox-private {d} tmpfs size={scratch_bytes},mode={mode},nosuid,nodev 0 0"
             for d, mode in UNSHARE_PRIVATE_DIRS.items() if os.path.isdir(d) and not os.path.islink(d)]
    name = f"fstab-{scratch_bytes}"
    write_files(written_etc(), {name: ("\n".join(lines) + "\n").encode()})
    return os.path.join(written_etc(), name)


def unshare_prefix(workdir: str, run_as: int | None = None, scratch_bytes: int = SCRATCH_BYTES) -> list:
    """unshare's arguments: new PID (with its own /proc), mount, network,
    IPC and UTS namespaces; as root the code then drops to `run_as`, else
    it runs as the caller mapped to root in a user namespace."""
    user = [] if run_as is not None else ["--user", "--map-root-user"]
    drop = confined_drop_prefix(run_as) if run_as is not None else []
    return ["unshare", "--net", "--pid", "--ipc", "--uts", "--mount", "--fork", "--kill-child",
            "--mount-proc", *user, "--", "/bin/sh", "-c", UNSHARE_SETUP,
            unshare_fstab(scratch_bytes), workdir, *drop]


def setpriv_prefix(run_as: int, no_new_privs: bool = False) -> list:
    return ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--clear-groups",
            *(["--no-new-privs"] if no_new_privs else []), "--"]


def drop_prefix(run_as: int) -> list:
    """The command prefix by which root drops to `run_as` (uid and gid,
    no supplementary groups, no capabilities) and execs the rest. Given no
    namespace, util-linux's unshare (2.38+) does just that; setpriv first
    looks the number up as a user and group name in the user database
    (nsswitch's modules loaded and asked each time): 0.4-0.5 ms more a
    drop on a VM, and a ready shell is made with one for every run."""
    if unshare_drops():
        return ["unshare", f"--setgid={run_as}", f"--setuid={run_as}", "--"]
    return setpriv_prefix(run_as)


def confined_drop_prefix(run_as: int) -> list:
    """drop_prefix for the code itself: also no_new_privs, so a setuid or
    file-capability program of the host's (su, mount, pkexec, ...) runs
    with the code's uid and no capabilities instead of root's (bwrap sets
    it for what it runs). One exec: setpriv, whose user-database lookup
    costs less than a second exec."""
    return setpriv_prefix(run_as, no_new_privs=True)


@lru_cache(maxsize=None)
def unshare_drops() -> bool:
    """Whether the installed unshare has --setuid and --setgid (asked once)."""
    try:
        usage = subprocess.run(["unshare", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--setuid" in usage and "--setgid" in usage


def probe(argv: list, cwd: str) -> str | None:
    """None when `argv` runs /bin/true successfully in `cwd`, else why not."""
    try:
        r = subprocess.run(argv + ["/bin/true"], capture_output=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip().splitlines()
        return msg[-1] if msg else f"exit status {r.returncode}"
    return None


@lru_cache(maxsize=None)
def backend_problem(backend: str) -> str | None:
    """None when `backend` works on this machine, else the reason."""
    if backend == "none" or backend == "rlimit" and not is_root():
        return None
    if backend not in BACKENDS:
        return "unknown backend"
    # Root drops to a sandbox uid: bwrap's ready shells with unshare --setuid
    # or setpriv, the code of the others with setpriv (for no_new_privs).
    if is_root() and not shutil.which("setpriv") and (backend != "bwrap" or not unshare_drops()):
        return "setpriv not installed (package util-linux)"
    if backend == "rlimit":
        return None
    if not shutil.which(backend):
        package = "bubblewrap" if backend == "bwrap" else "util-linux"
        return f"{backend} not installed (package {package})"
    uid = uids.take() if is_root() else None
    try:
        with tempfile.TemporaryDirectory(prefix="fb-probe-", dir=temp_dir()) as d:
            run_as = uid.uid if uid else None
            if run_as is not None:
                os.chown(d, run_as, run_as)
            if backend == "bwrap":
                prefix = (drop_prefix(run_as) if run_as is not None else []) + bwrap_prefix(d, run_as is not None)
            else:
                prefix = unshare_prefix(d, run_as)
            problem = probe(prefix, d)
    finally:
        if uid:
            uid.release()
    if problem is None:
        return None
    who = " as an unprivileged uid" if backend == "bwrap" and uid else ""
    return f"{backend} cannot create namespaces{who}: {problem}"


def available_backends() -> list:
    """Backends that work on this machine, strongest first; only bwrap and
    unshare isolate ("none" is always accepted too, but not listed)."""
    return [b for b in BACKENDS[:-1] if backend_problem(b) is None]


def weakness(backend: str) -> str | None:
    if backend == "bwrap":
        return None
    why_not_bwrap = backend_problem("bwrap") or "another backend was requested"
    missing = {
        "unshare": "the host's file system stays visible (read-only by file permissions)",
        "rlimit": "no isolation: network, processes and files are shared with the host, "
                  "beyond file permissions and a uid of its own",
        "none": "no isolation and no limits at all",
    }[backend]
    return f"sandbox backend {backend} is weaker than bwrap ({why_not_bwrap}): {missing}"
