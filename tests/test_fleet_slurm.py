"""`fleet slurm`: a fleet run through Slurm, on a cluster of this one machine
(munged, slurmctld and two slurmd on 127.0.0.1: tests/fixtures/slurm.py)."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import cli_argv
from tests.fixtures import slurm

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(slurm.missing() is not None, reason=str(slurm.missing()))]

SELECTION = ("tools.noop", "--profile", "smoke")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = slurm.start(tmp_path_factory.mktemp("slurm"))
    yield c
    c.stop()


def fleet(cluster, *args, timeout=300):
    # The nodes' lock is the test's own: both nodes are this machine, so it
    # lets one run at a time, and no other run on the machine waits on it.
    lock = ("--lock", str(cluster.root / "node.lock"), "--lock-wait", "240")
    return subprocess.run(cli_argv("fleet", "slurm", *args, *lock, "--quiet"), env=cluster.env,
                          capture_output=True, text=True, timeout=timeout)


def run_dir(out):
    (found,) = [p for p in out.iterdir() if p.is_dir()]
    return found


def test_every_node_delivers_one_result(cluster, tmp_path):
    store = tmp_path / "h.sqlite"
    res = fleet(cluster, *SELECTION, "--nodes", "bench[1-2]", "--out", str(tmp_path / "fleet"),
                "--store", str(store))
    assert res.returncode == 0, res.stdout + res.stderr + cluster.log("slurmctld")
    where = run_dir(tmp_path / "fleet")
    assert sorted(p.name for p in where.glob("*.json")) == ["bench1.json", "bench2.json"]
    spans = []
    for node in slurm.NODES:
        doc = json.loads((where / f"{node}.json").read_text())
        assert doc["system"]["machine"] == node
        assert any(r["benchmark"] == "tools.noop" for r in doc["results"])
        spans.append((doc["run"]["started_at"], doc["run"]["finished_at"]))
    # Both nodes are this one machine: their lock let one run at a time.
    (a_start, a_end), (b_start, b_end) = sorted(spans)
    assert a_end <= b_start
    assert (where / "slurm" / "job.sh").read_text().startswith("#!/bin/sh")
    assert "bench1" in res.stdout and "bench2" in res.stdout
    listed = subprocess.run(cli_argv("history", "list", "--store", str(store)),
                            capture_output=True, text=True, timeout=60).stdout
    assert "bench1" in listed and "bench2" in listed


def test_a_drained_node_is_unreachable_and_the_other_delivers(cluster, tmp_path):
    scontrol = ["scontrol", "update", "nodename=bench2"]
    subprocess.run([*scontrol, "state=drain", "reason=maintenance"], env=cluster.env, check=True)
    try:
        res = fleet(cluster, *SELECTION, "--out", str(tmp_path / "fleet"))
    finally:
        subprocess.run([*scontrol, "state=resume"], env=cluster.env, check=True)
    assert res.returncode == 1, res.stdout + res.stderr
    where = run_dir(tmp_path / "fleet")
    assert [p.name for p in where.glob("*.json")] == ["bench1.json"]
    line = next(ln for ln in res.stdout.splitlines() if "bench2" in ln and "unreachable" in ln)
    assert "maintenance" in line


@pytest.mark.parametrize("args, needle", [
    (("--nodes", "nosuch"), "--nodes"),
    (("--nodes", "bench[1-"), "--nodes"),
    (("--partition", "nosuch"), "--partition"),
    (("no.such.bench", "--nodes", "bench1"), "no.such.bench"),
    (("--nodes", "bench1", "--shared-dir", "/proc/no/such"), "--shared-dir"),
])
def test_bad_values_are_one_line_exit_2(cluster, tmp_path, args, needle):
    res = fleet(cluster, *args, "--out", str(tmp_path / "fleet"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and needle in res.stderr
    assert "Traceback" not in res.stderr
