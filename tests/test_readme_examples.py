"""Every command line the README shows is run here.

README_COMMANDS maps each command as the README writes it to the command
lines that run it: the same command, with fixture result files for its
placeholders and the fixture benchmarks (tests/fixtures/dummy_bench.py) or
a small size where a real run would take minutes. A command the README
gains without an entry here fails `test_every_readme_command_is_covered`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FIXTURES = "tests/fixtures/results"
A, B, ARM = (f"{FIXTURES}/{n}.json" for n in ("x86-a", "x86-b", "arm"))
# Run by hand or elsewhere, never from inside the test suite.
ELSEWHERE = {
    "./run.sh": "the default profile (< 3 min); its time is measured before every landing",
    "./run.sh test": "this test suite itself",
    "tests/arm/run.sh": "builds an arm64 root (10-20 min), run after the suite in CI",
    "python -m suite.worker": "the child the runner starts; every run test starts it",
    "pytest tests/benchmarks --benchmark-only": "the pytest-benchmark runs of the kernels",
}
# The Phoronix Test Suite lines: tests/test_pts_run.py runs them (offline, PTS
# from ../shared) in a throwaway PTS user directory rather than ~/.
PTS_LINES = (
    'ln -s "$PWD/integrations/pts/factorybench-1.0.0" ~/.phoronix-test-suite/test-profiles/local/',
    "phoronix-test-suite install local/factorybench-1.0.0",
    "phoronix-test-suite benchmark local/factorybench-1.0.0",
    "export PRESET_OPTIONS_VALUES='factorybench.category=memory;factorybench.profile=quick;"
    "factorybench.threads=sweep;factorybench.array-mib=auto'",
    "TEST_RESULTS_NAME=fb-memory phoronix-test-suite batch-run local/factorybench-1.0.0 </dev/null",
    "mkdir -p ~/.phoronix-test-suite/test-results/fb-export",
    "phoronix-test-suite merge-results fb-memory fb-export </dev/null",
)
ELSEWHERE.update(dict.fromkeys(PTS_LINES, "PTS itself: tests/test_pts_run.py"))
# Fleet commands need hosts: tests/test_fleet.py runs them on loopback sshd
# hosts with a throwaway PostgreSQL store.
FLEET_LINES = (
    "factorybench fleet run --inventory INV [SEL...] [--profile P] [--store URL] [--parallel N]",
    "./run.sh fleet run --inventory inventory.ini --store results/history.sqlite",
    "factorybench fleet compare RUN-ID [--cost-per-hour HOST=PRICE,...]",
    "factorybench fleet compare latest --cost-per-hour grace1=4.1,epyc1=5.2,xeon1=4.8",
    "factorybench nightly --inventory INV --store URL --site DIR",
    "./run.sh nightly --inventory inventory.ini --store postgresql://bench@db/factorybench "
    "--site /var/www/factorybench",
)
ELSEWHERE.update(dict.fromkeys(FLEET_LINES, "tests/test_fleet.py, on loopback sshd hosts"))
# Installing the nightly timer changes the machine's systemd; tests/test_fleet.py
# checks the unit files' command line against the CLI instead.
SYSTEMD_LINES = (
    "cp contrib/systemd/factorybench-nightly.service contrib/systemd/factorybench-nightly.timer "
    "/etc/systemd/system/",
    "systemctl daemon-reload",
    "systemctl enable --now factorybench-nightly.timer",
)
ELSEWHERE.update(dict.fromkeys(SYSTEMD_LINES, "installs the timer: tests/test_fleet.py checks "
                                              "the units"))
# README command -> command lines run for it ({out}: a temporary directory).
README_COMMANDS = {
    "./run.sh sysinfo --json": ["./run.sh sysinfo --json"],
    "./run.sh run memory --profile standard": [
        "./run.sh run fake --profile standard --out {out} --quiet"],
    # Run, and its records checked, by test_stream_triad_records_carry_its_id.
    "./run.sh run stream.triad": [],
    "./run.sh run corun.db.point": ["./run.sh run corun.db.point --out {out} --quiet"],
    "factorybench sysinfo [--json]": ["factorybench sysinfo", "factorybench sysinfo --json"],
    "factorybench list": ["factorybench list"],
    "factorybench run [SEL...] [--profile smoke|quick|standard|full] [--out DIR] [--threads SPEC] "
    "[--tag K=V]... [--timeout S] [--machine NAME]": [
        "factorybench run fake.ok --profile quick --out {out} --threads 1 --tag rack=a1 "
        "--timeout 60 --machine rack-a1 --quiet"],
    "factorybench plan [SEL...] [--profile P] [--system SYSINFO.json] [--json]": [
        "factorybench plan stream --profile standard --json"],
    "factorybench show RESULT.json": [f"factorybench show {A}"],
    "factorybench validate": ["factorybench validate --profile quick --array-mib 8"],
    "factorybench compare A.json B.json ...": [f"factorybench compare {A} {B} {ARM}"],
    "factorybench report RESULT.json... -o report.html": [
        f"factorybench report {A} {ARM} -o {{out}}/report.html"],
    # Run on a Slurm cluster of this machine by tests/test_fleet_slurm.py.
    "factorybench fleet slurm [SEL...] [--nodes LIST] [--partition P] [--profile P] "
    "[--store URL]": [],
    "factorybench fleet slurm [SEL...] [--nodes LIST] [--partition P] [--profile P] "
    "[--store URL] [--shared-dir DIR]": [],
    "factorybench history add|list|check|site": [
        f"factorybench history add {A} --store {{out}}/h.sqlite",
        "factorybench history list --store {out}/h.sqlite",
        "factorybench history check --store {out}/h.sqlite",
        "factorybench history site --store {out}/h.sqlite -o {out}/site"],
    "factorybench history site --store URL -o DIR [--window 2] [--threshold 5]": [
        f"factorybench history add {A} --store {{out}}/h3.sqlite",
        "factorybench history site --store {out}/h3.sqlite -o {out}/site3 --window 2 "
        "--threshold 5"],
    "factorybench export RESULT.json... --format csv|json|pytest-benchmark|pts": [
        f"factorybench export {A} --format csv", f"factorybench export {A} --format json",
        f"factorybench export {A} --format pytest-benchmark",
        f"factorybench export {A} {B} --format pts"],
    "factorybench import-pts composite.xml [--out DIR]": [
        f"factorybench export {A} --format pts -o {{out}}/composite.xml",
        "factorybench import-pts {out}/composite.xml --out {out}/in"],
    "factorybench export a.json b.json --format pts -o composite.xml": [
        f"factorybench export {A} {B} --format pts -o {{out}}/composite.xml"],
    "factorybench export results/*.json --format pts -o "
    "~/.phoronix-test-suite/test-results/fb-export/composite.xml": [
        f"factorybench export {A} {B} --format pts -o {{out}}/composite.xml"],
    "factorybench import-pts composite.xml --out DIR": [
        f"factorybench export {A} {B} --format pts -o {{out}}/composite.xml",
        "factorybench import-pts {out}/composite.xml --out {out}"],
    "factorybench ...": ["factorybench --help"],
    "python -m suite ...": ["python -m suite --help"],
    "factorybench compare A.json B.json [C.json ...] [--baseline FILE] "
    "[--format table|markdown|csv|json] [--fail-on PCT]": [
        f"factorybench compare {A} {B} {ARM} --baseline {B} --format markdown --fail-on 50"],
    "factorybench report RESULT.json... [-o report.html]": [
        f"factorybench report {A} -o {{out}}/one.html"],
    "factorybench history add RESULT.json [--store PATH|postgresql://...]": [
        f"factorybench history add {B} --store {{out}}/h2.sqlite"],
    "factorybench export RESULT.json --format csv|json|pytest-benchmark [-o FILE]": [
        f"factorybench export {A} --format csv -o {{out}}/a.csv"],
    "factorybench sysinfo": ["factorybench sysinfo"],
    "factorybench": ["factorybench"],
}
# Commands that exit non-zero by design.
EXIT_STATUS = {"factorybench": 2}  # no command: the help, and status 2


def readme_commands() -> set:
    text = README.read_text()
    spans = re.findall(r"`((?:\./run\.sh|factorybench|python -m suite|pytest|tests/arm/run\.sh)"
                       r"(?: [^`]*)?)`", text)
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [line.split("#")[0].strip() for b in blocks for line in b.splitlines()]
    return {s.replace("\\|", "|") for s in spans} | {line for line in lines if line}


def test_every_readme_command_is_covered():
    missing = readme_commands() - set(README_COMMANDS) - set(ELSEWHERE)
    assert not missing, f"README commands no test runs; add them to README_COMMANDS: {missing}"
    stale = set(README_COMMANDS) - readme_commands()
    assert not stale, f"README no longer shows: {stale}"


def argv(line: str) -> list:
    words = line.split()
    if words[0] == "./run.sh":
        return [str(ROOT / "run.sh"), *words[1:]]
    if words[0] == "factorybench":
        return [sys.executable, "-m", "suite", *words[1:]]
    if words[:3] == ["python", "-m", "suite"]:
        return [sys.executable, *words[1:]]
    raise AssertionError(f"no way to run {line!r}")


@pytest.mark.slow
@pytest.mark.parametrize("readme", sorted(README_COMMANDS))
def test_readme_command_runs(readme, tmp_path, fake_specs_env):
    env = dict(fake_specs_env, COLUMNS="120")
    for line in README_COMMANDS[readme]:
        line = line.format(out=tmp_path)
        proc = subprocess.run(argv(line), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL)
        assert proc.returncode == EXIT_STATUS.get(readme, 0), \
            f"{line}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, f"{line}:\n{proc.stderr[-2000:]}"
    for path in tmp_path.glob("*.json"):  # a run: nothing failed that could have run
        from suite.results import load

        doc = load(path)
        assert doc.results and not [e for e in doc.errors if e.kind != "skipped"], \
            f"{readme}: {[(e.benchmark, e.kind, e.message) for e in doc.errors]}"


def test_stream_triad_records_carry_its_id(tmp_path, fake_specs_env):
    proc = subprocess.run(argv(f"./run.sh run stream.triad --threads 1 --array-mib 8 "
                               f"--out {tmp_path} --quiet"),
                          cwd=ROOT, env=fake_specs_env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from suite.results import load

    (path,) = [p for p in tmp_path.glob("*.json")]
    doc = load(path)
    assert {r.benchmark for r in doc.results} == {"stream.triad"}
    assert all(r.validated for r in doc.results) and doc.run["status"] == "complete"
    assert os.path.basename(path).endswith("-quick.json")
