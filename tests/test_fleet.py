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
from suite.runner import git_commit
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


def test_stopped_host_is_unreachable_and_the_others_deliver(tmp_path):
    # Hosts of its own: a stopped sshd's port is free for any other process
    # to take, so this fleet is never restarted.
    with sshd.LoopbackFleet(tmp_path / "hosts") as own:
        inv = own.inventory(tmp_path / "inventory.ini", factorybench_python=sys.executable)
        own.hosts[1].stop()
        res = fleet("run", *SELECTION, "--inventory", str(inv), "--out", str(tmp_path))
    assert res.returncode == 1, res.stdout + res.stderr
    run = run_dir(tmp_path, res.stdout)
    assert sorted(f.name for f in run.glob("*.json")) == ["alpha.json", "gamma.json"], \
        res.stdout + res.stderr
    beta = next(ln for ln in res.stdout.splitlines() if ln.startswith("│ beta"))
    assert "unreachable" in beta
    assert "2 of 3 host(s) delivered" in res.stdout


def _span(path: Path) -> tuple:
    run = json.loads(path.read_text())["run"]
    return tuple(datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                 for k in ("started_at", "finished_at"))


def _started(*argvs):
    return [subprocess.Popen(cli_argv(*argv), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
            for argv in argvs]


def test_nightly_and_a_fleet_run_at_once_share_hosts_and_one_history(hosts, pg_url, tmp_path):
    """`nightly` and a fleet run started together: every host delivers to
    both, never benchmarking for both at once; the history holds 3 machines,
    the nightly's check and dashboard cover them; fleet compare puts them
    side by side."""
    inv = hosts.root / "inventory.ini"
    site = tmp_path / "site"
    common = (*SELECTION, "--inventory", str(inv), "--store", pg_url, "--quiet")
    runs = _started(("nightly", *common, "--out", str(tmp_path / "fleet0"), "--site", str(site)),
                    ("fleet", "run", *common, "--out", str(tmp_path / "fleet1")))
    outs = [p.communicate(timeout=240) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outs
    assert all("fleet overhead" in out for out, _ in outs)
    nightly = outs[0][0]
    assert "checked" in nightly and nightly.rstrip().endswith("nightly: ok"), nightly
    assert (site / "index.html").exists() and (site / "data.json").exists()
    assert all(m in (site / "index.html").read_text() for m in ("alpha", "beta", "gamma"))
    run_dirs = [run_dir(tmp_path, out) for out, _ in outs]
    for d in run_dirs:
        files = sorted(d.glob("*.json"))
        assert [f.name for f in files] == ["alpha.json", "beta.json", "gamma.json"]
        docs = [load(f) for f in files]
        assert [doc.system["machine"] for doc in docs] == ["alpha", "beta", "gamma"]
        assert all(doc.run["status"] == "complete" and doc.results for doc in docs)
        # The hosts' copies carry no .git; their results name the commit shipped.
        assert {doc.suite["git_commit"] for doc in docs} == {git_commit()}
    for host in ("alpha", "beta", "gamma"):
        first, second = sorted(_span(d / f"{host}.json") for d in run_dirs)
        assert first[1] <= second[0], f"{host}: runs overlap: {first} and {second}"

    listed = subprocess.run(cli_argv("history", "list", "--store", pg_url), cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    machines = [line.split()[1] for line in listed.stdout.splitlines()]
    assert sorted(machines) == sorted(["alpha", "beta", "gamma"] * 2)

    html = tmp_path / "fleet.html"
    res = fleet("compare", run_dirs[0].name, "--out", str(run_dirs[0].parent),
                "--cost-per-hour", "alpha=1,beta=2,gamma=4", "-o", str(html))
    assert res.returncode == 0, res.stderr
    assert "Cost per million tool calls" in res.stdout and "Work per joule" in res.stdout
    header = next(ln for ln in res.stdout.splitlines() if "figure" in ln)
    assert all(m in header for m in ("alpha", "beta", "gamma"))
    page = html.read_text()
    assert all(m in page for m in ("alpha", "beta", "gamma")) and "Headline" in page
    # The prices priced the comparison, never the result files.
    assert not any(r.metric.startswith("cost") for f in run_dirs[0].glob("*.json")
                   for r in load(f).results)


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


def test_fleet_compare_prices_each_host(tmp_path):
    """Twice the price, twice the cost per unit at the same throughput; a
    price for no host of the run is refused."""
    import shutil

    from suite.commands.fleet import compare_fleet

    for host in ("cheap", "dear"):
        shutil.copy(ROOT / "tests/fixtures/results/x86-a.json", tmp_path / f"{host}.json")
    text, html = compare_fleet(tmp_path, "cheap=1,dear=2", None, "json", None)
    assert html == tmp_path / "compare.html" and html.exists()
    rows = [r for r in json.loads(text)["rows"] if r["metric"].startswith("cost")]
    assert rows
    for row in rows:
        cheap, dear = (c["value"] for c in row["cells"])
        assert dear == pytest.approx(2 * cheap)
    with pytest.raises(Exception, match="names no host"):
        compare_fleet(tmp_path, "cheap=1,other=2", None, "table", None)


def _nightly_options() -> set:
    from suite.commands.nightly import command

    return {opt for p in command.params for opt in getattr(p, "opts", ())}


def test_contrib_units_and_cron_line_call_nightly_with_its_options():
    import configparser
    import re
    import shlex

    contrib = ROOT / "contrib"
    service = configparser.ConfigParser(strict=False, interpolation=None)
    service.optionxform = str
    service.read(contrib / "systemd/factorybench-nightly.service")
    assert service["Service"]["Type"] == "oneshot"
    exec_start = shlex.split(service["Service"]["ExecStart"])[-1]
    env = {line.split("=", 1)[0] for line in
           (contrib / "systemd/factorybench-nightly.service").read_text().splitlines()
           if line.startswith("Environment=")
           for line in [line.removeprefix("Environment=")]}
    assert set(re.findall(r"\$(FACTORYBENCH_\w+)", exec_start)) <= env
    timer = configparser.ConfigParser(strict=False, interpolation=None)
    timer.read(contrib / "systemd/factorybench-nightly.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"
    cron = next(ln for ln in (contrib / "cron/factorybench-nightly").read_text().splitlines()
                if ln.strip() and not ln.startswith("#"))
    assert len(cron.split(None, 6)) == 7  # five time fields, the user, the command
    for command in (exec_start, cron):
        words = shlex.split(command.split("nightly", 1)[1].split(">>")[0])
        used = {w for w in words if w.startswith("--")}
        assert used and used <= _nightly_options(), used - _nightly_options()
        assert {"--inventory", "--store", "--site"} <= used
