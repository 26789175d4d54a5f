"""Interference: CPU time others took on a benchmark's CPUs marks its records."""
import os
import subprocess
import sys
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
