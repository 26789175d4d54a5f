import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def fake_specs_env(monkeypatch):
    """Register the fixture benchmarks (tests/fixtures/dummy_bench.py)."""
    monkeypatch.setenv("FACTORYBENCH_SPEC_MODULES", "tests.fixtures.dummy_bench")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return dict(os.environ)


def cli_argv(*args):
    return [sys.executable, "-m", "suite", *args]


def run_in_process(argv, capsys):
    """The CLI's main run in this process: (exit status, stdout, stderr)."""
    from suite.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def pytest_terminal_summary(terminalreporter):
    """The hostile-snippet battery's outcome table, when it ran."""
    battery = sys.modules.get("tests.test_sandbox_hostile")
    if battery is not None and battery.OUTCOMES:
        terminalreporter.write_sep("-", "hostile snippets per sandbox backend")
        for line in battery.summary_table():
            terminalreporter.write_line(line)
