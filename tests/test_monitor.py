import os
import subprocess
import sys
import textwrap

import pytest

from suite import monitor
from suite.monitor import UtilizationMonitor

MIB = 1 << 20


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])


def test_child_busy_and_peak_rss_are_seen():
    child = _spawn("""
        import time
        block = bytearray(120 * 1024 * 1024)
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            pass
    """)
    mon = UtilizationMonitor(pid=child.pid, interval_s=0.05).start()
    child.wait()
    s = mon.stop()
    assert s["samples"] >= 3
    assert s["interval_s"] == 0.05
    assert s["peak_rss_bytes"] >= 120 * MIB
    assert s["ctx_switches"] >= 0
    assert s["process_cpu_seconds"] > 0.1
    busy = s["cpu_busy_pct"]
    assert len(busy["per_cpu"]) == len(busy["cpus"]) >= 1
    assert 0 <= busy["mean"] <= 100


def test_descendants_count_towards_peak_rss():
    child = _spawn("""
        import subprocess, sys
        subprocess.run([sys.executable, "-c",
                        "import time; b = bytearray(150 * 1024 * 1024); time.sleep(0.5)"])
    """)
    mon = UtilizationMonitor(pid=child.pid, interval_s=0.05).start()
    child.wait()
    s = mon.stop()
    assert s["processes_seen"] >= 2
    assert s["peak_rss_bytes"] >= 150 * MIB


def test_sampler_pins_itself_off_the_measured_cpus():
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two CPUs to keep the sampler off the measured one")
    mon = UtilizationMonitor(pid=None, interval_s=0.02, exclude_cpus=[allowed[0]]).start()
    s = mon.stop()
    assert allowed[0] not in s["monitor_cpus"]
    assert s["monitor_off_measured_cpus"] is True
    # The parent's own affinity is untouched: only the sampler thread moved.
    assert sorted(os.sched_getaffinity(0)) == allowed


def test_a_thread_pinned_apart_from_its_process_counts_its_cpu():
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    main, other = allowed[0], allowed[-1]
    # The process is pinned to one CPU; a thread of it works on another for
    # a while and ends (as the first touch by every CPU of a node does).
    child = _spawn(f"""
        import os, threading, time
        os.sched_setaffinity(0, {{{main}}})
        def spin():
            os.sched_setaffinity(0, {{{other}}})
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                pass
        t = threading.Thread(target=spin)
        t.start(); t.join()
        time.sleep(0.2)
    """)
    mon = UtilizationMonitor(pid=child.pid, interval_s=0.05, exclude_cpus=[main]).start()
    child.wait()
    s = mon.stop()
    assert s["interference"]["cpus"] == sorted({main, other})
    assert s["cpu_busy_pct"]["child_cpus"] == [main]  # the process itself stayed put


def test_without_pid_reports_machine_only():
    s = UtilizationMonitor(interval_s=0.02).start().stop()
    assert s["ctx_switches"] is None and s["peak_rss_bytes"] is None
    assert s["cpu_busy_pct"]["per_cpu"]


def test_vanished_pid_is_reported_not_raised():
    child = _spawn("pass")
    child.wait()
    s = UtilizationMonitor(pid=child.pid, interval_s=0.02).start().stop()
    assert "not observable" in s["process_unavailable"]
    assert s["peak_rss_bytes"] is None


def test_bad_use():
    with pytest.raises(ValueError, match="interval_s"):
        UtilizationMonitor(interval_s=0)
    with pytest.raises(RuntimeError):
        UtilizationMonitor().stop()


def test_busy_pct_from_tick_deltas():
    first = {0: (100, 1000), 1: (0, 1000), 2: (5, 5)}
    last = {0: (600, 2000), 1: (250, 2000), 2: (5, 5)}
    assert monitor._busy_pct(first, last) == {0: 50.0, 1: 25.0, 2: None}
