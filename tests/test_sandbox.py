"""The sandbox: its API, and containment of hostile snippets per backend.

The security tests run under bwrap (the real backend) and under each
fallback found; each checks the snippet was contained, reported as that
call's failure, and that no process was left behind.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from workloads.sandbox import Limits, Sandbox, SandboxError, available_backends, resolve_binary, run_concurrently, warm
from workloads.sandbox import core as sbx
from workloads.sandbox import workdirs
from workloads.sandbox.backends import etc_from_host
from workloads.sandbox.backends import backend_problem
from workloads.sandbox.cgroups import cgroup_parent

ISOLATING = available_backends()
# The backends that promise network and PID isolation.
NAMESPACED = [b for b in ISOLATING if b in ("bwrap", "unshare")]


def _python_for(backend: str) -> str:
    """An interpreter the sandboxed user can execute (an unprivileged uid
    cannot enter /root, where pyenv lives)."""
    try:
        return Sandbox(backend=backend).executable("python3")
    except SandboxError as exc:
        pytest.skip(str(exc))


# Work dirs of this test process live here, so sandboxes other programs run
# on the same machine are not mistaken for ours. World-traversable: the
# fallback backends run as nobody.
WORKDIRS = f"/tmp/fb-sandbox-tests-{os.getpid()}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _leftovers() -> list:
    """Processes still running in (deleted) work dirs of ours, or our children."""
    found = [p for p in psutil.Process().children(recursive=True) if p.is_running()]
    for p in psutil.process_iter(["cwd"]):
        if WORKDIRS in (p.info.get("cwd") or ""):
            found.append(p)
    return [p for p in found if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(autouse=True)
def no_process_left_behind(monkeypatch):
    os.makedirs(WORKDIRS, mode=0o711, exist_ok=True)
    os.chmod(WORKDIRS, 0o711)
    monkeypatch.setattr(workdirs, "default_workdir_parent", lambda: WORKDIRS)
    yield
    warm.drain()  # the shells kept ready for the next runs are ours, not leftovers
    deadline = time.monotonic() + 2.0
    while _leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _leftovers()
    for p in left:  # do not let one failure poison the next tests
        p.kill()
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"


@pytest.fixture(scope="module", autouse=True)
def remove_workdirs():
    yield
    shutil.rmtree(WORKDIRS, ignore_errors=True)


def backends(which):
    return pytest.mark.parametrize("backend", which or [pytest.param(
        "none", marks=pytest.mark.skip(reason="no isolating sandbox backend on this machine"))])


# -- API --------------------------------------------------------------------

def test_bwrap_is_found_when_installed():
    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap not installed (scripts/install-system-deps.sh installs it)")
    assert ISOLATING[0] == "bwrap", backend_problem("bwrap")
    assert Sandbox().backend == "bwrap" and Sandbox().warning is None


def test_unknown_backend_is_a_clear_value_error():
    with pytest.raises(ValueError, match="accepted: bwrap, unshare, rlimit, none"):
        Sandbox(backend="docker")


def test_file_names_must_stay_in_the_work_dir():
    for bad in ("/etc/passwd", "../x", "a/../../x"):
        with pytest.raises(ValueError, match="relative path"):
            Sandbox(backend="none").run(["/bin/true"], files={bad: b""})


@backends(ISOLATING + ["none"])
def test_stdin_files_env_and_result(backend, monkeypatch):
    monkeypatch.setenv("FB_SECRET_TOKEN", "leak")
    sb = Sandbox(backend=backend, timeout_s=10)
    res = sb.run(["sh", "-c", 'cat in.txt; cat; echo "${FB_SECRET_TOKEN:-scrubbed} $MODE"; echo e >&2'],
                 stdin=b"from-stdin\n", files={"in.txt": b"from-file\n"}, env={"MODE": "m"})
    assert res.ok and res.returncode == 0 and not res.timed_out
    assert res.stdout == b"from-file\nfrom-stdin\nscrubbed m\n"
    assert res.stderr == b"e\n"
    assert res.backend == backend == sb.backend
    notes = [n for n in (res.warning or "").split("; ") if n and not n.startswith("work dir size unbounded")]
    assert (not notes) == (backend == "bwrap")
    if backend != "bwrap":
        assert "weaker than bwrap" in res.warning


@backends(ISOLATING)
def test_cpu_time_of_sandboxed_children_is_measured(backend):
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    # The spinning process is a grandchild: sh waits for it.
    res = Sandbox(backend=backend).run(["sh", "-c", f'"{_python_for(backend)}" -c "$0"', spin])
    assert res.ok, res.stderr
    if res.cpu_source.startswith("unavailable"):
        assert res.cpu_s is None and backend == "bwrap"
        pytest.skip(res.cpu_source)
    assert res.cpu_source in ("cgroup", "rusage")
    assert res.cpu_s >= 0.25


def test_session_keeps_the_work_dir_across_runs():
    with Sandbox(backend=ISOLATING[0] if ISOLATING else "none").session() as s:
        assert s.run(["sh", "-c", "echo 42 > out"]).ok
        res = s.run(["cat", "out"])
        assert res.stdout == b"42\n"
        path = s.path
    assert not os.path.exists(path)


def test_resolve_binary_follows_shims_and_symlinks():
    py = resolve_binary("python3")
    assert "/shims/" not in py and os.access(py, os.X_OK)
    assert resolve_binary("sh") == os.path.realpath(shutil.which("sh"))
    with pytest.raises(FileNotFoundError):
        resolve_binary("no-such-binary-fb")


# -- containment ------------------------------------------------------------

@backends(NAMESPACED)
def test_code_cannot_reach_the_terminal_the_harness_runs_in(backend):
    # CVE-2017-5226: code that reaches a terminal can push input into it
    # (TIOCSTI). The harness here runs in a terminal of its own (a pty);
    # the code runs in another session, with no controlling terminal.
    import pty
    master, slave = pty.openpty()
    harness = ("import sys; sys.path.insert(0, sys.argv[1])\n"
               "from workloads.sandbox import Sandbox\n"
               "r = Sandbox(backend=sys.argv[2]).run(['sh', '-c', 'echo injected > /dev/tty && echo reached'])\n"
               "print(r.stdout.decode() + r.stderr.decode())")

    def own_terminal() -> None:  # after setsid: the pty becomes the controlling terminal
        import fcntl
        import termios
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    try:
        out = subprocess.run([sys.executable, "-c", harness, ROOT, backend], stdin=slave, capture_output=True,
                             text=True, timeout=60, start_new_session=True, preexec_fn=own_terminal)
        os.set_blocking(master, False)
        try:
            echoed = os.read(master, 4096)
        except (BlockingIOError, OSError):
            echoed = b""
    finally:
        os.close(master)
        os.close(slave)
    assert out.returncode == 0, out.stderr
    assert "reached" not in out.stdout and "/dev/tty" in out.stdout, out.stdout
    assert b"injected" not in echoed


@backends(ISOLATING)
def test_write_outside_the_work_dir_fails(backend, tmp_path):
    outside = tmp_path / "outside.txt"
    script = f"echo x > {outside}; echo x > ../escape.txt; echo x > /etc/fb-escape; echo x > /fb-escape; echo x > inside.txt && echo wrote-inside"
    res = Sandbox(backend=backend).run(["sh", "-c", script])
    assert b"wrote-inside" in res.stdout
    for path in (outside, "/etc/fb-escape", "/fb-escape"):
        assert not os.path.exists(path), path
    assert not list(tmp_path.parent.glob("**/escape.txt"))


@backends(NAMESPACED)
def test_no_network_even_to_localhost(backend):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    probe = ("import socket\ns = socket.socket(); s.settimeout(2)\n"
             f"try:\n s.connect(('127.0.0.1', {port})); print('connected')\n"
             "except OSError as e:\n print('refused', e); raise SystemExit(3)")
    res = Sandbox(backend=backend).run([_python_for(backend), "-c", probe])
    try:
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()
    assert res.returncode == 3 and b"connected" not in res.stdout, res.stdout + res.stderr


@backends(ISOLATING)
def test_fork_bomb_is_bounded(backend):
    sb = Sandbox(backend=backend, limits=Limits(nproc=64), timeout_s=5)
    if sb.warning and "process count unbounded" in sb.warning:
        pytest.skip(sb.warning)
    # Counts how many processes it managed to start instead of exploding.
    bomb = ("import os, time\nn = 0\n"
            "for _ in range(2000):\n"
            "    try: pid = os.fork()\n"
            "    except OSError: break\n"
            "    if pid == 0: time.sleep(60); os._exit(0)\n"
            "    n += 1\n"
            "print(n)")
    res = sb.run([_python_for(backend), "-c", bomb])
    assert res.ok, res.stderr
    assert 0 < int(res.stdout) < 64
    # The host still starts processes (the fixture checks none were left).
    assert Sandbox(backend=backend).run(["/bin/true"]).ok


@backends(ISOLATING)
def test_8_gib_allocation_fails_inside(backend):
    res = Sandbox(backend=backend).run([_python_for(backend), "-c", "b = bytearray(8 << 30); print(len(b))"])
    assert res.returncode != 0 and b"MemoryError" in res.stderr


@backends(ISOLATING + ["none"])
def test_spin_forever_is_killed_at_the_timeout(backend):
    t0 = time.monotonic()
    res = Sandbox(backend=backend, timeout_s=0.5).run(["sh", "-c", "while :; do :; done"])
    assert res.timed_out and not res.ok and res.returncode < 0
    assert time.monotonic() - t0 < 0.5 + sbx.KILL_GRACE_S


@backends(ISOLATING + ["none"])
def test_background_children_are_not_left_behind(backend):
    if backend in ("rlimit", "none") and cgroup_parent().v2 is None:
        pytest.skip(f"{backend}: without a cgroup a process that starts its own session escapes")
    script = "sleep 3141 & setsid sleep 3142 & (setsid sh -c 'sleep 3143' &) ; echo started"
    t0 = time.monotonic()
    res = Sandbox(backend=backend, timeout_s=10).run(["sh", "-c", script])
    assert res.ok and res.stdout == b"started\n"
    assert time.monotonic() - t0 < 5  # did not wait for the children to finish
    time.sleep(0.1)
    assert not [p for p in psutil.process_iter(["cmdline"])
                if (p.info["cmdline"] or [""])[-1] in ("3141", "3142", "3143")]


@backends(ISOLATING)
def test_concurrent_runs_do_not_interfere(backend):
    lat, results, _ = run_concurrently(
        lambda: Sandbox(backend=backend).run(["sh", "-c", "echo $$ > f; cat f"]), 4, 3)
    assert len(results) == 12 and all(r.ok and r.stdout.strip() for r in results)


def test_unreadable_binary_for_nobody_is_a_clear_error(tmp_path):
    if os.geteuid() != 0 or "rlimit" not in ISOLATING:
        pytest.skip("only root drops to a sandbox uid")
    private = tmp_path / "priv"
    private.mkdir(mode=0o700)
    exe = private / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    with pytest.raises(SandboxError, match="not executable by an unprivileged uid"):
        Sandbox(backend="rlimit").run([str(exe)])


def test_threads_stay_responsive_during_a_run():
    # A timeout in one thread must not block runs in another.
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "slow", Sandbox(backend="none", timeout_s=1).run(["sleep", "30"])))
    t.start()
    fast = Sandbox(backend="none").run(["/bin/true"])
    t.join()
    assert fast.ok and out["slow"].timed_out


def test_lifecycle_benchmark_measures_each_backend():
    from suite.spec import PROFILES, Job

    system = {"logical_cpus": 1, "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0}]}
    backends = ",".join(ISOLATING[:1] + ["none"])
    from workloads.sandbox import lifecycle

    out = lifecycle.run(Job("sandbox.lifecycle", {"backends": backends}, PROFILES["quick"],
                                system, {}, 60.0))
    assert not out.errors
    seen = {(r.params["backend"], r.params["concurrency"], r.metric) for r in out.records}
    for b in backends.split(","):
        for c in (1, 2):
            assert {(b, c, m) for m in ("rate", "latency_p50", "latency_p95", "latency_p99")} <= seen
    assert all(r.validated and r.value > 0 for r in out.records)


@backends(ISOLATING)
def test_without_a_cgroup_the_run_still_works_and_says_where_cpu_came_from(backend):
    res = Sandbox(backend=backend, use_cgroup=False, timeout_s=0.5).run(["sh", "-c", "sleep 3144 & while :; do :; done"])
    assert res.timed_out and res.cpu_source != "cgroup"
    if backend == "bwrap":
        assert res.cpu_s is None and res.cpu_source.startswith("unavailable: rusage does not cover")


# -- held shells --------------------------------------------------------------

@backends(ISOLATING + ["none"])
def test_arguments_and_environment_reach_the_command_byte_for_byte(backend):
    tricky = "two\nlines 'quoted' \"double\" $HOME `x` \\ back; *"
    res = Sandbox(backend=backend).run(["sh", "-c", 'printf "%s|%s|%s" "$1" "$TRICKY" "$HOME"', "sh", tricky],
                                       env={"TRICKY": tricky})
    assert res.ok, res.stderr
    first, second, home = res.stdout.decode().split("|")
    assert first == tricky and second == tricky and home.startswith(WORKDIRS)


@backends(ISOLATING[:1] + ["none"])
def test_the_environment_is_exactly_the_scrubbed_one(backend):
    res = Sandbox(backend=backend).run(["env"], env={"EXTRA": "1"})
    names = {line.split("=", 1)[0] for line in res.stdout.decode().splitlines()}
    bwrap_sets = {"PWD"} if backend == "bwrap" else set()  # bwrap --chdir exports it
    assert names == set(sbx.BASE_ENV) | {"HOME", "EXTRA"} | bwrap_sets


def test_environment_names_must_be_shell_identifiers():
    with pytest.raises(ValueError, match="not a shell identifier"):
        Sandbox(backend="none").run(["/bin/true"], env={"BAD-NAME": "x"})


def test_a_ready_shell_that_died_is_replaced():
    sb = Sandbox(backend=ISOLATING[0] if ISOLATING else "none")
    assert sb.run(["/bin/true"]).ok  # leaves a ready shell behind
    deadline = time.monotonic() + 5
    while not any(warm.warm_shells()._idle.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    for ready in warm.warm_shells()._idle.values():
        for shell in ready:
            shell.proc.kill()
            shell.proc.wait()
    res = sb.run(["sh", "-c", "echo fine"])
    assert res.ok and res.stdout == b"fine\n"


def test_ready_shells_end_with_their_process(tmp_path):
    script = ("import sys; sys.path.insert(0, sys.argv[1])\n"
              "from workloads.sandbox import Sandbox\n"
              "import time\n"
              "assert Sandbox().run(['/bin/true']).ok\n"
              "time.sleep(0.3)\n"  # the background thread has made the next shell
              "import os; print(os.getpid())")
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # os._exit skips atexit: the shells must still go (their stdin closes).
    out = subprocess.run([sys.executable, "-c", script + "\nimport os; os._exit(0)", root],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    script_of_that_process = f"/proc/{out.stdout.strip()}/fd/"

    def held_shells() -> list:
        return [p for p in psutil.process_iter(["cmdline"])
                if any(a.startswith(script_of_that_process) for a in p.info["cmdline"] or [])]

    deadline = time.monotonic() + 5
    while held_shells() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not held_shells()


@backends(ISOLATING + ["none"])
def test_work_dirs_on_the_memory_file_system_work_under_every_backend(backend):
    if not os.access(workdirs.TMPFS_WORKDIR_PARENT, os.W_OK):
        pytest.skip(f"{workdirs.TMPFS_WORKDIR_PARENT} not writable")
    sb = Sandbox(backend=backend, workdir_parent=workdirs.TMPFS_WORKDIR_PARENT)
    res = sb.run(["sh", "-c", "echo hi > f && cat f && pwd"])
    assert res.ok and res.stdout.startswith(b"hi\n" + workdirs.TMPFS_WORKDIR_PARENT.encode()), res.stderr


def test_a_forked_child_starts_with_no_ready_shells():
    sb = Sandbox(backend=ISOLATING[0] if ISOLATING else "none")
    first = sb.run(["/bin/true"])
    assert first.ok
    time.sleep(0.2)  # a ready shell now waits in the parent
    pid = os.fork()
    if pid == 0:
        inherited = any(warm.warm_shells()._idle.values())
        res = sb.run(["sh", "-c", "echo child"])
        ok = not inherited and res.stdout == b"child\n" and res.cpu_source == first.cpu_source
        ok = ok and cgroup_parent().pid == os.getpid()
        warm.drain()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sb.run(["/bin/true"]).ok  # the parent's shells still work


def test_a_process_that_exits_leaves_no_cgroups_behind():
    parent = cgroup_parent()
    if parent.v2 is None:
        pytest.skip(parent.problem)
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = ("import sys, time; sys.path.insert(0, sys.argv[1])\n"
              "from workloads.sandbox import Sandbox\n"
              "from workloads.sandbox.cgroups import cgroup_parent\n"
              "assert Sandbox().run(['/bin/true']).ok\n"
              "time.sleep(0.2)\n"  # a ready shell sits in a cgroup of its own
              "print(cgroup_parent().v2)")
    out = subprocess.run([sys.executable, "-c", script, root], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(out.stdout.strip())


def test_cgroups_of_killed_processes_are_removed_later():
    from workloads.sandbox import cgroups as sandbox_cgroups

    parent = cgroup_parent()
    if parent.v2 is None:
        pytest.skip(parent.problem)
    base = os.path.dirname(parent.v2)
    dead = max(int(open("/proc/sys/kernel/pid_max").read()) - 1, 2)
    while os.path.exists(f"/proc/{dead}"):
        dead -= 1
    stale = os.path.join(base, f"factorybench-{dead}")
    os.makedirs(os.path.join(stale, "run-0"))
    sandbox_cgroups._remove_stale(base)
    assert not os.path.exists(stale)
    assert os.path.isdir(parent.v2)  # a live process's cgroups stay


# -- harness file operations ---------------------------------------------------

@backends(ISOLATING + ["none"])
def test_a_planted_symlink_is_replaced_not_followed_by_the_next_write(backend, tmp_path):
    host = tmp_path / "host.txt"
    host.write_bytes(b"host data\n")
    host.chmod(0o644)
    owner = (host.stat().st_uid, host.stat().st_gid)
    with Sandbox(backend=backend).session() as s:
        s.write({"case.h": b"first\n"})
        # Compiled code plants a link where the harness writes next (compile.test).
        assert s.run(["sh", "-c", f"rm -f case.h; ln -s {host} case.h"]).ok
        s.write({"case.h": b"second\n"})
        assert host.read_bytes() == b"host data\n"
        assert (host.stat().st_uid, host.stat().st_gid) == owner
        assert s.run(["cat", "case.h"]).stdout == b"second\n"


@backends(ISOLATING + ["none"])
def test_a_planted_directory_link_is_refused(backend, tmp_path):
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    with Sandbox(backend=backend).session() as s:
        assert s.run(["sh", "-c", f"ln -s {hostdir} sub"]).ok
        with pytest.raises(SandboxError, match="symbolic link"):
            s.write({"sub/x.c": b"int x;\n"})
    assert not list(hostdir.iterdir())
    assert os.stat(hostdir).st_uid == os.getuid()


# -- bwrap: an unprivileged user and a minimal file system ---------------------

needs_bwrap = pytest.mark.skipif("bwrap" not in ISOLATING, reason=f"bwrap unavailable: {backend_problem('bwrap')}")


@needs_bwrap
def test_bwrap_runs_code_as_an_unprivileged_user():
    with Sandbox(backend="bwrap").session() as s:
        res = s.run(["sh", "-c", "id -u; id -g; echo x > made"])
        assert res.ok, res.stderr
        uid, gid = res.stdout.split()
        assert uid != b"0" and gid != b"0"
        # On the host too: the file it made is not root's when we are root.
        if os.geteuid() == 0:
            assert os.stat(os.path.join(s.path, "made")).st_uid != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to a sandbox uid")
@pytest.mark.parametrize("with_unshare", [True, False])
def test_the_drop_to_a_sandbox_uid_leaves_no_group_and_no_capability(monkeypatch, with_unshare):
    """unshare --setuid where it has it, else setpriv: either way uid and gid
    are the sandbox's (real, effective, saved), no supplementary group and
    no capability is left."""
    from workloads.sandbox import backends, uids

    if with_unshare and not backends.unshare_drops():
        pytest.skip("this unshare has no --setuid (util-linux < 2.38)")
    monkeypatch.setattr(backends, "unshare_drops", lambda: with_unshare)
    uid = uids.take()
    try:
        prefix = backends.drop_prefix(uid.uid)
        assert prefix[0] == ("unshare" if with_unshare else "setpriv")
        out = subprocess.run(prefix + ["sh", "-c", "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff|CapAmb):' /proc/self/status"],
                             capture_output=True, text=True, timeout=10, cwd="/").stdout
    finally:
        uid.release()
    fields = {line.split(":")[0]: line.split()[1:] for line in out.splitlines()}
    assert fields["Uid"] == fields["Gid"] == [str(uid.uid)] * 4, out
    assert fields["Groups"] == [] and fields["CapPrm"] == fields["CapEff"] == fields["CapAmb"] == ["0000000000000000"], out


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to a sandbox uid")
def test_without_setpriv_only_bwrap_can_drop_to_a_sandbox_uid(monkeypatch):
    """The unshare and rlimit backends run the code through setpriv (for
    no_new_privs); bwrap's ready shells can drop with unshare --setuid."""
    from workloads.sandbox import backends

    which = shutil.which
    monkeypatch.setattr(backends.shutil, "which", lambda name: None if name == "setpriv" else which(name))
    monkeypatch.setattr(backends, "unshare_drops", lambda: True)
    problems = {b: backends.backend_problem.__wrapped__(b) for b in ("unshare", "rlimit")}
    assert all("setpriv not installed" in str(p) for p in problems.values()), problems
    monkeypatch.setattr(backends, "unshare_drops", lambda: False)
    assert "setpriv not installed" in str(backends.backend_problem.__wrapped__("bwrap"))


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs sandboxes as uids of their own")
@pytest.mark.parametrize("limits_itself", [True, False])
def test_a_shell_held_at_a_sandbox_uid_is_limited_and_confined_before_any_run(monkeypatch, limits_itself):
    """Started at the uid (it limits itself with ulimit) or as root that
    drops at a newline (limited with prlimit, for limits ulimit cannot
    express): either way limited, in the run's cgroups, and its script in
    no directory, before a run is handed to it."""
    if not limits_itself:
        monkeypatch.setattr(warm, "ulimit_script", lambda limits: None)
    sb = Sandbox(backend="bwrap", limits=Limits(cpu_s=7, nproc=99, open_files=200))
    with sb.session() as s:
        shell = s.spare
        with open(f"/proc/{shell.proc.pid}/limits") as f:
            limits = {line[:26].strip(): line[26:].split()[:2] for line in f}
        assert limits["Max cpu time"] == ["7", "8"] and limits["Max processes"] == ["99", "99"], limits
        assert limits["Max open files"] == ["200", "200"] and limits["Max core file size"] == ["0", "0"], limits
        assert limits["Max address space"] == [str(4 << 30)] * 2 and limits["Max file size"] == [str(64 << 20)] * 2
        for d in shell.cgroup.dirs:
            with open(os.path.join(d, "cgroup.procs")) as f:
                assert str(shell.proc.pid) in f.read().split(), d
        script = os.readlink(f"/proc/{shell.proc.pid}/fd/3")
        assert script.startswith("/memfd:") or script.endswith("(deleted)"), script
        res = s.run(["sh", "-c", "ulimit -t; ulimit -p; ulimit -n"])
        assert res.stdout.split() == [b"7", b"99", b"200"], res.stdout + res.stderr


@pytest.fixture
def world_readable_dir():
    """A directory in /tmp a sandbox uid can reach (pytest's tmp_path is root's only)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="fb-test-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs sandboxes as uids of their own")
@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_a_shell_whose_ulimit_is_not_dashs_is_held_at_a_sandbox_uid_all_the_same(monkeypatch, world_readable_dir):
    """bash as /bin/sh (Fedora, RHEL, Arch): its ulimit -p is the pipe
    size, which it cannot set. Its shells are limited with prlimit instead
    of failing every bwrap run."""
    bash_as_sh = os.path.join(world_readable_dir, "sh")  # started as sh: bash's POSIX mode
    os.symlink(shutil.which("bash"), bash_as_sh)
    monkeypatch.setattr(warm, "HOLD_SHELL", bash_as_sh)
    try:
        with Sandbox(backend="bwrap", limits=Limits(cpu_s=7, nproc=99, open_files=200)).session() as s:
            assert os.path.realpath(f"/proc/{s.spare.proc.pid}/exe") == os.path.realpath(bash_as_sh)
            res = s.run(["/bin/sh", "-c", "ulimit -t; ulimit -p; ulimit -n; ulimit -f"])
    finally:
        warm.drain()  # no bash shell left ready for other tests
    assert res.stdout.split() == [b"7", b"99", b"200", str((64 << 20) // 512).encode()], res.stdout + res.stderr


def test_limits_above_our_own_hard_ones_are_not_left_to_a_shell_to_set(monkeypatch):
    """A shell at a sandbox uid cannot raise a hard limit above the one it
    inherits; root's prlimit can, so such limits keep that way."""
    real = warm.resource.getrlimit
    monkeypatch.setattr(warm.resource, "getrlimit",
                        lambda which: (60, 60) if which == warm.resource.RLIMIT_CPU else real(which))
    assert warm.ulimit_script(Limits(cpu_s=100)) is None
    assert "ulimit -t 60 && ulimit -S -t 59" in warm.ulimit_script(Limits(cpu_s=59))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root holds shells at sandbox uids")
@pytest.mark.parametrize("limits_itself", [True, False])
def test_no_process_at_the_sessions_uid_can_rewrite_a_held_shells_script(monkeypatch, limits_itself):
    """The text a held shell runs next (outside any sandbox) is written by
    us only: another process at its uid may not open it for writing
    through /proc/<shell>/fd, before or after the run's script is in."""
    from workloads.sandbox import backends, uids

    if not limits_itself:
        monkeypatch.setattr(warm, "ulimit_script", lambda limits: None)
    uid = uids.take()
    shell = warm.hold({"PATH": "/usr/bin:/bin"}, Limits(), False, uid.uid)
    shell.uid = uid
    try:
        fd = f"/proc/{shell.proc.pid}/fd/{warm.SCRIPT_FD}"
        attempt = backends.drop_prefix(uid.uid) + ["/bin/sh", "-c", f"(: >>{fd}) && echo writable; (: <{fd}) && echo readable"]
        out = subprocess.run(attempt, capture_output=True, text=True, timeout=10, cwd="/")
        assert "readable" in out.stdout and "writable" not in out.stdout, out
    finally:
        shell.discard()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root holds shells at sandbox uids")
def test_files_a_killed_process_of_the_same_pid_left_do_not_stop_held_shells(monkeypatch):
    """A process killed while making a held shell leaves its script file
    (named after its pid) behind; a later process given the same pid must
    not trip over it."""
    import itertools

    from workloads.sandbox import uids

    uid = uids.take()
    try:
        fd, path = warm.script_file(uid.uid)  # the directory as a run finds it
        os.close(fd)
        os.unlink(path)
        monkeypatch.setattr(warm, "_script_numbers", itertools.count())
        stale = [os.path.join(os.path.dirname(path), f"{os.getpid()}-{n}") for n in range(3)]
        for name in stale:
            with open(name, "w"):
                pass
        try:
            shell = warm.hold({"PATH": "/usr/bin:/bin"}, Limits(), False, uid.uid)
            shell.discard()
        finally:
            for name in stale:
                os.unlink(name)
    finally:
        uid.release()


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs sandboxes as uids of their own")
def test_bwrap_starts_from_a_shell_already_at_the_sessions_uid():
    sb = Sandbox(backend="bwrap")
    with sb.session() as s:
        assert not {"setpriv", "unshare"} & set(sb._argv(["/bin/true"], s))  # no exec to drop privileges per run
        shell = s.spare
        with open(f"/proc/{shell.proc.pid}/status") as f:
            uids_line = next(line for line in f if line.startswith("Uid:"))
        assert uids_line.split()[1:] == [str(s.run_as)] * 4
        for n in range(3):  # the later runs of the session start from shells at its uid too
            res = s.run(["sh", "-c", f"id -u; echo x > made-{n}"])
            assert res.ok and res.stdout == b"1000\n", res.stderr
            assert os.stat(os.path.join(s.path, f"made-{n}")).st_uid == s.run_as
        run_as = s.run_as
    time.sleep(0.2)  # a shell being made for the session is dropped once made
    left = [sh for ready in warm.warm_shells()._idle.values() for sh in ready if sh.run_as == run_as]
    assert not left, "ready shells outlived their session's uid"
    # (bwrap's own process in the PID namespace may linger as a zombie of PID 1.)
    held = [p for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"] and p.info["uids"].real == run_as and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert not held


def test_shells_queued_for_a_retired_kind_are_never_kept():
    import threading
    from types import SimpleNamespace

    class FakeShell:
        def __init__(self, name):
            self.name, self.discarded = name, False
            self.proc = SimpleNamespace(poll=lambda: None)

        def discard(self, kill=False):
            self.discarded = True

    pool, go, made = warm.WarmShells(), threading.Event(), []

    def make(name, wait=False):
        def f():
            if wait:
                go.wait(5)
            made.append(FakeShell(name))
            return made[-1]
        return f

    try:
        pool.want("uid-7", make("old session's", wait=True))
        time.sleep(0.05)  # being made
        pool.retire("uid-7")  # its session ended...
        pool.want("uid-7", make("new session's"))  # ...and the uid came back
        go.set()
        deadline = time.monotonic() + 5
        while len(made) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        kept = [sh.name for sh in pool._idle.get("uid-7", [])]
        assert kept == ["new session's"] and made[0].discarded
    finally:
        pool.drain()


@needs_bwrap
def test_bwrap_sees_no_secrets_homes_or_runtime_sockets():
    script = ("for p in /etc/shadow /etc/gshadow /etc/ssh /root /home /run /var /sys /boot /srv /mnt /opt; do "
              "  [ -e $p ] && echo visible $p; done; "
              "ls /etc; echo done")
    res = Sandbox(backend="bwrap").run(["sh", "-c", script])
    assert res.ok and res.stdout.endswith(b"done\n"), res.stderr
    assert b"visible" not in res.stdout, res.stdout
    etc = set(res.stdout.split()[:-1])
    jdk = {n.encode() for n in etc_from_host() if n.startswith("java-")}  # the JDK's configuration
    assert etc <= {b"alternatives", b"group", b"hosts", b"ld.so.cache", b"ld.so.conf", b"ld.so.conf.d",
                   b"localtime", b"nsswitch.conf", b"passwd"} | jdk, etc


@needs_bwrap
def test_bwrap_tmp_and_shm_are_private(tmp_path):
    marker = f"fb-private-{os.getpid()}"
    res = Sandbox(backend="bwrap").run(["sh", "-c", f"echo x > /tmp/{marker} && echo x > /dev/shm/{marker} && echo ok"])
    assert res.stdout == b"ok\n", res.stderr
    assert not os.path.exists(f"/tmp/{marker}") and not os.path.exists(f"/dev/shm/{marker}")


DEV_CHECK = ("for n in null zero full random urandom tty; do [ -c /dev/$n ] || echo missing $n; done; "
             "for n in fd stdin stdout stderr; do [ -L /dev/$n ] || echo missing $n; done; "
             "echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 5 /dev/urandom | wc -c; "
             "ls /dev/fd/ | grep -qx 2 || echo no /dev/fd; touch /dev/added 2>/dev/null && echo added; echo done")


@needs_bwrap
@pytest.mark.parametrize("one_bind", [True, False])
def test_bwrap_dev_holds_the_nodes_code_opens_and_nothing_else(monkeypatch, one_bind):
    """/dev is one bind of a directory of root's when device nodes can be
    made (the code cannot add to it), else a tmpfs with a bind per node."""
    from workloads.sandbox import backends

    if not one_bind:
        monkeypatch.setattr(backends, "sandbox_dev", lambda: None)
    elif backends.sandbox_dev() is None:
        pytest.skip("device nodes cannot be made here (not root, or the temp dir is nodev)")
    res = Sandbox(backend="bwrap").run(["sh", "-c", DEV_CHECK])
    lines = res.stdout.decode().split()
    assert res.ok and lines[:2] == ["3", "5"] and lines[-1] == "done", res.stdout + res.stderr
    assert "missing" not in lines and "no" not in lines, res.stdout
    if one_bind:
        assert "added" not in lines and backends.bwrap_dev() == ["--dev-bind", backends.sandbox_dev(), "/dev"]
        assert sorted(os.listdir(backends.sandbox_dev())) == sorted(
            (*backends.DEV_NODES, *backends.DEV_LINKS, *backends.DEV_DIRS))


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="only root makes device nodes")
@pytest.mark.parametrize("change", ["cleaned", "added", "node_replaced", "linked_to_the_hosts_dev"])
def test_a_dev_directory_changed_between_runs_is_made_whole_again(monkeypatch, world_readable_dir, change):
    """What a /tmp cleaner leaves of it (systemd-tmpfiles' age removes the
    links and the empty shm, not the nodes: bwrap then cannot start), or
    anything else done to it between runs, is not bound as the sandbox's
    /dev: it is checked and made again."""
    from workloads.sandbox import backends

    backends.sandbox_etc()  # the real /etc copy, cached before written_etc moves
    monkeypatch.setattr(backends, "written_etc", lambda: world_readable_dir)
    backends._sandbox_dev_path.cache_clear()
    try:
        made = backends.sandbox_dev()
        if made is None:
            pytest.skip("device nodes cannot be made here (the temp dir is nodev)")
        assert Sandbox(backend="bwrap").run(["sh", "-c", DEV_CHECK]).ok
        if change == "cleaned":
            for name in (*backends.DEV_LINKS, *backends.DEV_DIRS):
                path = os.path.join(made, name)
                os.rmdir(path) if name in backends.DEV_DIRS else os.unlink(path)
        elif change == "added":
            os.mknod(os.path.join(made, "mem"), 0o020666, os.makedev(1, 1))
        elif change == "node_replaced":
            os.unlink(os.path.join(made, "null"))
            with open(os.path.join(made, "null"), "w"):
                pass
        else:
            shutil.rmtree(made)
            os.symlink("/dev", made)
        res = Sandbox(backend="bwrap").run(["sh", "-c", DEV_CHECK + "; ls /dev"])
        lines = res.stdout.decode().split()
        assert res.ok and lines[:2] == ["3", "5"] and "missing" not in lines, res.stdout + res.stderr
        assert "mem" not in lines and "added" not in lines, lines
        assert not os.path.islink(made) and sorted(os.listdir(made)) == sorted(
            (*backends.DEV_NODES, *backends.DEV_LINKS, *backends.DEV_DIRS))
    finally:
        backends._sandbox_dev_path.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a directory to another user")
def test_root_keeps_nothing_where_another_user_could_replace_it(monkeypatch, tmp_path):
    """A TMPDIR in a directory another user owns (or may write to, unsticky)
    let that user move root's /etc and /dev copies, held shells' scripts
    and uid locks aside for their own, and have a held shell run their
    script outside the sandbox: /tmp is used instead."""
    import tempfile

    from workloads.sandbox import backends, tempdir, uids

    theirs, shared, sticky, ours = (tmp_path / n for n in ("theirs", "shared", "sticky", "ours"))
    for d, mode in ((theirs, 0o755), (shared, 0o777), (sticky, 0o1777), (ours, 0o755)):
        d.mkdir()
        d.chmod(mode)
    os.chown(theirs, 4242, 4242)
    assert tempdir.others_can_replace(str(theirs)) and tempdir.others_can_replace(str(theirs / "below"))
    assert tempdir.others_can_replace(str(shared))
    assert not tempdir.others_can_replace(str(sticky)) and not tempdir.others_can_replace(str(ours))
    monkeypatch.setattr(uids, "_lock_dir", None)
    for given, used in ((theirs, "/tmp"), (shared, "/tmp"), (ours, str(ours))):
        monkeypatch.setattr(tempfile, "tempdir", str(given))
        tempdir.temp_dir.cache_clear()
        backends.written_etc.cache_clear()
        uids._lock_dir = None
        try:
            assert tempdir.temp_dir() == used
            assert os.path.dirname(backends.written_etc()) == used
            assert os.path.dirname(uids._lock_directory()) == used
        finally:
            tempdir.temp_dir.cache_clear()
            backends.written_etc.cache_clear()


def test_no_dev_directory_where_device_nodes_would_not_work(monkeypatch):
    """On a nodev file system (a /tmp tmpfs mounted nodev) /dev is built node by node."""
    from workloads.sandbox import backends

    real = os.statvfs

    class NoDev:
        def __init__(self, st):
            self.st = st

        def __getattr__(self, name):
            return os.ST_NODEV | self.st.f_flag if name == "f_flag" else getattr(self.st, name)

    monkeypatch.setattr(backends, "is_root", lambda: True)
    monkeypatch.setattr(backends.os, "statvfs", lambda p: NoDev(real(p)))
    backends._sandbox_dev_path.cache_clear()
    try:
        assert backends.sandbox_dev() is None
        assert backends.bwrap_dev()[:2] == ["--tmpfs", "/dev"]
    finally:
        backends._sandbox_dev_path.cache_clear()


@needs_bwrap
def test_bwrap_still_runs_compilers_and_interpreters(tmp_path):
    res = Sandbox(backend="bwrap").run(
        ["sh", "-c", "printf 'int main(void){return 7;}' > t.c && cc t.c -o t && ./t; echo $?; python3 -c 'print(6*7)'; whoami"])
    assert res.stdout.split() == [b"7", b"42", b"sandbox"], res.stdout + res.stderr


def test_importing_and_planning_start_nothing():
    """`factorybench list` and planning import the sandbox: no ready shell,
    no exit or fork hook, no probe process may come of it."""
    script = """
import atexit, os, subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
hooks, spawned = [], []
atexit.register = lambda f, *a, **k: hooks.append(f)
os.register_at_fork = lambda **k: hooks.extend(k.values())
real_init = subprocess.Popen.__init__
def spy(self, *a, **k):
    spawned.append(a[0] if a else k.get("args"))
    return real_init(self, *a, **k)
subprocess.Popen.__init__ = spy
import workloads.sandbox
from workloads.sandbox import specs
configs = [c for spec in specs.SPECS for c in spec.plan(None)]
ours = [h for h in hooks if getattr(h, "__module__", "").startswith("workloads.sandbox")]
print(len(configs), len(ours), len(spawned), threading.active_count())
"""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", script, root], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0", "0", "1"], out.stdout


# -- unshare and rlimit: private /proc and scratch, a uid per sandbox ----------

needs_unshare = pytest.mark.skipif("unshare" not in ISOLATING,
                                   reason=f"unshare unavailable: {backend_problem('unshare')}")


@needs_unshare
def test_unshare_has_its_own_proc():
    res = Sandbox(backend="unshare").run(["sh", "-c", "ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '"])
    assert res.ok, res.stderr
    count, *first = res.stdout.decode().split("\n", 1)
    assert int(count) < 10, res.stdout  # ours only, not the host's hundreds
    assert "python" not in first[0] and "pytest" not in first[0]


@needs_unshare
def test_unshare_scratch_dirs_and_runtime_sockets_are_private():
    marker = f"fb-private-{os.getpid()}"
    script = (f"for d in /tmp /var/tmp /dev/shm; do echo x > $d/{marker} || exit 3; done; "
              "ls -A /run /home /root 2>/dev/null | grep -v -e '^/' -e '^$' -e '^mount$'; pwd; echo ok")
    with Sandbox(backend="unshare").session() as s:
        res = s.run(["sh", "-c", script])
        assert res.ok and res.stdout.split()[-2:] == [s.path.encode(), b"ok"], res.stdout + res.stderr
        assert len(res.stdout.split()) == 2, res.stdout  # /run, /home and /root are empty
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not os.path.exists(f"{d}/{marker}")


@backends([b for b in ISOLATING if os.geteuid() == 0])
def test_concurrent_sandboxes_run_as_distinct_uids_and_cannot_reach_each_other(backend):
    """One sandbox holds a secret in its environment and work dir; a
    concurrent one tries to read both, signal it and attach to it."""
    sb = Sandbox(backend=backend, timeout_s=20)
    with sb.session() as victim_session, sb.session() as attacker_session:
        assert victim_session.run_as != attacker_session.run_as
        victim = {}
        t = threading.Thread(target=lambda: victim.setdefault("res", victim_session.run(
            ["sh", "-c", "echo secret > secret.txt; sleep 3 & wait; echo survived"], env={"SECRET": "s3cret"})))
        t.start()
        time.sleep(1.0)
        attack = (f"cat {victim_session.path}/secret.txt; echo x > {victim_session.path}/planted; "
                  "for p in /proc/[0-9]*; do cat $p/environ 2>/dev/null | tr '\\0' '\\n' | grep SECRET; done; "
                  "pkill -KILL sleep; echo tried")
        res = attacker_session.run(["sh", "-c", attack])
        t.join()
        assert b"secret" not in res.stdout and b"s3cret" not in res.stdout, res.stdout
        assert res.stdout.endswith(b"tried\n")
        assert not os.path.exists(os.path.join(victim_session.path, "planted"))
        assert victim["res"].stdout == b"survived\n", victim["res"]


@backends([b for b in ISOLATING if b != "bwrap"])
def test_work_dirs_are_private_to_their_sandbox(backend):
    with Sandbox(backend=backend).session() as s:
        assert os.stat(s.path).st_mode & 0o777 == 0o700


# -- rlimit: no isolation, said so and refused for agent code by default --------

def test_only_namespaced_backends_count_as_isolation():
    for backend in ISOLATING + ["none"]:
        sb = Sandbox(backend=backend)
        assert sb.isolated == (backend in ("bwrap", "unshare"))
        if backend == "rlimit":
            assert "no isolation" in sb.warning


@pytest.mark.skipif("rlimit" not in ISOLATING, reason="rlimit unavailable")
def test_agent_code_refuses_an_unisolated_sandbox_unless_allowed():
    from suite.errors import Skipped
    from workloads.sandbox import for_agent_code

    with pytest.raises(Skipped, match="--allow-unisolated"):
        for_agent_code({}, backend="rlimit")
    assert for_agent_code({"allow_unisolated": True}, backend="rlimit").backend == "rlimit"
    if ISOLATING[0] != "rlimit":
        assert for_agent_code({}).isolated


def test_compile_and_code_exec_are_skipped_on_rlimit_only(monkeypatch):
    from suite.spec import PROFILES, Job
    from workloads.compile import build
    from workloads.sandbox import backends
    from workloads.tools import bench

    monkeypatch.setattr(backends, "backend_problem", lambda b: None if b in ("rlimit", "none") else "not here")
    monkeypatch.setattr(sbx, "available_backends", lambda: ["rlimit"])
    system = {"logical_cpus": 1, "cpus": [{"cpu": 0, "core": 0, "package": 0, "node": 0}]}
    job = Job("compile.c", {"jobs": 1}, PROFILES["quick"], system, {}, 60.0)
    from suite.errors import Skipped
    with pytest.raises(Skipped, match="--allow-unisolated"):
        build.run_compile(job)
    with pytest.raises(bench.ModelUnavailable, match="--allow-unisolated"):
        from workloads.tools import catalog
        bench.open_model("sandbox", catalog.TOOLS["code_exec"], {}, 1, pool_size=1, timeout_s=5.0)


@pytest.mark.skipif("rlimit" not in ISOLATING or os.geteuid() != 0, reason="rlimit as root only")
def test_rlimit_leaves_no_process_behind_even_without_a_cgroup():
    res = Sandbox(backend="rlimit", use_cgroup=False).run(
        ["sh", "-c", "setsid sleep 3146 & (setsid sh -c 'sleep 3147' &); echo started"])
    assert res.stdout == b"started\n"
    time.sleep(0.1)
    assert not [p for p in psutil.process_iter(["cmdline"])
                if (p.info["cmdline"] or [""])[-1] in ("3146", "3147", "sleep 3147")]


# -- limits that hold for the run as a whole ------------------------------------

@backends(ISOLATING)
def test_memory_is_capped_for_all_processes_of_a_run_together(backend):
    if not cgroup_parent().caps("memory"):
        pytest.skip("no writable memory cgroup")
    # Each child stays under RLIMIT_AS; together they would take 768 MiB.
    child = "b = bytearray(256 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nimport time; time.sleep(1); print('held')"
    py = _python_for(backend)
    script = f'for i in 1 2 3; do "{py}" -c "$0" & done; wait', child
    res = Sandbox(backend=backend, limits=Limits(memory_bytes=400 << 20), timeout_s=20).run(["sh", "-c", *script])
    assert res.stdout.count(b"held") < 3, res


@backends([b for b in ISOLATING if os.geteuid() == 0])
def test_the_work_dir_is_a_size_limited_file_system(backend):
    sb = Sandbox(backend=backend, limits=Limits(workdir_bytes=32 << 20))
    script = "for i in 1 2 3; do head -c 16777216 /dev/zero > f$i || { echo full at $i; exit 0; }; done; echo wrote all"
    res = sb.run(["sh", "-c", script])
    assert b"full at" in res.stdout, res


@backends(ISOLATING)
def test_open_files_are_limited(backend):
    opener = "import os\nn = 0\ntry:\n    while n < 5000:\n        os.open('/dev/null', os.O_RDONLY); n += 1\nexcept OSError:\n    pass\nprint(n)"
    res = Sandbox(backend=backend, limits=Limits(open_files=64)).run([_python_for(backend), "-c", opener])
    assert res.ok and int(res.stdout) < 64, res


@backends([b for b in ISOLATING if os.geteuid() == 0])
def test_a_killed_fork_bomb_does_not_starve_the_next_runs(backend):
    """Its killed processes may linger as zombies a moment; they count
    against their own uid only."""
    bomb = Sandbox(backend=backend, limits=Limits(nproc=32), timeout_s=1)
    bomb.run(["sh", "-c", "f() { f & f & wait; }; f"])
    nxt = Sandbox(backend=backend, limits=Limits(nproc=32))
    assert all(nxt.run(["sh", "-c", "true & true & wait"]).ok for _ in range(2))


def test_run_accepts_allow_unisolated():
    from click.testing import CliRunner

    from suite.cli import cli

    out = CliRunner().invoke(cli, ["run", "--help"])
    assert out.exit_code == 0 and "--allow-unisolated" in out.output


@needs_bwrap
def test_bwrap_etc_follows_the_hosts_loader_cache(monkeypatch, tmp_path):
    """A changed host file (ldconfig ran) gives sandboxes a fresh /etc copy."""
    from workloads.sandbox import backends

    first = backends.sandbox_etc()
    assert sorted(os.listdir(first)) == sorted(
        n for n in (*backends.etc_from_host(), *backends.ETC_WRITTEN) if os.path.lexists(f"/etc/{n}") or n in backends.ETC_WRITTEN)
    real_lstat = os.lstat

    def newer(path, *a, **k):
        st = real_lstat(path, *a, **k)
        if path == "/etc/ld.so.cache":
            return os.stat_result((*st[:8], st.st_mtime + 1, st[9]))
        return st
    monkeypatch.setattr(backends.os, "lstat", newer)
    assert backends.sandbox_etc() != first


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands out sandbox uids")
def test_enough_distinct_uids_for_twice_176_threads_at_once():
    from workloads.sandbox import uids

    held = [uids.take() for _ in range(2 * 176 + 50)]
    try:
        assert len({u.uid for u in held}) == len(held)
    finally:
        for u in held:
            u.release()


def test_without_mount_rights_the_work_dir_is_a_plain_directory_and_says_so(monkeypatch):
    """Root in a container without CAP_SYS_ADMIN cannot mount a tmpfs."""
    monkeypatch.setattr(workdirs, "size_limit_problem", lambda: "Operation not permitted")
    sb = Sandbox(backend=ISOLATING[0] if ISOLATING else "none")
    if sb.backend != "none":
        assert "work dir size unbounded (Operation not permitted)" in sb.warning
    with sb.session() as s:
        assert s.run(["sh", "-c", "echo x > f && cat f"]).stdout == b"x\n"
        assert not os.path.ismount(s.path)
        if s.run_as is not None:
            assert os.stat(s.path).st_uid == s.run_as
