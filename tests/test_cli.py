"""Bad input: one line naming the value and what is accepted, exit 2, no traceback."""
import subprocess

import pytest

from tests.conftest import ROOT, cli_argv


def run_cli(*args, env=None):
    return subprocess.run(cli_argv(*args), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["run", "no.such.bench"], "'no.such.bench'"),
    (["run", "fake.ok", "--threads", "two"], "--threads"),
    (["run", "fake.ok", "--threads", "4096"], "4096"),
    (["run", "fake.ok", "--tag", "novalue"], "--tag"),
    (["run", "fake.ok", "--out", "/proc/version"], "--out"),
    (["run", "fake.ok", "--profile", "huge"], "huge"),
    (["run", "fake.ok", "--timeout", "-1"], "-1"),
    (["run", "fake.ok", "--db-url", "mysql://x"], "--db-url"),
    (["run", "fake.ok", "--machine", "a/b"], "--machine"),
    (["run", "fake.ok", "--machine", ""], "--machine"),
    (["show", "/nonexistent.json"], "no such file"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_input_is_one_line_exit_2(args, needle, fake_specs_env):
    res = run_cli(*args, env=fake_specs_env)
    assert res.returncode == 2, res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    assert needle in lines[0]
    assert "Traceback" not in res.stderr


def test_list_shows_ids_and_categories(fake_specs_env):
    res = run_cli("list", env=fake_specs_env)
    assert res.returncode == 0
    assert "fake.ok" in res.stdout and "fake" in res.stdout


def test_run_then_show(tmp_path, fake_specs_env):
    res = run_cli("run", "fake.ok", "--out", str(tmp_path), "--tag", "rack=a1",
                  env=fake_specs_env)
    assert res.returncode == 0, res.stderr
    path = next(tmp_path.glob("*-quick.json"))
    assert f"result: {path}" in res.stdout
    shown = run_cli("show", str(path), env=fake_specs_env)
    assert shown.returncode == 0 and "fake.ok" in shown.stdout


def test_python_dash_m_suite_works():
    res = run_cli("--version")
    assert res.returncode == 0 and "factorybench" in res.stdout


def test_list_names_former_ids_with_their_new_ones():
    """The former ids the README's schema history names are listed, each with
    the ids it selects now."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "suite", "list"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    former = res.stdout.split("former ids", 1)[1]
    assert "stream.sweep" in former and "stream.triad" in former
    assert "latency.curve" in former and "latency.chase" in former
