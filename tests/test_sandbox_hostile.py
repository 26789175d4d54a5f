"""Hostile snippets through `Sandbox(...).run`, under every backend.

Each snippet is code an agent might write to get out: at host files and
secrets, the network, other processes, a concurrent sandbox, the harness
(through planted links), past the run's end, or through the machine's
memory, disk and descriptors. For each backend it is either contained, or
not isolated by design (the rlimit backend shares the host's network,
processes and files). bwrap and unshare must contain every one.

The outcome table (snippet x backend) is printed at the end of the test
session (tests/conftest.py); the README's sandbox section summarizes it.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable

import psutil
import pytest

from workloads.sandbox import Limits, Sandbox, SandboxError, available_backends
from workloads.sandbox import warm, workdirs
from workloads.sandbox.cgroups import cgroup_parent
from workloads.sandbox.core import MAX_CAPTURE_BYTES

BACKENDS = available_backends()
IS_ROOT = os.geteuid() == 0
MARK = f"fbhostile{os.getpid()}{secrets.token_hex(3)}"
# What rlimit, which isolates nothing, is not expected to contain.
BY_DESIGN = {"rlimit"}
CONTAINED, BY_DESIGN_NOTE = "contained", "not isolated by design"


# -- what the host offers to attack ---------------------------------------------

class Host:
    """Listeners, files, a key, a service process and a concurrent
    sandbox per backend, all planted by the test, all removed after it."""

    def __init__(self, base: str) -> None:
        self.base = base  # world-writable: only isolation keeps a sandbox out
        os.makedirs(base, mode=0o1777)
        os.chmod(base, 0o1777)  # like /tmp: sticky
        self.secret_file = os.path.join(base, "secret")
        with open(self.secret_file, "w") as f:
            f.write(f"host-secret-{MARK}\n")
        os.chmod(self.secret_file, 0o644)
        self.hits: list = []
        self._closers: list = []
        self._closing = threading.Event()
        self.tcp_port = self._tcp()
        self.udp_port = self._udp()
        self.abstract = f"\0{MARK}-abstract"
        self._unix(self.abstract)
        self.run_socket = None
        if os.path.isdir("/run") and os.access("/run", os.W_OK):
            self.run_socket = f"/run/{MARK}.sock"
            self._unix(self.run_socket)
            os.chmod(self.run_socket, 0o777)
        self.ssh_key = None
        if IS_ROOT:
            os.makedirs("/root/.ssh", mode=0o700, exist_ok=True)
            self.ssh_key = f"/root/.ssh/{MARK}_key"
            with open(self.ssh_key, "w") as f:
                f.write(f"-----BEGIN OPENSSH PRIVATE KEY----- {MARK}\n")
            os.chmod(self.ssh_key, 0o600)
        # A setuid-root program of the host's (as su, mount or pkexec are),
        # outside the scratch dirs a sandbox hides: it prints its euid.
        self.setuid_dir = self.setuid_id = None
        if IS_ROOT:
            self.setuid_dir = tempfile.mkdtemp(prefix=f"{MARK}-setuid-", dir="/var/lib")
            os.chmod(self.setuid_dir, 0o755)
            self.setuid_id = os.path.join(self.setuid_dir, "id")
            shutil.copy(shutil.which("id"), self.setuid_id)
            os.chmod(self.setuid_id, 0o4755)
        # Another service on the machine, with a secret in its environment.
        self.service = subprocess.Popen(["sleep", f"600.{MARK[-6:].translate(str.maketrans('abcdef', '123456'))}"],
                                        env={"PATH": "/usr/bin:/bin", "FB_SERVICE_SECRET": f"svc-{MARK}"})
        self.victims: dict = {}

    def _accept_loop(self, sock: socket.socket, kind: str) -> None:
        sock.settimeout(0.2)
        while not self._closing.is_set():
            try:
                if sock.type == socket.SOCK_DGRAM:
                    data = sock.recv(256)
                    self.hits.append((kind, data))
                else:
                    conn, _ = sock.accept()
                    self.hits.append((kind, b"connect"))
                    conn.close()
            except (socket.timeout, OSError):
                continue

    def _listen(self, sock: socket.socket, kind: str) -> None:
        t = threading.Thread(target=self._accept_loop, args=(sock, kind), daemon=True)
        t.start()
        self._closers.append((sock, t))

    def _tcp(self) -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        self._listen(s, "tcp")
        return s.getsockname()[1]

    def _udp(self) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self._listen(s, "udp")
        return s.getsockname()[1]

    def _unix(self, address: str) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.bind(address)
        s.listen(8)
        self._listen(s, address)

    def fresh_target(self, name: str) -> str:
        """A world-writable host file of its own for one attempt."""
        path = os.path.join(self.base, f"target-{name}")
        with open(path, "w") as f:
            f.write("unchanged\n")
        os.chmod(path, 0o666)
        return path

    def hit(self, kind: str) -> bool:
        time.sleep(0.05)  # a datagram may still be on its way
        return any(k == kind for k, _ in self.hits)

    def victim(self, backend: str) -> "Victim":
        """A concurrent sandbox of `backend` holding secrets, started once."""
        if backend not in self.victims:
            self.victims[backend] = Victim(backend)
        return self.victims[backend]

    def close(self) -> None:
        for victim in self.victims.values():
            victim.stop()
        self._closing.set()
        for sock, t in self._closers:
            t.join(timeout=2)
            sock.close()
        self.service.kill()
        self.service.wait()
        for path in (self.run_socket, self.ssh_key):
            if path and os.path.exists(path):
                os.remove(path)
        shutil.rmtree(self.base, ignore_errors=True)
        if self.setuid_dir:
            shutil.rmtree(self.setuid_dir, ignore_errors=True)


class Victim:
    """A sandbox running long, with a secret in its environment and work dir."""

    def __init__(self, backend: str) -> None:
        self.arg = f"300.{int(secrets.token_hex(3), 16)}"
        self.secret = f"victim-{MARK}"
        self.sandbox = Sandbox(backend=backend, timeout_s=300)
        self._session_cm = self.sandbox.session()
        self.session = self._session_cm.__enter__()
        self.result: list = []
        script = f"echo {self.secret} > secret; exec sleep {self.arg}"
        self.thread = threading.Thread(target=lambda: self.result.append(
            self.session.run(["sh", "-c", script], env={"FB_VICTIM_SECRET": self.secret})))
        self.thread.start()
        deadline = time.monotonic() + 10
        while self.pid() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.pid() is not None, "the victim sandbox did not start"

    def pid(self) -> int | None:
        for p in psutil.process_iter(["cmdline"]):
            if (p.info["cmdline"] or [""])[-1] == self.arg:
                return p.pid
        return None

    @property
    def path(self) -> str:
        return self.session.path

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            psutil.Process(pid).kill()
        self.thread.join(timeout=20)
        self._session_cm.__exit__(None, None, None)


# -- running a snippet -----------------------------------------------------------

def python(backend: str) -> str:
    try:
        return Sandbox(backend=backend).executable("python3")
    except SandboxError as exc:
        pytest.skip(str(exc))


def run_py(backend: str, code: str, *args: str, limits: Limits = Limits(), timeout: float = 10, **kw):
    return Sandbox(backend=backend, limits=limits, timeout_s=timeout, **kw).run(
        [python(backend), "-c", code, *args])


def run_sh(backend: str, script: str, *, limits: Limits = Limits(), timeout: float = 10):
    return Sandbox(backend=backend, limits=limits, timeout_s=timeout).run(["sh", "-c", script])


def gone(marker: str) -> bool:
    """No process of ours or anyone's has `marker` in its command line."""
    time.sleep(0.2)
    return not [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


@dataclass(frozen=True)
class Snippet:
    name: str
    category: str
    attempt: Callable  # (backend, host) -> (contained, detail)
    by_design: frozenset = frozenset(BY_DESIGN)
    needs: Callable = lambda host: None  # a reason to skip, or None


SNIPPETS: list = []


def snippet(category: str, *, by_design=BY_DESIGN, needs=lambda host: None):
    def register(fn):
        SNIPPETS.append(Snippet(fn.__name__, category, fn, frozenset(by_design), needs))
        return fn
    return register


# -- file writes and reads outside the sandbox -------------------------------------

@snippet("files")
def write_a_new_file_in_a_host_directory(backend, host):
    path = os.path.join(host.base, f"new-{backend}")
    res = run_sh(backend, f"echo pwned > {path}")
    return not os.path.exists(path), res.stderr[-200:]


@snippet("files")
def overwrite_a_world_writable_host_file(backend, host):
    target = host.fresh_target(f"overwrite-{backend}")
    run_sh(backend, f"echo pwned > {target}")
    return open(target).read() == "unchanged\n", ""


@snippet("files", by_design=())
def write_into_etc_and_the_root_directory(backend, host):
    run_sh(backend, f"echo x > /etc/{MARK}; echo x > /{MARK}; echo x > ../{MARK}")
    return not any(os.path.exists(p) for p in (f"/etc/{MARK}", f"/{MARK}")), ""


@snippet("files")
def read_a_world_readable_host_file(backend, host):
    res = run_sh(backend, f"cat {host.secret_file}")
    return MARK.encode() not in res.stdout, res.stdout[:80]


@snippet("files")
def leave_files_in_the_hosts_scratch_dirs(backend, host):
    names = [f"/tmp/{MARK}-{backend}", f"/var/tmp/{MARK}-{backend}", f"/dev/shm/{MARK}-{backend}"]
    run_sh(backend, "; ".join(f"head -c 1048576 /dev/zero > {n}" for n in names))
    left = [n for n in names if os.path.exists(n)]
    for n in left:
        os.remove(n)
    return not left, f"left {left}"


@snippet("files", by_design=())
def add_to_dev_or_make_a_device_node(backend, host):
    # bwrap's /dev is a directory of root's on the host, bound whole.
    res = run_sh(backend, f"touch /dev/{MARK} && echo made file; mkdir /dev/{MARK}d && echo made dir; "
                          f"ln -s / /dev/{MARK}l && echo made link; mknod $HOME/{MARK}m c 1 1 && echo made node; "
                          f"mknod /dev/shm/{MARK}m c 1 1 && head -c 1 /dev/shm/{MARK}m >/dev/null && echo read node")
    from workloads.sandbox.backends import sandbox_dev
    dirs = ["/dev", *([sandbox_dev()] if sandbox_dev() else [])]
    left = [os.path.join(d, n) for d in dirs for n in os.listdir(d) if n.startswith(MARK)]
    for path in left:
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    return b"made" not in res.stdout and b"read" not in res.stdout and not left, res.stdout[:80] + str(left).encode()


@snippet("files")
def list_home_directories(backend, host):
    res = run_sh(backend, "ls -A /home 2>/dev/null | head -5")
    host_home = sorted(os.listdir("/home")) if os.path.isdir("/home") else []
    return not host_home or not res.stdout.strip(), res.stdout[:80]


# -- secrets ---------------------------------------------------------------------

@snippet("secrets", by_design=())
def read_etc_shadow(backend, host):
    res = run_sh(backend, "cat /etc/shadow /etc/gshadow")
    return b"root:" not in res.stdout, res.stdout[:40]


@snippet("secrets", by_design=(), needs=lambda host: None if host.ssh_key else "plants a key in /root only as root")
def read_a_key_in_root_ssh(backend, host):
    res = run_sh(backend, f"cat {host.ssh_key}; cat /root/.ssh/* 2>/dev/null")
    return MARK.encode() not in res.stdout, res.stdout[:40]


@snippet("secrets", by_design=())
def read_another_services_environment(backend, host):
    res = run_sh(backend, f"cat /proc/{host.service.pid}/environ; cat /proc/*/environ 2>/dev/null")
    return f"svc-{MARK}".encode() not in res.stdout, ""


@snippet("secrets", by_design=())
def read_the_harness_memory(backend, host):
    res = run_py(backend, f"""
try:
    with open('/proc/{os.getpid()}/mem', 'rb') as f:
        f.read(1)
    print('read')
except OSError as e:
    print('denied', e.errno)""")
    return b"read" not in res.stdout, res.stdout[:80]


# -- privileges -------------------------------------------------------------------

@snippet("privileges", by_design=(),
         needs=lambda host: None if host.setuid_id else "plants a setuid-root program only as root")
def gain_root_through_a_setuid_program(backend, host):
    res = run_sh(backend, f"{host.setuid_id} -u")
    return res.stdout.strip() != b"0", res.stdout[:40] + res.stderr[-80:]


# -- network and sockets ------------------------------------------------------------

@snippet("network")
def connect_to_a_loopback_tcp_listener(backend, host):
    run_py(backend, f"""
import socket
s = socket.socket(); s.settimeout(1)
try: s.connect(('127.0.0.1', {host.tcp_port}))
except OSError: pass""")
    return not host.hit("tcp"), ""


@snippet("network")
def send_a_udp_datagram_to_loopback(backend, host):
    run_py(backend, f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try: s.sendto(b'{backend}', ('127.0.0.1', {host.udp_port}))
except OSError: pass""")
    return not host.hit("udp"), ""


@snippet("network")
def connect_to_a_host_abstract_unix_socket(backend, host):
    run_py(backend, f"""
import socket
s = socket.socket(socket.AF_UNIX)
try: s.connect({host.abstract!r})
except OSError: pass""")
    return not host.hit(host.abstract), ""


@snippet("network", needs=lambda host: None if host.run_socket else "/run not writable")
def connect_to_a_host_unix_socket_under_run(backend, host):
    run_py(backend, f"""
import socket
s = socket.socket(socket.AF_UNIX)
try: s.connect({host.run_socket!r})
except OSError: pass""")
    return not host.hit(host.run_socket), ""


@snippet("network")
def see_the_hosts_network_interfaces(backend, host):
    res = run_py(backend, "import socket\nprint(' '.join(n for _, n in socket.if_nameindex()))")
    return res.stdout.split() in ([b"lo"], []), res.stdout[:80]


@snippet("network", by_design=())
def open_a_raw_packet_socket(backend, host):
    res = run_py(backend, """
import socket
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); print('opened')
except OSError as e: print('denied', e.errno)""")
    return b"opened" not in res.stdout, res.stdout[:80]


# -- /proc snooping -------------------------------------------------------------------

@snippet("proc")
def read_host_command_lines(backend, host):
    res = run_sh(backend, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
    return b"pytest" not in res.stdout and b"600." not in res.stdout, ""


@snippet("proc")
def count_the_hosts_processes(backend, host):
    res = run_sh(backend, "ls /proc | grep -c '^[0-9]'")
    return int(res.stdout or 0) < 10, res.stdout.strip()


@snippet("proc", by_design=())
def list_the_harness_open_files(backend, host):
    res = run_sh(backend, f"ls -l /proc/{os.getpid()}/fd/ 2>/dev/null | grep -c -- '->'")
    return int(res.stdout or 0) == 0, res.stdout.strip()


# -- concurrent-sibling attacks ---------------------------------------------------------

@snippet("siblings", by_design=())
def read_a_concurrent_sandboxs_environment(backend, host):
    victim = host.victim(backend)
    res = run_sh(backend, f"cat /proc/{victim.pid()}/environ; cat /proc/*/environ 2>/dev/null")
    return victim.secret.encode() not in res.stdout, ""


@snippet("siblings", by_design=())
def read_a_concurrent_sandboxs_work_dir(backend, host):
    victim = host.victim(backend)
    res = run_sh(backend, f"cat {victim.path}/secret; ls {victim.path}")
    return victim.secret.encode() not in res.stdout, res.stdout[:80]


@snippet("siblings", by_design=())
def write_into_a_concurrent_sandboxs_work_dir(backend, host):
    victim = host.victim(backend)
    run_sh(backend, f"echo x > {victim.path}/planted")
    return not os.path.exists(os.path.join(victim.path, "planted")), ""


@snippet("siblings", by_design=())
def ptrace_a_concurrent_sandbox(backend, host):
    victim = host.victim(backend)
    res = run_py(backend, f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def victim(p):
    try: return open(f'/proc/{{p}}/cmdline').read().split('\\0')[-2:-1] == [{victim.arg!r}]
    except OSError: return False
pids = [{victim.pid()}] + [int(p) for p in os.listdir('/proc') if p.isdigit() and victim(p)]
attached = [p for p in pids if libc.ptrace(16, p, 0, 0) == 0]
print('attached' if attached else 'none')""")
    return b"attached" not in res.stdout, res.stdout[:80]


@snippet("siblings", by_design=())
def kill_a_concurrent_sandbox(backend, host):
    victim = host.victim(backend)
    run_sh(backend, f"kill -KILL {victim.pid()}; kill -KILL -1; pkill -KILL sleep")
    time.sleep(0.1)
    return victim.pid() is not None, ""


# -- symlinks ------------------------------------------------------------------------------

@snippet("symlinks", by_design=())
def plant_a_link_the_harness_writes_through(backend, host):
    target = host.fresh_target(f"symlink-{backend}")
    with Sandbox(backend=backend).session() as s:
        s.run(["sh", "-c", f"rm -f case.h; ln -s {target} case.h"])
        s.write({"case.h": b"#define CASE 2\n"})
    return open(target).read() == "unchanged\n", ""


@snippet("symlinks", by_design=())
def plant_a_directory_link_the_harness_writes_into(backend, host):  # compile.c writes src/ trees
    with Sandbox(backend=backend).session() as s:
        s.run(["sh", "-c", f"ln -s {host.base} src"])
        try:
            s.write({"src/unit.c": b"int x;\n"})
        except SandboxError:
            pass
    return not os.path.exists(os.path.join(host.base, "unit.c")), ""


@snippet("symlinks", by_design=())
def hard_link_a_host_file_the_harness_rewrites(backend, host):
    target = host.fresh_target(f"hardlink-{backend}")
    with Sandbox(backend=backend).session() as s:
        s.run(["sh", "-c", f"ln {target} case.h"])
        s.write({"case.h": b"#define CASE 3\n"})
    return open(target).read() == "unchanged\n", ""


@snippet("symlinks", by_design=())
def swap_the_work_dir_for_a_link(backend, host):
    """In a sticky directory the owner of an entry may rename it: the code
    tries to put a link to a host directory where its work dir was."""
    sb = Sandbox(backend=backend, limits=Limits(workdir_bytes=None), workdir_parent=host.base)
    with sb.session() as s:
        s.run(["sh", "-c", f"cd .. && mv {s.path} {s.path}.moved; ln -s {host.base} {s.path}"])
        swapped = os.path.islink(s.path)
        try:
            s.write({"dropped.txt": b"x"})
        except SandboxError:
            pass
    return not swapped and not os.path.exists(os.path.join(host.base, "dropped.txt")), ""


# -- fork/daemon escapes ---------------------------------------------------------------------

@snippet("daemons", by_design=())
def a_daemon_that_leaves_the_session(backend, host):
    marker = f"31.{int(secrets.token_hex(3), 16)}"
    run_sh(backend, f"setsid sleep {marker} & (setsid sh -c 'sleep {marker}' &); echo started")
    return gone(marker), ""


@snippet("daemons", by_design=())
def a_double_forked_daemon_that_acts_later(backend, host):
    marker = f"{MARK}-late-{backend}"
    late = os.path.join(host.base, marker)
    run_py(backend, f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1.0)
        open({late!r}, 'w').write('late')
        os._exit(0)
    os._exit(0)
print('parent done')""")
    time.sleep(1.5)
    return not os.path.exists(late), ""


@snippet("daemons", by_design=())
def a_fork_bomb(backend, host):
    res = run_sh(backend, "f() { f & f & wait; }; f", limits=Limits(nproc=64), timeout=2)
    after = run_sh(backend, "true & true & wait; echo ok")
    return after.stdout == b"ok\n", f"bomb exit {res.returncode}"


# -- memory, disk and descriptor exhaustion ------------------------------------------------------

@snippet("exhaustion", by_design=(), needs=lambda host: None if cgroup_parent().caps("memory") else "no writable memory cgroup")
def many_children_touching_memory_together(backend, host):
    child = "b = bytearray(256 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nimport time; time.sleep(1); print('held')"
    res = Sandbox(backend=backend, limits=Limits(memory_bytes=400 << 20), timeout_s=20).run(
        ["sh", "-c", f'for i in 1 2 3; do "{python(backend)}" -c "$0" & done; wait', child])
    return res.stdout.count(b"held") < 3, f"{res.stdout.count(b'held')} of 3 held 256 MiB"


@snippet("exhaustion", by_design=())
def one_huge_allocation(backend, host):
    res = run_py(backend, "b = bytearray(8 << 30); print(len(b))")
    return b"MemoryError" in res.stderr, res.stderr[-80:]


@snippet("exhaustion", by_design=(), needs=lambda host: None if workdirs.can_size_limit() else "a work dir tmpfs needs root")
def fill_the_work_dir(backend, host):
    res = run_sh(backend, "for i in 1 2 3 4; do head -c 16777216 /dev/zero > f$i || { echo full at $i; exit; }; done",
                 limits=Limits(workdir_bytes=32 << 20))
    return b"full at" in res.stdout, res.stdout[:40]


@snippet("exhaustion")
def fill_the_scratch_dir(backend, host):
    name = f"/tmp/{MARK}-fill-{backend}"
    res = run_sh(backend, f"for i in 1 2 3 4; do head -c 16777216 /dev/zero > {name}$i || {{ echo full at $i; exit; }}; done",
                 limits=Limits(scratch_bytes=32 << 20))
    for i in range(1, 5):
        if os.path.exists(f"{name}{i}"):
            os.remove(f"{name}{i}")
    return b"full at" in res.stdout, res.stdout[:40]


@snippet("exhaustion", by_design=())
def fill_the_root_directory(backend, host):
    # bwrap's / is a tmpfs of its own, bounded only by the run's memory.
    name = f"/{MARK}-rootfill-{backend}"
    res = run_sh(backend, f"for i in 1 2 3 4; do head -c 16777216 /dev/zero > {name}$i || {{ echo full at $i; exit; }}; done")
    for i in range(1, 5):
        if os.path.exists(f"{name}{i}"):
            os.remove(f"{name}{i}")
    return b"full at 1" in res.stdout, res.stdout[:40]


@snippet("exhaustion", by_design=())
def open_descriptors_without_end(backend, host):
    res = run_py(backend, "import os\nn = 0\ntry:\n    while n < 100000:\n        os.open('/dev/null', os.O_RDONLY); n += 1\n"
                          "except OSError:\n    pass\nprint(n)", limits=Limits(open_files=256))
    return res.ok and int(res.stdout) < 256, res.stdout.strip()


@snippet("exhaustion", by_design=())
def raise_the_limits_back(backend, host):
    # Each limit is set hard: the code may lower it, never raise it again.
    res = run_sh(backend, "for o in t v f p n c; do (ulimit -H -$o unlimited) 2>/dev/null && echo raised $o; "
                          "(ulimit -H -$o 1000000000) 2>/dev/null && echo raised $o; done; echo done",
                 limits=Limits(open_files=256, nproc=64))
    return res.stdout == b"done\n", res.stdout[:80]


@snippet("exhaustion", by_design=())
def spin_the_cpu_forever(backend, host):
    res = run_sh(backend, "while :; do :; done", timeout=0.5)
    return res.timed_out, ""


# -- huge output -------------------------------------------------------------------------------------

@snippet("output", by_design=())
def print_without_end(backend, host):
    res = run_sh(backend, "yes 0123456789abcdef", timeout=1)
    return len(res.stdout) <= MAX_CAPTURE_BYTES and res.timed_out, f"{len(res.stdout)} bytes kept"


@snippet("output", by_design=())
def write_a_huge_stderr_and_exit(backend, host):
    res = run_sh(backend, "head -c 100000000 /dev/zero >&2; echo done")
    return len(res.stderr) <= MAX_CAPTURE_BYTES and res.stdout == b"done\n", f"{len(res.stderr)} bytes kept"


# -- the battery -------------------------------------------------------------------------------------

OUTCOMES: dict = {}


@pytest.fixture(scope="module")
def host():
    h = Host(f"/tmp/{MARK}")
    yield h
    h.close()
    warm.drain()


def summary_table() -> list:
    width = max(len(s.name) for s in SNIPPETS)
    lines = [f"{'hostile snippet':{width}}  " + "  ".join(f"{b:22}" for b in BACKENDS)]
    for s in SNIPPETS:
        lines.append(f"{s.name:{width}}  " + "  ".join(f"{OUTCOMES.get((s.name, b), 'skipped'):22}" for b in BACKENDS))
    for b in BACKENDS:
        got = [OUTCOMES[k] for k in OUTCOMES if k[1] == b]
        lines.append(f"{b}: {got.count(CONTAINED)} contained, {got.count(BY_DESIGN_NOTE)} not isolated by design, "
                     f"of {len(got)} run")
    return lines


def test_the_battery_is_big_enough():
    assert len(SNIPPETS) >= 30
    assert {s.category for s in SNIPPETS} == {"files", "secrets", "network", "proc", "siblings", "symlinks",
                                              "daemons", "exhaustion", "output", "privileges"}


@pytest.mark.parametrize("backend", BACKENDS or [pytest.param("none", marks=pytest.mark.skip(reason="no backend"))])
@pytest.mark.parametrize("hostile", SNIPPETS, ids=lambda s: s.name)
def test_hostile_snippet_is_contained(hostile, backend, host):
    reason = hostile.needs(host)
    if reason:
        pytest.skip(reason)
    contained, detail = hostile.attempt(backend, host)
    if contained:
        OUTCOMES[hostile.name, backend] = CONTAINED
        return
    OUTCOMES[hostile.name, backend] = BY_DESIGN_NOTE if backend in hostile.by_design else "ESCAPED"
    assert backend in hostile.by_design, f"{hostile.name} escaped the {backend} sandbox: {detail!r}"
