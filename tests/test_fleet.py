"""Fleet runs on three loopback sshd "hosts" of this machine, with the
results in a throwaway PostgreSQL history."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from suite.results import load
from tests.conftest import ROOT, cli_argv
from tests.fixtures import sshd

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sshd.available() is not None,
                                 reason=str(sshd.available()))]

# A real benchmark that runs in a few seconds at its smallest size.
SELECTION = ("tools.noop", "--profile", "smoke")


def fleet(*args, timeout=240):
    return subprocess.run(cli_argv("fleet", *args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    with sshd.LoopbackFleet(root) as fl:
        # The hosts reuse this interpreter's environment: no venv set-up per host.
        fl.inventory(root / "inventory.ini", factorybench_python=sys.executable)
        yield fl


@pytest.fixture(scope="module")
def pg_url():
    from workloads.db.pg_server import LocalPostgres

    with LocalPostgres() as pg:
        yield pg.url


def run_dir(out: Path, stdout: str) -> Path:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("results: "))
    return Path(line.split(": ", 1)[1])


def test_three_hosts_deliver_into_one_history(hosts, pg_url, tmp_path):
    inv = hosts.root / "inventory.ini"
    res = fleet("run", *SELECTION, "--inventory", str(inv), "--out", str(tmp_path),
                "--store", pg_url)
    assert res.returncode == 0, res.stdout + res.stderr
    run = run_dir(tmp_path, res.stdout)
    files = sorted(run.glob("*.json"))
    assert [f.name for f in files] == ["alpha.json", "beta.json", "gamma.json"]
    docs = [load(f) for f in files]
    assert [d.system["machine"] for d in docs] == ["alpha", "beta", "gamma"]
    assert all(d.run["status"] == "complete" and d.results for d in docs)
    assert "fleet overhead" in res.stdout
    listed = subprocess.run(cli_argv("history", "list", "--store", pg_url), cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    machines = {line.split()[1] for line in listed.stdout.splitlines()}
    assert machines == {"alpha", "beta", "gamma"}


def test_stopped_host_is_unreachable_and_the_others_deliver(hosts, tmp_path):
    inv = hosts.root / "inventory.ini"
    down = hosts.hosts[1]
    down.stop()
    try:
        res = fleet("run", *SELECTION, "--inventory", str(inv), "--out", str(tmp_path))
    finally:
        down.start()
    assert res.returncode == 1, res.stdout + res.stderr
    run = run_dir(tmp_path, res.stdout)
    assert sorted(f.name for f in run.glob("*.json")) == ["alpha.json", "gamma.json"]
    beta = next(ln for ln in res.stdout.splitlines() if ln.startswith("│ beta"))
    assert "unreachable" in beta
    assert "2 of 3 host(s) delivered" in res.stdout


def _span(path: Path) -> tuple:
    run = json.loads(path.read_text())["run"]
    return tuple(datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                 for k in ("started_at", "finished_at"))


def test_two_fleet_runs_never_benchmark_one_host_at_once(hosts, tmp_path):
    inv = hosts.root / "inventory.ini"
    runs = [subprocess.Popen(cli_argv("fleet", "run", *SELECTION, "--inventory", str(inv),
                                      "--out", str(tmp_path / f"fleet{i}"), "--quiet"),
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, stdin=subprocess.DEVNULL) for i in range(2)]
    outs = [p.communicate(timeout=240) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outs
    for host in ("alpha", "beta", "gamma"):
        (a,), (b,) = (list((tmp_path / f"fleet{i}").glob(f"*/{host}.json")) for i in range(2))
        first, second = sorted([_span(a), _span(b)])
        assert first[1] <= second[0], f"{host}: runs overlap: {first} and {second}"


@pytest.mark.parametrize("content,needle", [
    (None, "does not exist"),
    ("[bench\nalpha ansible_host=127.0.0.2 =\n", "not a usable Ansible inventory"),
    ("[bench]\nalpha factorybench_machine=bad/name\n", "factorybench_machine"),
    ("[bench]\nalpha factorybench_machine=same\nbeta factorybench_machine=same\n", "same"),
])
def test_bad_inventory_is_one_line_exit_2(tmp_path, content, needle):
    inv = tmp_path / "inventory.ini"
    if content is not None:
        inv.write_text(content)
    res = fleet("run", "tools.noop", "--inventory", str(inv))
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_bad_selection_is_refused_before_any_host(tmp_path):
    inv = tmp_path / "inventory.ini"
    inv.write_text("[bench]\nalpha ansible_host=127.0.0.9\n")
    res = fleet("run", "no.such.bench", "--inventory", str(inv))
    assert res.returncode == 2 and "'no.such.bench'" in res.stderr, res.stderr
