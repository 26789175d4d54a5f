"""Every numeric option refuses non-finite and out-of-range numbers: one line, exit 2."""
import pytest

from tests.conftest import ROOT, run_in_process

RESULT = str(ROOT / "tests" / "fixtures" / "results" / "x86-a.json")

# (argv before the value, option) for every numeric option of the CLI.
OPTIONS = [
    (["run", "fake.ok"], "--timeout"),
    (["run", "fake.ok"], "--array-mib"),
    (["run", "fake.ok"], "--peak-gbs"),
    (["run", "fake.ok"], "--rate"),
    (["run", "fake.ok"], "--slo-ms"),
    (["run", "fake.ok"], "--inference-ms"),
    (["run", "fake.ok"], "--cost-per-hour"),
    (["validate"], "--array-mib"),
    (["plan"], "--array-mib"),
    (["compare", RESULT, RESULT], "--fail-on"),
    (["history", "check", "--store", "/nonexistent/h.sqlite"], "--threshold"),
]
VALUES = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1", "0", "fast", ""]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("argv,option", OPTIONS, ids=[" ".join(a[:1]) + o for a, o in OPTIONS])
def test_non_finite_or_out_of_range_is_refused(argv, option, value, capsys, fake_specs_env):
    status, out, err = run_in_process([*argv, option, value], capsys)
    assert status == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert option in lines[0] and "accepted: a finite number > 0" in lines[0], lines[0]


def test_finite_positive_values_pass(capsys):
    from suite.cliparams import POSITIVE

    assert POSITIVE.convert("2.5", None, None) == 2.5
    assert POSITIVE.convert(250.0, None, None) == 250.0


@pytest.mark.parametrize("value", ["-1", "nan", "1.5", "one"])
def test_seed_is_a_non_negative_integer(value, capsys, fake_specs_env):
    # numpy's generators refuse negative seeds: a db benchmark would fail mid-run.
    status, _, err = run_in_process(["run", "fake.ok", "--seed", value], capsys)
    lines = [l for l in err.splitlines() if l.strip()]
    assert status == 2 and len(lines) == 1 and "--seed" in lines[0], err
