"""Interference: CPU time others took on a benchmark's CPUs marks its records."""
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from suite import monitor
from suite.runner import RunOptions, execute
from suite.spec import PROFILES, select
from tests.conftest import run_in_process
from tests.fixtures import dummy_bench


def test_interference_is_others_busy_time_plus_steal_over_the_window():
    figure = monitor.interference(2.0, [0, 1], busy_s=3.0, steal_s=0.2, benchmark_s=2.0)
    assert figure["percent"] == 30.0  # (1.0 s others + 0.2 s steal) of 2 CPUs x 2 s
    assert figure["other_cpu_seconds"] == 1.0 and "30%" in figure["disturbed"]
    quiet = monitor.interference(2.0, [0, 1], busy_s=2.1, steal_s=0.0, benchmark_s=2.0)
    assert quiet["percent"] == 2.5 and quiet["disturbed"] is None
    # The benchmark's own time is never counted against it.
    assert monitor.interference(1.0, [0], 1.0, 0.0, 1.5)["percent"] == 0.0


@pytest.fixture
def spinner():
    """A process outside the benchmark's tree spinning on the last CPU."""
    cpu = max(os.sched_getaffinity(0))
    proc = subprocess.Popen([sys.executable, "-c",
                             f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\n"
                             "end = time.time() + 60\nwhile time.time() < end: pass"])
    time.sleep(0.3)  # running before the benchmark starts
    yield cpu
    proc.kill()
    proc.wait()


def test_a_spinning_neighbour_marks_the_records_on_its_cpu_disturbed(tmp_path, spinner, capsys):
    specs = select(dummy_bench.SPECS, ["fake.pinned"], "quick")
    opts = RunOptions(profile=PROFILES["quick"], out_path=tmp_path / "r.json")
    doc = execute(specs, opts, {"logical_cpus": os.cpu_count(), "hostname": "test"})
    (record,) = doc.results
    assert record.info["affinity"] == [spinner]
    figure = record.info["interference"]
    assert figure["cpus"] == [spinner] and figure["percent"] > monitor.DISTURBED_PERCENT
    assert record.info["disturbed"] and "interference" in record.info["disturbed"]
    assert "interference" not in record.info["utilization"]  # one place for the figure
    code, out, _ = run_in_process(["show", str(tmp_path / "r.json")], capsys)
    assert code == 0 and "disturbed" in out
    from suite.report import render_html
    from suite.results import load
    assert "interference" in render_html([load(tmp_path / "r.json")])


def _cgroup_clock_or_skip():
    from suite.cgroupclock import CgroupClock

    probe = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        clock = CgroupClock(probe.pid)
        clock_ok, why = clock.seconds() is not None, clock.unavailable
    finally:
        probe.kill()
        probe.wait()
        clock.close()
    if not clock_ok:
        pytest.skip(f"no cgroup of the benchmark's own here: {why}")


# The benchmark's work runs in processes its harness never reaps, each
# shorter than a sample: a compiler pass in the sandbox is reaped by the
# init of bwrap's PID namespace, which the host's init reaps (bwrap's
# outer process exits without waiting for it); a grandchild orphaned by
# its parent's exit likewise. The work reports its own CPU time.
SHORT_PROCESSES = """
import os, time
for _ in range(30):
    if os.fork() == 0:
        end = time.process_time() + 0.02
        while time.process_time() < end:
            pass
        os._exit(0)
    os.wait()
t = os.times()
print(t[0] + t[1] + t[2] + t[3], flush=True)
"""
ORPHAN_WORK = {
    "orphaned grandchild": f"""
        import os, subprocess, sys
        r, w = os.pipe()
        if os.fork() == 0:
            if os.fork() == 0:
                os.dup2(w, 1)
                os.execv(sys.executable, [sys.executable, "-c", {SHORT_PROCESSES!r}])
            os._exit(0)
        os.wait()
        os.close(w)
        print(os.read(r, 64).decode(), flush=True)
    """,
    "bwrap PID namespace": f"""
        import subprocess, sys
        out = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                              "--unshare-pid", sys.executable, "-c", {SHORT_PROCESSES!r}],
                             capture_output=True, text=True)
        print(out.stdout.strip() or "bwrap failed: " + out.stderr.strip(), flush=True)
    """,
}


@pytest.mark.parametrize("how", sorted(ORPHAN_WORK))
def test_work_in_a_process_the_harness_never_reaps_is_the_benchmarks(how):
    _cgroup_clock_or_skip()
    if how.startswith("bwrap") and not shutil.which("bwrap"):
        pytest.skip("bwrap not installed")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)\n"
                              + textwrap.dedent(ORPHAN_WORK[how])],
                             stdout=subprocess.PIPE, text=True)
    mon = monitor.UtilizationMonitor(pid=child.pid, interval_s=0.1).start()
    out, _ = child.communicate()
    figure = mon.stop()["interference"]
    if out.startswith("bwrap failed"):
        pytest.skip(out.strip())
    work_s = float(out)
    assert work_s >= 0.5
    # Counted by rusage and sampling, the benchmark's CPU time was the
    # child's own (rusage never saw the orphan, sampling never found it)
    # and the work was "other processes".
    assert figure["benchmark_cpu_seconds"] >= work_s
    assert figure["benchmark_cpu_source"] == "cgroup"


def test_load_the_harness_itself_reaps_still_counts_as_interference():
    """A neighbour started and reaped by the harness during the window is
    not the benchmark (its rusage reaches the harness all the same)."""
    _cgroup_clock_or_skip()
    cpu = max(os.sched_getaffinity(0))
    child = subprocess.Popen([sys.executable, "-c",
                              f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\ntime.sleep(1.2)"])
    mon = monitor.UtilizationMonitor(pid=child.pid, interval_s=0.1, exclude_cpus={cpu}).start()
    neighbour = subprocess.Popen([sys.executable, "-c",
                                  f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\n"
                                  "end = time.time() + 0.8\nwhile time.time() < end: pass"])
    neighbour.wait()
    child.wait()
    figure = mon.stop()["interference"]
    assert figure["cpus"] == [cpu]
    assert figure["benchmark_cpu_seconds"] < 0.3  # a sleeping child
    assert figure["percent"] > monitor.DISTURBED_PERCENT and figure["disturbed"]


def test_without_a_cgroup_the_record_says_how_it_counted(monkeypatch, tmp_path):
    """A harness whose cgroup hands controllers to its children makes none
    for the benchmark (it would get a scheduling group of its own): the
    figure says which count it used and why."""
    from suite import cgroupclock

    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    monkeypatch.setattr(cgroupclock, "_v2_home", lambda: (str(tmp_path), None))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    mon = monitor.UtilizationMonitor(pid=child.pid, interval_s=0.1).start()
    child.wait()
    figure = mon.stop()["interference"]
    assert figure["benchmark_cpu_source"].startswith(("reaped children (no cgroup: ",
                                                      "sampled process tree (no cgroup: "))
    assert "cpu memory pids" in figure["benchmark_cpu_source"]
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # nothing made


def test_the_benchmarks_cgroup_goes_when_it_ends():
    _cgroup_clock_or_skip()
    from suite import cgroupclock

    home, _ = cgroupclock._v2_home()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    mon = monitor.UtilizationMonitor(pid=child.pid, interval_s=0.1).start()
    child.wait()
    mon.stop()
    mine = f"{cgroupclock.PREFIX}-{os.getpid()}-"
    assert not [e for e in os.listdir(home) if e.startswith(mine)]


def test_a_child_that_ended_before_the_monitor_started_is_counted():
    """It exits before it can be moved (a worker failing at once): its
    CPU time still counts, until the harness reaps it in the window."""
    child = subprocess.Popen([sys.executable, "-c",
                              "import os, time\nend = time.process_time() + 0.3\n"
                              "while time.process_time() < end: pass\nprint(sum(os.times()[:2]))"],
                             stdout=subprocess.PIPE, text=True)
    work_s = float(child.stdout.read())
    time.sleep(0.2)  # exited, not yet reaped
    mon = monitor.UtilizationMonitor(pid=child.pid, interval_s=0.1).start()
    child.wait()
    figure = mon.stop()["interference"]
    assert figure["benchmark_cpu_seconds"] >= work_s - 0.02  # clock ticks, rounding
