"""Several worker processes per configuration, merged into one record each."""
from suite.model import ErrorRecord, Outcome, measurement
from suite.replication import merge_outcomes
from suite.spec import PROFILES


def _outcome(samples, value=None, validated=True, info=None, errors=()):
    rec = measurement("b.x", {"threads": 2}, "rate", "1/s", samples, higher_is_better=True,
                      value=value, validated=validated, info=info or {})
    return Outcome(records=(rec,), errors=tuple(errors))


def test_processes_kept_apart_in_info():
    out = merge_outcomes([_outcome([1, 2, 3], value=3), _outcome([4, 5], value=5),
                          _outcome([6], value=6)])
    (rec,) = out.records
    assert rec.samples == (1, 2, 3, 4, 5, 6)
    assert rec.info["processes"] == 3
    assert rec.info["process_values"] == [3, 5, 6]
    assert rec.info["process_samples"] == [3, 2, 1]
    assert rec.value == 5  # median of the processes' own figures
    assert rec.stats["n"] == 6


def test_single_process_says_so():
    (rec,) = merge_outcomes([_outcome([1.0, 2.0])]).records
    assert rec.info["processes"] == 1 and rec.samples == (1.0, 2.0)


def test_one_invalid_or_disturbed_process_marks_the_figure():
    out = merge_outcomes([_outcome([1.0]), _outcome([2.0], validated=False,
                                                    info={"disturbed": "load 3.1"})])
    (rec,) = out.records
    assert not rec.validated and rec.info["disturbed"] == "load 3.1"


def test_errors_kept_once():
    err = ErrorRecord("b.x", {"threads": 2}, "invalid", "digest mismatch")
    out = merge_outcomes([_outcome([1.0], errors=[err]), _outcome([1.0], errors=[err])])
    assert out.errors == (err,)


def test_profiles_replicate_beyond_quick():
    assert PROFILES["quick"].processes == 1
    assert PROFILES["standard"].processes >= 3 and PROFILES["full"].processes >= 3
